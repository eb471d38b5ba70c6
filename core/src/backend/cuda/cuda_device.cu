/* cuda_device.cu: the CUDA backend's foundation (compiled when DIFFKIT_CUDA=ON):
 * device query that degrades to "no devices" without a GPU or driver, tensors
 * in device memory (from the caching allocator of cuda_backend.cu), copies
 * between CPU and GPU, and the first kernel, an elementwise add. Contract:
 * diffkit/cuda.h.
 *
 * Tensors live on the current device (device 0 unless the program called
 * cudaSetDevice or set CUDA_VISIBLE_DEVICES). Allocation, zeroing and copies
 * are queued on the backend's one stream (dk_cuda_stream), so they are ordered
 * with the kernels; a copy to the CPU and dk_cuda_add wait for the stream and
 * report a kernel error recorded since the last sync. */
#include "diffkit/cuda.h"
#include "cuda_common.cuh"

#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- errors ---- */

/* Maps a CUDA runtime error to a status: no device / driver / kernel image for
 * this GPU -> DK_EUNSUPPORTED, out of memory -> DK_ENOMEM, the rest DK_ESTATE. */
static dk_status status_of(cudaError_t e) {
    switch (e) {
    case cudaErrorMemoryAllocation: return DK_ENOMEM;
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
    case cudaErrorInitializationError:
    case cudaErrorNoKernelImageForDevice:
    case cudaErrorUnsupportedPtxVersion:
    case cudaErrorInvalidDevice: return DK_EUNSUPPORTED;
    default: return DK_ESTATE;
    }
}

/* Fills err with "<where>: <what> failed: <CUDA message> (<CUDA name>)<hint>"
 * and clears the runtime's last-error slot. */
static dk_status cuda_fail(dk_error *err, cudaError_t e, const char *where, const char *what) {
    const char *hint = "";
    if (e == cudaErrorNoKernelImageForDevice || e == cudaErrorUnsupportedPtxVersion)
        hint = ": this GPU's architecture is not in the build; reconfigure with "
               "-DCMAKE_CUDA_ARCHITECTURES=<its compute capability, e.g. 86>";
    else if (e == cudaErrorInsufficientDriver)
        hint = ": install or update the NVIDIA driver";
    (void)cudaGetLastError();
    return dk_error_set(err, status_of(e), "%s: %s failed: %s (%s)%s", where, what, cudaGetErrorString(e),
                        cudaGetErrorName(e), hint);
}

/* ---- device query ---- */

/* Device count, or 0 with *why set to the runtime's error (no device, no
 * driver, ...). cudaGetDeviceCount returns an error rather than crashing when
 * libcuda.so is missing; the error is not sticky, so it is cleared here. */
static int device_count(cudaError_t *why) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (why) *why = e;
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    if (n == 0 && why) *why = cudaErrorNoDevice;
    return n;
}

extern "C" int dk_cuda_built(void) { return 1; }

extern "C" int dk_cuda_device_count(void) { return device_count(NULL); }

extern "C" int dk_cuda_available(void) { return device_count(NULL) > 0; }

extern "C" dk_status dk_cuda_describe(char *buf, size_t n) {
    char tmp[512];
    cudaError_t why = cudaSuccess;
    dk_status st = DK_OK;
    int runtime = 0, driver = 0, dev = 0;
    (void)cudaRuntimeGetVersion(&runtime);
    (void)cudaDriverGetVersion(&driver); /* 0 when no driver is installed */
    if (device_count(&why) == 0) {
        snprintf(tmp, sizeof tmp, "no CUDA device: %s (%s); CUDA runtime %d.%d, driver %s", cudaGetErrorString(why),
                 cudaGetErrorName(why), runtime / 1000, (runtime % 1000) / 10, driver ? "present" : "not found");
        st = DK_EUNSUPPORTED;
    } else {
        cudaDeviceProp p;
        cudaError_t e = cudaGetDevice(&dev);
        if (e == cudaSuccess) e = cudaGetDeviceProperties(&p, dev);
        if (e != cudaSuccess) {
            (void)cudaGetLastError();
            snprintf(tmp, sizeof tmp, "CUDA device %d: cudaGetDeviceProperties failed: %s (%s)", dev,
                     cudaGetErrorString(e), cudaGetErrorName(e));
            st = status_of(e);
        } else {
            snprintf(tmp, sizeof tmp,
                     "device %d of %d: %s, %.1f GiB, compute capability %d.%d, %d SMs, CUDA runtime %d.%d, "
                     "driver %d.%d",
                     dev, device_count(NULL), p.name, (double)p.totalGlobalMem / (1024.0 * 1024.0 * 1024.0), p.major,
                     p.minor, p.multiProcessorCount, runtime / 1000, (runtime % 1000) / 10, driver / 1000,
                     (driver % 1000) / 10);
        }
    }
    if (buf && n) snprintf(buf, n, "%s", tmp);
    return st;
}

/* ---- device tensors ---- */

/* cuda_backend.cu: the caching allocator and the stream check */
void *dk_cuda_alloc_zeroed(size_t bytes, const char *where, dk_error *err);
void dk_cuda_release(void *p);

/* Returns the block to the allocator's cache (stream-ordered reuse). */
extern "C" void dk_cuda_free(void *device_ptr) { dk_cuda_release(device_ptr); }

/* Waits for the stream; reports a recorded kernel error or an asynchronous fault. */
static dk_status stream_sync(const char *where, dk_error *err) {
    const dk_backend *be = dk_backend_get(DK_CUDA, err);
    if (!be) return err ? err->code : DK_EUNSUPPORTED;
    dk_status st = be->sync(err);
    if (st != DK_OK) dk_error_prefix(err, "%s", where);
    return st;
}

/* numel of a valid shape, or -1 with err filled (bad ndim, negative dim, overflow). */
static int checked_numel(const char *where, dk_dtype dtype, int ndim, const int64_t *shape, size_t *numel,
                         dk_error *err) {
    size_t es = dk_dtype_size(dtype), count = 1;
    if (es == 0) return dk_error_set(err, DK_EINVAL, "%s: unknown dtype %d", where, (int)dtype), -1;
    if (ndim < 0 || ndim > DK_MAX_DIMS)
        return dk_error_set(err, DK_EINVAL, "%s: %d dimensions requested, 0..%d supported", where, ndim, DK_MAX_DIMS),
               -1;
    if (ndim > 0 && !shape)
        return dk_error_set(err, DK_EINVAL, "%s: shape is NULL for %d dimensions", where, ndim), -1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return dk_error_set(err, DK_EINVAL, "%s: negative dimension %d (%lld)", where, i, (long long)shape[i]), -1;
        if (shape[i] != 0 && count > SIZE_MAX / (size_t)shape[i])
            return dk_error_set(err, DK_EINVAL, "%s: shape is too large (size overflow)", where), -1;
        count *= (size_t)shape[i];
    }
    if (count > SIZE_MAX / es) return dk_error_set(err, DK_EINVAL, "%s: shape is too large (size overflow)", where), -1;
    *numel = count;
    return 0;
}

extern "C" dk_tensor *dk_tensor_new_device(dk_dtype dtype, int ndim, const int64_t *shape, dk_device dev,
                                           dk_error *err) {
    const char *where = "tensor_new_device";
    cudaError_t why = cudaSuccess;
    size_t numel;
    if (dev == DK_CPU) return dk_tensor_new(dtype, ndim, shape, err);
    if (dev != DK_CUDA) {
        dk_error_set(err, DK_EINVAL, "%s: unknown device %d (expected DK_CPU or DK_CUDA)", where, (int)dev);
        return NULL;
    }
    if (checked_numel(where, dtype, ndim, shape, &numel, err)) return NULL;
    if (device_count(&why) == 0) {
        dk_error_set(err, DK_EUNSUPPORTED,
                     "%s: no CUDA device here (%s): use DK_CPU, or run on a machine with an NVIDIA GPU and driver",
                     where, cudaGetErrorString(why));
        return NULL;
    }
    dk_tensor *t = (dk_tensor *)calloc(1, sizeof *t); /* dk_tensor_free releases it with free() */
    if (!t) {
        dk_error_set(err, DK_ENOMEM, "%s: out of memory allocating a tensor header", where);
        return NULL;
    }
    t->dtype = dtype;
    t->device = DK_CUDA;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->numel = numel;
    t->refcount = 1;
    size_t bytes = numel * dk_dtype_size(dtype);
    if (bytes) {
        t->data = dk_cuda_alloc_zeroed(bytes, where, err);
        if (!t->data) {
            free(t);
            return NULL;
        }
    }
    return t;
}

extern "C" dk_tensor *dk_tensor_to_device(const dk_tensor *t, dk_device dev, dk_error *err) {
    const char *where = "tensor_to_device";
    if (!t) {
        dk_error_set(err, DK_EINVAL, "%s: tensor is NULL", where);
        return NULL;
    }
    if (t->device == DK_CPU && dev == DK_CPU) return dk_tensor_clone(t, err);
    dk_tensor *o = dk_tensor_new_device(t->dtype, t->ndim, t->shape, dev, err);
    if (!o) return NULL;
    size_t bytes = t->numel * dk_dtype_size(t->dtype);
    if (bytes == 0) return o;
    cudaMemcpyKind kind = t->device == DK_CPU   ? cudaMemcpyHostToDevice
                          : dev == DK_CPU       ? cudaMemcpyDeviceToHost
                                                : cudaMemcpyDeviceToDevice;
    cudaError_t e = cudaMemcpyAsync(o->data, t->data, bytes, kind, dk_cuda_stream());
    if (e != cudaSuccess) {
        char what[96];
        snprintf(what, sizeof what, "cudaMemcpyAsync of %zu bytes %s -> %s", bytes, dk_device_name(t->device),
                 dk_device_name(dev));
        cuda_fail(err, e, where, what);
        dk_tensor_free(o);
        return NULL;
    }
    if (dev == DK_CPU && stream_sync(where, err) != DK_OK) { /* the host reads o next */
        dk_tensor_free(o);
        return NULL;
    }
    return o;
}

/* ---- kernels ---- */

/* out[i] = a[i] + b[i] for i < n, grid-stride loop. (n) for all three. */
template <typename T>
__global__ void add_kernel(T *out, const T *a, const T *b, size_t n) {
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) out[i] = a[i] + b[i];
}

static dk_status check_on_cuda(const dk_tensor *t, const char *where, const char *name, dk_error *err) {
    if (!t) return dk_error_set(err, DK_EINVAL, "%s: %s is NULL", where, name);
    if (t->device != DK_CUDA)
        return dk_error_set(err, DK_EINVAL, "%s: %s is on %s, expected cuda: move it with dk_tensor_to_device", where,
                            name, dk_device_name(t->device));
    return DK_OK;
}

extern "C" dk_status dk_cuda_add(dk_tensor *out, const dk_tensor *a, const dk_tensor *b, dk_error *err) {
    const char *where = "cuda_add";
    char sa[160], sb[160], so[160];
    DK_TRY(check_on_cuda(out, where, "out", err));
    DK_TRY(check_on_cuda(a, where, "a", err));
    DK_TRY(check_on_cuda(b, where, "b", err));
    if (a->dtype != DK_F32 && a->dtype != DK_F64)
        return dk_error_set(err, DK_EINVAL, "%s: dtype %s is not supported (F32 or F64)", where,
                            dk_dtype_name(a->dtype));
    if (b->dtype != a->dtype || out->dtype != a->dtype)
        return dk_error_set(err, DK_ESHAPE, "%s: dtypes differ (out %s, a %s, b %s): convert on the CPU first", where,
                            dk_dtype_name(out->dtype), dk_dtype_name(a->dtype), dk_dtype_name(b->dtype));
    if (!dk_tensor_same_shape(a, b) || !dk_tensor_same_shape(out, a))
        return dk_error_set(err, DK_ESHAPE, "%s: shapes differ (a %s, b %s, out %s)", where,
                            dk_shape_str(a, sa, sizeof sa), dk_shape_str(b, sb, sizeof sb),
                            dk_shape_str(out, so, sizeof so));
    size_t n = a->numel;
    if (n == 0) return DK_OK;
    const unsigned threads = 256;
    size_t blocks = (n + threads - 1) / threads;
    if (blocks > 65535) blocks = 65535; /* the grid-stride loop covers the rest */
    cudaStream_t s = dk_cuda_stream();
    if (a->dtype == DK_F32)
        add_kernel<float><<<(unsigned)blocks, threads, 0, s>>>((float *)out->data, (const float *)a->data,
                                                               (const float *)b->data, n);
    else
        add_kernel<double><<<(unsigned)blocks, threads, 0, s>>>((double *)out->data, (const double *)a->data,
                                                                (const double *)b->data, n);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return cuda_fail(err, e, where, "kernel launch");
    return stream_sync(where, err); /* synchronous, as documented */
}
