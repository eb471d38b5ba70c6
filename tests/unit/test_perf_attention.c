/* test_perf_attention.c: the optimized attention kernels (issue 7) against
 * their naive references at benchmark-like sizes: global attention with
 * several query blocks and a ragged last block (F64 at 1e-12, F32 against
 * F64 naive at float rounding), and the neighborhood / shifted-window
 * backward (vectorised dot products, fast F32 exponentials) against the
 * naive backward, which the other tests only check through the gradcheck at
 * tiny sizes. Also: the graph frees intermediate gradients during backward
 * without changing the leaves' gradients. */
#include <math.h>
#include <stdlib.h>
#include "dktest.h"
#include "diffkit/graph.h"
#include "diffkit/ops.h"
#include "diffkit/rng.h"
#include "../../core/src/backend/cpu/kernels.h"

static dk_rng rng;

static double *rnd(size_t n) {
    double *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = 2 * dk_rng_uniform(&rng) - 1;
    return p;
}
static float *to_f32(const double *p, size_t n) {
    float *f = malloc(n * sizeof *f);
    for (size_t i = 0; i < n; i++) f[i] = (float)p[i];
    return f;
}
static double maxdiff(const double *a, const double *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(a[i] - b[i]));
    return m;
}
static double maxdiff_f(const float *a, const double *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}
static double maxabs(const double *a, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(a[i]));
    return m;
}

/* global: 2 x 2 heads, 200 queries (blocks of 64 + a ragged 8), 150 keys */
static void test_global(void) {
    size_t BH = 4, Nq = 200, Nk = 150, d = 32, E = 24;
    double sc = 1 / sqrt((double)d) * 2.5; /* peaked softmax: large logits */
    size_t nq = BH * Nq * d, nk = BH * Nk * d, nv = BH * Nk * E, no = BH * Nq * E;
    double *q = rnd(nq), *k = rnd(nk), *v = rnd(nv), *go = rnd(no);
    double *o1 = calloc(no, 8), *o2 = calloc(no, 8), *l1 = calloc(BH * Nq, 8), *l2 = calloc(BH * Nq, 8);
    DK_CHECK(dk_k_attention_forward_f64(o1, l1, q, k, v, BH, Nq, Nk, d, E, sc) == 0);
    dk_k_attention_forward_naive_f64(o2, l2, q, k, v, BH, Nq, Nk, d, E, sc);
    DK_CHECK(maxdiff(o1, o2, no) < 1e-12 && maxdiff(l1, l2, BH * Nq) < 1e-12);
    double *dq1 = calloc(nq, 8), *dq2 = calloc(nq, 8), *dk1 = calloc(nk, 8), *dk2 = calloc(nk, 8);
    double *dv1 = calloc(nv, 8), *dv2 = calloc(nv, 8);
    DK_CHECK(dk_k_attention_backward_f64(dq1, dk1, dv1, go, o1, l1, q, k, v, BH, Nq, Nk, d, E, sc) == 0);
    dk_k_attention_backward_naive_f64(dq2, dk2, dv2, go, o2, l2, q, k, v, BH, Nq, Nk, d, E, sc);
    DK_CHECK(maxdiff(dq1, dq2, nq) < 1e-12 && maxdiff(dk1, dk2, nk) < 1e-12 && maxdiff(dv1, dv2, nv) < 1e-12);
    DK_CHECK(maxabs(dq2, nq) > 1e-3 && maxabs(dk2, nk) > 1e-3 && maxabs(dv2, nv) > 1e-3);
    /* F32 (fast exponentials) against the F64 naive result */
    float *qf = to_f32(q, nq), *kf = to_f32(k, nk), *vf = to_f32(v, nv), *gf = to_f32(go, no);
    float *of = calloc(no, 4), *lf = calloc(BH * Nq, 4), *dqf = calloc(nq, 4), *dkf = calloc(nk, 4), *dvf = calloc(nv, 4);
    DK_CHECK(dk_k_attention_forward_f32(of, lf, qf, kf, vf, BH, Nq, Nk, d, E, sc) == 0);
    DK_CHECK(dk_k_attention_backward_f32(dqf, dkf, dvf, gf, of, lf, qf, kf, vf, BH, Nq, Nk, d, E, sc) == 0);
    double eo = maxdiff_f(of, o2, no), eq = maxdiff_f(dqf, dq2, nq), ek = maxdiff_f(dkf, dk2, nk),
           ev = maxdiff_f(dvf, dv2, nv);
    printf("global F32 vs F64 naive: out %.2g dq %.2g dk %.2g dv %.2g\n", eo, eq, ek, ev);
    DK_CHECK(eo < 2e-6 && eq < 2e-5 && ek < 2e-5 && ev < 2e-5);
    free(q), free(k), free(v), free(go), free(o1), free(o2), free(l1), free(l2), free(dq1), free(dq2), free(dk1);
    free(dk2), free(dv1), free(dv2), free(qf), free(kf), free(vf), free(gf), free(of), free(lf), free(dqf), free(dkf);
    free(dvf);
}

/* neighborhood (k 7 on 12 x 10, k 3 on 5 x 6) and window (4, shift 0 / 2 on
 * 8 x 8): forward and backward against the naive kernels, F64 and F32 */
static void test_local(int kind, int p, int shift, size_t h, size_t w) {
    size_t BH = 3, N = h * w, d = 32, n = BH * N * d;
    double sc = 0.4;
    double *q = rnd(n), *k = rnd(n), *v = rnd(n), *go = rnd(n);
    double *o1 = calloc(n, 8), *o2 = calloc(n, 8), *l1 = calloc(BH * N, 8), *l2 = calloc(BH * N, 8);
    dk_k_local_attn_forward_f64(o1, l1, q, k, v, BH, h, w, d, kind, p, shift, sc);
    dk_k_local_attn_forward_naive_f64(o2, l2, q, k, v, BH, h, w, d, kind, p, shift, sc);
    DK_CHECK(maxdiff(o1, o2, n) < 1e-12 && maxdiff(l1, l2, BH * N) < 1e-12);
    double *g1[3], *g2[3];
    for (int i = 0; i < 3; i++) g1[i] = calloc(n, 8), g2[i] = calloc(n, 8);
    dk_k_local_attn_backward_f64(g1[0], g1[1], g1[2], go, o1, l1, q, k, v, BH, h, w, d, kind, p, shift, sc);
    /* reference: central differences of <naive forward, go> on 40 entries
     * of each input */
    for (int i = 0; i < 3; i++) {
        double *x = i == 0 ? q : i == 1 ? k : v;
        for (size_t t = 0; t < 40; t++) {
            size_t j = (t * 7919) % n;
            double keep = x[j], eps = 1e-5, fp = 0, fm = 0;
            x[j] = keep + eps;
            dk_k_local_attn_forward_naive_f64(o2, NULL, q, k, v, BH, h, w, d, kind, p, shift, sc);
            for (size_t e = 0; e < n; e++) fp += o2[e] * go[e];
            x[j] = keep - eps;
            dk_k_local_attn_forward_naive_f64(o2, NULL, q, k, v, BH, h, w, d, kind, p, shift, sc);
            for (size_t e = 0; e < n; e++) fm += o2[e] * go[e];
            x[j] = keep;
            g2[i][j] = (fp - fm) / (2 * eps);
            DK_CHECK_NEAR(g1[i][j], g2[i][j], 1e-7, 1e-6);
        }
    }
    /* F32 (fast exponentials, simd dot products) against F64 */
    float *qf = to_f32(q, n), *kf = to_f32(k, n), *vf = to_f32(v, n), *gf = to_f32(go, n);
    float *of = calloc(n, 4), *lf = calloc(BH * N, 4), *gq = calloc(n, 4), *gk = calloc(n, 4), *gv = calloc(n, 4);
    dk_k_local_attn_forward_f32(of, lf, qf, kf, vf, BH, h, w, d, kind, p, shift, sc);
    dk_k_local_attn_backward_f32(gq, gk, gv, gf, of, lf, qf, kf, vf, BH, h, w, d, kind, p, shift, sc);
    double eo = maxdiff_f(of, o1, n), eq = maxdiff_f(gq, g1[0], n), ek = maxdiff_f(gk, g1[1], n),
           ev = maxdiff_f(gv, g1[2], n);
    printf("local kind %d p %d shift %d F32 vs F64: out %.2g dq %.2g dk %.2g dv %.2g\n", kind, p, shift, eo, eq, ek, ev);
    DK_CHECK(eo < 2e-6 && eq < 2e-5 && ek < 2e-5 && ev < 2e-5);
    DK_CHECK(maxabs(g1[0], n) > 1e-3 && maxabs(g1[1], n) > 1e-3 && maxabs(g1[2], n) > 1e-3);
    for (int i = 0; i < 3; i++) free(g1[i]), free(g2[i]);
    free(q), free(k), free(v), free(go), free(o1), free(o2), free(l1), free(l2), free(qf), free(kf), free(vf), free(gf);
    free(of), free(lf), free(gq), free(gk), free(gv);
}

/* backward frees intermediate gradients (peak memory) but leaves' gradients
 * are those of a graph whose intermediates are all kept (the same chain
 * written once with a reused intermediate and once without) */
static void test_grad_release(void) {
    int64_t shp[2] = {4, 6};
    dk_tensor *x = dk_tensor_new(DK_F64, 2, shp, NULL);
    for (size_t i = 0; i < 24; i++) ((double *)x->data)[i] = 0.1 * (double)i - 1;
    dk_graph *g = dk_graph_new();
    dk_var *X = dk_graph_input(g, x, 1);
    dk_var *a = dk_gelu(g, X, 0);          /* exact GELU; intermediate used twice */
    dk_var *b = dk_mul(g, a, a);            /* a^2 */
    dk_var *c = dk_add(g, b, dk_silu(g, a)); /* a^2 + silu(a) */
    dk_var *loss = dk_mean_all(g, c);
    DK_CHECK_OK(dk_graph_backward(g, loss, NULL));
    DK_CHECK(a->grad == NULL && b->grad == NULL && c->grad == NULL); /* released to the pool */
    DK_CHECK(X->grad != NULL);
    /* d/dx mean(a^2 + silu(a)) = (2a + silu'(a)) gelu'(x) / 24, by hand */
    for (size_t i = 0; i < 24; i++) {
        double xv = ((double *)x->data)[i], av = ((double *)a->value->data)[i];
        double gp = 0.5 * erfc(-xv / sqrt(2.0)) + xv * exp(-0.5 * xv * xv) / sqrt(2 * M_PI);
        double sg = 1 / (1 + exp(-av)), sp = sg * (1 + av * (1 - sg));
        DK_CHECK_NEAR(((double *)X->grad->data)[i], (2 * av + sp) * gp / 24, 1e-12, 1e-10);
    }
    /* a second backward on the same tape doubles the leaf gradient */
    double g0 = ((double *)X->grad->data)[5];
    DK_CHECK_OK(dk_graph_backward(g, loss, NULL));
    DK_CHECK_NEAR(((double *)X->grad->data)[5], 2 * g0, 1e-14, 1e-12);
    dk_graph_free(g);
    dk_tensor_free(x);
}

int main(void) {
    dk_rng_init(&rng, 7, 0);
    test_global();
    test_local(0, 7, 0, 12, 10);
    test_local(0, 3, 0, 5, 6);
    test_local(0, 3, 0, 4, 20); /* w > 6 p: the gather path */
    test_local(1, 4, 0, 8, 8);
    test_local(1, 4, 2, 8, 8);
    test_grad_release();
    return dk_test_finish();
}
