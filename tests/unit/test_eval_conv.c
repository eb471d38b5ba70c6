/* test_eval_conv.c: the ops of diffkit/ops_conv.h: an F64 central-difference
 * gradient check of conv2d (several strides, paddings, kernel shapes, with
 * and without bias), 2x2 max/average pooling, ReLU and cross-entropy; the
 * im2col+GEMM convolution against the naive loops (F32 and F64, forward and
 * backward); hand-computed values; shape errors. */
#include <stdlib.h>
#include <string.h>
#include "dktest.h"
#include "diffkit/graph.h"
#include "diffkit/ops.h"
#include "diffkit/ops_conv.h"
#include "diffkit/rng.h"
#include "../../core/src/backend/cpu/kernels.h"

static dk_rng rng;

static dk_tensor *rnd(dk_dtype dt, int nd, const int64_t *shape) {
    dk_tensor *t = dk_tensor_new(dt, nd, shape, NULL);
    for (size_t i = 0; i < t->numel; i++) dk_tensor_set(t, i, 2 * dk_rng_uniform(&rng) - 1);
    return t;
}

typedef struct gc {
    const char *name;
    int n;
    dk_tensor *in[3];
    int stride, pad, kind;
    int64_t labels[4];
} gc;

static dk_var *build(dk_graph *g, dk_var **v, gc *c) {
    if (!strcmp(c->name, "conv2d")) return dk_conv2d(g, v[0], v[1], c->n > 2 ? v[2] : NULL, c->stride, c->pad);
    if (!strcmp(c->name, "pool")) return dk_pool2x2(g, v[0], (dk_pool_kind)c->kind);
    if (!strcmp(c->name, "relu")) return dk_relu(g, v[0]);
    return dk_cross_entropy(g, v[0], c->labels, (size_t)c->in[0]->shape[0]);
}

/* loss = sum(out * R) */
static double loss_of(gc *c, dk_tensor *R, double **grads) {
    dk_graph *g = dk_graph_new();
    dk_graph_set_grad(g, grads != NULL);
    dk_var *v[3];
    for (int i = 0; i < c->n; i++) v[i] = dk_graph_input(g, c->in[i], grads != NULL);
    dk_var *out = build(g, v, c);
    DK_CHECK_OK(dk_graph_status(g, &dk_test_err));
    double L = 0;
    for (size_t i = 0; out && i < out->value->numel; i++) L += dk_f64(out->value)[i] * dk_f64(R)[i];
    if (grads && out) {
        dk_var *loss = dk_sum_all(g, dk_mul(g, out, dk_graph_input(g, R, 0)));
        DK_CHECK_OK(dk_graph_backward(g, loss, &dk_test_err));
        for (int i = 0; i < c->n; i++) {
            grads[i] = calloc(c->in[i]->numel, sizeof(double));
            for (size_t j = 0; v[i]->grad && j < c->in[i]->numel; j++) grads[i][j] = dk_f64(v[i]->grad)[j];
        }
    }
    dk_graph_free(g);
    return L;
}

static void gradcheck(gc *c, int nd_out, const int64_t *out_shape) {
    dk_tensor *R = rnd(DK_F64, nd_out, out_shape);
    double *grads[3] = {0};
    loss_of(c, R, grads);
    double worst = 0;
    int bad = 0;
    for (int i = 0; i < c->n; i++)
        for (size_t j = 0; j < c->in[i]->numel; j++) {
            double *p = dk_f64(c->in[i]) + j, keep = *p, eps = 1e-6;
            *p = keep + eps;
            double lp = loss_of(c, R, NULL);
            *p = keep - eps;
            double lm = loss_of(c, R, NULL);
            *p = keep;
            double num = (lp - lm) / (2 * eps), tol = 1e-8 + 2e-6 * fabs(num);
            double e = fabs(num - grads[i][j]);
            if (e / tol > worst) worst = e / tol;
            if (e > tol && bad++ < 3)
                dk_test_fail(__FILE__, __LINE__, "%s input %d [%zu]: analytic %.10g, numeric %.10g", c->name, i, j,
                             grads[i][j], num);
        }
    dk_test_checks++;
    printf("gradcheck %-14s worst error/tolerance %.3g\n", c->name, worst);
    for (int i = 0; i < c->n; i++) free(grads[i]), dk_tensor_free(c->in[i]);
    dk_tensor_free(R);
}

static void test_gradchecks(void) {
    struct { int64_t B, C, H, W, O, KH, KW; int stride, pad, bias; } cs[] = {
        {2, 2, 5, 5, 3, 3, 3, 1, 1, 1}, {2, 3, 6, 7, 2, 3, 2, 2, 0, 1}, {1, 2, 4, 4, 3, 1, 1, 1, 0, 0},
        {2, 1, 5, 4, 2, 3, 3, 2, 2, 1}};
    for (size_t k = 0; k < sizeof cs / sizeof cs[0]; k++) {
        gc c = {"conv2d", cs[k].bias ? 3 : 2, {0}, cs[k].stride, cs[k].pad, 0, {0}};
        c.in[0] = rnd(DK_F64, 4, (int64_t[]){cs[k].B, cs[k].C, cs[k].H, cs[k].W});
        c.in[1] = rnd(DK_F64, 4, (int64_t[]){cs[k].O, cs[k].C, cs[k].KH, cs[k].KW});
        if (cs[k].bias) c.in[2] = rnd(DK_F64, 1, (int64_t[]){cs[k].O});
        int64_t Ho = (cs[k].H + 2 * cs[k].pad - cs[k].KH) / cs[k].stride + 1;
        int64_t Wo = (cs[k].W + 2 * cs[k].pad - cs[k].KW) / cs[k].stride + 1;
        gradcheck(&c, 4, (int64_t[]){cs[k].B, cs[k].O, Ho, Wo});
    }
    for (int kind = 0; kind < 2; kind++) {
        gc c = {"pool", 1, {0}, 0, 0, kind, {0}};
        c.in[0] = rnd(DK_F64, 4, (int64_t[]){2, 3, 4, 6});
        gradcheck(&c, 4, (int64_t[]){2, 3, 2, 3});
    }
    gc r = {"relu", 1, {0}, 0, 0, 0, {0}};
    r.in[0] = rnd(DK_F64, 2, (int64_t[]){4, 5});
    gradcheck(&r, 2, (int64_t[]){4, 5});
    gc x = {"cross_entropy", 1, {0}, 0, 0, 0, {2, 0, 4, 1}};
    x.in[0] = rnd(DK_F64, 2, (int64_t[]){4, 5});
    for (size_t i = 0; i < x.in[0]->numel; i++) dk_f64(x.in[0])[i] *= 3;
    gradcheck(&x, 1, (int64_t[]){4});
}

/* im2col + GEMM vs naive loops, forward and backward */
static void test_naive(dk_dtype dt) {
    dk_conv_dims d = {3, 4, 9, 8, 5, 3, 3, 0, 0, 2, 1};
    d.HO = (d.H + 2 * (size_t)d.pad - d.KH) / (size_t)d.stride + 1;
    d.WO = (d.W + 2 * (size_t)d.pad - d.KW) / (size_t)d.stride + 1;
    dk_tensor *x = rnd(dt, 4, (int64_t[]){3, 4, 9, 8}), *w = rnd(dt, 4, (int64_t[]){5, 4, 3, 3});
    dk_tensor *b = rnd(dt, 1, (int64_t[]){5}), *dout = rnd(dt, 4, (int64_t[]){3, 5, (int64_t)d.HO, (int64_t)d.WO});
    int64_t oshp[4] = {3, 5, (int64_t)d.HO, (int64_t)d.WO};
    int64_t cshp[3] = {3, 36, (int64_t)(d.HO * d.WO)};
    dk_tensor *o1 = dk_tensor_new(dt, 4, oshp, NULL), *o2 = dk_tensor_new(dt, 4, oshp, NULL);
    dk_tensor *cols = dk_tensor_new(dt, 3, cshp, NULL);
    dk_tensor *dx1 = dk_tensor_new(dt, 4, x->shape, NULL), *dx2 = dk_tensor_new(dt, 4, x->shape, NULL);
    dk_tensor *dw1 = dk_tensor_new(dt, 4, w->shape, NULL), *dw2 = dk_tensor_new(dt, 4, w->shape, NULL);
    dk_tensor *db1 = dk_tensor_new(dt, 1, b->shape, NULL), *db2 = dk_tensor_new(dt, 1, b->shape, NULL);
    /* start the gradients at 1 to check accumulation */
    dk_tensor *all[6] = {dx1, dx2, dw1, dw2, db1, db2};
    for (int k = 0; k < 6; k++)
        for (size_t i = 0; i < all[k]->numel; i++) dk_tensor_set(all[k], i, 1);
    if (dt == DK_F32) {
        dk_k_conv2d_forward_f32(o1->data, cols->data, x->data, w->data, b->data, &d);
        dk_k_conv2d_forward_naive_f32(o2->data, x->data, w->data, b->data, &d);
        dk_k_conv2d_backward_f32(dx1->data, dw1->data, db1->data, dout->data, cols->data, w->data, &d);
        dk_k_conv2d_backward_naive_f32(dx2->data, dw2->data, db2->data, dout->data, x->data, w->data, &d);
    } else {
        dk_k_conv2d_forward_f64(o1->data, cols->data, x->data, w->data, b->data, &d);
        dk_k_conv2d_forward_naive_f64(o2->data, x->data, w->data, b->data, &d);
        dk_k_conv2d_backward_f64(dx1->data, dw1->data, db1->data, dout->data, cols->data, w->data, &d);
        dk_k_conv2d_backward_naive_f64(dx2->data, dw2->data, db2->data, dout->data, x->data, w->data, &d);
    }
    double tol = dt == DK_F32 ? 1e-5 : 1e-12, worst = 0;
    dk_tensor *pa[4] = {o1, dx1, dw1, db1}, *pb[4] = {o2, dx2, dw2, db2};
    for (int k = 0; k < 4; k++)
        for (size_t i = 0; i < pa[k]->numel; i++) {
            double e = fabs(dk_tensor_get(pa[k], i) - dk_tensor_get(pb[k], i));
            worst = fmax(worst, e);
            DK_CHECK_NEAR(dk_tensor_get(pa[k], i), dk_tensor_get(pb[k], i), tol, tol);
        }
    printf("conv2d %s: im2col+GEMM vs naive, worst abs diff %.3g\n", dk_dtype_name(dt), worst);
    dk_tensor *ts[15] = {x, w, b, dout, o1, o2, cols, dx1, dx2, dw1, dw2, db1, db2, NULL, NULL};
    for (int k = 0; ts[k]; k++) dk_tensor_free(ts[k]);
}

static void test_values(void) {
    dk_graph *g = dk_graph_new();
    /* 3x3 image 1..9, 2x2 kernel of ones, no pad: sums of 2x2 windows */
    dk_tensor *x = dk_tensor_new(DK_F64, 4, (int64_t[]){1, 1, 3, 3}, NULL), *w = dk_tensor_new(DK_F64, 4, (int64_t[]){1, 1, 2, 2}, NULL);
    for (int i = 0; i < 9; i++) dk_f64(x)[i] = i + 1;
    for (int i = 0; i < 4; i++) dk_f64(w)[i] = 1;
    dk_var *y = dk_conv2d(g, dk_graph_input(g, x, 0), dk_graph_input(g, w, 0), NULL, 1, 0);
    DK_CHECK(y && y->value->shape[2] == 2 && y->value->shape[3] == 2);
    double want[4] = {12, 16, 24, 28};
    for (int i = 0; y && i < 4; i++) DK_CHECK_NEAR(dk_f64(y->value)[i], want[i], 0, 0);
    /* pad 1, stride 2 -> 2x2 output: corners of the padded windows */
    y = dk_conv2d(g, dk_graph_input(g, x, 0), dk_graph_input(g, w, 0), NULL, 2, 1);
    double want2[4] = {1, 2 + 3, 4 + 7, 5 + 6 + 8 + 9};
    for (int i = 0; y && i < 4; i++) DK_CHECK_NEAR(dk_f64(y->value)[i], want2[i], 0, 0);
    /* pooling of a 2x4 row: max and mean */
    dk_tensor *p = dk_tensor_new(DK_F64, 4, (int64_t[]){1, 1, 2, 4}, NULL);
    double pv[8] = {1, 5, -2, -3, 4, 2, -1, -4};
    memcpy(p->data, pv, sizeof pv);
    dk_var *mx = dk_pool2x2(g, dk_graph_input(g, p, 0), DK_POOL_MAX), *av = dk_pool2x2(g, dk_graph_input(g, p, 0), DK_POOL_AVG);
    DK_CHECK_NEAR(dk_f64(mx->value)[0], 5, 0, 0);
    DK_CHECK_NEAR(dk_f64(mx->value)[1], -1, 0, 0);
    DK_CHECK_NEAR(dk_f64(av->value)[0], 3, 0, 0);
    DK_CHECK_NEAR(dk_f64(av->value)[1], -2.5, 0, 0);
    /* cross-entropy of uniform logits = ln K */
    dk_tensor *z = dk_tensor_new(DK_F64, 2, (int64_t[]){1, 4}, NULL);
    int64_t lab = 3;
    dk_var *ce = dk_cross_entropy(g, dk_graph_input(g, z, 0), &lab, 1);
    DK_CHECK_NEAR(dk_f64(ce->value)[0], log(4.0), 1e-15, 0);
    /* errors: channel mismatch, odd pool size, bad label */
    dk_tensor *w3 = dk_tensor_new(DK_F64, 4, (int64_t[]){1, 2, 2, 2}, NULL);
    DK_CHECK(dk_conv2d(g, dk_graph_input(g, x, 0), dk_graph_input(g, w3, 0), NULL, 1, 0) == NULL);
    DK_CHECK_STATUS(dk_graph_status(g, &dk_test_err), DK_ESHAPE);
    DK_CHECK(strstr(dk_test_err.msg, "conv2d") != NULL);
    dk_graph_reset(g);
    DK_CHECK(dk_pool2x2(g, dk_graph_input(g, x, 0), DK_POOL_MAX) == NULL);
    DK_CHECK_STATUS(dk_graph_status(g, &dk_test_err), DK_ESHAPE);
    dk_graph_reset(g);
    lab = 4;
    DK_CHECK(dk_cross_entropy(g, dk_graph_input(g, z, 0), &lab, 1) == NULL);
    DK_CHECK_STATUS(dk_graph_status(g, &dk_test_err), DK_EINVAL);
    dk_graph_free(g);
    dk_tensor_free(x), dk_tensor_free(w), dk_tensor_free(p), dk_tensor_free(z), dk_tensor_free(w3);
}

int main(void) {
    dk_rng_init(&rng, 42, 1);
    test_gradchecks();
    test_naive(DK_F32);
    test_naive(DK_F64);
    test_values();
    return dk_test_finish();
}
