/* k_elementwise.c: compiles the elementwise / reduction / loss kernels
 * (k_elementwise.inc) for F32 and F64, plus the broadcast helpers (one home:
 * the ops and the backend tests build a dk_bcast with dk_bcast_make). */
#include <string.h>
#include <tgmath.h>
#include "diffkit/tensor.h"
#include "kernels.h"
#include "fastmath.h"

/* Fill bc for b (nb dims bs) broadcast over a (na dims as), ops.h rules; -1 if b does not fit. */
int dk_bcast_make(int na, const int64_t *as, int nb, const int64_t *bs, dk_bcast *bc) {
    int ng = 0, keep[DK_MAX_DIMS];
    size_t anumel = 1, bnumel = 1;
    size_t gsz[DK_MAX_DIMS], gst[DK_MAX_DIMS];
    if (nb > na || na > DK_MAX_DIMS) return -1;
    for (int i = 0; i < na; i++) anumel *= (size_t)as[i];
    for (int i = 0; i < nb; i++) bnumel *= (size_t)bs[i];
    for (int i = 0; i < na; i++) {
        int64_t ad = as[i], bd = i >= na - nb ? bs[i - (na - nb)] : 1;
        int k;
        if (bd == ad)
            k = 1;
        else if (bd == 1)
            k = 0;
        else
            return -1;
        if (ad == 1 && ng) continue; /* a size-1 dim changes nothing */
        if (ng && keep[ng - 1] == k)
            gsz[ng - 1] *= (size_t)ad;
        else {
            gsz[ng] = (size_t)ad;
            keep[ng++] = k;
        }
    }
    if (ng == 0) {
        gsz[0] = 1;
        keep[0] = 1;
        ng = 1;
    }
    size_t st = 1;
    for (int i = ng - 1; i >= 0; i--) {
        gst[i] = keep[i] ? st : 0;
        if (keep[i]) st *= gsz[i];
    }
    if (st != bnumel) return -1;
    memset(bc, 0, sizeof *bc);
    bc->L = gsz[ng - 1];
    bc->s_in = keep[ng - 1] ? 1 : 0;
    bc->nd = ng - 1;
    for (int i = 0; i < ng - 1; i++) {
        bc->size[i] = gsz[i];
        bc->bstride[i] = gst[i];
    }
    bc->rows = anumel / bc->L;
    return 0;
}

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
