/* conv.c: graph ops of diffkit/ops_conv.h: dk_conv2d (PyTorch Conv2d,
 * im2col + GEMM), dk_pool2x2 (max / average), dk_relu and the per-sample
 * softmax cross-entropy. Kernels in cpu/conv_kernels.c. */
#include "diffkit/ops_conv.h"
#include "ops/op_internal.h"
#include "backend/cpu/kernels.h"
#include <string.h>

/* ---- conv2d ---- */

typedef struct conv_ctx {
    dk_conv_dims d;
    dk_tensor *cols; /* (B, C*KH*KW, HO*WO), graph-owned */
} conv_ctx;

static dk_status conv_bw(void *vc, dk_var *out, dk_var **in, int n, dk_error *err) {
    conv_ctx *c = vc;
    void *g[3];
    DK_GRADS(n, in, g);
    DK_KCALL(out->value, dk_k_conv2d_backward, g[0], g[1], n > 2 ? g[2] : NULL, DG(out), c->cols->data,
             DV(in[1]), &c->d);
    return DK_OK;
}

dk_var *dk_conv2d(dk_graph *g, dk_var *x, dk_var *w, dk_var *b, int stride, int pad) {
    dk_var *in[3] = {x, w, b};
    int n = b ? 3 : 2;
    if (dk__check_inputs(g, "conv2d", in, n)) return NULL;
    const dk_tensor *X = x->value, *Wt = w->value;
    if (X->ndim != 4 || Wt->ndim != 4 || X->shape[1] != Wt->shape[1])
        return dk__op_fail(g, "conv2d", DK_ESHAPE,
                           "x %s does not fit weight %s (expected x [B, C, H, W], weight [O, C, kh, kw])", DK_SHP(x),
                           DK_SHP(w));
    if (b && (b->value->ndim != 1 || b->value->shape[0] != Wt->shape[0]))
        return dk__op_fail(g, "conv2d", DK_ESHAPE, "bias %s does not fit weight %s (expected [%lld])", DK_SHP(b),
                           DK_SHP(w), (long long)Wt->shape[0]);
    if (stride < 1 || pad < 0)
        return dk__op_fail(g, "conv2d", DK_EINVAL, "stride %d / pad %d: need stride >= 1 and pad >= 0", stride, pad);
    int64_t Hp = X->shape[2] + 2 * pad, Wp = X->shape[3] + 2 * pad;
    if (Hp < Wt->shape[2] || Wp < Wt->shape[3])
        return dk__op_fail(g, "conv2d", DK_ESHAPE, "kernel %lldx%lld is larger than the padded input %lldx%lld",
                           (long long)Wt->shape[2], (long long)Wt->shape[3], (long long)Hp, (long long)Wp);
    conv_ctx *c = dk__graph_ctx(g, sizeof *c);
    if (!c) return NULL;
    c->d = (dk_conv_dims){(size_t)X->shape[0], (size_t)X->shape[1], (size_t)X->shape[2], (size_t)X->shape[3],
                          (size_t)Wt->shape[0], (size_t)Wt->shape[2], (size_t)Wt->shape[3],
                          (size_t)((Hp - Wt->shape[2]) / stride + 1), (size_t)((Wp - Wt->shape[3]) / stride + 1),
                          stride, pad};
    int64_t oshp[4] = {X->shape[0], Wt->shape[0], (int64_t)c->d.HO, (int64_t)c->d.WO};
    int64_t cshp[3] = {X->shape[0], (int64_t)(c->d.C * c->d.KH * c->d.KW), (int64_t)(c->d.HO * c->d.WO)};
    dk_var *out = dk__graph_var(g, X->dtype, 4, oshp, 0);
    c->cols = dk__graph_tensor(g, X->dtype, 3, cshp, 0);
    if (!out || !c->cols) return NULL;
    DK_KCALL(X, dk_k_conv2d_forward, DV(out), c->cols->data, DV(x), DV(w), b ? DV(b) : NULL, &c->d);
    return dk_graph_custom(g, out, in, n, conv_bw, c, NULL);
}

/* ---- pool ---- */

typedef struct pool_ctx {
    size_t M, H, W;
    int kind;
} pool_ctx;

static dk_status pool_bw(void *vc, dk_var *out, dk_var **in, int n, dk_error *err) {
    pool_ctx *c = vc;
    void *g[1];
    (void)n;
    DK_GRADS(1, in, g);
    DK_KCALL(out->value, dk_k_pool2x2_backward, g[0], DG(out), DV(in[0]), c->M, c->H, c->W, c->kind);
    return DK_OK;
}

dk_var *dk_pool2x2(dk_graph *g, dk_var *x, dk_pool_kind kind) {
    if (dk__check_inputs(g, "pool2x2", &x, 1)) return NULL;
    const dk_tensor *X = x->value;
    if (X->ndim != 4 || X->shape[2] % 2 || X->shape[3] % 2)
        return dk__op_fail(g, "pool2x2", DK_ESHAPE, "x %s: expected [B, C, H, W] with H and W even", DK_SHP(x));
    if (kind != DK_POOL_MAX && kind != DK_POOL_AVG)
        return dk__op_fail(g, "pool2x2", DK_EINVAL, "unknown pool kind %d (DK_POOL_MAX or DK_POOL_AVG)", (int)kind);
    int64_t shp[4] = {X->shape[0], X->shape[1], X->shape[2] / 2, X->shape[3] / 2};
    dk_var *out = dk__graph_var(g, X->dtype, 4, shp, 0);
    pool_ctx *c = dk__graph_ctx(g, sizeof *c);
    if (!out || !c) return NULL;
    *c = (pool_ctx){(size_t)(X->shape[0] * X->shape[1]), (size_t)X->shape[2], (size_t)X->shape[3], (int)kind};
    DK_KCALL(X, dk_k_pool2x2_forward, DV(out), DV(x), c->M, c->H, c->W, c->kind);
    return dk_graph_custom(g, out, &x, 1, pool_bw, c, NULL);
}

/* ---- relu ---- */

static dk_status relu_bw(void *vc, dk_var *out, dk_var **in, int n, dk_error *err) {
    void *g[1];
    (void)vc, (void)n;
    DK_GRADS(1, in, g);
    DK_KCALL(out->value, dk_k_relu_backward, g[0], DG(out), DV(in[0]), out->value->numel);
    return DK_OK;
}

dk_var *dk_relu(dk_graph *g, dk_var *x) {
    if (dk__check_inputs(g, "relu", &x, 1)) return NULL;
    dk_var *out = dk__graph_var(g, x->value->dtype, x->value->ndim, x->value->shape, 0);
    if (!out) return NULL;
    DK_KCALL(x->value, dk_k_relu_forward, DV(out), DV(x), x->value->numel);
    return dk_graph_custom(g, out, &x, 1, relu_bw, NULL, NULL);
}

/* ---- cross-entropy ---- */

typedef struct xent_ctx {
    size_t B, K;
    int64_t *labels;  /* arena copy */
    dk_tensor *probs; /* (B, K) softmax, graph-owned */
} xent_ctx;

static dk_status xent_bw(void *vc, dk_var *out, dk_var **in, int n, dk_error *err) {
    xent_ctx *c = vc;
    void *g[1];
    (void)n;
    DK_GRADS(1, in, g);
    DK_KCALL(out->value, dk_k_xent_backward, g[0], DG(out), c->probs->data, c->labels, c->B, c->K);
    return DK_OK;
}

dk_var *dk_cross_entropy(dk_graph *g, dk_var *logits, const int64_t *labels, size_t n) {
    if (dk__check_inputs(g, "cross_entropy", &logits, 1)) return NULL;
    const dk_tensor *Z = logits->value;
    if (Z->ndim != 2 || (size_t)Z->shape[0] != n || !labels)
        return dk__op_fail(g, "cross_entropy", DK_ESHAPE, "logits %s with %zu labels: expected logits [B, K] and B labels",
                           DK_SHP(logits), n);
    for (size_t i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= Z->shape[1])
            return dk__op_fail(g, "cross_entropy", DK_EINVAL, "label %zu is %lld, outside [0, %lld)", i,
                               (long long)labels[i], (long long)Z->shape[1]);
    int64_t B = Z->shape[0];
    dk_var *out = dk__graph_var(g, Z->dtype, 1, &B, 0);
    xent_ctx *c = dk__graph_ctx(g, sizeof *c);
    int64_t *lab = dk__graph_stage(g, labels, sizeof(int64_t) * n);
    if (!out || !c || !lab) return NULL;
    c->B = n;
    c->K = (size_t)Z->shape[1];
    c->labels = lab;
    c->probs = dk__graph_tensor(g, Z->dtype, 2, Z->shape, 0);
    if (!c->probs) return NULL;
    DK_KCALL(Z, dk_k_xent_forward, DV(out), c->probs->data, DV(logits), c->labels, c->B, c->K);
    return dk_graph_custom(g, out, &logits, 1, xent_bw, c, NULL);
}
