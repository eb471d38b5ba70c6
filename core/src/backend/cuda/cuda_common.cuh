/* cuda_common.cuh: what every CUDA kernel file shares (private to
 * backend/cuda/): the one stream all work is queued on, the cuBLAS handle,
 * launch sizes, the sticky asynchronous-error slot, scratch memory from the
 * caching allocator, and the prototypes of every CUDA kernel of
 * backend/cpu/kernels_list.inc (name_cuda_f32 / name_cuda_f64, C++ linkage).
 *
 * Launches are asynchronous on dk_cuda_stream(); a kernel never synchronises.
 * After each launch, DK_CUDA_LAUNCHED(where) records a launch error (bad
 * configuration, no kernel image) in the sticky slot; the backend's sync()
 * (and the copies to the host) report the first recorded error with the
 * name of the kernel that caused it. Kernels keep the CPU kernels' contract:
 * backward kernels ACCUMULATE into gradients, a NULL gradient is skipped. */
#ifndef DK_CUDA_COMMON_CUH
#define DK_CUDA_COMMON_CUH

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>
#include "backend/backend.h"

/* The stream every kernel and copy is queued on (created on first use). */
cudaStream_t dk_cuda_stream(void);
/* The cuBLAS handle bound to that stream (created on first use; math mode
 * set by dk_cuda_set_tf32). */
cublasHandle_t dk_cuda_blas(void);
/* Records the first asynchronous error (kernel name + CUDA error); later ones
 * are dropped until it is reported by dk_cuda_take_error. */
void dk_cuda_record_error(const char *where, cudaError_t e);
void dk_cuda_record_blas_error(const char *where, cublasStatus_t s);
/* Scratch device memory from the caching allocator, valid until released
 * (stream-ordered: a released block is reused only by later launches). NULL
 * (error recorded) when out of device memory. */
void *dk_cuda_scratch(size_t bytes, const char *where);
void dk_cuda_scratch_release(void *p);

#define DK_CUDA_LAUNCHED(where)                                      \
    do {                                                             \
        cudaError_t dk__e = cudaGetLastError();                      \
        if (dk__e != cudaSuccess) dk_cuda_record_error(where, dk__e); \
    } while (0)
#define DK_CUBLAS(where, call)                                          \
    do {                                                                \
        cublasStatus_t dk__s = (call);                                  \
        if (dk__s != CUBLAS_STATUS_SUCCESS) dk_cuda_record_blas_error(where, dk__s); \
    } while (0)

/* A 1-D launch over n items: blocks of DK_CUDA_THREADS, grid capped (kernels
 * use grid-stride loops). */
#define DK_CUDA_THREADS 256
static inline unsigned dk_cuda_blocks(size_t n) {
    size_t b = (n + DK_CUDA_THREADS - 1) / DK_CUDA_THREADS;
    if (b < 1) b = 1;
    return (unsigned)(b > 65535u * 8u ? 65535u * 8u : b);
}
#define DK_GRID_STRIDE(i, n) \
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (size_t)gridDim.x * blockDim.x)

/* Prototypes of every CUDA kernel: name_cuda_f32 / name_cuda_f64. */
#define DK_KERNEL(ret, name, args) ret name##_cuda_f32 args;
#define T float
#include "backend/cpu/kernels_list.inc"
#undef T
#undef DK_KERNEL
#define DK_KERNEL(ret, name, args) ret name##_cuda_f64 args;
#define T double
#include "backend/cpu/kernels_list.inc"
#undef T
#undef DK_KERNEL

#endif
