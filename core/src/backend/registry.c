/* registry.c: picks a backend from a device tag (backend/backend.h). The CPU
 * backend is always there; the CUDA one is asked for on first use, and a
 * device that is not available here stays NULL (every call says why). */
#include "backend/backend.h"
#include "ops/op_internal.h"

const dk_backend *dk__backends[2];

const dk_backend *dk_backend_get(dk_device dev, dk_error *err) {
    if (dev == DK_CPU) return dk__backends[DK_CPU] = dk_backend_cpu();
    if (dev != DK_CUDA) {
        dk_error_set(err, DK_EINVAL, "unknown device %d (expected cpu or cuda)", (int)dev);
        return NULL;
    }
    if (!dk__backends[DK_CUDA]) dk__backends[DK_CUDA] = dk_backend_cuda(err);
    return dk__backends[DK_CUDA];
}
