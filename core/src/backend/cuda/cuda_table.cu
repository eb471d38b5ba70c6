/* cuda_table.cu: the CUDA backend's kernel tables, every entry of
 * backend/cpu/kernels_list.inc in F32 and F64 (the memory functions and
 * dk_backend_cuda are in cuda_backend.cu). */
#include "cuda_common.cuh"

#define DK_KERNEL(ret, name, args) name##_cuda_f32,
extern const dk_kernels_f32 dk_cuda_kernels_f32 = {
#include "backend/cpu/kernels_list.inc"
};
#undef DK_KERNEL
#define DK_KERNEL(ret, name, args) name##_cuda_f64,
extern const dk_kernels_f64 dk_cuda_kernels_f64 = {
#include "backend/cpu/kernels_list.inc"
};
#undef DK_KERNEL
