/* kernels.h: the CPU kernels behind the graph ops (private to libdiffkit).
 *
 * llm.c style: one plain function per op and direction, arguments in the
 * order outputs, saved-for-backward, inputs, weights, sizes. Each kernel
 * exists for float (_f32) and double (_f64): the bodies are written once in
 * k_<family>.inc and compiled twice with T = float / double. Backward kernels
 * ACCUMULATE (+=) into every gradient they are given; a NULL gradient
 * pointer means "not needed" and is skipped. `_naive` kernels are the plain
 * algorithmic references the tests compare the optimized ones against.
 *
 * Legend: M rows (all leading dims flattened), B batch, T/N tokens, D
 * features, H heads, d head dim, Nq/Nk query/key tokens. */
#ifndef DK_KERNELS_H
#define DK_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* Broadcast of b over a (see ops.h): a is `rows` rows of L elements; row r
 * of a pairs with b[boff(r) + j * s_in], boff from the merged outer dims. */
#ifndef DK_CONV_DIMS_DEFINED
#define DK_CONV_DIMS_DEFINED
/* Sizes of one convolution: x (B, C, H, W), w (O, C, KH, KW), out (B, O, HO, WO). */
typedef struct dk_conv_dims {
    size_t B, C, H, W, O, KH, KW, HO, WO;
    int stride, pad;
} dk_conv_dims;
#endif

typedef struct dk_bcast {
    size_t rows, L;
    size_t s_in;             /* 0 or 1 */
    int nd;                  /* outer merged dims */
    size_t size[4], bstride[4];
} dk_bcast;
size_t dk_bcast_boff(const dk_bcast *bc, size_t r);
/* bc for b (nb dims bs) broadcast over a (na dims as), ops.h rules; -1 if b does not fit. */
int dk_bcast_make(int na, const int64_t *as, int nb, const int64_t *bs, dk_bcast *bc);

/* The gradient sum of squares (dk_k_sumsq) adds chunks of this many elements in order. */
#define DK_NORM_CHUNK 16384

enum { DK_BIN_ADD = 0, DK_BIN_SUB = 1, DK_BIN_MUL = 2 };
enum { DK_UN_GELU_ERF = 0, DK_UN_GELU_TANH, DK_UN_SILU, DK_UN_SQUARE, DK_UN_EXP };

#define DK_T float
#define DK_S f32
#include "kernels_decl.inc"
#undef DK_T
#undef DK_S
#define DK_T double
#define DK_S f64
#include "kernels_decl.inc"
#undef DK_T
#undef DK_S

#endif
