/* cuda_stub.c: the CUDA API of diffkit/cuda.h in a build without CUDA
 * (DIFFKIT_CUDA=OFF, so DIFFKIT_HAVE_CUDA is not defined; cuda_device.cu
 * replaces this file otherwise). Queries report no devices; anything that
 * needs a GPU fails with DK_EUNSUPPORTED and says how to rebuild. CPU-to-CPU
 * copies and DK_CPU allocations still work, so callers need no #ifdefs. */
#include "diffkit/cuda.h"

#ifndef DIFFKIT_HAVE_CUDA

#include <stdio.h>

#define DK_NO_CUDA_MSG "diffkit was built without CUDA: reconfigure with -DDIFFKIT_CUDA=ON (needs nvcc)"

int dk_cuda_built(void) { return 0; }

int dk_cuda_device_count(void) { return 0; }

int dk_cuda_available(void) { return 0; }

dk_status dk_cuda_describe(char *buf, size_t n) {
    if (buf && n) snprintf(buf, n, "%s", DK_NO_CUDA_MSG);
    return DK_EUNSUPPORTED;
}

/* No CUDA tensor can exist in this build, so there is never device memory to free. */
void dk_cuda_free(void *device_ptr) { (void)device_ptr; }

void dk_cuda_set_tf32(int on) { (void)on; }

void dk_cuda_empty_cache(void) {}

void dk_cuda_memory_stats(size_t *in_use, size_t *cached) {
    if (in_use) *in_use = 0;
    if (cached) *cached = 0;
}

dk_tensor *dk_tensor_new_device(dk_dtype dtype, int ndim, const int64_t *shape, dk_device dev, dk_error *err) {
    if (dev == DK_CPU) return dk_tensor_new(dtype, ndim, shape, err);
    if (dev == DK_CUDA)
        dk_error_set(err, DK_EUNSUPPORTED, "tensor_new_device: %s", DK_NO_CUDA_MSG);
    else
        dk_error_set(err, DK_EINVAL, "tensor_new_device: unknown device %d (expected DK_CPU or DK_CUDA)", (int)dev);
    return NULL;
}

dk_tensor *dk_tensor_to_device(const dk_tensor *t, dk_device dev, dk_error *err) {
    if (!t) {
        dk_error_set(err, DK_EINVAL, "tensor_to_device: tensor is NULL");
        return NULL;
    }
    if (t->device == DK_CPU && dev == DK_CPU) return dk_tensor_clone(t, err);
    if (dev != DK_CPU && dev != DK_CUDA) {
        dk_error_set(err, DK_EINVAL, "tensor_to_device: unknown device %d (expected DK_CPU or DK_CUDA)", (int)dev);
        return NULL;
    }
    dk_error_set(err, DK_EUNSUPPORTED, "tensor_to_device: %s", DK_NO_CUDA_MSG);
    return NULL;
}

dk_status dk_cuda_select(int index, dk_error *err) {
    return dk_error_set(err, DK_EUNSUPPORTED, "cuda:%d: %s", index, DK_NO_CUDA_MSG);
}

dk_status dk_cuda_add(dk_tensor *out, const dk_tensor *a, const dk_tensor *b, dk_error *err) {
    (void)out, (void)a, (void)b;
    return dk_error_set(err, DK_EUNSUPPORTED, "cuda_add: %s", DK_NO_CUDA_MSG);
}

#else
typedef int dk_cuda_stub_unused; /* CUDA build: cuda_device.cu provides the API */
#endif

#ifndef DIFFKIT_HAVE_CUDA
#include "backend/backend.h"
const dk_backend *dk_backend_cuda(dk_error *err) {
    dk_error_set(err, DK_EUNSUPPORTED, "%s", DK_NO_CUDA_MSG);
    return NULL;
}
#endif
