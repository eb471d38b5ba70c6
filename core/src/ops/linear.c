/* linear.c: graph ops dk_linear (PyTorch Linear, y = x W^T + b) and
 * dk_matmul (batched op(a) op(b)); kernels in cpu/k_linear.inc. */
#include "ops/op_internal.h"
#include "backend/cpu/kernels.h"

typedef struct linear_ctx {
    size_t M, IN, OUT;
} linear_ctx;

static dk_status linear_bw(void *vc, dk_var *out, dk_var **in, int n, dk_error *err) {
    linear_ctx *c = vc;
    void *g[3];
    DK_GRADS(n, in, g);
    DK_KCALL(out->value, dk_k_linear_backward, g[0], g[1], n > 2 ? g[2] : NULL, DG(out), DV(in[0]), DV(in[1]),
             c->M, c->IN, c->OUT);
    return DK_OK;
}

dk_var *dk_linear(dk_graph *g, dk_var *x, dk_var *w, dk_var *b) {
    dk_var *in[3] = {x, w, b};
    int n = b ? 3 : 2;
    if (dk__check_inputs(g, "linear", in, n)) return NULL;
    const dk_tensor *X = x->value, *W = w->value;
    if (W->ndim != 2 || X->shape[X->ndim - 1] != W->shape[1])
        return dk__op_fail(g, "linear", DK_ESHAPE, "x %s does not fit weight %s (expected x [..., %lld], weight [out, in])",
                           DK_SHP(x), DK_SHP(w), W->ndim == 2 ? (long long)W->shape[1] : -1LL);
    if (b && (b->value->ndim != 1 || b->value->shape[0] != W->shape[0]))
        return dk__op_fail(g, "linear", DK_ESHAPE, "bias %s does not fit weight %s (expected [%lld])", DK_SHP(b),
                           DK_SHP(w), (long long)W->shape[0]);
    int64_t shp[DK_MAX_DIMS];
    for (int i = 0; i < X->ndim; i++) shp[i] = X->shape[i];
    shp[X->ndim - 1] = W->shape[0];
    dk_var *out = dk__graph_var(g, X->dtype, X->ndim, shp, 0);
    linear_ctx *c = dk__graph_ctx(g, sizeof *c);
    if (!out || !c) return NULL;
    c->OUT = (size_t)W->shape[0];
    c->IN = (size_t)W->shape[1];
    c->M = X->numel / c->IN;
    DK_KCALL(X, dk_k_linear_forward, DV(out), DV(x), DV(w), b ? DV(b) : NULL, c->M, c->IN, c->OUT);
    return dk_graph_custom(g, out, in, n, linear_bw, c, NULL);
}

typedef struct matmul_ctx {
    size_t batch, M, N, Kd;
    int b_shared, ta, tb;
} matmul_ctx;

static dk_status matmul_bw(void *vc, dk_var *out, dk_var **in, int n, dk_error *err) {
    matmul_ctx *c = vc;
    void *g[2];
    DK_GRADS(2, in, g);
    DK_KCALL(out->value, dk_k_matmul_backward, g[0], g[1], DG(out), DV(in[0]), DV(in[1]), c->batch,
             c->b_shared, c->M, c->N, c->Kd, c->ta, c->tb);
    return DK_OK;
}

dk_var *dk_matmul(dk_graph *g, dk_var *a, dk_var *b, int trans_a, int trans_b) {
    dk_var *in[2] = {a, b};
    if (dk__check_inputs(g, "matmul", in, 2)) return NULL;
    const dk_tensor *A = a->value, *Bt = b->value;
    int na = A->ndim, nb = Bt->ndim;
    if (na < 2 || nb < 2) return dk__op_fail(g, "matmul", DK_ESHAPE, "a %s and b %s need >= 2 dims", DK_SHP(a), DK_SHP(b));
    int64_t M = trans_a ? A->shape[na - 1] : A->shape[na - 2], Ka = trans_a ? A->shape[na - 2] : A->shape[na - 1];
    int64_t Kb = trans_b ? Bt->shape[nb - 1] : Bt->shape[nb - 2], N = trans_b ? Bt->shape[nb - 2] : Bt->shape[nb - 1];
    int shared = nb == 2;
    int lead_ok = shared || nb == na;
    for (int i = 0; lead_ok && !shared && i < na - 2; i++) lead_ok = A->shape[i] == Bt->shape[i];
    if (Ka != Kb || !lead_ok)
        return dk__op_fail(g, "matmul", DK_ESHAPE, "a %s (trans %d) and b %s (trans %d) do not fit", DK_SHP(a), trans_a,
                           DK_SHP(b), trans_b);
    int64_t shp[DK_MAX_DIMS];
    for (int i = 0; i < na - 2; i++) shp[i] = A->shape[i];
    shp[na - 2] = M;
    shp[na - 1] = N;
    dk_var *out = dk__graph_var(g, A->dtype, na, shp, 0);
    matmul_ctx *c = dk__graph_ctx(g, sizeof *c);
    if (!out || !c) return NULL;
    *c = (matmul_ctx){dk__prod(A, 0, na - 2), (size_t)M, (size_t)N, (size_t)Ka, shared, trans_a, trans_b};
    DK_KCALL(A, dk_k_matmul_forward, DV(out), DV(a), DV(b), c->batch, shared, c->M, c->N, c->Kd, trans_a,
             trans_b);
    return dk_graph_custom(g, out, in, 2, matmul_bw, c, NULL);
}
