/* k_attention.c: compiles the attention kernels (k_attention.inc) for F32 and F64. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <tgmath.h>
#include "fastmath.h"
#include "kernels.h"

#define DK_T float
#define DK_S f32
#define GEMM cblas_sgemm
#define DK_FAST_F32 1 /* F32 softmax exponentials through fastmath.h; F64 stays on libm */
#include "k_attention.inc"
#undef DK_T
#undef DK_S
#undef GEMM
#undef DK_FAST_F32
#define DK_FAST_F32 0

#define DK_T double
#define DK_S f64
#define GEMM cblas_dgemm
#include "k_attention.inc"
