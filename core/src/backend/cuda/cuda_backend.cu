/* cuda_backend.cu: the CUDA backend (backend/backend.h): the one stream, the
 * cuBLAS handle, the sticky asynchronous-error slot, the caching device
 * allocator (and scratch on top of it), and the backend table whose kernel
 * tables are in cuda_table.cu.
 *
 * One stream. Every kernel, memset and copy of diffkit is queued on one
 * non-blocking stream (dk_cuda_stream), so work runs in the order it was
 * queued and a freed block can be handed to the next allocation at once: any
 * kernel that still reads it was queued earlier and finishes first
 * (stream-ordered reuse, as PyTorch's caching allocator does per stream).
 *
 * Caching allocator. Sizes are rounded to a class (512 B, powers of two up to
 * 1 MiB, then multiples of 1 MiB); a freed block goes to the free list of its
 * class and the next request of that class takes it back without cudaMalloc.
 * When cudaMalloc fails, the cached blocks are released (after a stream sync)
 * and the cudaMalloc is tried once more; if that fails too the error names
 * the bytes asked and the bytes in use and cached.
 *
 * Errors. A failed launch or cuBLAS call records the first error with the
 * kernel's name (dk_cuda_record_error); sync() and to_host() report it (and
 * any asynchronous fault the stream sync returns) and clear the slot. */
#include "cuda_common.cuh"
#include "diffkit/cuda.h"

#include <atomic>
#include <map>
#include <mutex>
#include <stdio.h>
#include <string.h>
#include <unordered_map>

extern const dk_kernels_f32 dk_cuda_kernels_f32;
extern const dk_kernels_f64 dk_cuda_kernels_f64;

/* ---- stream and cuBLAS handle ---- */

static std::mutex g_init_mu;
static cudaStream_t g_stream;
static std::atomic<int> g_stream_ok; /* set once, after g_stream */
static cublasHandle_t g_blas;
static std::atomic<int> g_blas_ok; /* set once, after g_blas */
static int g_tf32; /* 0: full F32 GEMMs (default); 1: TF32 tensor cores allowed */

cudaStream_t dk_cuda_stream(void) {
    if (g_stream_ok) return g_stream;
    std::lock_guard<std::mutex> lk(g_init_mu);
    if (!g_stream_ok) {
        cudaError_t e = cudaStreamCreateWithFlags(&g_stream, cudaStreamNonBlocking);
        if (e != cudaSuccess) {
            dk_cuda_record_error("cudaStreamCreateWithFlags", e);
            return 0; /* the legacy stream: still ordered, errors reported at sync */
        }
        g_stream_ok = 1;
    }
    return g_stream;
}

static cublasStatus_t blas_math_mode(void) {
    return cublasSetMathMode(g_blas, g_tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH);
}

cublasHandle_t dk_cuda_blas(void) {
    if (g_blas_ok) return g_blas;
    cudaStream_t s = dk_cuda_stream();
    std::lock_guard<std::mutex> lk(g_init_mu);
    if (!g_blas_ok) {
        cublasStatus_t st = cublasCreate(&g_blas);
        if (st == CUBLAS_STATUS_SUCCESS) st = cublasSetStream(g_blas, s);
        if (st == CUBLAS_STATUS_SUCCESS) st = blas_math_mode();
        if (st != CUBLAS_STATUS_SUCCESS) {
            dk_cuda_record_blas_error("cublasCreate", st);
            return NULL; /* every cuBLAS call then fails with NOT_INITIALIZED and is recorded */
        }
        g_blas_ok = 1;
    }
    return g_blas;
}

extern "C" void dk_cuda_set_tf32(int on) {
    std::lock_guard<std::mutex> lk(g_init_mu);
    g_tf32 = on ? 1 : 0;
    if (g_blas_ok) {
        cublasStatus_t st = blas_math_mode();
        if (st != CUBLAS_STATUS_SUCCESS) dk_cuda_record_blas_error("cublasSetMathMode", st);
    }
}

/* ---- sticky error slot ---- */

static std::mutex g_err_mu;
static int g_err_set;
static int g_err_oom; /* the recorded error was an out-of-memory */
static char g_err_msg[DK_ERROR_MSG_MAX];

/* Records a message as the first error (unless one is recorded). */
static void record_msg(const char *msg, int oom) {
    std::lock_guard<std::mutex> lk(g_err_mu);
    if (g_err_set) return;
    snprintf(g_err_msg, sizeof g_err_msg, "%s", msg);
    g_err_oom = oom;
    g_err_set = 1;
}

void dk_cuda_record_error(const char *where, cudaError_t e) {
    std::lock_guard<std::mutex> lk(g_err_mu);
    if (g_err_set) return;
    snprintf(g_err_msg, sizeof g_err_msg, "%s: %s (%s)", where ? where : "?", cudaGetErrorString(e),
             cudaGetErrorName(e));
    g_err_oom = e == cudaErrorMemoryAllocation;
    g_err_set = 1;
}

static const char *blas_status_name(cublasStatus_t s) {
    switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
    default: return "unknown cuBLAS status";
    }
}

void dk_cuda_record_blas_error(const char *where, cublasStatus_t s) {
    std::lock_guard<std::mutex> lk(g_err_mu);
    if (g_err_set) return;
    snprintf(g_err_msg, sizeof g_err_msg, "%s: cuBLAS failed: %s (%d)", where ? where : "?", blas_status_name(s),
             (int)s);
    g_err_oom = s == CUBLAS_STATUS_ALLOC_FAILED;
    g_err_set = 1;
}

/* Waits for the stream; reports (and clears) the recorded error, else a fault
 * the stream sync returned. `what` names the call that checks. */
static dk_status sync_and_check(const char *what, dk_error *err) {
    cudaError_t e = cudaStreamSynchronize(dk_cuda_stream());
    {
        std::lock_guard<std::mutex> lk(g_err_mu);
        if (g_err_set) {
            g_err_set = 0;
            (void)cudaGetLastError();
            return dk_error_set(err, g_err_oom ? DK_ENOMEM : DK_ESTATE, "cuda %s: kernel %s%s%s",
                                what, g_err_msg, e != cudaSuccess ? "; then the stream failed: " : "",
                                e != cudaSuccess ? cudaGetErrorString(e) : "");
        }
    }
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        return dk_error_set(err, DK_ESTATE,
                            "cuda %s: a queued kernel or copy failed: %s (%s) (rerun with CUDA_LAUNCH_BLOCKING=1 "
                            "to find which)",
                            what, cudaGetErrorString(e), cudaGetErrorName(e));
    }
    return DK_OK;
}

/* ---- caching allocator ---- */

static std::mutex g_mem_mu;
/* heap objects, never destroyed: a dk_cuda_free from an atexit handler stays valid */
static std::multimap<size_t, void *> *g_free;       /* class size -> cached block */
static std::unordered_map<void *, size_t> *g_live;  /* block in use -> class size */
static size_t g_bytes_live, g_bytes_cached;

static size_t size_class(size_t bytes) {
    const size_t MiB = (size_t)1 << 20;
    if (bytes <= 512) return 512;
    if (bytes <= MiB) {
        size_t c = 1024;
        while (c < bytes) c <<= 1;
        return c;
    }
    if (bytes > SIZE_MAX - MiB) return bytes; /* absurd: let cudaMalloc refuse it */
    return (bytes + MiB - 1) / MiB * MiB;
}

/* Releases every cached block to the driver (called with g_mem_mu held). */
static void release_cached_locked(void) {
    if (!g_free || g_free->empty()) return;
    (void)cudaStreamSynchronize(dk_cuda_stream()); /* nothing queued may still use them */
    for (auto &kv : *g_free) (void)cudaFree(kv.second);
    g_free->clear();
    g_bytes_cached = 0;
    (void)cudaGetLastError();
}

/* A block of at least `bytes` (not zeroed), or NULL and err. */
static void *cache_alloc(size_t bytes, const char *where, dk_error *err) {
    if (bytes == 0) bytes = 1; /* a valid, distinct pointer for empty tensors */
    size_t cls = size_class(bytes);
    std::lock_guard<std::mutex> lk(g_mem_mu);
    if (!g_free) {
        g_free = new std::multimap<size_t, void *>();
        g_live = new std::unordered_map<void *, size_t>();
    }
    auto it = g_free->find(cls);
    if (it != g_free->end()) {
        void *p = it->second;
        g_free->erase(it);
        g_bytes_cached -= cls;
        (*g_live)[p] = cls;
        g_bytes_live += cls;
        return p;
    }
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, cls);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        size_t cached = g_bytes_cached;
        release_cached_locked();
        e = cudaMalloc(&p, cls);
        if (e != cudaSuccess) {
            (void)cudaGetLastError();
            dk_error_set(err, e == cudaErrorMemoryAllocation ? DK_ENOMEM : DK_ESTATE,
                         "%s: cudaMalloc of %zu bytes (%zu asked) failed: %s; %zu bytes in use, %zu were cached "
                         "(released and retried)",
                         where, cls, bytes, cudaGetErrorString(e), g_bytes_live, cached);
            return NULL;
        }
    }
    (*g_live)[p] = cls;
    g_bytes_live += cls;
    return p;
}

static void cache_free(void *p) {
    if (!p) return;
    std::lock_guard<std::mutex> lk(g_mem_mu);
    auto it = g_live ? g_live->find(p) : std::unordered_map<void *, size_t>::iterator();
    if (!g_live || it == g_live->end()) {
        (void)cudaFree(p); /* not ours: give it back to the driver */
        (void)cudaGetLastError();
        return;
    }
    size_t cls = it->second;
    g_live->erase(it);
    g_bytes_live -= cls;
    g_free->emplace(cls, p);
    g_bytes_cached += cls;
}

extern "C" void dk_cuda_empty_cache(void) {
    std::lock_guard<std::mutex> lk(g_mem_mu);
    release_cached_locked();
}

extern "C" void dk_cuda_memory_stats(size_t *in_use, size_t *cached) {
    std::lock_guard<std::mutex> lk(g_mem_mu);
    if (in_use) *in_use = g_bytes_live;
    if (cached) *cached = g_bytes_cached;
}

void *dk_cuda_scratch(size_t bytes, const char *where) {
    dk_error e;
    memset(&e, 0, sizeof e);
    void *p = cache_alloc(bytes, where, &e);
    if (!p) record_msg(e.msg, 1);
    return p;
}

void dk_cuda_scratch_release(void *p) { cache_free(p); }

/* Used by cuda_device.cu (device tensors): a zeroed block of the cache. */
void *dk_cuda_alloc_zeroed(size_t bytes, const char *where, dk_error *err) {
    void *p = cache_alloc(bytes, where, err);
    if (!p) return NULL;
    if (bytes) {
        cudaError_t e = cudaMemsetAsync(p, 0, bytes, dk_cuda_stream());
        if (e != cudaSuccess) {
            (void)cudaGetLastError();
            cache_free(p);
            dk_error_set(err, DK_ESTATE, "%s: cudaMemsetAsync of %zu bytes failed: %s", where, bytes,
                         cudaGetErrorString(e));
            return NULL;
        }
    }
    return p;
}

void dk_cuda_release(void *p) { cache_free(p); }

/* ---- the backend table ---- */

static void *be_alloc(size_t bytes, dk_error *err) { return dk_cuda_alloc_zeroed(bytes, "cuda alloc", err); }

static void be_free(void *p) { cache_free(p); }

static void be_zero(void *p, size_t bytes) {
    if (!p || !bytes) return;
    cudaError_t e = cudaMemsetAsync(p, 0, bytes, dk_cuda_stream());
    if (e != cudaSuccess) dk_cuda_record_error("cuda zero (cudaMemsetAsync)", e);
}

static dk_status be_to_host(void *host_dst, const void *src, size_t bytes, dk_error *err) {
    if (bytes) {
        cudaError_t e = cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, dk_cuda_stream());
        if (e != cudaSuccess) dk_cuda_record_error("cuda to_host (cudaMemcpyAsync)", e);
    }
    return sync_and_check("to_host", err);
}

static dk_status be_from_host(void *dst, const void *host_src, size_t bytes, dk_error *err) {
    if (!bytes) return DK_OK;
    cudaError_t e = cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, dk_cuda_stream());
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        return dk_error_set(err, DK_ESTATE, "cuda from_host: cudaMemcpyAsync of %zu bytes failed: %s (%s)", bytes,
                            cudaGetErrorString(e), cudaGetErrorName(e));
    }
    return DK_OK;
}

static dk_status be_copy(void *dst, const void *src, size_t bytes, dk_error *err) {
    if (!bytes || dst == src) return DK_OK;
    cudaError_t e = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, dk_cuda_stream());
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        return dk_error_set(err, DK_ESTATE, "cuda copy: cudaMemcpyAsync of %zu bytes failed: %s (%s)", bytes,
                            cudaGetErrorString(e), cudaGetErrorName(e));
    }
    return DK_OK;
}

static dk_status be_sync(dk_error *err) { return sync_and_check("sync", err); }

static const dk_backend cuda_backend = {
    "cuda",       DK_CUDA, be_alloc, be_free, be_zero, be_to_host, be_from_host, be_copy, be_sync,
    &dk_cuda_kernels_f32, &dk_cuda_kernels_f64,
};

extern "C" const dk_backend *dk_backend_cuda(dk_error *err) {
    char why[512];
    if (dk_cuda_describe(why, sizeof why) != DK_OK) {
        dk_error_set(err, DK_EUNSUPPORTED, "the CUDA backend is not available: %s", why);
        return NULL;
    }
    if (!dk_cuda_stream() || !dk_cuda_blas()) {
        std::lock_guard<std::mutex> lk(g_err_mu);
        dk_error_set(err, DK_EUNSUPPORTED, "the CUDA backend could not start: %s",
                     g_err_set ? g_err_msg : "cudaStreamCreate failed");
        g_err_set = 0;
        return NULL;
    }
    return &cuda_backend;
}
