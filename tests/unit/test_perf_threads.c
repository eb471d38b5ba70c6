/* test_perf_threads.c: the number of OpenMP threads does not change results
 * (issue 7). A DiT/HDiT-like block (LayerNorm + adaLN modulate, qkv linear,
 * global and neighborhood attention, GELU-tanh MLP, GEGLU, SiLU, RMSNorm,
 * gated residual, MSE loss) runs forward and backward in F32 with 1, 2 and 3
 * threads, sized so every kernel takes its parallel path; outputs, the loss
 * and every parameter gradient must agree to rounding (the kernels block
 * work by size, never by thread count, so they agree bit for bit). */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "dktest.h"
#include "diffkit/graph.h"
#include "diffkit/ops.h"
#include "diffkit/rng.h"

enum { B = 8, HG = 8, WG = 8, T = HG * WG, D = 128, NH = 4, MLP = 4 * D };

typedef struct run {
    float *out, *grad, loss;
    size_t n_out, n_grad;
} run;

static dk_var *pv(dk_params *P, const char *name) { return &dk_params_find(P, name)->var; }

static run step(dk_params *P, dk_tensor *x, dk_tensor *c, dk_tensor *target, int threads) {
    omp_set_num_threads(threads);
    dk_params_zero_grad(P);
    dk_graph *g = dk_graph_new();
    dk_var *X = dk_graph_input(g, x, 1), *C = dk_graph_input(g, c, 0);
    dk_var *ada = dk_linear(g, dk_silu(g, C), pv(P, "ada.w"), pv(P, "ada.b")); /* (B, 3D) */
    dk_var *shift = dk_slice_last(g, ada, 0, D), *scale = dk_slice_last(g, ada, D, D), *gate = dk_slice_last(g, ada, 2 * D, D);
    dk_var *h = dk_modulate(g, dk_layernorm(g, X, NULL, NULL, 1e-6), shift, scale);
    dk_var *qkv = dk_linear(g, h, pv(P, "qkv.w"), pv(P, "qkv.b"));
    dk_var *q = dk_heads_split(g, qkv, 3, NH, 0), *k = dk_heads_split(g, qkv, 3, NH, 1), *v = dk_heads_split(g, qkv, 3, NH, 2);
    dk_var *a1 = dk_attention(g, q, k, v, 0.17);
    dk_var *a2 = dk_neighborhood_attention(g, q, k, v, HG, WG, 5, 0.17);
    dk_var *a = dk_heads_merge(g, dk_add(g, a1, a2));
    dk_var *x1 = dk_gated_residual(g, X, gate, dk_linear(g, a, pv(P, "proj.w"), NULL));
    dk_var *n2 = dk_rmsnorm(g, x1, pv(P, "rms.g"), 1e-6);
    dk_var *u = dk_gelu(g, dk_linear(g, n2, pv(P, "fc1.w"), NULL), 1);
    dk_var *u2 = dk_geglu(g, dk_linear(g, n2, pv(P, "fc3.w"), NULL));
    dk_var *y = dk_add(g, x1, dk_linear(g, dk_add(g, u, u2), pv(P, "fc2.w"), NULL));
    dk_var *loss = dk_mean_all(g, dk_mse(g, y, dk_graph_input(g, target, 0)));
    run r = {0};
    DK_CHECK_OK(dk_graph_status(g, &dk_test_err));
    if (!loss) return r;
    DK_CHECK_OK(dk_graph_backward(g, loss, &dk_test_err));
    r.n_out = y->value->numel;
    r.n_grad = dk_params_numel(P, 0) + X->value->numel;
    r.out = malloc(r.n_out * sizeof(float));
    r.grad = malloc(r.n_grad * sizeof(float));
    memcpy(r.out, dk_f32(y->value), r.n_out * sizeof(float));
    memcpy(r.grad, dk_params_grad(P), dk_params_numel(P, 0) * sizeof(float));
    memcpy(r.grad + dk_params_numel(P, 0), dk_f32(X->grad), X->value->numel * sizeof(float));
    r.loss = dk_f32(loss->value)[0];
    dk_graph_free(g);
    return r;
}

static double rel_diff(const float *a, const float *b, size_t n) {
    double m = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        m = fmax(m, fabs((double)a[i] - b[i]));
        s = fmax(s, fabs((double)b[i]));
    }
    return s > 0 ? m / s : m;
}

int main(void) {
    dk_params *P = dk_params_new(DK_F32);
    struct { const char *name; int64_t r, c; } ps[] = {{"ada.w", 3 * D, D}, {"ada.b", 3 * D, 0}, {"qkv.w", 3 * D, D},
                                                     {"qkv.b", 3 * D, 0}, {"proj.w", D, D},     {"rms.g", D, 0},
                                                     {"fc1.w", MLP, D},   {"fc3.w", 2 * MLP, D}, {"fc2.w", D, MLP}};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
        int64_t shp[2] = {ps[i].r, ps[i].c};
        DK_CHECK(dk_params_add(P, ps[i].name, ps[i].c ? 2 : 1, shp, DK_INIT_NORMAL, 0.05, 0, &dk_test_err) != NULL);
    }
    DK_CHECK_OK(dk_params_finalize(P, 3, &dk_test_err));
    dk_tensor *x = dk_tensor_new(DK_F32, 3, (int64_t[]){B, T, D}, &dk_test_err);
    dk_tensor *c = dk_tensor_new(DK_F32, 2, (int64_t[]){B, D}, &dk_test_err);
    dk_tensor *t = dk_tensor_new(DK_F32, 3, (int64_t[]){B, T, D}, &dk_test_err);
    dk_rng r;
    dk_rng_init(&r, 11, 0);
    dk_rng_fill_normal_f32(&r, dk_f32(x), x->numel);
    dk_rng_fill_normal_f32(&r, dk_f32(c), c->numel);
    dk_rng_fill_normal_f32(&r, dk_f32(t), t->numel);

    run r1 = step(P, x, c, t, 1);
    for (int nt = 2; nt <= 3; nt++) {
        run rn = step(P, x, c, t, nt);
        if (!r1.out || !rn.out) break;
        double dout = rel_diff(rn.out, r1.out, r1.n_out), dgrad = rel_diff(rn.grad, r1.grad, r1.n_grad);
        printf("threads 1 vs %d: loss %.9g vs %.9g, max rel diff out %.3g, grads %.3g\n", nt, r1.loss, rn.loss, dout,
               dgrad);
        DK_CHECK_NEAR(rn.loss, r1.loss, 0, 1e-6);
        DK_CHECK(dout <= 1e-6);
        DK_CHECK(dgrad <= 1e-6);
        /* the gradients must be real: a zero gradient would make the check vacuous */
        double gmax = 0;
        for (size_t i = 0; i < r1.n_grad; i++) gmax = fmax(gmax, fabs((double)r1.grad[i]));
        DK_CHECK(gmax > 1e-6);
        free(rn.out);
        free(rn.grad);
    }
    free(r1.out);
    free(r1.grad);
    dk_tensor_free(x);
    dk_tensor_free(c);
    dk_tensor_free(t);
    dk_params_free(P);
    return dk_test_finish();
}
