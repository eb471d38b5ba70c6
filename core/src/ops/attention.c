/* attention.c: graph ops for softmax attention (global, memory-efficient;
 * 2-D neighborhood; shifted window), the head layout helpers, HDiT's
 * cosine-sim scaling and axial RoPE. Kernels in cpu/k_attention.inc and
 * cpu/k_misc.inc. */
#include <stdlib.h>
#include "ops/op_internal.h"
#include "backend/cpu/kernels.h"

typedef struct attn_ctx {
    size_t BH, Nq, Nk, d, E, h, w;
    int kind, p, shift; /* kind: -1 global, 0 neighborhood, 1 window */
    double scale;
    dk_tensor *lse;
} attn_ctx;

static dk_status attn_bw(void *vc, dk_var *out, dk_var **in, int n, dk_error *err) {
    attn_ctx *c = vc;
    void *g[3];
    DK_GRADS(3, in, g);
    if (c->kind < 0) {
        if (DK_KCALL(out->value, dk_k_attention_backward, g[0], g[1], g[2], DG(out), DV(out), c->lse->data, DV(in[0]),
                     DV(in[1]), DV(in[2]), c->BH, c->Nq, c->Nk, c->d, c->E, c->scale))
            return dk_error_set(err, DK_ENOMEM, "attention backward: out of memory for the score blocks");
    } else {
        DK_KCALL(out->value, dk_k_local_attn_backward, g[0], g[1], g[2], DG(out), DV(out), c->lse->data, DV(in[0]), DV(in[1]),
                 DV(in[2]), c->BH, c->h, c->w, c->d, c->kind, c->p, c->shift, c->scale);
    }
    return DK_OK;
}

static int is4(const dk_tensor *t) { return t->ndim == 4; }

dk_var *dk_attention(dk_graph *g, dk_var *q, dk_var *k, dk_var *v, double scale) {
    dk_var *in[3] = {q, k, v};
    if (dk__check_inputs(g, "attention", in, 3)) return NULL;
    const dk_tensor *Q = q->value, *Kt = k->value, *V = v->value;
    if (!is4(Q) || !is4(Kt) || !is4(V) || Q->shape[0] != Kt->shape[0] || Q->shape[1] != Kt->shape[1] ||
        Q->shape[3] != Kt->shape[3] || V->shape[0] != Q->shape[0] || V->shape[1] != Q->shape[1] ||
        V->shape[2] != Kt->shape[2])
        return dk__op_fail(g, "attention", DK_ESHAPE, "q %s, k %s, v %s: expected [B, H, Nq, d], [B, H, Nk, d], [B, H, Nk, dv]",
                           DK_SHP(q), DK_SHP(k), DK_SHP(v));
    int64_t shp[4] = {Q->shape[0], Q->shape[1], Q->shape[2], V->shape[3]};
    attn_ctx *c = dk__graph_ctx(g, sizeof *c);
    dk_var *out = dk__graph_var(g, Q->dtype, 4, shp, 0);
    if (!out || !c) return NULL;
    *c = (attn_ctx){(size_t)(Q->shape[0] * Q->shape[1]), (size_t)Q->shape[2], (size_t)Kt->shape[2], (size_t)Q->shape[3],
                    (size_t)V->shape[3], 0, 0, -1, 0, 0, scale, NULL};
    if (dk__needs_grad(g, in, 3)) {
        c->lse = dk__graph_tensor(g, Q->dtype, 3, shp, 0);
        if (!c->lse) return NULL;
    }
    if (DK_KCALL(Q, dk_k_attention_forward, DV(out), c->lse ? c->lse->data : NULL, DV(q), DV(k), DV(v), c->BH,
                 c->Nq, c->Nk, c->d, c->E, scale))
        return dk__op_fail(g, "attention", DK_ENOMEM, "out of memory for the score blocks (%d x %zu per thread)",
                           DK_ATTN_BLOCK, c->Nk);
    return dk_graph_custom(g, out, in, 3, attn_bw, c, NULL);
}

static dk_var *local_attn(dk_graph *g, const char *name, dk_var *q, dk_var *k, dk_var *v, int64_t h, int64_t w,
                          int kind, int p, int shift, double scale) {
    dk_var *in[3] = {q, k, v};
    if (dk__check_inputs(g, name, in, 3)) return NULL;
    const dk_tensor *Q = q->value;
    if (!is4(Q) || !dk_tensor_same_shape(Q, k->value) || !dk_tensor_same_shape(Q, v->value))
        return dk__op_fail(g, name, DK_ESHAPE, "q %s, k %s, v %s must all be [B, H, h*w, d]", DK_SHP(q), DK_SHP(k),
                           DK_SHP(v));
    if (h < 1 || w < 1 || Q->shape[2] != h * w)
        return dk__op_fail(g, name, DK_ESHAPE, "q %s has %lld tokens, not the grid %lld x %lld", DK_SHP(q),
                           (long long)Q->shape[2], (long long)h, (long long)w);
    if (Q->shape[3] > 1024) return dk__op_fail(g, name, DK_EINVAL, "head dim %lld > 1024", (long long)Q->shape[3]);
    if (kind == 0 && (p < 1 || p % 2 == 0 || p > 31 || p > h || p > w))
        return dk__op_fail(g, name, DK_EINVAL,
                           "kernel size %d must be odd, at most 31 and fit the %lld x %lld grid (kernel <= h, w)", p,
                           (long long)h, (long long)w);
    if (kind == 1 && (p < 1 || p > 32 || h % p || w % p || shift < 0 || shift >= p))
        return dk__op_fail(g, name, DK_EINVAL,
                           "window %d must divide the %lld x %lld grid (window <= 32) and shift %d be in [0, window)",
                           p, (long long)h, (long long)w, shift);
    attn_ctx *c = dk__graph_ctx(g, sizeof *c);
    dk_var *out = dk__graph_var(g, Q->dtype, 4, Q->shape, 0);
    if (!out || !c) return NULL;
    *c = (attn_ctx){(size_t)(Q->shape[0] * Q->shape[1]), (size_t)Q->shape[2], (size_t)Q->shape[2], (size_t)Q->shape[3],
                    (size_t)Q->shape[3], (size_t)h, (size_t)w, kind, p, shift, scale, NULL};
    if (dk__needs_grad(g, in, 3)) {
        c->lse = dk__graph_tensor(g, Q->dtype, 3, Q->shape, 0);
        if (!c->lse) return NULL;
    }
    DK_KCALL(Q, dk_k_local_attn_forward, DV(out), c->lse ? c->lse->data : NULL, DV(q), DV(k), DV(v), c->BH,
             c->h, c->w, c->d, kind, p, shift, scale);
    return dk_graph_custom(g, out, in, 3, attn_bw, c, NULL);
}

dk_var *dk_neighborhood_attention(dk_graph *g, dk_var *q, dk_var *k, dk_var *v, int64_t h, int64_t w, int kernel,
                                  double scale) {
    return local_attn(g, "neighborhood_attention", q, k, v, h, w, 0, kernel, 0, scale);
}

dk_var *dk_window_attention(dk_graph *g, dk_var *q, dk_var *k, dk_var *v, int64_t h, int64_t w, int window, int shift,
                            double scale) {
    return local_attn(g, "window_attention", q, k, v, h, w, 1, window, shift, scale);
}

/* ---- head layout ---- */

typedef struct heads_ctx {
    size_t B, N, G, H, d, which;
} heads_ctx;

static dk_status heads_split_bw(void *vc, dk_var *out, dk_var **in, int n, dk_error *err) {
    heads_ctx *c = vc;
    void *g[1];
    DK_GRADS(1, in, g);
    DK_KCALL(out->value, dk_k_heads_split, DG(out), g[0], c->B, c->N, c->G, c->H, c->d, c->which, 0, 1);
    return DK_OK;
}

static dk_status heads_merge_bw(void *vc, dk_var *out, dk_var **in, int n, dk_error *err) {
    heads_ctx *c = vc;
    void *g[1];
    DK_GRADS(1, in, g);
    DK_KCALL(out->value, dk_k_heads_split, g[0], DG(out), c->B, c->N, 1, c->H, c->d, 0, 1, 1);
    return DK_OK;
}

dk_var *dk_heads_split(dk_graph *g, dk_var *x, int groups, int heads, int which) {
    if (dk__check_inputs(g, "heads_split", &x, 1)) return NULL;
    const dk_tensor *X = x->value;
    int64_t C = X->shape[X->ndim - 1];
    if (X->ndim != 3 || groups < 1 || heads < 1 || which < 0 || which >= groups || C % ((int64_t)groups * heads))
        return dk__op_fail(g, "heads_split", DK_ESHAPE,
                           "x %s cannot be split into %d groups x %d heads (group %d): expected [B, N, G*H*d]", DK_SHP(x),
                           groups, heads, which);
    heads_ctx *c = dk__graph_ctx(g, sizeof *c);
    if (!c) return NULL;
    *c = (heads_ctx){(size_t)X->shape[0], (size_t)X->shape[1], (size_t)groups, (size_t)heads,
                     (size_t)(C / groups / heads), (size_t)which};
    int64_t shp[4] = {X->shape[0], heads, X->shape[1], (int64_t)c->d};
    dk_var *out = dk__graph_var(g, X->dtype, 4, shp, 0);
    if (!out) return NULL;
    DK_KCALL(X, dk_k_heads_split, DV(out), DV(x), c->B, c->N, c->G, c->H, c->d, c->which, 1, 0);
    return dk_graph_custom(g, out, &x, 1, heads_split_bw, c, NULL);
}

dk_var *dk_heads_merge(dk_graph *g, dk_var *x) {
    if (dk__check_inputs(g, "heads_merge", &x, 1)) return NULL;
    const dk_tensor *X = x->value;
    if (X->ndim != 4) return dk__op_fail(g, "heads_merge", DK_ESHAPE, "x %s: expected [B, H, N, d]", DK_SHP(x));
    heads_ctx *c = dk__graph_ctx(g, sizeof *c);
    if (!c) return NULL;
    *c = (heads_ctx){(size_t)X->shape[0], (size_t)X->shape[2], 1, (size_t)X->shape[1], (size_t)X->shape[3], 0};
    int64_t shp[3] = {X->shape[0], X->shape[2], X->shape[1] * X->shape[3]};
    dk_var *out = dk__graph_var(g, X->dtype, 3, shp, 0);
    if (!out) return NULL;
    DK_KCALL(X, dk_k_heads_split, DV(x), DV(out), c->B, c->N, 1, c->H, c->d, 0, 0, 0);
    return dk_graph_custom(g, out, &x, 1, heads_merge_bw, c, NULL);
}

/* ---- cosine-sim scaling ---- */

typedef struct cos_ctx {
    size_t B, H, N, d;
    dk_tensor *rnorm;
} cos_ctx;

static dk_status cos_bw(void *vc, dk_var *out, dk_var **in, int n, dk_error *err) {
    cos_ctx *c = vc;
    void *g[2];
    DK_GRADS(2, in, g);
    DK_KCALL(out->value, dk_k_cosine_sim_backward, g[0], g[1], DG(out), DV(in[0]), c->rnorm->data, DV(in[1]),
             c->B, c->H, c->N, c->d);
    return DK_OK;
}

dk_var *dk_cosine_sim_scale(dk_graph *g, dk_var *x, dk_var *scale, double eps) {
    dk_var *in[2] = {x, scale};
    if (dk__check_inputs(g, "cosine_sim_scale", in, 2)) return NULL;
    const dk_tensor *X = x->value;
    if (X->ndim != 4 || scale->value->numel != (size_t)X->shape[1])
        return dk__op_fail(g, "cosine_sim_scale", DK_ESHAPE, "x %s, scale %s: expected [B, H, N, d] and [H]", DK_SHP(x),
                           DK_SHP(scale));
    cos_ctx *c = dk__graph_ctx(g, sizeof *c);
    dk_var *out = dk__graph_var(g, X->dtype, 4, X->shape, 0);
    if (!out || !c) return NULL;
    *c = (cos_ctx){(size_t)X->shape[0], (size_t)X->shape[1], (size_t)X->shape[2], (size_t)X->shape[3], NULL};
    if (dk__needs_grad(g, in, 2)) {
        c->rnorm = dk__graph_tensor(g, X->dtype, 3, X->shape, 0);
        if (!c->rnorm) return NULL;
    }
    DK_KCALL(X, dk_k_cosine_sim_forward, DV(out), c->rnorm ? c->rnorm->data : NULL, DV(x), DV(scale), c->B, c->H,
             c->N, c->d, eps);
    return dk_graph_custom(g, out, in, 2, cos_bw, c, NULL);
}

/* ---- axial RoPE ---- */

typedef struct rope_ctx {
    size_t B, H, N, d, F;
    double *pos, *freqs; /* arena copies in double */
} rope_ctx;

static dk_status rope_bw(void *vc, dk_var *out, dk_var **in, int n, dk_error *err) {
    rope_ctx *c = vc;
    void *g[1];
    DK_GRADS(1, in, g);
    DK_KCALL(out->value, dk_k_rope, g[0], DG(out), c->pos, c->freqs, c->B, c->H, c->N, c->d, c->F, -1, 1);
    return DK_OK;
}

dk_var *dk_rope_axial(dk_graph *g, dk_var *x, const dk_tensor *pos, const dk_tensor *freqs) {
    if (dk__check_inputs(g, "rope_axial", &x, 1)) return NULL;
    const dk_tensor *X = x->value;
    if (!pos || !freqs) return dk__op_fail(g, "rope_axial", DK_EINVAL, "pos or freqs is NULL");
    if (X->ndim != 4 || pos->numel != (size_t)X->shape[2] * 2 || freqs->ndim != 2 || freqs->shape[0] != X->shape[1] ||
        4 * freqs->shape[1] > X->shape[3])
        return dk__op_fail(g, "rope_axial", DK_ESHAPE,
                           "x %s, pos %s, freqs %s: expected x [B, H, N, d], pos [N, 2], freqs [H, F] with 4F <= d",
                           DK_SHP(x), dk__shape(pos, (char[96]){0}), dk__shape(freqs, (char[96]){0}));
    rope_ctx *c = dk__graph_ctx(g, sizeof *c);
    if (!c) return NULL;
    *c = (rope_ctx){(size_t)X->shape[0], (size_t)X->shape[1], (size_t)X->shape[2], (size_t)X->shape[3],
                    (size_t)freqs->shape[1], NULL, NULL};
    if (pos->device != DK_CPU || freqs->device != DK_CPU)
        return dk__op_fail(g, "rope_axial", DK_EINVAL, "pos and freqs are host tensors (they are staged to x's device)");
    double *hp = dk__graph_ctx(g, pos->numel * sizeof(double)), *hf = dk__graph_ctx(g, freqs->numel * sizeof(double));
    if (!hp || !hf) return NULL;
    for (size_t i = 0; i < pos->numel; i++) hp[i] = dk_tensor_get(pos, i);
    for (size_t i = 0; i < freqs->numel; i++) hf[i] = dk_tensor_get(freqs, i);
    c->pos = dk__graph_stage(g, hp, pos->numel * sizeof(double));
    c->freqs = dk__graph_stage(g, hf, freqs->numel * sizeof(double));
    dk_var *out = dk__graph_var(g, X->dtype, 4, X->shape, 0);
    if (!out || !c->pos || !c->freqs) return NULL;
    DK_KCALL(X, dk_k_rope, DV(out), DV(x), c->pos, c->freqs, c->B, c->H, c->N, c->d, c->F, 1, 0);
    return dk_graph_custom(g, out, &x, 1, rope_bw, c, NULL);
}
