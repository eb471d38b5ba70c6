/* k_elementwise.c: compiles the elementwise / reduction / loss kernels
 * (k_elementwise.inc) for F32 and F64, plus the broadcast offset helper. */
#include <tgmath.h>
#include "kernels.h"
#include "fastmath.h"

size_t dk_bcast_boff(const dk_bcast *bc, size_t r) {
    size_t off = 0;
    for (int i = bc->nd - 1; i >= 0; i--) {
        off += (r % bc->size[i]) * bc->bstride[i];
        r /= bc->size[i];
    }
    return off;
}

#define DK_T float
#define DK_S f32
#define DK_FAST_F32 1 /* F32 activations through fastmath.h; F64 stays on libm */
#include "k_elementwise.inc"
#undef DK_T
#undef DK_S
#undef DK_FAST_F32
#define DK_FAST_F32 0

#define DK_T double
#define DK_S f64
#include "k_elementwise.inc"
