/* test_autograd_ops.c: the autograd engine and the op kernels beyond the
 * gradcheck: naive vs optimized kernels, F32 vs F64 agreement, known small
 * values (attention against a direct N x N softmax, neighborhood/window
 * attention covering the grid equals global attention, LayerNorm of a known
 * vector, activation values, DiT/HDiT layouts), backward accumulation,
 * custom ops, sticky errors and the parameter store. */
#include <stdlib.h>
#include <string.h>
#include "dktest.h"
#include "diffkit/graph.h"
#include "diffkit/ops.h"
#include "diffkit/rng.h"
#include "../../core/src/backend/cpu/kernels.h"

static dk_rng rng;

static void fill(double *p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = 2 * dk_rng_uniform(&rng) - 1;
}
static double *rnd(size_t n) {
    double *p = malloc(n * sizeof *p);
    fill(p, n);
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

static void test_linear_kernels(size_t M, size_t IN, size_t OUT) {
    double *x = rnd(M * IN), *w = rnd(OUT * IN), *b = rnd(OUT), *go = rnd(M * OUT);
    double *o1 = calloc(M * OUT, 8), *o2 = calloc(M * OUT, 8);
    dk_k_linear_forward_f64(o1, x, w, b, M, IN, OUT);
    dk_k_linear_forward_naive_f64(o2, x, w, b, M, IN, OUT);
    DK_CHECK(maxdiff(o1, o2, M * OUT) < 1e-12);
    double *dx1 = calloc(M * IN, 8), *dx2 = calloc(M * IN, 8), *dw1 = calloc(OUT * IN, 8), *dw2 = calloc(OUT * IN, 8);
    double *db1 = calloc(OUT, 8), *db2 = calloc(OUT, 8);
    dk_k_linear_backward_f64(dx1, dw1, db1, go, x, w, M, IN, OUT);
    dk_k_linear_backward_naive_f64(dx2, dw2, db2, go, x, w, M, IN, OUT);
    DK_CHECK(maxdiff(dx1, dx2, M * IN) < 1e-12 && maxdiff(dw1, dw2, OUT * IN) < 1e-12 && maxdiff(db1, db2, OUT) < 1e-12);
    /* F32 optimized vs F64 naive */
    float *xf = to_f32(x, M * IN), *wf = to_f32(w, OUT * IN), *bf = to_f32(b, OUT), *of = calloc(M * OUT, 4);
    dk_k_linear_forward_f32(of, xf, wf, bf, M, IN, OUT);
    DK_CHECK_NEAR(maxdiff_f(of, o2, M * OUT), 0, 1e-5, 0);
    free(x), free(w), free(b), free(go), free(o1), free(o2), free(dx1), free(dx2), free(dw1), free(dw2), free(db1);
    free(db2), free(xf), free(wf), free(bf), free(of);
}

static void test_layernorm_kernels(void) {
    size_t M = 9, D = 13;
    double *x = rnd(M * D), *w = rnd(D), *b = rnd(D), *o1 = calloc(M * D, 8), *o2 = calloc(M * D, 8);
    double m1[9], r1[9], m2[9], r2[9];
    dk_k_layernorm_forward_f64(o1, m1, r1, x, w, b, M, D, 1e-5);
    dk_k_layernorm_forward_naive_f64(o2, m2, r2, x, w, b, M, D, 1e-5);
    DK_CHECK(maxdiff(o1, o2, M * D) < 1e-13 && maxdiff(r1, r2, M) < 1e-12);
    /* known vector: [1, 2, 3, 4]: mean 2.5, biased var 1.25 */
    double v[4] = {1, 2, 3, 4}, o[4];
    dk_k_layernorm_forward_f64(o, NULL, NULL, v, NULL, NULL, 1, 4, 0);
    DK_CHECK_NEAR(o[0], -1.5 / sqrt(1.25), 1e-15, 0);
    DK_CHECK_NEAR(o[3], 1.5 / sqrt(1.25), 1e-15, 0);
    DK_CHECK_NEAR(o[1], -0.5 / sqrt(1.25), 1e-15, 0);
    free(x), free(w), free(b), free(o1), free(o2);
}

/* attention against a direct N x N computation, several query blocks */
static void test_attention_kernels(void) {
    size_t BH = 3, Nq = 150, Nk = 70, d = 8, E = 5;
    double sc = 0.35;
    double *q = rnd(BH * Nq * d), *k = rnd(BH * Nk * d), *v = rnd(BH * Nk * E), *go = rnd(BH * Nq * E);
    double *o1 = calloc(BH * Nq * E, 8), *o2 = calloc(BH * Nq * E, 8), *l1 = calloc(BH * Nq, 8), *l2 = calloc(BH * Nq, 8);
    DK_CHECK(dk_k_attention_forward_f64(o1, l1, q, k, v, BH, Nq, Nk, d, E, sc) == 0);
    dk_k_attention_forward_naive_f64(o2, l2, q, k, v, BH, Nq, Nk, d, E, sc);
    DK_CHECK(maxdiff(o1, o2, BH * Nq * E) < 1e-13 && maxdiff(l1, l2, BH * Nq) < 1e-12);
    /* one entry by hand: softmax over the 70 keys of query 77 of head 1 */
    {
        size_t bh = 1, i = 77;
        double s[70], mx = -1e300, l = 0, o0 = 0;
        for (size_t j = 0; j < Nk; j++) {
            s[j] = 0;
            for (size_t c = 0; c < d; c++) s[j] += q[(bh * Nq + i) * d + c] * k[(bh * Nk + j) * d + c];
            s[j] *= sc;
            mx = fmax(mx, s[j]);
        }
        for (size_t j = 0; j < Nk; j++) l += exp(s[j] - mx);
        for (size_t j = 0; j < Nk; j++) o0 += exp(s[j] - mx) / l * v[(bh * Nk + j) * E + 0];
        DK_CHECK_NEAR(o1[(bh * Nq + i) * E], o0, 1e-14, 0);
    }
    size_t nq = BH * Nq * d, nk = BH * Nk * d, nv = BH * Nk * E;
    double *dq1 = calloc(nq, 8), *dq2 = calloc(nq, 8), *dk1 = calloc(nk, 8), *dk2 = calloc(nk, 8);
    double *dv1 = calloc(nv, 8), *dv2 = calloc(nv, 8);
    DK_CHECK(dk_k_attention_backward_f64(dq1, dk1, dv1, go, o1, l1, q, k, v, BH, Nq, Nk, d, E, sc) == 0);
    dk_k_attention_backward_naive_f64(dq2, dk2, dv2, go, o2, l2, q, k, v, BH, Nq, Nk, d, E, sc);
    DK_CHECK(maxdiff(dq1, dq2, nq) < 1e-12 && maxdiff(dk1, dk2, nk) < 1e-12 && maxdiff(dv1, dv2, nv) < 1e-12);
    /* F32 agrees with F64 */
    float *qf = to_f32(q, nq), *kf = to_f32(k, nk), *vf = to_f32(v, nv), *of = calloc(BH * Nq * E, 4);
    float *lf = calloc(BH * Nq, 4);
    DK_CHECK(dk_k_attention_forward_f32(of, lf, qf, kf, vf, BH, Nq, Nk, d, E, sc) == 0);
    DK_CHECK_NEAR(maxdiff_f(of, o2, BH * Nq * E), 0, 2e-6, 0);
    free(q), free(k), free(v), free(go), free(o1), free(o2), free(l1), free(l2), free(dq1), free(dq2), free(dk1);
    free(dk2), free(dv1), free(dv2), free(qf), free(kf), free(vf), free(of), free(lf);
}

/* neighborhood / window attention: optimized vs naive; covering the grid = global */
static void test_local_attention(void) {
    size_t BH = 2, h = 7, w = 9, N = h * w, d = 4;
    double *q = rnd(BH * N * d), *k = rnd(BH * N * d), *v = rnd(BH * N * d);
    double *o1 = calloc(BH * N * d, 8), *o2 = calloc(BH * N * d, 8), *l1 = calloc(BH * N, 8), *l2 = calloc(BH * N, 8);
    int cases[][3] = {{0, 3, 0}, {0, 5, 0}, {0, 7, 0}};
    for (int c = 0; c < 3; c++) {
        dk_k_local_attn_forward_f64(o1, l1, q, k, v, BH, h, w, d, cases[c][0], cases[c][1], cases[c][2], 0.7);
        dk_k_local_attn_forward_naive_f64(o2, l2, q, k, v, BH, h, w, d, cases[c][0], cases[c][1], cases[c][2], 0.7);
        DK_CHECK(maxdiff(o1, o2, BH * N * d) < 1e-13 && maxdiff(l1, l2, BH * N) < 1e-12);
    }
    /* window on an 8 x 8 grid, window 4, shift 0 and 2 */
    size_t hw = 8, Nw = 64;
    double *qw = rnd(BH * Nw * d), *kw = rnd(BH * Nw * d), *vw = rnd(BH * Nw * d);
    double *a1 = calloc(BH * Nw * d, 8), *a2 = calloc(BH * Nw * d, 8), *b1 = calloc(BH * Nw, 8), *b2 = calloc(BH * Nw, 8);
    for (int shift = 0; shift <= 2; shift += 2) {
        dk_k_local_attn_forward_f64(a1, b1, qw, kw, vw, BH, hw, hw, d, 1, 4, shift, 0.7);
        dk_k_local_attn_forward_naive_f64(a2, b2, qw, kw, vw, BH, hw, hw, d, 1, 4, shift, 0.7);
        DK_CHECK(maxdiff(a1, a2, BH * Nw * d) < 1e-13);
    }
    /* Swin mask: with shift 2, the token at (7, 7) (rolled to (1, 1), wrapped
     * both ways) sees only the 4 wrapped tokens (6..7 x 6..7). */
    {
        double *one = calloc(BH * Nw * d, 8), *vv = calloc(BH * Nw * d, 8), *oo = calloc(BH * Nw * d, 8);
        for (size_t t = 0; t < Nw; t++) vv[t * d] = (double)t; /* v = token index in channel 0 */
        dk_k_local_attn_forward_f64(oo, NULL, one, one, vv, 1, hw, hw, d, 1, 4, 2, 1.0);
        DK_CHECK_NEAR(oo[63 * d], (54 + 55 + 62 + 63) / 4.0, 1e-12, 0); /* uniform weights: q = k = 0 */
        /* token (0, 0) rolled to (2, 2): sees the non-wrapped part of window (0,0): rows/cols 0..1 */
        DK_CHECK_NEAR(oo[0], (0 + 1 + 8 + 9) / 4.0, 1e-12, 0);
        /* neighborhood k=3 at the corner (0, 0): window rows 0..2, cols 0..2 (shifted inward) */
        dk_k_local_attn_forward_f64(oo, NULL, one, one, vv, 1, hw, hw, d, 0, 3, 0, 1.0);
        DK_CHECK_NEAR(oo[0], (0 + 1 + 2 + 8 + 9 + 10 + 16 + 17 + 18) / 9.0, 1e-12, 0);
        free(one), free(vv), free(oo);
    }
    /* graph level: kernel = grid (neighborhood) and window = grid (shift 0) equal global attention */
    dk_graph *g = dk_graph_new();
    int64_t shp[4] = {1, 2, 25, 4};
    dk_tensor *tq = dk_tensor_new(DK_F64, 4, shp, NULL), *tk = dk_tensor_new(DK_F64, 4, shp, NULL);
    dk_tensor *tv = dk_tensor_new(DK_F64, 4, shp, NULL);
    fill(dk_f64(tq), 200), fill(dk_f64(tk), 200), fill(dk_f64(tv), 200);
    dk_var *vq = dk_graph_input(g, tq, 1), *vk = dk_graph_input(g, tk, 1), *vvv = dk_graph_input(g, tv, 1);
    dk_var *ga = dk_attention(g, vq, vk, vvv, 0.6);
    dk_var *na = dk_neighborhood_attention(g, vq, vk, vvv, 5, 5, 5, 0.6);
    dk_var *wa = dk_window_attention(g, vq, vk, vvv, 5, 5, 5, 0, 0.6);
    DK_CHECK_OK(dk_graph_status(g, &dk_test_err));
    DK_CHECK(maxdiff(dk_f64(ga->value), dk_f64(na->value), 200) < 1e-14);
    DK_CHECK(maxdiff(dk_f64(ga->value), dk_f64(wa->value), 200) < 1e-14);
    dk_graph_free(g);
    dk_tensor_free(tq), dk_tensor_free(tk), dk_tensor_free(tv);
    free(q), free(k), free(v), free(o1), free(o2), free(l1), free(l2), free(qw), free(kw), free(vw), free(a1), free(a2);
    free(b1), free(b2);
}

/* A small DiT-like block in F32 and F64: outputs and gradients agree. */
static void run_block(dk_dtype dt, const double *xin, const double *win, double *out, double *gx, double *gw) {
    dk_graph *g = dk_graph_new();
    int64_t xs[3] = {2, 6, 8}, ws[2] = {24, 8};
    dk_tensor *tx = dk_tensor_new(dt, 3, xs, NULL), *tw = dk_tensor_new(dt, 2, ws, NULL);
    for (size_t i = 0; i < tx->numel; i++) dk_tensor_set(tx, i, xin[i]);
    for (size_t i = 0; i < tw->numel; i++) dk_tensor_set(tw, i, win[i]);
    dk_var *x = dk_graph_input(g, tx, 1), *w = dk_graph_input(g, tw, 1);
    dk_var *n = dk_layernorm(g, x, NULL, NULL, 1e-6);
    dk_var *qkv = dk_linear(g, n, w, NULL);
    dk_var *a = dk_attention(g, dk_heads_split(g, qkv, 3, 2, 0), dk_heads_split(g, qkv, 3, 2, 1),
                             dk_heads_split(g, qkv, 3, 2, 2), 0.5);
    dk_var *y = dk_add(g, x, dk_gelu(g, dk_heads_merge(g, a), 1));
    dk_var *loss = dk_mean_all(g, dk_mse(g, y, dk_silu(g, x)));
    DK_CHECK_OK(dk_graph_status(g, &dk_test_err));
    DK_CHECK_OK(dk_graph_backward(g, loss, &dk_test_err));
    for (size_t i = 0; i < y->value->numel; i++) out[i] = dk_tensor_get(y->value, i);
    for (size_t i = 0; i < tx->numel; i++) gx[i] = dk_tensor_get(x->grad, i);
    for (size_t i = 0; i < tw->numel; i++) gw[i] = dk_tensor_get(w->grad, i);
    dk_graph_free(g);
    dk_tensor_free(tx), dk_tensor_free(tw);
}

static void test_f32_f64(void) {
    double x[96], w[192], o32[96], o64[96], gx32[96], gx64[96], gw32[192], gw64[192];
    fill(x, 96), fill(w, 192);
    run_block(DK_F32, x, w, o32, gx32, gw32);
    run_block(DK_F64, x, w, o64, gx64, gw64);
    DK_CHECK_NEAR(maxdiff(o32, o64, 96), 0, 2e-6, 0);
    DK_CHECK_NEAR(maxdiff(gx32, gx64, 96), 0, 1e-6, 0);
    DK_CHECK_NEAR(maxdiff(gw32, gw64, 192), 0, 1e-6, 0);
    DK_CHECK(maxdiff(gw64, (double[192]){0}, 192) > 1e-4); /* the gradient is not trivially zero */
}

static void test_known_values(void) {
    dk_graph *g = dk_graph_new();
    int64_t s1 = 3;
    dk_tensor *t = dk_tensor_new(DK_F64, 1, &s1, NULL);
    dk_f64(t)[0] = 1, dk_f64(t)[1] = -0.5, dk_f64(t)[2] = 0;
    dk_var *x = dk_graph_input(g, t, 0);
    dk_var *ge = dk_gelu(g, x, 0), *gt = dk_gelu(g, x, 1), *si = dk_silu(g, x);
    DK_CHECK_NEAR(dk_f64(ge->value)[0], 0.8413447460685429, 1e-15, 0);
    DK_CHECK_NEAR(dk_f64(ge->value)[1], -0.15426876936299344, 1e-15, 0);
    DK_CHECK_NEAR(dk_f64(gt->value)[0], 0.8411919906082768, 1e-15, 0);
    DK_CHECK_NEAR(dk_f64(si->value)[0], 0.7310585786300049, 1e-15, 0);
    DK_CHECK(dk_f64(si->value)[2] == 0);
    /* timestep features: t = 0 gives cos = 1, sin = 0; t = 2, k = 0: cos(2) */
    dk_var *te = dk_timestep_embedding(g, x, 8, 10000);
    DK_CHECK_NEAR(dk_f64(te->value)[2 * 8 + 0], 1, 0, 0);
    DK_CHECK_NEAR(dk_f64(te->value)[2 * 8 + 4], 0, 0, 0);
    DK_CHECK_NEAR(dk_f64(te->value)[0 * 8 + 1], cos(exp(-log(10000.0) / 4)), 1e-15, 0);
    DK_CHECK_NEAR(dk_f64(te->value)[0 * 8 + 5], sin(exp(-log(10000.0) / 4)), 1e-15, 0);
    /* KL of identical Gaussians is 0; of N(0,1) || N(1,1) is 1/2 */
    dk_var *kl = dk_normal_kl(g, x, x, x, x);
    DK_CHECK(fabs(dk_f64(kl->value)[0]) < 1e-15 && fabs(dk_f64(kl->value)[1]) < 1e-15);
    dk_graph_free(g);
    dk_tensor_free(t);
    /* DiT sin-cos table: token (r=1, c=2) of a 3 x 4 grid, D = 8 */
    int64_t ps[2] = {12, 8};
    dk_tensor *pt = dk_tensor_new(DK_F64, 2, ps, NULL);
    DK_CHECK_OK(dk_sincos_pos_2d(pt, 3, 4, &dk_test_err));
    double *p = dk_f64(pt) + (1 * 4 + 2) * 8;
    DK_CHECK_NEAR(p[0], sin(2.0), 1e-15, 0);   /* column, k = 0 */
    DK_CHECK_NEAR(p[1], sin(2.0 / 100), 1e-15, 0); /* w_1 = 10000^(-1/2) */
    DK_CHECK_NEAR(p[2], cos(2.0), 1e-15, 0);
    DK_CHECK_NEAR(p[4], sin(1.0), 1e-15, 0);   /* row */
    DK_CHECK_NEAR(p[7], cos(1.0 / 100), 1e-15, 0);
    dk_tensor_free(pt);
    /* HDiT axial positions of a 4 x 4 grid: centres -0.75, -0.25, 0.25, 0.75 */
    int64_t as[2] = {16, 2};
    dk_tensor *ap = dk_tensor_new(DK_F32, 2, as, NULL);
    DK_CHECK_OK(dk_axial_pos(ap, 4, 4, &dk_test_err));
    DK_CHECK_NEAR(dk_tensor_get(ap, (1 * 4 + 3) * 2), -0.25, 1e-7, 0);
    DK_CHECK_NEAR(dk_tensor_get(ap, (1 * 4 + 3) * 2 + 1), 0.75, 1e-7, 0);
    int64_t ds[2] = {4, 2};
    dk_tensor *dp = dk_tensor_new(DK_F32, 2, ds, NULL);
    DK_CHECK_OK(dk_axial_pos_downscale(dp, ap, 4, 4, &dk_test_err));
    DK_CHECK_NEAR(dk_tensor_get(dp, 3 * 2), 0.5, 1e-7, 0);
    dk_tensor_free(ap), dk_tensor_free(dp);
    /* RoPE frequencies: H = 2, F = 2: linspace(log pi, log 10pi, 5)[:-1] = log pi + i/4 log 10 */
    int64_t fs[2] = {2, 2};
    dk_tensor *fr = dk_tensor_new(DK_F64, 2, fs, NULL);
    DK_CHECK_OK(dk_rope_freqs(fr, 2, 2, &dk_test_err));
    DK_CHECK_NEAR(dk_f64(fr)[0], M_PI, 1e-13, 0);                    /* [h0, f0] = i 0 */
    DK_CHECK_NEAR(dk_f64(fr)[2], M_PI * pow(10, 0.25), 1e-13, 0);    /* [h1, f0] = i 1 */
    DK_CHECK_NEAR(dk_f64(fr)[1], M_PI * pow(10, 0.5), 1e-13, 0);     /* [h0, f1] = i 2 */
    dk_tensor_free(fr);
}

static void test_layouts(void) {
    dk_graph *g = dk_graph_new();
    int64_t is[4] = {2, 3, 4, 6};
    dk_tensor *img = dk_tensor_new(DK_F64, 4, is, NULL);
    for (size_t i = 0; i < img->numel; i++) dk_f64(img)[i] = (double)i;
    dk_var *x = dk_graph_input(g, img, 0);
    for (int lay = 0; lay < 2; lay++) {
        dk_var *t = dk_patchify(g, x, 2, (dk_patch_layout)lay);
        dk_var *back = dk_unpatchify(g, t, 4, 6, 2, (dk_patch_layout)lay);
        DK_CHECK(back && maxdiff(dk_f64(back->value), dk_f64(img), img->numel) == 0);
        /* DiT unpatchify (IJC): out[n, c, r*p+i, q*p+j] = final[n, r*(W/p)+q, (i*p+j)*C + c] */
        if (lay == 1) {
            size_t n = 1, c = 2, r = 1, q = 2, i = 1, j = 0;
            DK_CHECK(dk_f64(t->value)[(n * 6 + r * 3 + q) * 12 + (i * 2 + j) * 3 + c] ==
                     dk_f64(img)[((n * 3 + c) * 4 + r * 2 + i) * 6 + q * 2 + j]);
        } else { /* conv weight flattening (c, i, j) */
            size_t n = 0, c = 1, r = 0, q = 1, i = 1, j = 1;
            DK_CHECK(dk_f64(t->value)[(n * 6 + r * 3 + q) * 12 + (c * 2 + i) * 2 + j] ==
                     dk_f64(img)[((n * 3 + c) * 4 + r * 2 + i) * 6 + q * 2 + j]);
        }
    }
    /* token merge: NHWC [1, 4, 4, 2] -> [1, 2, 2, 8] with features (i, j, c), and back */
    int64_t ns[4] = {1, 4, 4, 2};
    dk_tensor *nh = dk_tensor_new(DK_F64, 4, ns, NULL);
    for (size_t i = 0; i < nh->numel; i++) dk_f64(nh)[i] = (double)i;
    dk_var *m = dk_token_merge(g, dk_graph_input(g, nh, 0), 2, 2);
    /* coarse (1, 0), feature (i=1, j=0, c=1) = fine pixel (3, 0), channel 1 */
    DK_CHECK(dk_f64(m->value)[(1 * 2 + 0) * 8 + (1 * 2 + 0) * 2 + 1] == dk_f64(nh)[(3 * 4 + 0) * 2 + 1]);
    dk_var *sp = dk_token_split(g, m, 2, 2);
    DK_CHECK(maxdiff(dk_f64(sp->value), dk_f64(nh), nh->numel) == 0);
    DK_CHECK_OK(dk_graph_status(g, &dk_test_err));
    dk_graph_free(g);
    dk_tensor_free(img), dk_tensor_free(nh);
}

/* cube: a custom op with its own backward (ctx counts calls, free_cnt counts frees) */
static int freed_ctx = 0;
static void free_cnt(void *p) { (void)p; freed_ctx++; }

static dk_status cube_bw2(void *ctx, dk_var *out, dk_var **in, int n, dk_error *err) {
    *(int *)ctx += 1;
    if (!in[0]->grad) DK_TRY(dk_var_zero_grad(in[0], err));
    for (size_t i = 0; i < out->value->numel; i++) {
        double x = dk_f64(in[0]->value)[i];
        dk_f64(in[0]->grad)[i] += dk_f64(out->grad)[i] * 3 * x * x;
    }
    return DK_OK;
}

static void test_engine(void) {
    /* parameters: accumulation across backward passes, views into one block */
    dk_params *P = dk_params_new(DK_F64);
    dk_var *w = dk_params_add(P, "w", 2, (int64_t[]){3, 4}, DK_INIT_XAVIER_UNIFORM, 1.0, 0, &dk_test_err);
    dk_var *b = dk_params_add(P, "b", 1, (int64_t[]){3}, DK_INIT_NORMAL, 0.5, DK_PARAM_NO_DECAY, &dk_test_err);
    dk_var *fz = dk_params_add(P, "pos", 1, (int64_t[]){5}, DK_INIT_ONES, 0, DK_PARAM_FROZEN, &dk_test_err);
    DK_CHECK(w && b && fz);
    DK_CHECK(dk_params_add(P, "w", 1, (int64_t[]){2}, DK_INIT_ZEROS, 0, 0, &dk_test_err) == NULL);
    DK_CHECK_OK(dk_params_finalize(P, 7, &dk_test_err));
    DK_CHECK(dk_params_numel(P, 0) == 20 && dk_params_numel(P, 1) == 15);
    DK_CHECK((double *)b->value->data == (double *)dk_params_data(P) + 12);
    DK_CHECK((double *)b->grad->data == (double *)dk_params_grad(P) + 12);
    DK_CHECK(fz->requires_grad == 0 && dk_f64(fz->value)[4] == 1);
    double bound = sqrt(6.0 / (4 + 3)), mx = 0;
    for (int i = 0; i < 12; i++) mx = fmax(mx, fabs(dk_f64(w->value)[i]));
    DK_CHECK(mx <= bound && mx > 0.3 * bound);
    /* same seed, same values; the F32 store holds the F64 values rounded */
    dk_params *P2 = dk_params_new(DK_F32);
    dk_params_add(P2, "w", 2, (int64_t[]){3, 4}, DK_INIT_XAVIER_UNIFORM, 1.0, 0, &dk_test_err);
    dk_params_add(P2, "b", 1, (int64_t[]){3}, DK_INIT_NORMAL, 0.5, 0, &dk_test_err);
    DK_CHECK_OK(dk_params_finalize(P2, 7, &dk_test_err));
    for (int i = 0; i < 15; i++)
        DK_CHECK(((float *)dk_params_data(P2))[i] == (float)((double *)dk_params_data(P))[i]);
    dk_params_free(P2);

    dk_graph *g = dk_graph_new();
    int64_t xs[2] = {2, 4};
    dk_tensor *tx = dk_tensor_new(DK_F64, 2, xs, NULL);
    fill(dk_f64(tx), 8);
    double g1[3];
    for (int pass = 0; pass < 2; pass++) {
        dk_var *x = dk_graph_input(g, tx, 0);
        dk_var *loss = dk_sum_all(g, dk_linear(g, x, w, b));
        DK_CHECK_OK(dk_graph_backward(g, loss, &dk_test_err));
        if (pass == 0) memcpy(g1, b->grad->data, sizeof g1);
        dk_graph_reset(g);
    }
    DK_CHECK_NEAR(dk_f64(b->grad)[0], 2 * g1[0], 1e-15, 0); /* accumulated over two passes */
    DK_CHECK_NEAR(g1[0], 2, 1e-15, 0);                       /* d sum / d b = batch size */
    dk_params_zero_grad(P);
    DK_CHECK(dk_f64(b->grad)[0] == 0);

    /* backward twice on one graph: intermediates restart, leaves accumulate */
    {
        dk_var *x = dk_graph_input(g, tx, 1);
        dk_var *loss = dk_sum_all(g, dk_square(g, dk_scale(g, x, 2)));
        DK_CHECK_OK(dk_graph_backward(g, loss, &dk_test_err));
        double first = dk_f64(x->grad)[0];
        DK_CHECK_OK(dk_graph_backward(g, loss, &dk_test_err));
        DK_CHECK_NEAR(dk_f64(x->grad)[0], 2 * first, 1e-14, 0);
        DK_CHECK_NEAR(first, 8 * dk_f64(tx)[0], 1e-14, 0);
        DK_CHECK(dk_f64(loss->grad)[0] == 1);
    }
    dk_graph_reset(g);

    /* detach: no gradient through the detached branch */
    {
        dk_var *x = dk_graph_input(g, tx, 1);
        dk_var *loss = dk_sum_all(g, dk_add(g, dk_square(g, dk_detach(g, x)), x));
        DK_CHECK_OK(dk_graph_backward(g, loss, &dk_test_err));
        DK_CHECK(dk_f64(x->grad)[0] == 1 && dk_f64(x->grad)[7] == 1);
    }
    dk_graph_reset(g);

    /* custom op */
    {
        int calls = 0;
        dk_var *x = dk_graph_input(g, tx, 1);
        dk_var *out = dk_graph_new_var(g, DK_F64, 2, xs);
        for (int i = 0; i < 8; i++) dk_f64(out->value)[i] = pow(dk_f64(tx)[i], 3);
        dk_var *y = dk_graph_custom(g, out, &x, 1, cube_bw2, &calls, free_cnt);
        DK_CHECK(y == out && y->requires_grad);
        DK_CHECK_OK(dk_graph_backward(g, dk_sum_all(g, y), &dk_test_err));
        DK_CHECK_NEAR(dk_f64(x->grad)[3], 3 * dk_f64(tx)[3] * dk_f64(tx)[3], 1e-15, 0);
        dk_graph_reset(g);
        DK_CHECK(freed_ctx == 1);
        DK_CHECK(calls == 1);
    }

    /* grads off: no tape, backward refuses */
    {
        dk_graph_set_grad(g, 0);
        dk_var *x = dk_graph_input(g, tx, 1);
        dk_var *l = dk_sum_all(g, dk_scale(g, x, 3));
        DK_CHECK(l && !l->requires_grad);
        DK_CHECK_STATUS(dk_graph_backward(g, l, &dk_test_err), DK_ESTATE);
        dk_graph_set_grad(g, 1);
        dk_graph_reset(g);
    }

    /* sticky errors: the first failure is kept, names the op and the shapes */
    {
        dk_var *x = dk_graph_input(g, tx, 1); /* [2, 4] */
        dk_var *wrong = dk_params_find(P, "b") ? b : NULL; /* [3] used as a weight */
        dk_var *y = dk_linear(g, x, wrong, NULL);
        DK_CHECK(y == NULL);
        dk_var *z = dk_gelu(g, y, 0);
        DK_CHECK(z == NULL);
        dk_var *z2 = dk_add(g, x, dk_graph_input(g, tx, 0)); /* fine op after a failure: still NULL */
        DK_CHECK(z2 == NULL);
        dk_error e;
        DK_CHECK_STATUS(dk_graph_status(g, &e), DK_ESHAPE);
        DK_CHECK(strstr(e.msg, "linear") && strstr(e.msg, "[2, 4]") && strstr(e.msg, "[3]"));
        DK_CHECK_STATUS(dk_graph_backward(g, z, &dk_test_err), DK_ESHAPE);
        dk_graph_reset(g);
        DK_CHECK_OK(dk_graph_status(g, &dk_test_err));
        dk_var *m = dk_mul(g, dk_graph_input(g, tx, 0), dk_graph_input(g, tx, 0));
        DK_CHECK(m != NULL);
        /* broadcast mismatch names both shapes */
        int64_t bs[1] = {3};
        dk_tensor *t3 = dk_tensor_new(DK_F64, 1, bs, NULL);
        DK_CHECK(dk_add(g, dk_graph_input(g, tx, 0), dk_graph_input(g, t3, 0)) == NULL);
        DK_CHECK_STATUS(dk_graph_status(g, &e), DK_ESHAPE);
        DK_CHECK(strstr(e.msg, "add") && strstr(e.msg, "[3]") && strstr(e.msg, "[2, 4]"));
        dk_tensor_free(t3);
        dk_graph_reset(g);
        /* neighborhood kernel larger than the grid, label out of range */
        int64_t qs[4] = {1, 1, 4, 2};
        dk_tensor *tq = dk_tensor_new(DK_F64, 4, qs, NULL);
        dk_var *q = dk_graph_input(g, tq, 0);
        DK_CHECK(dk_neighborhood_attention(g, q, q, q, 2, 2, 3, 1.0) == NULL);
        DK_CHECK_STATUS(dk_graph_status(g, &e), DK_EINVAL);
        DK_CHECK(strstr(e.msg, "neighborhood_attention") && strstr(e.msg, "kernel"));
        dk_graph_reset(g);
        DK_CHECK(dk_embedding(g, w, (int64_t[]){0, 3}, 2) == NULL);
        DK_CHECK_STATUS(dk_graph_status(g, &e), DK_EINVAL);
        dk_tensor_free(tq);
        dk_graph_reset(g);
    }

    /* the pool: a step's buffers are reused by the next step */
    {
        int64_t s[2] = {64, 64};
        dk_var *a = dk_graph_new_var(g, DK_F32, 2, s);
        void *p1 = a->value->data;
        dk_f32(a->value)[5] = 3;
        dk_graph_reset(g);
        dk_var *a2 = dk_graph_new_var(g, DK_F64, 1, (int64_t[]){2048});
        DK_CHECK(a2->value->data == p1 && dk_f64(a2->value)[2] == 0); /* same bytes, zeroed */
        dk_graph_reset(g);
    }
    dk_graph_free(g);
    dk_tensor_free(tx);
    dk_params_free(P);
}

int main(void) {
    uint64_t seed = 99;
    const char *s = getenv("DK_TEST_SEED");
    if (s) seed = strtoull(s, NULL, 10);
    printf("seed %llu (set DK_TEST_SEED to change)\n", (unsigned long long)seed);
    dk_rng_init(&rng, seed, 1);
    test_linear_kernels(37, 19, 23);
    test_linear_kernels(300, 40, 50); /* large enough for the row-blocked GEMMs */
    test_layernorm_kernels();
    test_attention_kernels();
    test_local_attention();
    test_f32_f64();
    test_known_values();
    test_layouts();
    test_engine();
    return dk_test_finish();
}
