/* norm.c: graph ops dk_layernorm and dk_rmsnorm (incl. AdaRMSNorm's
 * per-sample gain). Kernels in cpu/k_norm.inc. */
#include "ops/op_internal.h"
#include "backend/cpu/kernels.h"

typedef struct norm_ctx {
    size_t M, D, rps;
    dk_tensor *mean, *rstd;
    int has_w, has_b;
} norm_ctx;

static dk_status layernorm_bw(void *vc, dk_var *out, dk_var **in, int n, dk_error *err) {
    norm_ctx *c = vc;
    dk_var *vs[3] = {in[0], c->has_w ? in[1] : NULL, c->has_b ? in[c->has_w ? 2 : 1] : NULL};
    void *g[3];
    DK_GRADS(3, vs, g);
    DK_KCALL(out->value, dk_k_layernorm_backward, g[0], g[1], g[2], DG(out), DV(in[0]), c->mean->data,
             c->rstd->data, c->has_w ? DV(in[1]) : NULL, c->M, c->D);
    return DK_OK;
}

dk_var *dk_layernorm(dk_graph *g, dk_var *x, dk_var *w, dk_var *b, double eps) {
    dk_var *in[3] = {x, NULL, NULL};
    int n = 1;
    if (w) in[n++] = w;
    if (b) in[n++] = b;
    if (dk__check_inputs(g, "layernorm", in, n)) return NULL;
    const dk_tensor *X = x->value;
    int64_t D = X->shape[X->ndim - 1];
    if ((w && (w->value->ndim != 1 || w->value->shape[0] != D)) || (b && (b->value->ndim != 1 || b->value->shape[0] != D)))
        return dk__op_fail(g, "layernorm", DK_ESHAPE, "x %s needs weight/bias [%lld]; got %s / %s", DK_SHP(x),
                           (long long)D, w ? DK_SHP(w) : "none", b ? DK_SHP(b) : "none");
    if (!(eps >= 0)) return dk__op_fail(g, "layernorm", DK_EINVAL, "eps %g must be >= 0", eps);
    norm_ctx *c = dk__graph_ctx(g, sizeof *c);
    dk_var *out = dk__graph_var(g, X->dtype, X->ndim, X->shape, 0);
    if (!out || !c) return NULL;
    c->D = (size_t)D;
    c->M = X->numel / c->D;
    c->has_w = w != NULL;
    c->has_b = b != NULL;
    int rec = dk__needs_grad(g, in, n);
    if (rec) {
        int64_t m = (int64_t)c->M;
        c->mean = dk__graph_tensor(g, X->dtype, 1, &m, 0);
        c->rstd = dk__graph_tensor(g, X->dtype, 1, &m, 0);
        if (!c->mean || !c->rstd) return NULL;
    }
    DK_KCALL(X, dk_k_layernorm_forward, DV(out), rec ? c->mean->data : NULL, rec ? c->rstd->data : NULL, DV(x),
             w ? DV(w) : NULL, b ? DV(b) : NULL, c->M, c->D, eps);
    return dk_graph_custom(g, out, in, n, layernorm_bw, c, NULL);
}

static dk_status rmsnorm_bw(void *vc, dk_var *out, dk_var **in, int n, dk_error *err) {
    norm_ctx *c = vc;
    void *g[2];
    DK_GRADS(n, in, g);
    DK_KCALL(out->value, dk_k_rmsnorm_backward, g[0], n > 1 ? g[1] : NULL, DG(out), DV(in[0]), c->rstd->data,
             n > 1 ? DV(in[1]) : NULL, c->M, c->D, c->rps);
    return DK_OK;
}

dk_var *dk_rmsnorm(dk_graph *g, dk_var *x, dk_var *gain, double eps) {
    dk_var *in[2] = {x, gain};
    int n = gain ? 2 : 1;
    if (dk__check_inputs(g, "rmsnorm", in, n)) return NULL;
    const dk_tensor *X = x->value;
    int64_t D = X->shape[X->ndim - 1];
    size_t M = X->numel / (size_t)D, rps = M;
    if (gain) {
        const dk_tensor *G = gain->value;
        int ok = G->shape[G->ndim - 1] == D;
        if (ok && G->numel == (size_t)D)
            rps = M; /* per feature */
        else if (ok && X->ndim >= 2 && G->shape[0] == X->shape[0] && G->numel == (size_t)(X->shape[0] * D))
            rps = M / (size_t)X->shape[0]; /* per sample (AdaRMSNorm) */
        else
            ok = 0;
        if (!ok)
            return dk__op_fail(g, "rmsnorm", DK_ESHAPE, "gain %s fits x %s neither per feature [%lld] nor per sample [%lld, %lld]",
                               DK_SHP(gain), DK_SHP(x), (long long)D, (long long)X->shape[0], (long long)D);
    }
    norm_ctx *c = dk__graph_ctx(g, sizeof *c);
    dk_var *out = dk__graph_var(g, X->dtype, X->ndim, X->shape, 0);
    if (!out || !c) return NULL;
    c->M = M;
    c->D = (size_t)D;
    c->rps = rps;
    int rec = dk__needs_grad(g, in, n);
    if (rec) {
        int64_t m = (int64_t)M;
        c->rstd = dk__graph_tensor(g, X->dtype, 1, &m, 0);
        if (!c->rstd) return NULL;
    }
    DK_KCALL(X, dk_k_rmsnorm_forward, DV(out), rec ? c->rstd->data : NULL, DV(x), gain ? DV(gain) : NULL, M,
             (size_t)D, rps, eps);
    return dk_graph_custom(g, out, in, n, rmsnorm_bw, c, NULL);
}
