/* layout.c: graph ops that move data without arithmetic: reshape (a view),
 * permute, slicing and concatenation over the last dim, patchify /
 * unpatchify (DiT and HDiT layouts), HDiT token merge / split. */
#include "ops/op_internal.h"
#include "backend/cpu/kernels.h"

static dk_status reshape_bw(void *vc, dk_var *out, dk_var **in, int n, dk_error *err) {
    void *g[1];
    DK_GRADS(1, in, g);
    DK_KCALL(out->value, dk_k_add_into, g[0], DG(out), out->value->numel, 1.0);
    return DK_OK;
}

dk_var *dk_reshape(dk_graph *g, dk_var *x, int ndim, const int64_t *shape) {
    if (dk__check_inputs(g, "reshape", &x, 1)) return NULL;
    size_t n = 1;
    for (int i = 0; shape && i < ndim; i++) n *= shape[i] > 0 ? (size_t)shape[i] : 0;
    if (!shape || ndim < 1 || ndim > DK_MAX_DIMS || n != x->value->numel) {
        dk_tensor tmp = {0};
        tmp.ndim = shape && ndim >= 1 && ndim <= DK_MAX_DIMS ? ndim : 0;
        for (int i = 0; i < tmp.ndim; i++) tmp.shape[i] = shape[i];
        return dk__op_fail(g, "reshape", DK_ESHAPE, "x %s cannot be viewed as %s (numel differs)", DK_SHP(x),
                           dk__shape(&tmp, (char[96]){0}));
    }
    dk_var *out = dk__graph_view_var(g, x, ndim, shape);
    if (!out) return NULL;
    return dk_graph_custom(g, out, &x, 1, reshape_bw, NULL, NULL);
}

typedef struct perm_ctx {
    int nd;
    int perm[DK_MAX_DIMS];
    int64_t shape[DK_MAX_DIMS];
} perm_ctx;

static dk_status permute_bw(void *vc, dk_var *out, dk_var **in, int n, dk_error *err) {
    perm_ctx *c = vc;
    void *g[1];
    DK_GRADS(1, in, g);
    DK_KCALL(out->value, dk_k_permute, g[0], DG(out), c->nd, c->shape, c->perm, 1, 1);
    return DK_OK;
}

dk_var *dk_permute(dk_graph *g, dk_var *x, const int *perm) {
    if (dk__check_inputs(g, "permute", &x, 1)) return NULL;
    const dk_tensor *X = x->value;
    int seen[DK_MAX_DIMS] = {0};
    for (int i = 0; i < X->ndim; i++) {
        if (!perm || perm[i] < 0 || perm[i] >= X->ndim || seen[perm[i]])
            return dk__op_fail(g, "permute", DK_EINVAL, "perm is not a permutation of the %d dims of x %s", X->ndim,
                               DK_SHP(x));
        seen[perm[i]] = 1;
    }
    perm_ctx *c = dk__graph_ctx(g, sizeof *c);
    if (!c) return NULL;
    int64_t shp[DK_MAX_DIMS];
    c->nd = X->ndim;
    for (int i = 0; i < X->ndim; i++) {
        c->perm[i] = perm[i];
        c->shape[i] = X->shape[i];
        shp[i] = X->shape[perm[i]];
    }
    dk_var *out = dk__graph_var(g, X->dtype, X->ndim, shp, 0);
    if (!out) return NULL;
    DK_KCALL(X, dk_k_permute, DV(out), DV(x), c->nd, c->shape, c->perm, 0, 0);
    return dk_graph_custom(g, out, &x, 1, permute_bw, c, NULL);
}

typedef struct cols_ctx {
    size_t M;
    size_t start, len, D; /* slice: out = x[..., start:start+len] of D */
} cols_ctx;

static dk_status slice_bw(void *vc, dk_var *out, dk_var **in, int n, dk_error *err) {
    cols_ctx *c = vc;
    void *g[1];
    DK_GRADS(1, in, g);
    DK_KCALL(out->value, dk_k_copy_cols, g[0], c->D, c->start, DG(out), c->len, 0, c->M, c->len, 1);
    return DK_OK;
}

dk_var *dk_slice_last(dk_graph *g, dk_var *x, int64_t start, int64_t len) {
    if (dk__check_inputs(g, "slice_last", &x, 1)) return NULL;
    const dk_tensor *X = x->value;
    int64_t D = X->shape[X->ndim - 1];
    if (start < 0 || len < 1 || start + len > D)
        return dk__op_fail(g, "slice_last", DK_ESHAPE, "x %s has no columns [%lld, %lld) in its last dim", DK_SHP(x),
                           (long long)start, (long long)(start + len));
    cols_ctx *c = dk__graph_ctx(g, sizeof *c);
    int64_t shp[DK_MAX_DIMS];
    for (int i = 0; i < X->ndim; i++) shp[i] = X->shape[i];
    shp[X->ndim - 1] = len;
    dk_var *out = dk__graph_var(g, X->dtype, X->ndim, shp, 0);
    if (!out || !c) return NULL;
    *c = (cols_ctx){X->numel / (size_t)D, (size_t)start, (size_t)len, (size_t)D};
    DK_KCALL(X, dk_k_copy_cols, DV(out), c->len, 0, DV(x), c->D, c->start, c->M, c->len, 0);
    return dk_graph_custom(g, out, &x, 1, slice_bw, c, NULL);
}

static dk_status concat_bw(void *vc, dk_var *out, dk_var **in, int n, dk_error *err) {
    size_t D = (size_t)out->value->shape[out->value->ndim - 1], M = out->value->numel / D, off = 0;
    for (int i = 0; i < n; i++) {
        size_t Di = (size_t)in[i]->value->shape[in[i]->value->ndim - 1];
        void *g[1];
        DK_GRADS(1, &in[i], g);
        if (g[0]) DK_KCALL(out->value, dk_k_copy_cols, g[0], Di, 0, DG(out), D, off, M, Di, 1);
        off += Di;
    }
    return DK_OK;
}

dk_var *dk_concat_last(dk_graph *g, dk_var **xs, int n) {
    if (!xs || n < 1) return dk__op_fail(g, "concat_last", DK_EINVAL, "no inputs");
    if (dk__check_inputs(g, "concat_last", xs, n)) return NULL;
    const dk_tensor *X0 = xs[0]->value;
    int64_t D = 0;
    for (int i = 0; i < n; i++) {
        const dk_tensor *Xi = xs[i]->value;
        int ok = Xi->ndim == X0->ndim;
        for (int j = 0; ok && j < X0->ndim - 1; j++) ok = Xi->shape[j] == X0->shape[j];
        if (!ok)
            return dk__op_fail(g, "concat_last", DK_ESHAPE, "input %d %s does not match input 0 %s except in the last dim",
                               i, DK_SHP(xs[i]), DK_SHP(xs[0]));
        D += Xi->shape[Xi->ndim - 1];
    }
    int64_t shp[DK_MAX_DIMS];
    for (int i = 0; i < X0->ndim; i++) shp[i] = X0->shape[i];
    shp[X0->ndim - 1] = D;
    dk_var *out = dk__graph_var(g, X0->dtype, X0->ndim, shp, 0);
    if (!out) return NULL;
    size_t M = out->value->numel / (size_t)D, off = 0;
    for (int i = 0; i < n; i++) {
        size_t Di = (size_t)xs[i]->value->shape[X0->ndim - 1];
        DK_KCALL(X0, dk_k_copy_cols, DV(out), (size_t)D, off, DV(xs[i]), Di, 0, M, Di, 0);
        off += Di;
    }
    return dk_graph_custom(g, out, xs, n, concat_bw, NULL, NULL);
}

/* ---- patches ---- */

typedef struct patch_ctx {
    size_t B, C, H, W, p;
    int layout;
} patch_ctx;

static dk_status patchify_bw(void *vc, dk_var *out, dk_var **in, int n, dk_error *err) {
    patch_ctx *c = vc;
    void *g[1];
    DK_GRADS(1, in, g);
    DK_KCALL(out->value, dk_k_patch_copy, g[0], DG(out), c->B, c->C, c->H, c->W, c->p, c->layout, 0, 1);
    return DK_OK;
}

static dk_status unpatchify_bw(void *vc, dk_var *out, dk_var **in, int n, dk_error *err) {
    patch_ctx *c = vc;
    void *g[1];
    DK_GRADS(1, in, g);
    DK_KCALL(out->value, dk_k_patch_copy, DG(out), g[0], c->B, c->C, c->H, c->W, c->p, c->layout, 1, 1);
    return DK_OK;
}

dk_var *dk_patchify(dk_graph *g, dk_var *x, int p, dk_patch_layout layout) {
    if (dk__check_inputs(g, "patchify", &x, 1)) return NULL;
    const dk_tensor *X = x->value;
    if (X->ndim != 4 || p < 1 || X->shape[2] % p || X->shape[3] % p)
        return dk__op_fail(g, "patchify", DK_ESHAPE, "x %s must be [B, C, H, W] with H and W divisible by patch %d",
                           DK_SHP(x), p);
    patch_ctx *c = dk__graph_ctx(g, sizeof *c);
    if (!c) return NULL;
    *c = (patch_ctx){(size_t)X->shape[0], (size_t)X->shape[1], (size_t)X->shape[2], (size_t)X->shape[3], (size_t)p,
                     (int)layout};
    int64_t shp[3] = {X->shape[0], (X->shape[2] / p) * (X->shape[3] / p), (int64_t)p * p * X->shape[1]};
    dk_var *out = dk__graph_var(g, X->dtype, 3, shp, 0);
    if (!out) return NULL;
    DK_KCALL(X, dk_k_patch_copy, DV(x), DV(out), c->B, c->C, c->H, c->W, c->p, c->layout, 1, 0);
    return dk_graph_custom(g, out, &x, 1, patchify_bw, c, NULL);
}

dk_var *dk_unpatchify(dk_graph *g, dk_var *x, int64_t H, int64_t W, int p, dk_patch_layout layout) {
    if (dk__check_inputs(g, "unpatchify", &x, 1)) return NULL;
    const dk_tensor *X = x->value;
    if (X->ndim != 3 || p < 1 || H % p || W % p || X->shape[1] != (H / p) * (W / p) || X->shape[2] % ((int64_t)p * p))
        return dk__op_fail(g, "unpatchify", DK_ESHAPE,
                           "x %s must be [B, (H/p)(W/p), p*p*C] for H = %lld, W = %lld, p = %d", DK_SHP(x),
                           (long long)H, (long long)W, p);
    patch_ctx *c = dk__graph_ctx(g, sizeof *c);
    if (!c) return NULL;
    int64_t C = X->shape[2] / ((int64_t)p * p);
    *c = (patch_ctx){(size_t)X->shape[0], (size_t)C, (size_t)H, (size_t)W, (size_t)p, (int)layout};
    int64_t shp[4] = {X->shape[0], C, H, W};
    dk_var *out = dk__graph_var(g, X->dtype, 4, shp, 0);
    if (!out) return NULL;
    DK_KCALL(X, dk_k_patch_copy, DV(out), DV(x), c->B, c->C, c->H, c->W, c->p, c->layout, 0, 0);
    return dk_graph_custom(g, out, &x, 1, unpatchify_bw, c, NULL);
}

/* ---- HDiT token merge / split ---- */

typedef struct merge_ctx {
    size_t B, h, w, C, p0, p1; /* fine grid */
} merge_ctx;

static dk_status merge_bw(void *vc, dk_var *out, dk_var **in, int n, dk_error *err) {
    merge_ctx *c = vc;
    void *g[1];
    DK_GRADS(1, in, g);
    DK_KCALL(out->value, dk_k_token_merge_copy, g[0], DG(out), c->B, c->h, c->w, c->C, c->p0, c->p1, 0, 1);
    return DK_OK;
}

static dk_status split_bw(void *vc, dk_var *out, dk_var **in, int n, dk_error *err) {
    merge_ctx *c = vc;
    void *g[1];
    DK_GRADS(1, in, g);
    DK_KCALL(out->value, dk_k_token_merge_copy, DG(out), g[0], c->B, c->h, c->w, c->C, c->p0, c->p1, 1, 1);
    return DK_OK;
}

dk_var *dk_token_merge(dk_graph *g, dk_var *x, int p0, int p1) {
    if (dk__check_inputs(g, "token_merge", &x, 1)) return NULL;
    const dk_tensor *X = x->value;
    if (X->ndim != 4 || p0 < 1 || p1 < 1 || X->shape[1] % p0 || X->shape[2] % p1)
        return dk__op_fail(g, "token_merge", DK_ESHAPE, "x %s must be [B, h, w, C] with h %% %d == 0 and w %% %d == 0",
                           DK_SHP(x), p0, p1);
    merge_ctx *c = dk__graph_ctx(g, sizeof *c);
    if (!c) return NULL;
    *c = (merge_ctx){(size_t)X->shape[0], (size_t)X->shape[1], (size_t)X->shape[2], (size_t)X->shape[3], (size_t)p0,
                     (size_t)p1};
    int64_t shp[4] = {X->shape[0], X->shape[1] / p0, X->shape[2] / p1, (int64_t)p0 * p1 * X->shape[3]};
    dk_var *out = dk__graph_var(g, X->dtype, 4, shp, 0);
    if (!out) return NULL;
    DK_KCALL(X, dk_k_token_merge_copy, DV(x), DV(out), c->B, c->h, c->w, c->C, c->p0, c->p1, 1, 0);
    return dk_graph_custom(g, out, &x, 1, merge_bw, c, NULL);
}

dk_var *dk_token_split(dk_graph *g, dk_var *x, int p0, int p1) {
    if (dk__check_inputs(g, "token_split", &x, 1)) return NULL;
    const dk_tensor *X = x->value;
    if (X->ndim != 4 || p0 < 1 || p1 < 1 || X->shape[3] % ((int64_t)p0 * p1))
        return dk__op_fail(g, "token_split", DK_ESHAPE, "x %s must be [B, h, w, %d*%d*C]", DK_SHP(x), p0, p1);
    merge_ctx *c = dk__graph_ctx(g, sizeof *c);
    if (!c) return NULL;
    int64_t C = X->shape[3] / ((int64_t)p0 * p1);
    *c = (merge_ctx){(size_t)X->shape[0], (size_t)(X->shape[1] * p0), (size_t)(X->shape[2] * p1), (size_t)C, (size_t)p0,
                     (size_t)p1};
    int64_t shp[4] = {X->shape[0], X->shape[1] * p0, X->shape[2] * p1, C};
    dk_var *out = dk__graph_var(g, X->dtype, 4, shp, 0);
    if (!out) return NULL;
    DK_KCALL(X, dk_k_token_merge_copy, DV(out), DV(x), c->B, c->h, c->w, c->C, c->p0, c->p1, 0, 0);
    return dk_graph_custom(g, out, &x, 1, split_bw, c, NULL);
}
