/* cuda_backend.cu: the CUDA backend's table (backend/backend.h). Placeholder
 * until the kernels land: reports the backend as unavailable. */
#include "backend/backend.h"

extern "C" const dk_backend *dk_backend_cuda(dk_error *err) {
    dk_error_set(err, DK_EUNSUPPORTED, "the CUDA kernels are not built yet");
    return NULL;
}
