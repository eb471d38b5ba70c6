/* k_train.c: compiles the training kernels (k_train.inc) for F32 and F64. */
#include <tgmath.h>
#include <stdlib.h>
#include "kernels.h"

#define DK_T float
#define DK_S f32
#include "k_train.inc"
#undef DK_T
#undef DK_S

#define DK_T double
#define DK_S f64
#include "k_train.inc"
