/* emu_rt.cpp (emulation): the stream / scratch / error functions of
 * cuda_backend.cu on the host, and a "CUDA" backend whose tables are the CPU
 * kernels with the emulated CUDA kernels of the core ops put in their place
 * (the list below is those of k_linear, k_elementwise, k_reduce, k_norm,
 * k_embed, k_layout and k_train). */
#include "cuda_common.cuh"
#include <cstdio>
int emu_err;
cudaStream_t dk_cuda_stream(void) { return nullptr; }
cublasHandle_t dk_cuda_blas(void) { return nullptr; }
void dk_cuda_record_error(const char *where, cudaError_t e) { fprintf(stderr, "EMU error %s %d\n", where, e); emu_err = 1; }
void dk_cuda_record_blas_error(const char *where, cublasStatus_t s) { fprintf(stderr, "EMU blas error %s %d\n", where, s); emu_err = 1; }
void *dk_cuda_scratch(size_t bytes, const char *) { return malloc(bytes ? bytes : 1); }
void dk_cuda_scratch_release(void *p) { free(p); }
static void *e_alloc(size_t b, dk_error *) { return calloc(1, b ? b : 1); }
static void e_free(void *p) { free(p); }
static void e_zero(void *p, size_t b) { memset(p, 0, b); }
static dk_status e_cp(void *d, const void *s, size_t b, dk_error *) { memcpy(d, s, b); return DK_OK; }
static dk_status e_sync(dk_error *err) { if (emu_err) { emu_err = 0; return dk_error_set(err, DK_ESTATE, "emu error"); } return DK_OK; }
static dk_kernels_f32 t32; static dk_kernels_f64 t64; static dk_backend be;
#define MINE(name) t32.name = name##_cuda_f32; t64.name = name##_cuda_f64;
extern "C" const dk_backend *emu_backend_get(dk_device dev, dk_error *) {
    if (dev == DK_CPU) return dk_backend_cpu();
    t32 = *dk_backend_cpu()->f32; t64 = *dk_backend_cpu()->f64;
    MINE(dk_k_linear_forward) MINE(dk_k_linear_backward) MINE(dk_k_matmul_forward) MINE(dk_k_matmul_backward)
    MINE(dk_k_binary_forward) MINE(dk_k_binary_backward) MINE(dk_k_unary_forward) MINE(dk_k_unary_backward)
    MINE(dk_k_affine_forward) MINE(dk_k_add_into) MINE(dk_k_geglu_forward) MINE(dk_k_geglu_backward)
    MINE(dk_k_modulate_forward) MINE(dk_k_modulate_backward) MINE(dk_k_gated_residual_forward) MINE(dk_k_gated_residual_backward)
    MINE(dk_k_lerp_forward) MINE(dk_k_lerp_backward) MINE(dk_k_sum_rows_forward) MINE(dk_k_sum_rows_backward)
    MINE(dk_k_mse_forward) MINE(dk_k_mse_backward) MINE(dk_k_normal_kl_forward) MINE(dk_k_normal_kl_backward)
    MINE(dk_k_dgll_forward) MINE(dk_k_dgll_backward) MINE(dk_k_layernorm_forward) MINE(dk_k_layernorm_backward)
    MINE(dk_k_rmsnorm_forward) MINE(dk_k_rmsnorm_backward) MINE(dk_k_embedding_forward) MINE(dk_k_embedding_backward)
    MINE(dk_k_timestep_forward) MINE(dk_k_timestep_backward) MINE(dk_k_fourier_forward) MINE(dk_k_fourier_backward)
    MINE(dk_k_permute) MINE(dk_k_copy_cols) MINE(dk_k_patch_copy) MINE(dk_k_token_merge_copy)
    MINE(dk_k_adamw) MINE(dk_k_sgd) MINE(dk_k_sumsq) MINE(dk_k_scale) MINE(dk_k_all_finite) MINE(dk_k_ema)
    be = {"emu", DK_CUDA, e_alloc, e_free, e_zero, e_cp, e_cp, e_cp, e_sync, &t32, &t64};
    return &be;
}
extern "C" dk_status emu_describe(char *b, size_t n) { snprintf(b, n, "EMULATION on the CPU"); return DK_OK; }
extern "C" void emu_tf32(int) {}
extern "C" void emu_stats(size_t *a, size_t *b) { *a = 0; *b = 0; }
