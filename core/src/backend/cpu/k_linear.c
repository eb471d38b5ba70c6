/* k_linear.c: compiles the linear / matmul kernels (k_linear.inc) for F32 and F64. */
#include <cblas.h>
#include <tgmath.h>
#include "kernels.h"

#define DK_T float
#define DK_S f32
#define GEMM cblas_sgemm
#include "k_linear.inc"
#undef DK_T
#undef DK_S
#undef GEMM

#define DK_T double
#define DK_S f64
#define GEMM cblas_dgemm
#include "k_linear.inc"
