/* cublas_v2.h (emulation): cuBLAS's column-major GEMMs as plain loops (sums
 * in double), with cuBLAS's argument checks on the leading dimensions. */
#pragma once
#include <cstdio>
typedef void *cublasHandle_t;
typedef int cublasStatus_t;
enum { CUBLAS_STATUS_SUCCESS = 0, CUBLAS_STATUS_INVALID_VALUE = 7 };
typedef enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 } cublasOperation_t;
template <typename T>
static cublasStatus_t emu_gemm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const T *alpha,
                               const T *A, int lda, long long sA, const T *B, int ldb, long long sB, const T *beta,
                               T *C, int ldc, long long sC, int batch) {
    int ar = ta ? k : m, br = tb ? n : k;
    if (m < 0 || n < 0 || k < 0 || lda < (ar > 1 ? ar : 1) || ldb < (br > 1 ? br : 1) || ldc < (m > 1 ? m : 1)) {
        fprintf(stderr, "EMU cublas INVALID: m%d n%d k%d lda%d ldb%d ldc%d ta%d tb%d\n", m, n, k, lda, ldb, ldc, ta, tb);
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    for (int bi = 0; bi < batch; bi++) {
        const T *a = A + bi * sA, *b = B + bi * sB;
        T *c = C + bi * sC;
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int l = 0; l < k; l++) {
                    double av = ta ? a[l + (long)i * lda] : a[i + (long)l * lda];
                    double bv = tb ? b[j + (long)l * ldb] : b[l + (long)j * ldb];
                    s += av * bv;
                }
                double v = *alpha * s;
                if (*beta != 0) v += *beta * (double)c[i + (long)j * ldc];
                c[i + (long)j * ldc] = (T)v;
            }
    }
    return 0;
}
#define GEMM_WRAP(NAME, T) \
static cublasStatus_t NAME(cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const T *al, const T *A, int lda, const T *B, int ldb, const T *be, T *C, int ldc) { return emu_gemm<T>(ta, tb, m, n, k, al, A, lda, 0, B, ldb, 0, be, C, ldc, 0, 1); }
#define GEMMB_WRAP(NAME, T) \
static cublasStatus_t NAME(cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const T *al, const T *A, int lda, long long sA, const T *B, int ldb, long long sB, const T *be, T *C, int ldc, long long sC, int batch) { return emu_gemm<T>(ta, tb, m, n, k, al, A, lda, sA, B, ldb, sB, be, C, ldc, sC, batch); }
GEMM_WRAP(cublasSgemm, float)
GEMM_WRAP(cublasDgemm, double)
GEMMB_WRAP(cublasSgemmStridedBatched, float)
GEMMB_WRAP(cublasDgemmStridedBatched, double)
