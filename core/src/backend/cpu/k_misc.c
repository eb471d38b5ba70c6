/* k_misc.c: compiles the layout / head / RoPE / embedding kernels (k_misc.inc) for F32 and F64. */
#include <string.h>
#include <tgmath.h>
#include "kernels.h"

#define DK_KMAX_DIMS 8

#define DK_T float
#define DK_S f32
#include "k_misc.inc"
#undef DK_T
#undef DK_S

#define DK_T double
#define DK_S f64
#include "k_misc.inc"
