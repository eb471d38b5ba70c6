/* k_attention.c: compiles the attention kernels (k_attention.inc) for F32 and F64. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <tgmath.h>
#include "kernels.h"

#define DK_T float
#define DK_S f32
#define GEMM cblas_sgemm
#include "k_attention.inc"
#undef DK_T
#undef DK_S
#undef GEMM

#define DK_T double
#define DK_S f64
#define GEMM cblas_dgemm
#include "k_attention.inc"
