/* reduce.c: graph ops for sums and means, the per-sample MSE, and DiT's
 * variational-bound terms (Gaussian KL, discretised Gaussian log-likelihood).
 * Kernels in cpu/k_elementwise.inc. */
#include "ops/op_internal.h"
#include "backend/cpu/kernels.h"

typedef struct sum_ctx {
    size_t M, R;
    double mul;
} sum_ctx;

static dk_status sum_bw(void *vc, dk_var *out, dk_var **in, int n, dk_error *err) {
    sum_ctx *c = vc;
    void *g[1];
    DK_GRADS(1, in, g);
    DK_KCALL(out->value, dk_k_sum_rows_backward, g[0], DG(out), c->M, c->R, c->mul);
    return DK_OK;
}

static dk_var *reduce_last(dk_graph *g, const char *name, dk_var *x, int n_last, int mean) {
    if (dk__check_inputs(g, name, &x, 1)) return NULL;
    const dk_tensor *X = x->value;
    if (n_last < 1 || n_last > X->ndim)
        return dk__op_fail(g, name, DK_EINVAL, "cannot reduce the last %d dims of x %s", n_last, DK_SHP(x));
    int keep = X->ndim - n_last;
    int64_t shp[DK_MAX_DIMS] = {1};
    for (int i = 0; i < keep; i++) shp[i] = X->shape[i];
    dk_var *out = dk__graph_var(g, X->dtype, keep ? keep : 1, shp, 0);
    sum_ctx *c = dk__graph_ctx(g, sizeof *c);
    if (!out || !c) return NULL;
    c->M = dk__prod(X, 0, keep);
    c->R = dk__prod(X, keep, X->ndim);
    c->mul = mean ? 1.0 / (double)c->R : 1.0;
    DK_KCALL(X, dk_k_sum_rows_forward, DV(out), DV(x), c->M, c->R, c->mul);
    return dk_graph_custom(g, out, &x, 1, sum_bw, c, NULL);
}

dk_var *dk_sum_last(dk_graph *g, dk_var *x, int n_last) { return reduce_last(g, "sum_last", x, n_last, 0); }
dk_var *dk_mean_last(dk_graph *g, dk_var *x, int n_last) { return reduce_last(g, "mean_last", x, n_last, 1); }
dk_var *dk_sum_all(dk_graph *g, dk_var *x) { return x ? reduce_last(g, "sum_all", x, x->value ? x->value->ndim : 1, 0) : NULL; }
dk_var *dk_mean_all(dk_graph *g, dk_var *x) { return x ? reduce_last(g, "mean_all", x, x->value ? x->value->ndim : 1, 1) : NULL; }

/* ---- MSE ---- */

static dk_status mse_bw(void *vc, dk_var *out, dk_var **in, int n, dk_error *err) {
    void *g[2];
    DK_GRADS(2, in, g);
    size_t B = (size_t)in[0]->value->shape[0];
    DK_KCALL(out->value, dk_k_mse_backward, g[0], g[1], DG(out), DV(in[0]), DV(in[1]), B,
             in[0]->value->numel / B);
    return DK_OK;
}

dk_var *dk_mse(dk_graph *g, dk_var *a, dk_var *b) {
    dk_var *in[2] = {a, b};
    if (dk__check_inputs(g, "mse", in, 2)) return NULL;
    if (!dk_tensor_same_shape(a->value, b->value))
        return dk__op_fail(g, "mse", DK_ESHAPE, "a %s and b %s differ in shape", DK_SHP(a), DK_SHP(b));
    int64_t B = a->value->shape[0];
    dk_var *out = dk__graph_var(g, a->value->dtype, 1, &B, 0);
    if (!out) return NULL;
    DK_KCALL(a->value, dk_k_mse_forward, DV(out), DV(a), DV(b), (size_t)B, a->value->numel / (size_t)B);
    return dk_graph_custom(g, out, in, 2, mse_bw, NULL, NULL);
}

/* ---- Gaussian KL ---- */

static dk_status kl_bw(void *vc, dk_var *out, dk_var **in, int n, dk_error *err) {
    void *g[4];
    DK_GRADS(4, in, g);
    DK_KCALL(out->value, dk_k_normal_kl_backward, g[0], g[1], g[2], g[3], DG(out), DV(in[0]), DV(in[1]),
             DV(in[2]), DV(in[3]), out->value->numel);
    return DK_OK;
}

dk_var *dk_normal_kl(dk_graph *g, dk_var *mean1, dk_var *logvar1, dk_var *mean2, dk_var *logvar2) {
    dk_var *in[4] = {mean1, logvar1, mean2, logvar2};
    if (dk__check_inputs(g, "normal_kl", in, 4)) return NULL;
    for (int i = 1; i < 4; i++)
        if (!dk_tensor_same_shape(mean1->value, in[i]->value))
            return dk__op_fail(g, "normal_kl", DK_ESHAPE, "mean1 %s, logvar1 %s, mean2 %s, logvar2 %s must match",
                               DK_SHP(mean1), DK_SHP(logvar1), DK_SHP(mean2), DK_SHP(logvar2));
    dk_var *out = dk__graph_var(g, mean1->value->dtype, mean1->value->ndim, mean1->value->shape, 0);
    if (!out) return NULL;
    DK_KCALL(mean1->value, dk_k_normal_kl_forward, DV(out), DV(mean1), DV(logvar1), DV(mean2), DV(logvar2),
             out->value->numel);
    return dk_graph_custom(g, out, in, 4, kl_bw, NULL, NULL);
}

/* ---- discretised Gaussian log-likelihood ---- */

static dk_status dgll_bw(void *vc, dk_var *out, dk_var **in, int n, dk_error *err) {
    dk_var *gv[2] = {in[1], in[2]};
    void *g[2];
    DK_GRADS(2, gv, g);
    DK_KCALL(out->value, dk_k_dgll_backward, g[0], g[1], DG(out), DV(in[0]), DV(in[1]), DV(in[2]),
             out->value->numel);
    return DK_OK;
}

dk_var *dk_discretized_gaussian_loglik(dk_graph *g, dk_var *x, dk_var *means, dk_var *log_scales) {
    dk_var *in[3] = {x, means, log_scales};
    if (dk__check_inputs(g, "discretized_gaussian_loglik", in, 3)) return NULL;
    if (!dk_tensor_same_shape(x->value, means->value) || !dk_tensor_same_shape(x->value, log_scales->value))
        return dk__op_fail(g, "discretized_gaussian_loglik", DK_ESHAPE, "x %s, means %s, log_scales %s must match",
                           DK_SHP(x), DK_SHP(means), DK_SHP(log_scales));
    dk_var *out = dk__graph_var(g, x->value->dtype, x->value->ndim, x->value->shape, 0);
    if (!out) return NULL;
    DK_KCALL(x->value, dk_k_dgll_forward, DV(out), DV(x), DV(means), DV(log_scales), out->value->numel);
    return dk_graph_custom(g, out, in, 3, dgll_bw, NULL, NULL);
}
