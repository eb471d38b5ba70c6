/* cuda.h: the CUDA backend's foundation: device query, tensors in GPU memory,
 * copies between devices, and the first kernel (elementwise add).
 *
 * Every function exists in every build. In a build without CUDA
 * (DIFFKIT_CUDA=OFF, so DIFFKIT_HAVE_CUDA is not defined) they fail with
 * DK_EUNSUPPORTED and say how to rebuild; the queries report no devices.
 * In a CUDA build on a machine without a GPU or driver, the queries report no
 * devices and the rest fail with DK_EUNSUPPORTED; nothing crashes.
 *
 * A DK_CUDA tensor's data is a device pointer (from the backend's caching
 * allocator): the CPU must not read it. dk_tensor_free returns it to that
 * cache. Work is queued on one stream: copies to the CPU wait for it. Views (reshape, slice0) of
 * a CUDA tensor stay on CUDA. The CPU ops and dk_tensor_to/copy refuse CUDA
 * tensors; move data with dk_tensor_to_device. See docs/cuda.md. */
#ifndef DIFFKIT_CUDA_H
#define DIFFKIT_CUDA_H

#include <stddef.h>
#include <stdint.h>
#include "diffkit/error.h"
#include "diffkit/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 1 if this libdiffkit was built with the CUDA backend, else 0. */
int dk_cuda_built(void);
/* Number of usable CUDA devices: 0 without a GPU, without a driver, or in a
 * CPU-only build. Never fails. */
int dk_cuda_device_count(void);
/* 1 if CUDA tensors can be made here (a CUDA build and at least one device). */
int dk_cuda_available(void);
/* One line describing device 0 ("NVIDIA H100 80GB HBM3, 79.1 GiB, compute
 * capability 9.0, CUDA runtime 13.0, driver 13.0") or why there is none, into
 * buf (always NUL-terminated when n > 0). Returns DK_OK when a device was
 * described, DK_EUNSUPPORTED otherwise (buf then holds the reason). */
dk_status dk_cuda_describe(char *buf, size_t n);

/* New zero-filled tensor on dev (DK_CPU: same as dk_tensor_new). DK_CUDA
 * fails with DK_EUNSUPPORTED in a CPU-only build or without a device. */
dk_tensor *dk_tensor_new_device(dk_dtype dtype, int ndim, const int64_t *shape, dk_device dev, dk_error *err);
/* A new tensor holding a copy of t on dev (CPU->CUDA, CUDA->CPU, CUDA->CUDA,
 * CPU->CPU), same dtype and shape, bit-exact. The caller frees it. */
dk_tensor *dk_tensor_to_device(const dk_tensor *t, dk_device dev, dk_error *err);

/* out = a + b elementwise, on the GPU (F32 or F64; all three on DK_CUDA, same
 * dtype and shape; out may alias a or b). One IEEE addition per element, so
 * the result is bit-identical to the CPU's a[i] + b[i]. Waits for the stream
 * (reports a kernel error queued before it too). */
dk_status dk_cuda_add(dk_tensor *out, const dk_tensor *a, const dk_tensor *b, dk_error *err);

/* Makes CUDA device `index` the one new CUDA tensors and kernels use
 * ("cuda:N"). Call it before any CUDA tensor exists: the backend has one
 * device per process (a rank of a multi-process run takes one GPU).
 * DK_EINVAL for an index that does not exist (naming how many there are),
 * DK_ESTATE when tensors already live on another device, DK_EUNSUPPORTED
 * without CUDA. */
dk_status dk_cuda_select(int index, dk_error *err);

/* Releases device memory of a CUDA tensor; NULL is fine. Used by
 * dk_tensor_free for DK_CUDA tensors; a no-op in a CPU-only build (where no
 * device memory can exist). The block goes back to the backend's caching
 * allocator (reused by later allocations of its size class, stream-ordered),
 * not to the driver. */
void dk_cuda_free(void *device_ptr);

/* TF32 tensor cores for F32 GEMMs (cuBLAS math mode): 0 (the default) keeps
 * full F32 products; 1 allows TF32 (about 10 mantissa bits in the products,
 * several times faster on Ampere and later). F64 is unaffected. A no-op in a
 * CPU-only build. */
void dk_cuda_set_tf32(int on);
/* Hands the caching allocator's free blocks back to the driver (waits for
 * the queued work first). A no-op in a CPU-only build. */
void dk_cuda_empty_cache(void);
/* Bytes of device memory in blocks in use and in blocks cached for reuse
 * (both 0 in a CPU-only build or before the first allocation). */
void dk_cuda_memory_stats(size_t *in_use, size_t *cached);

#ifdef __cplusplus
}
#endif
#endif
