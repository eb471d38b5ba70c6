/* cuda_gemm_rm.cuh: row-major (cblas-style) strided-batched GEMM on cuBLAS,
 * shared by k_attention.cu and k_conv.cu (private to backend/cuda/).
 *
 * C (M, N) = alpha op(A) op(B) + beta C, every matrix row-major with its
 * leading dimension (lda, ldb, ldc = row length), batch matrices strideA/B/C
 * elements apart (a stride may be 0: one matrix for all batches). cuBLAS is
 * column-major, and a row-major X is the column-major X^T with the same
 * leading dimension, so C^T = op(B)^T op(A)^T is one cuBLAS call with the
 * operands swapped and the transpose flags kept: the calls below transcribe
 * the CPU kernels' cblas_?gemm(CblasRowMajor, ...) one for one. Queued on
 * dk_cuda_stream() through dk_cuda_blas(); alpha and beta are host scalars
 * (CUBLAS_POINTER_MODE_HOST, the handle's default); with beta 0 C is not read.
 * Errors go to the sticky slot under `where`. */
#ifndef DK_CUDA_GEMM_RM_CUH
#define DK_CUDA_GEMM_RM_CUH

#include "cuda_common.cuh"

static inline void dk_gemm_rm(const char *where, int ta, int tb, size_t M, size_t N, size_t K, double alpha,
                              const float *A, size_t lda, long long sA, const float *B, size_t ldb, long long sB,
                              double beta, float *C, size_t ldc, long long sC, size_t batch) {
    if (M == 0 || N == 0 || batch == 0) return;
    float a = (float)alpha, b = (float)beta;
    DK_CUBLAS(where, cublasSgemmStridedBatched(dk_cuda_blas(), tb ? CUBLAS_OP_T : CUBLAS_OP_N,
                                               ta ? CUBLAS_OP_T : CUBLAS_OP_N, (int)N, (int)M, (int)K, &a, B,
                                               (int)ldb, sB, A, (int)lda, sA, &b, C, (int)ldc, sC, (int)batch));
}

static inline void dk_gemm_rm(const char *where, int ta, int tb, size_t M, size_t N, size_t K, double alpha,
                              const double *A, size_t lda, long long sA, const double *B, size_t ldb, long long sB,
                              double beta, double *C, size_t ldc, long long sC, size_t batch) {
    if (M == 0 || N == 0 || batch == 0) return;
    DK_CUBLAS(where, cublasDgemmStridedBatched(dk_cuda_blas(), tb ? CUBLAS_OP_T : CUBLAS_OP_N,
                                               ta ? CUBLAS_OP_T : CUBLAS_OP_N, (int)N, (int)M, (int)K, &alpha, B,
                                               (int)ldb, sB, A, (int)lda, sA, &beta, C, (int)ldc, sC, (int)batch));
}

/* T-generic math (the CPU's tgmath: float functions for float) */
static __device__ __forceinline__ float dk_exp(float x) { return expf(x); }
static __device__ __forceinline__ double dk_exp(double x) { return exp(x); }
static __device__ __forceinline__ float dk_log(float x) { return logf(x); }
static __device__ __forceinline__ double dk_log(double x) { return log(x); }
static __device__ __forceinline__ float dk_sqrt(float x) { return sqrtf(x); }
static __device__ __forceinline__ double dk_sqrt(double x) { return sqrt(x); }
static __device__ __forceinline__ float dk_cos(float x) { return cosf(x); }
static __device__ __forceinline__ double dk_cos(double x) { return cos(x); }
static __device__ __forceinline__ float dk_sin(float x) { return sinf(x); }
static __device__ __forceinline__ double dk_sin(double x) { return sin(x); }

/* Warp reductions: every lane gets lane 0's result (so all lanes take the
 * same branches and write the same values). Callers' loops are warp-uniform. */
template <typename V>
static __device__ __forceinline__ V dk_warp_sum(V v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return __shfl_sync(0xffffffffu, v, 0);
}
template <typename V>
static __device__ __forceinline__ V dk_warp_max(V v) {
    for (int o = 16; o > 0; o >>= 1) {
        V u = __shfl_xor_sync(0xffffffffu, v, o);
        v = u > v ? u : v;
    }
    return __shfl_sync(0xffffffffu, v, 0);
}

/* One warp per item: the warp's index, the number of warps in the grid, the lane. */
#define DK_WARP_STRIDE(item, n, lane)                                                                      \
    const unsigned lane = threadIdx.x & 31u;                                                               \
    for (size_t item = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) / 32; item < (n);                   \
         item += (size_t)gridDim.x * blockDim.x / 32)

#endif
