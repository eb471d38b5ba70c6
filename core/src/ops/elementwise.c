/* elementwise.c: graph ops for broadcasting add/sub/mul, scalar affine,
 * activations (GELU erf/tanh, SiLU, GEGLU), adaLN modulation, gated
 * residual, lerp skip and detach. Kernels in cpu/k_elementwise.inc. */
#include "ops/op_internal.h"
#include "backend/cpu/kernels.h"

/* ---- broadcasting binary ops ---- */

typedef struct bin_ctx {
    dk_bcast bc;
    int op;
} bin_ctx;

static dk_status binary_bw(void *vc, dk_var *out, dk_var **in, int n, dk_error *err) {
    bin_ctx *c = vc;
    void *g[2];
    DK_GRADS(2, in, g);
    DK_KCALL(out->value, dk_k_binary_backward, g[0], g[1], DG(out), DV(in[0]), DV(in[1]), &c->bc, c->op);
    return DK_OK;
}

static dk_var *binary(dk_graph *g, const char *name, int op, dk_var *a, dk_var *b) {
    dk_var *in[2] = {a, b};
    if (dk__check_inputs(g, name, in, 2)) return NULL;
    bin_ctx *c = dk__graph_ctx(g, sizeof *c);
    if (!c) return NULL;
    if (dk_bcast_make(a->value->ndim, a->value->shape, b->value->ndim, b->value->shape, &c->bc))
        return dk__op_fail(g, name, DK_ESHAPE,
                           "b %s does not broadcast to a %s (each dim of b, right-aligned, must equal a's or be 1)",
                           DK_SHP(b), DK_SHP(a));
    c->op = op;
    dk_var *out = dk__graph_var(g, a->value->dtype, a->value->ndim, a->value->shape, 0);
    if (!out) return NULL;
    DK_KCALL(a->value, dk_k_binary_forward, DV(out), DV(a), DV(b), &c->bc, op);
    return dk_graph_custom(g, out, in, 2, binary_bw, c, NULL);
}

dk_var *dk_add(dk_graph *g, dk_var *a, dk_var *b) { return binary(g, "add", DK_BIN_ADD, a, b); }
dk_var *dk_sub(dk_graph *g, dk_var *a, dk_var *b) { return binary(g, "sub", DK_BIN_SUB, a, b); }
dk_var *dk_mul(dk_graph *g, dk_var *a, dk_var *b) { return binary(g, "mul", DK_BIN_MUL, a, b); }

/* ---- scalar affine: s x + c ---- */

typedef struct affine_ctx {
    double s;
} affine_ctx;

static dk_status affine_bw(void *vc, dk_var *out, dk_var **in, int n, dk_error *err) {
    void *g[1];
    DK_GRADS(1, in, g);
    DK_KCALL(out->value, dk_k_add_into, g[0], DG(out), out->value->numel, ((affine_ctx *)vc)->s);
    return DK_OK;
}

static dk_var *affine(dk_graph *g, const char *name, dk_var *x, double s, double c0) {
    if (dk__check_inputs(g, name, &x, 1)) return NULL;
    dk_var *out = dk__graph_var(g, x->value->dtype, x->value->ndim, x->value->shape, 0);
    affine_ctx *c = dk__graph_ctx(g, sizeof *c);
    if (!out || !c) return NULL;
    c->s = s;
    DK_KCALL(x->value, dk_k_affine_forward, DV(out), DV(x), x->value->numel, s, c0);
    return dk_graph_custom(g, out, &x, 1, affine_bw, c, NULL);
}

dk_var *dk_scale(dk_graph *g, dk_var *x, double s) { return affine(g, "scale", x, s, 0); }
dk_var *dk_add_scalar(dk_graph *g, dk_var *x, double c) { return affine(g, "add_scalar", x, 1, c); }

/* ---- unary activations ---- */

typedef struct unary_ctx {
    int kind;
} unary_ctx;

static dk_status unary_bw(void *vc, dk_var *out, dk_var **in, int n, dk_error *err) {
    void *g[1];
    DK_GRADS(1, in, g);
    DK_KCALL(out->value, dk_k_unary_backward, g[0], DG(out), DV(in[0]), out->value->numel,
             ((unary_ctx *)vc)->kind);
    return DK_OK;
}

static dk_var *unary(dk_graph *g, const char *name, int kind, dk_var *x) {
    if (dk__check_inputs(g, name, &x, 1)) return NULL;
    dk_var *out = dk__graph_var(g, x->value->dtype, x->value->ndim, x->value->shape, 0);
    unary_ctx *c = dk__graph_ctx(g, sizeof *c);
    if (!out || !c) return NULL;
    c->kind = kind;
    DK_KCALL(x->value, dk_k_unary_forward, DV(out), DV(x), x->value->numel, kind);
    return dk_graph_custom(g, out, &x, 1, unary_bw, c, NULL);
}

dk_var *dk_gelu(dk_graph *g, dk_var *x, int approx_tanh) {
    return unary(g, approx_tanh ? "gelu_tanh" : "gelu", approx_tanh ? DK_UN_GELU_TANH : DK_UN_GELU_ERF, x);
}
dk_var *dk_silu(dk_graph *g, dk_var *x) { return unary(g, "silu", DK_UN_SILU, x); }
dk_var *dk_square(dk_graph *g, dk_var *x) { return unary(g, "square", DK_UN_SQUARE, x); }
dk_var *dk_exp(dk_graph *g, dk_var *x) { return unary(g, "exp", DK_UN_EXP, x); }

/* ---- GEGLU ---- */

static dk_status geglu_bw(void *vc, dk_var *out, dk_var **in, int n, dk_error *err) {
    void *g[1];
    DK_GRADS(1, in, g);
    size_t F = (size_t)out->value->shape[out->value->ndim - 1];
    DK_KCALL(out->value, dk_k_geglu_backward, g[0], DG(out), DV(in[0]), out->value->numel / F, F);
    return DK_OK;
}

dk_var *dk_geglu(dk_graph *g, dk_var *x) {
    if (dk__check_inputs(g, "geglu", &x, 1)) return NULL;
    const dk_tensor *X = x->value;
    int64_t D = X->shape[X->ndim - 1];
    if (D % 2) return dk__op_fail(g, "geglu", DK_ESHAPE, "x %s: the last dim must be even ([a | b] halves)", DK_SHP(x));
    int64_t shp[DK_MAX_DIMS];
    for (int i = 0; i < X->ndim; i++) shp[i] = X->shape[i];
    shp[X->ndim - 1] = D / 2;
    dk_var *out = dk__graph_var(g, X->dtype, X->ndim, shp, 0);
    if (!out) return NULL;
    DK_KCALL(X, dk_k_geglu_forward, DV(out), DV(x), X->numel / (size_t)D, (size_t)(D / 2));
    return dk_graph_custom(g, out, &x, 1, geglu_bw, NULL, NULL);
}

/* ---- adaLN modulation and gated residual ---- */

typedef struct btd_ctx {
    size_t B, Tn, D;
} btd_ctx;

/* x [B, T, D] (or [B, ..., D]) and a per-sample [B, D] (or [B, 1.., D]) var. */
static int per_sample_fits(const dk_tensor *x, const dk_tensor *s) {
    if (x->ndim < 2 || s->numel != (size_t)x->shape[0] * (size_t)x->shape[x->ndim - 1]) return 0;
    return s->shape[0] == x->shape[0] && s->shape[s->ndim - 1] == x->shape[x->ndim - 1];
}

static dk_status modulate_bw(void *vc, dk_var *out, dk_var **in, int n, dk_error *err) {
    btd_ctx *c = vc;
    /* in: x, scale, shift (optional) */
    void *g[3];
    DK_GRADS(n, in, g);
    DK_KCALL(out->value, dk_k_modulate_backward, g[0], n > 2 ? g[2] : NULL, g[1], DG(out), DV(in[0]),
             DV(in[1]), c->B, c->Tn, c->D);
    return DK_OK;
}

dk_var *dk_modulate(dk_graph *g, dk_var *x, dk_var *shift, dk_var *scale) {
    dk_var *in[3] = {x, scale, shift};
    int n = shift ? 3 : 2;
    if (dk__check_inputs(g, "modulate", in, n)) return NULL;
    if (!per_sample_fits(x->value, scale->value) || (shift && !per_sample_fits(x->value, shift->value)))
        return dk__op_fail(g, "modulate", DK_ESHAPE, "x %s needs shift/scale [B, D]; got shift %s, scale %s", DK_SHP(x),
                           shift ? DK_SHP(shift) : "none", DK_SHP(scale));
    btd_ctx *c = dk__graph_ctx(g, sizeof *c);
    dk_var *out = dk__graph_var(g, x->value->dtype, x->value->ndim, x->value->shape, 0);
    if (!out || !c) return NULL;
    c->B = (size_t)x->value->shape[0];
    c->D = (size_t)x->value->shape[x->value->ndim - 1];
    c->Tn = x->value->numel / (c->B * c->D);
    DK_KCALL(x->value, dk_k_modulate_forward, DV(out), DV(x), shift ? DV(shift) : NULL, DV(scale), c->B, c->Tn,
             c->D);
    return dk_graph_custom(g, out, in, n, modulate_bw, c, NULL);
}

static dk_status gated_bw(void *vc, dk_var *out, dk_var **in, int n, dk_error *err) {
    btd_ctx *c = vc;
    void *g[3];
    DK_GRADS(3, in, g);
    DK_KCALL(out->value, dk_k_gated_residual_backward, g[0], g[1], g[2], DG(out), DV(in[1]), DV(in[2]), c->B,
             c->Tn, c->D);
    return DK_OK;
}

dk_var *dk_gated_residual(dk_graph *g, dk_var *x, dk_var *gate, dk_var *y) {
    dk_var *in[3] = {x, gate, y};
    if (dk__check_inputs(g, "gated_residual", in, 3)) return NULL;
    if (!dk_tensor_same_shape(x->value, y->value) || !per_sample_fits(x->value, gate->value))
        return dk__op_fail(g, "gated_residual", DK_ESHAPE, "x %s, gate %s, y %s: expected x, y [B, T, D], gate [B, D]",
                           DK_SHP(x), DK_SHP(gate), DK_SHP(y));
    btd_ctx *c = dk__graph_ctx(g, sizeof *c);
    dk_var *out = dk__graph_var(g, x->value->dtype, x->value->ndim, x->value->shape, 0);
    if (!out || !c) return NULL;
    c->B = (size_t)x->value->shape[0];
    c->D = (size_t)x->value->shape[x->value->ndim - 1];
    c->Tn = x->value->numel / (c->B * c->D);
    DK_KCALL(x->value, dk_k_gated_residual_forward, DV(out), DV(x), DV(gate), DV(y), c->B, c->Tn, c->D);
    return dk_graph_custom(g, out, in, 3, gated_bw, c, NULL);
}

/* ---- lerp skip ---- */

static dk_status lerp_bw(void *vc, dk_var *out, dk_var **in, int n, dk_error *err) {
    void *g[3];
    DK_GRADS(3, in, g);
    DK_KCALL(out->value, dk_k_lerp_backward, g[0], g[1], g[2], DG(out), DV(in[0]), DV(in[1]), DV(in[2]),
             out->value->numel);
    return DK_OK;
}

dk_var *dk_lerp_skip(dk_graph *g, dk_var *skip, dk_var *y, dk_var *fac) {
    dk_var *in[3] = {skip, y, fac};
    if (dk__check_inputs(g, "lerp", in, 3)) return NULL;
    if (!dk_tensor_same_shape(skip->value, y->value) || fac->value->numel != 1)
        return dk__op_fail(g, "lerp", DK_ESHAPE, "skip %s and y %s must match and fac %s have one element",
                           DK_SHP(skip), DK_SHP(y), DK_SHP(fac));
    dk_var *out = dk__graph_var(g, y->value->dtype, y->value->ndim, y->value->shape, 0);
    if (!out) return NULL;
    DK_KCALL(y->value, dk_k_lerp_forward, DV(out), DV(skip), DV(y), DV(fac), y->value->numel);
    return dk_graph_custom(g, out, in, 3, lerp_bw, NULL, NULL);
}

/* ---- detach ---- */

dk_var *dk_detach(dk_graph *g, dk_var *x) {
    if (dk__check_inputs(g, "detach", &x, 1)) return NULL;
    dk_var *out = dk__graph_view_var(g, x, x->value->ndim, x->value->shape);
    if (out) out->requires_grad = 0;
    return out;
}
