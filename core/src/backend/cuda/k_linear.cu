/* k_linear.cu: linear and batched matmul kernels on the GPU (CPU twins in
 * backend/cpu/k_linear.inc), GEMMs through cuBLAS on the backend's stream.
 *
 * Row-major to cuBLAS: a row-major matrix X (r, c) with leading dimension ld
 * is, to column-major cuBLAS, X^T (c, r) with the same ld. So the row-major
 * product C (M, N) = op(A) op(B) is the column-major C^T (N, M) = op(B)^T
 * op(A)^T, i.e. cublas gemm(opB, opA, N, M, K, B, ldb, A, lda, C, ldc) with
 * the row-major flags and leading dimensions unchanged (gemm_rm below). Every
 * GEMM here is the CPU kernel's cblas call with CblasRowMajor, transcribed
 * through gemm_rm. Gradients accumulate: beta = 1. */
#include "cuda_kutil.cuh"

/* Everything but the table entries has internal linkage (kernels and
 * functors of other files may share names). */
namespace {

static cublasStatus_t gemm_cm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const float *alpha,
                              const float *A, int lda, const float *B, int ldb, const float *beta, float *C, int ldc) {
    return cublasSgemm(dk_cuda_blas(), ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}
static cublasStatus_t gemm_cm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const double *alpha,
                              const double *A, int lda, const double *B, int ldb, const double *beta, double *C,
                              int ldc) {
    return cublasDgemm(dk_cuda_blas(), ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}
static cublasStatus_t gemm_cm_strided(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                                      const float *alpha, const float *A, int lda, long long sA, const float *B,
                                      int ldb, long long sB, const float *beta, float *C, int ldc, long long sC,
                                      int batch) {
    return cublasSgemmStridedBatched(dk_cuda_blas(), ta, tb, m, n, k, alpha, A, lda, sA, B, ldb, sB, beta, C, ldc,
                                     sC, batch);
}
static cublasStatus_t gemm_cm_strided(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                                      const double *alpha, const double *A, int lda, long long sA, const double *B,
                                      int ldb, long long sB, const double *beta, double *C, int ldc, long long sC,
                                      int batch) {
    return cublasDgemmStridedBatched(dk_cuda_blas(), ta, tb, m, n, k, alpha, A, lda, sA, B, ldb, sB, beta, C, ldc,
                                     sC, batch);
}

static inline cublasOperation_t op_of(int t) { return t ? CUBLAS_OP_T : CUBLAS_OP_N; }
static inline int ld_ok(size_t ld) { return ld < 1 ? 1 : (int)ld; } /* cuBLAS wants ld >= 1 */

/* Row-major C (M, N) = alpha op(A) op(B) + beta C, as cblas_?gemm(CblasRowMajor, ...).
 * Nothing is done when M or N is 0; K == 0 is left to the caller. */
template <typename T>
static void gemm_rm(const char *where, int ta, int tb, size_t M, size_t N, size_t K, T alpha, const T *A, size_t lda,
                    const T *B, size_t ldb, T beta, T *C, size_t ldc) {
    if (M == 0 || N == 0) return;
    DK_CUBLAS(where, gemm_cm(op_of(tb), op_of(ta), (int)N, (int)M, (int)K, &alpha, B, ld_ok(ldb), A, ld_ok(lda),
                             &beta, C, ld_ok(ldc)));
}

/* The same for `batch` products with element strides sA, sB (0: shared), sC. */
template <typename T>
static void gemm_rm_batched(const char *where, int ta, int tb, size_t M, size_t N, size_t K, T alpha, const T *A,
                            size_t lda, size_t sA, const T *B, size_t ldb, size_t sB, T beta, T *C, size_t ldc,
                            size_t sC, size_t batch) {
    if (M == 0 || N == 0 || batch == 0) return;
    DK_CUBLAS(where, gemm_cm_strided(op_of(tb), op_of(ta), (int)N, (int)M, (int)K, &alpha, B, ld_ok(ldb),
                                     (long long)sB, A, ld_ok(lda), (long long)sA, &beta, C, ld_ok(ldc),
                                     (long long)sC, (int)batch));
}

/* out[m, o] = b[o] (b != NULL) or 0 */
template <typename T>
__global__ void fill_rows_kernel(T *out, const T *b, size_t M, size_t OUT) {
    DK_GRID_STRIDE(i, M * OUT) out[i] = b ? b[i % OUT] : (T)0;
}

/* db[o] += sum_m dout[m, o] */
template <typename T>
struct ColSum {
    const T *x;
    size_t ncols;
    __device__ double operator()(size_t e, size_t k) const { return (double)x[k * ncols + e]; }
};

template <typename T>
static void linear_forward(T *out, const T *x, const T *w, const T *b, size_t M, size_t IN, size_t OUT) {
    const char *where = "linear_forward";
    if (M == 0 || OUT == 0) return;
    if (b || IN == 0) DK_LAUNCH_1D(where, M * OUT, fill_rows_kernel<T>, out, b, M, OUT);
    if (IN == 0) return;
    /* out (M, OUT) = x (M, IN) w^T (+ out when b was written) */
    gemm_rm<T>(where, 0, 1, M, OUT, IN, (T)1, x, IN, w, IN, b ? (T)1 : (T)0, out, OUT);
}

template <typename T>
static void linear_backward(T *dx, T *dw, T *db, const T *dout, const T *x, const T *w, size_t M, size_t IN,
                            size_t OUT) {
    const char *where = "linear_backward";
    if (OUT == 0) return;
    if (IN > 0 && M > 0) {
        /* dx (M, IN) += dout (M, OUT) w (OUT, IN) */
        if (dx) gemm_rm<T>(where, 0, 0, M, IN, OUT, (T)1, dout, OUT, w, IN, (T)1, dx, IN);
        /* dw (OUT, IN) += dout^T (OUT, M) x (M, IN) */
        if (dw) gemm_rm<T>(where, 1, 0, OUT, IN, M, (T)1, dout, OUT, x, IN, (T)1, dw, IN);
    }
    /* db (OUT) += column sums of dout */
    if (db) dk_reduce<T>(db, OUT, M, ColSum<T>{dout, OUT}, 1.0, 1.0, 1, where);
}

template <typename T>
__global__ void zero_kernel(T *p, size_t n) {
    DK_GRID_STRIDE(i, n) p[i] = (T)0;
}

/* c (batch, M, N) = op(a) op(b); a (M, Kd) or (Kd, M) if ta; b (Kd, N) or (N, Kd) if tb */
template <typename T>
static void matmul_forward(T *c, const T *a, const T *b, size_t batch, int b_shared, size_t M, size_t N, size_t Kd,
                           int ta, int tb) {
    const char *where = "matmul_forward";
    if (Kd == 0) { /* empty sums: c = 0 (cuBLAS is not asked about k = 0) */
        DK_LAUNCH_1D(where, batch * M * N, zero_kernel<T>, c, batch * M * N);
        return;
    }
    size_t lda = ta ? M : Kd, ldb = tb ? Kd : N;
    gemm_rm_batched<T>(where, ta, tb, M, N, Kd, (T)1, a, lda, M * Kd, b, ldb, b_shared ? 0 : Kd * N, (T)0, c, N,
                       M * N, batch);
}

template <typename T>
static void matmul_backward(T *da, T *db, const T *dc, const T *a, const T *b, size_t batch, int b_shared, size_t M,
                            size_t N, size_t Kd, int ta, int tb) {
    const char *where = "matmul_backward";
    if (Kd == 0 || batch == 0) return;
    size_t lda = ta ? M : Kd, ldb = tb ? Kd : N, sb = b_shared ? 0 : Kd * N;
    if (da && M > 0) {
        if (N == 0) {
            /* dA += 0 */
        } else if (!ta) /* dA (M, K) += dC op(B)^T */
            gemm_rm_batched<T>(where, 0, tb ? 0 : 1, M, Kd, N, (T)1, dc, N, M * N, b, ldb, sb, (T)1, da, Kd, M * Kd,
                               batch);
        else /* dA (K, M) += op(B) dC^T */
            gemm_rm_batched<T>(where, tb ? 1 : 0, 1, Kd, M, N, (T)1, b, ldb, sb, dc, N, M * N, (T)1, da, M, M * Kd,
                               batch);
    }
    if (db && N > 0 && M > 0) {
        if (!b_shared) {
            if (!tb) /* dB (K, N) += op(A)^T dC */
                gemm_rm_batched<T>(where, ta ? 0 : 1, 0, Kd, N, M, (T)1, a, lda, M * Kd, dc, N, M * N, (T)1, db, N,
                                   Kd * N, batch);
            else /* dB (N, K) += dC^T op(A) */
                gemm_rm_batched<T>(where, 1, ta ? 1 : 0, N, Kd, M, (T)1, dc, N, M * N, a, lda, M * Kd, (T)1, db, Kd,
                                   Kd * N, batch);
        } else if (!ta) {
            /* one dB for all batches: with a (batch, M, Kd) and dc (batch, M, N)
             * contiguous, the sum over batches of the products is one product over
             * batch * M rows */
            if (!tb)
                gemm_rm<T>(where, 1, 0, Kd, N, batch * M, (T)1, a, lda, dc, N, (T)1, db, N);
            else
                gemm_rm<T>(where, 1, 0, N, Kd, batch * M, (T)1, dc, N, a, lda, (T)1, db, Kd);
        } else {
            /* a (Kd, M) per batch: one accumulating product per batch, in batch order
             * (the stream runs them one after the other) */
            for (size_t i = 0; i < batch; i++) {
                const T *ai = a + i * M * Kd, *dci = dc + i * M * N;
                if (!tb)
                    gemm_rm<T>(where, 0, 0, Kd, N, M, (T)1, ai, lda, dci, N, (T)1, db, N);
                else
                    gemm_rm<T>(where, 1, 1, N, Kd, M, (T)1, dci, N, ai, lda, (T)1, db, Kd);
            }
        }
    }
}

}  // namespace

#define P_LIN_F(T) (T * out, const T *x, const T *w, const T *b, size_t M, size_t IN, size_t OUT)
#define P_LIN_B(T) \
    (T * dx, T * dw, T * db, const T *dout, const T *x, const T *w, size_t M, size_t IN, size_t OUT)
#define P_MM_F(T) \
    (T * c, const T *a, const T *b, size_t batch, int b_shared, size_t M, size_t N, size_t Kd, int ta, int tb)
#define P_MM_B(T)                                                                                             \
    (T * da, T * db, const T *dc, const T *a, const T *b, size_t batch, int b_shared, size_t M, size_t N, \
     size_t Kd, int ta, int tb)

DK_CUDA_BOTH(void, dk_k_linear_forward, linear_forward, P_LIN_F, (out, x, w, b, M, IN, OUT))
DK_CUDA_BOTH(void, dk_k_linear_backward, linear_backward, P_LIN_B, (dx, dw, db, dout, x, w, M, IN, OUT))
DK_CUDA_BOTH(void, dk_k_matmul_forward, matmul_forward, P_MM_F, (c, a, b, batch, b_shared, M, N, Kd, ta, tb))
DK_CUDA_BOTH(void, dk_k_matmul_backward, matmul_backward, P_MM_B,
             (da, db, dc, a, b, batch, b_shared, M, N, Kd, ta, tb))
