/* cuda_select.cu: dk_cuda_select (diffkit/cuda.h): "cuda:N" picks the GPU of
 * this process before any CUDA memory exists (the backend's stream, cuBLAS
 * handle and cached memory belong to one device). */
#include <cuda_runtime.h>
#include "diffkit/cuda.h"

static int selected = -1; /* the device chosen here, -1: none yet (device 0 by default) */

extern "C" dk_status dk_cuda_select(int index, dk_error *err) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        (void)cudaGetLastError();
        return dk_error_set(err, DK_EUNSUPPORTED, "cuda:%d: no CUDA device here (%s)", index,
                            e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
    }
    if (index < 0 || index >= n)
        return dk_error_set(err, DK_EINVAL, "cuda:%d: this machine has %d CUDA device%s (cuda:0..cuda:%d)", index, n,
                            n == 1 ? "" : "s", n - 1);
    if (selected == index) return DK_OK;
    int cur = 0;
    (void)cudaGetDevice(&cur);
    if (selected >= 0 && selected != index)
        return dk_error_set(err, DK_ESTATE,
                            "cuda:%d: this process already uses cuda:%d; one process uses one GPU (run one process "
                            "per GPU)", index, selected);
    if (cur != index) {
        e = cudaSetDevice(index);
        if (e != cudaSuccess)
            return dk_error_set(err, DK_EUNSUPPORTED, "cuda:%d: cudaSetDevice failed: %s", index,
                                cudaGetErrorString(e));
    }
    selected = index;
    return DK_OK;
}
