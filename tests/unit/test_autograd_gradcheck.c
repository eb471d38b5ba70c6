/* test_autograd_gradcheck.c: finite-difference gradient check, in F64, of
 * every differentiable op in ops.h. For each op, loss = sum(out * R) with a
 * fixed random R; the analytic gradient of every input that requires one
 * (from dk_graph_backward) is compared with central differences
 * (eps = 1e-6) element by element at relative tolerance ~1e-6.
 * The seed is printed and can be set with DK_TEST_SEED. */
#include <stdlib.h>
#include <string.h>
#include "dktest.h"
#include "diffkit/graph.h"
#include "diffkit/ops.h"
#include "diffkit/rng.h"

#define MAXIN 5

static uint64_t seed = 1234;
static dk_rng rng;

typedef struct gc_case {
    const char *name;
    int n_in;
    dk_tensor *in[MAXIN];
    int grad[MAXIN];
    int iparam[8];
    double dparam;
    int64_t labels[8];
    dk_tensor *pos, *freqs;
} gc_case;

static dk_tensor *rnd(int nd, const int64_t *shape, double lo, double hi) {
    dk_tensor *t = dk_tensor_new(DK_F64, nd, shape, NULL);
    for (size_t i = 0; i < t->numel; i++) dk_f64(t)[i] = lo + (hi - lo) * dk_rng_uniform(&rng);
    return t;
}
#define SH(...) ((const int64_t[]){__VA_ARGS__})
#define RND(lo, hi, ...) rnd((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), SH(__VA_ARGS__), lo, hi)

typedef dk_var *(*build_fn)(dk_graph *g, dk_var **v, gc_case *c);

/* loss = sum(out * R); R is drawn once per case (R_store) */
static double eval_loss(gc_case *c, build_fn f, dk_tensor **R, int want_grads, double **grads) {
    dk_graph *g = dk_graph_new();
    dk_graph_set_grad(g, want_grads);
    dk_var *v[MAXIN];
    for (int i = 0; i < c->n_in; i++) v[i] = dk_graph_input(g, c->in[i], want_grads && c->grad[i]);
    dk_var *out = f(g, v, c);
    double L = NAN;
    if (dk_graph_status(g, &dk_test_err) != DK_OK || !out) {
        dk_test_fail(__FILE__, __LINE__, "%s: forward failed: %s", c->name, dk_test_err.msg);
        dk_graph_free(g);
        return L;
    }
    if (!*R) {
        *R = dk_tensor_new(DK_F64, out->value->ndim, out->value->shape, NULL);
        for (size_t i = 0; i < (*R)->numel; i++) dk_f64(*R)[i] = 2 * dk_rng_uniform(&rng) - 1;
    }
    L = 0;
    for (size_t i = 0; i < out->value->numel; i++) L += dk_f64(out->value)[i] * dk_f64(*R)[i];
    if (want_grads) {
        dk_var *rv = dk_graph_input(g, *R, 0);
        dk_var *loss = dk_sum_all(g, dk_mul(g, out, rv));
        DK_CHECK_OK(dk_graph_backward(g, loss, &dk_test_err));
        for (int i = 0; i < c->n_in; i++) {
            if (!c->grad[i]) continue;
            grads[i] = malloc(c->in[i]->numel * sizeof(double));
            for (size_t j = 0; j < c->in[i]->numel; j++)
                grads[i][j] = v[i]->grad ? dk_f64(v[i]->grad)[j] : 0.0;
        }
    }
    dk_graph_free(g);
    return L;
}

static void gradcheck(gc_case *c, build_fn f) {
    dk_tensor *R = NULL;
    double *grads[MAXIN] = {0};
    const double eps = 1e-6, rtol = 2e-6, atol = 1e-8;
    eval_loss(c, f, &R, 1, grads);
    int bad = 0;
    double worst = 0;
    for (int i = 0; i < c->n_in; i++) {
        if (!c->grad[i] || !grads[i]) continue;
        for (size_t j = 0; j < c->in[i]->numel; j++) {
            double *x = &dk_f64(c->in[i])[j], x0 = *x;
            *x = x0 + eps;
            double lp = eval_loss(c, f, &R, 0, NULL);
            *x = x0 - eps;
            double lm = eval_loss(c, f, &R, 0, NULL);
            *x = x0;
            double num = (lp - lm) / (2 * eps), ana = grads[i][j];
            double err = fabs(num - ana), lim = atol + rtol * fmax(fabs(num), fabs(ana));
            if (err / (lim) > worst) worst = err / lim;
            if (!(err <= lim) && bad++ < 5)
                dk_test_fail(__FILE__, __LINE__, "%s: d/d(input %d)[%zu]: analytic %.12g, numeric %.12g", c->name, i,
                             j, ana, num);
        }
        free(grads[i]);
    }
    dk_test_checks++;
    printf("  %-34s ok=%d  worst err/tol %.3f\n", c->name, bad == 0, worst);
    dk_tensor_free(R);
    for (int i = 0; i < c->n_in; i++) dk_tensor_free(c->in[i]);
    dk_tensor_free(c->pos);
    dk_tensor_free(c->freqs);
}

/* ---- builders ---- */
static dk_var *b_linear(dk_graph *g, dk_var **v, gc_case *c) { return dk_linear(g, v[0], v[1], c->n_in > 2 ? v[2] : NULL); }
static dk_var *b_matmul(dk_graph *g, dk_var **v, gc_case *c) { return dk_matmul(g, v[0], v[1], c->iparam[0], c->iparam[1]); }
static dk_var *b_add(dk_graph *g, dk_var **v, gc_case *c) { return dk_add(g, v[0], v[1]); }
static dk_var *b_sub(dk_graph *g, dk_var **v, gc_case *c) { return dk_sub(g, v[0], v[1]); }
static dk_var *b_mul(dk_graph *g, dk_var **v, gc_case *c) { return dk_mul(g, v[0], v[1]); }
static dk_var *b_scale(dk_graph *g, dk_var **v, gc_case *c) { return dk_scale(g, v[0], -1.7); }
static dk_var *b_add_scalar(dk_graph *g, dk_var **v, gc_case *c) { return dk_square(g, dk_add_scalar(g, v[0], 0.3)); }
static dk_var *b_exp(dk_graph *g, dk_var **v, gc_case *c) { return dk_exp(g, v[0]); }
static dk_var *b_gelu(dk_graph *g, dk_var **v, gc_case *c) { return dk_gelu(g, v[0], c->iparam[0]); }
static dk_var *b_silu(dk_graph *g, dk_var **v, gc_case *c) { return dk_silu(g, v[0]); }
static dk_var *b_geglu(dk_graph *g, dk_var **v, gc_case *c) { return dk_geglu(g, v[0]); }
static dk_var *b_modulate(dk_graph *g, dk_var **v, gc_case *c) { return dk_modulate(g, v[0], c->n_in > 2 ? v[2] : NULL, v[1]); }
static dk_var *b_gated(dk_graph *g, dk_var **v, gc_case *c) { return dk_gated_residual(g, v[0], v[1], v[2]); }
static dk_var *b_lerp(dk_graph *g, dk_var **v, gc_case *c) { return dk_lerp_skip(g, v[0], v[1], v[2]); }
static dk_var *b_sum_all(dk_graph *g, dk_var **v, gc_case *c) { return dk_sum_all(g, dk_square(g, v[0])); }
static dk_var *b_mean_all(dk_graph *g, dk_var **v, gc_case *c) { return dk_mean_all(g, dk_square(g, v[0])); }
static dk_var *b_sum_last(dk_graph *g, dk_var **v, gc_case *c) { return dk_sum_last(g, dk_square(g, v[0]), c->iparam[0]); }
static dk_var *b_mean_last(dk_graph *g, dk_var **v, gc_case *c) { return dk_mean_last(g, dk_square(g, v[0]), c->iparam[0]); }
static dk_var *b_mse(dk_graph *g, dk_var **v, gc_case *c) { return dk_mse(g, v[0], v[1]); }
static dk_var *b_kl(dk_graph *g, dk_var **v, gc_case *c) { return dk_normal_kl(g, v[0], v[1], v[2], v[3]); }
static dk_var *b_dgll(dk_graph *g, dk_var **v, gc_case *c) { return dk_discretized_gaussian_loglik(g, v[0], v[1], v[2]); }
static dk_var *b_layernorm(dk_graph *g, dk_var **v, gc_case *c) {
    return dk_layernorm(g, v[0], c->n_in > 1 ? v[1] : NULL, c->n_in > 2 ? v[2] : NULL, 1e-6);
}
static dk_var *b_rmsnorm(dk_graph *g, dk_var **v, gc_case *c) { return dk_rmsnorm(g, v[0], c->n_in > 1 ? v[1] : NULL, 1e-6); }
static dk_var *b_attention(dk_graph *g, dk_var **v, gc_case *c) { return dk_attention(g, v[0], v[1], v[2], c->dparam); }
static dk_var *b_natten(dk_graph *g, dk_var **v, gc_case *c) {
    return dk_neighborhood_attention(g, v[0], v[1], v[2], c->iparam[0], c->iparam[1], c->iparam[2], c->dparam);
}
static dk_var *b_window(dk_graph *g, dk_var **v, gc_case *c) {
    return dk_window_attention(g, v[0], v[1], v[2], c->iparam[0], c->iparam[1], c->iparam[2], c->iparam[3], c->dparam);
}
static dk_var *b_heads(dk_graph *g, dk_var **v, gc_case *c) {
    dk_var *q = dk_heads_split(g, v[0], 3, 2, 0), *k = dk_heads_split(g, v[0], 3, 2, 1);
    dk_var *vv = dk_heads_split(g, v[0], 3, 2, 2);
    return dk_heads_merge(g, dk_add(g, dk_mul(g, q, k), vv));
}
static dk_var *b_cosine(dk_graph *g, dk_var **v, gc_case *c) { return dk_cosine_sim_scale(g, v[0], v[1], 1e-6); }
static dk_var *b_rope(dk_graph *g, dk_var **v, gc_case *c) { return dk_rope_axial(g, v[0], c->pos, c->freqs); }
static dk_var *b_embedding(dk_graph *g, dk_var **v, gc_case *c) { return dk_embedding(g, v[0], c->labels, (size_t)c->iparam[0]); }
static dk_var *b_timestep(dk_graph *g, dk_var **v, gc_case *c) { return dk_timestep_embedding(g, v[0], c->iparam[0], 10000); }
static dk_var *b_fourier(dk_graph *g, dk_var **v, gc_case *c) { return dk_fourier_features(g, v[0], v[1]); }
static dk_var *b_reshape(dk_graph *g, dk_var **v, gc_case *c) {
    return dk_square(g, dk_reshape(g, v[0], 2, SH(3, 8)));
}
static dk_var *b_permute(dk_graph *g, dk_var **v, gc_case *c) { return dk_permute(g, v[0], (const int[]){2, 0, 3, 1}); }
static dk_var *b_slice(dk_graph *g, dk_var **v, gc_case *c) { return dk_slice_last(g, v[0], 2, 3); }
static dk_var *b_concat(dk_graph *g, dk_var **v, gc_case *c) { return dk_concat_last(g, v, c->n_in); }
static dk_var *b_patchify(dk_graph *g, dk_var **v, gc_case *c) { return dk_patchify(g, v[0], 2, (dk_patch_layout)c->iparam[0]); }
static dk_var *b_unpatchify(dk_graph *g, dk_var **v, gc_case *c) {
    return dk_unpatchify(g, v[0], 4, 6, 2, (dk_patch_layout)c->iparam[0]);
}
static dk_var *b_merge(dk_graph *g, dk_var **v, gc_case *c) { return dk_token_merge(g, v[0], 2, 2); }
static dk_var *b_split(dk_graph *g, dk_var **v, gc_case *c) { return dk_token_split(g, v[0], 2, 2); }

#define CASE(nm, fn, ...) do { gc_case c_ = {.name = nm, __VA_ARGS__}; gradcheck(&c_, fn); } while (0)
#define ALLG .grad = {1, 1, 1, 1, 1}

int main(void) {
    const char *s = getenv("DK_TEST_SEED");
    if (s) seed = strtoull(s, NULL, 10);
    printf("gradcheck seed %llu (set DK_TEST_SEED to change)\n", (unsigned long long)seed);
    dk_rng_init(&rng, seed, 0);

    CASE("linear", b_linear, .n_in = 3, .in = {RND(-1, 1, 2, 3, 4), RND(-1, 1, 5, 4), RND(-1, 1, 5)}, ALLG);
    CASE("linear (no bias)", b_linear, .n_in = 2, .in = {RND(-1, 1, 3, 4), RND(-1, 1, 2, 4)}, ALLG);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            char nm[64];
            snprintf(nm, sizeof nm, "matmul ta=%d tb=%d", ta, tb);
            /* M=3, K=4, N=2, batch 2 */
            dk_tensor *a = ta ? RND(-1, 1, 2, 4, 3) : RND(-1, 1, 2, 3, 4);
            dk_tensor *b = tb ? RND(-1, 1, 2, 2, 4) : RND(-1, 1, 2, 4, 2);
            CASE(nm, b_matmul, .n_in = 2, .in = {a, b}, ALLG, .iparam = {ta, tb});
        }
    CASE("matmul shared b", b_matmul, .n_in = 2, .in = {RND(-1, 1, 2, 3, 4), RND(-1, 1, 4, 2)}, ALLG);
    CASE("add same shape", b_add, .n_in = 2, .in = {RND(-1, 1, 2, 3), RND(-1, 1, 2, 3)}, ALLG);
    CASE("add per-row [B,1,1]", b_add, .n_in = 2, .in = {RND(-1, 1, 2, 3, 4), RND(-1, 1, 2, 1, 1)}, ALLG);
    CASE("add per-feature [D]", b_add, .n_in = 2, .in = {RND(-1, 1, 2, 3, 4), RND(-1, 1, 4)}, ALLG);
    CASE("sub [B,1,D]", b_sub, .n_in = 2, .in = {RND(-1, 1, 2, 3, 4), RND(-1, 1, 2, 1, 4)}, ALLG);
    CASE("mul [B,1,D]", b_mul, .n_in = 2, .in = {RND(-1, 1, 2, 3, 4), RND(-1, 1, 2, 1, 4)}, ALLG);
    CASE("mul [B,T,1]", b_mul, .n_in = 2, .in = {RND(-1, 1, 2, 3, 4), RND(-1, 1, 2, 3, 1)}, ALLG);
    CASE("mul scalar [1]", b_mul, .n_in = 2, .in = {RND(-1, 1, 2, 3), RND(-1, 1, 1)}, ALLG);
    CASE("scale", b_scale, .n_in = 1, .in = {RND(-1, 1, 7)}, ALLG);
    CASE("add_scalar+square", b_add_scalar, .n_in = 1, .in = {RND(-1, 1, 7)}, ALLG);
    CASE("exp", b_exp, .n_in = 1, .in = {RND(-2, 2, 7)}, ALLG);
    CASE("gelu erf", b_gelu, .n_in = 1, .in = {RND(-3, 3, 11)}, ALLG, .iparam = {0});
    CASE("gelu tanh", b_gelu, .n_in = 1, .in = {RND(-3, 3, 11)}, ALLG, .iparam = {1});
    CASE("silu", b_silu, .n_in = 1, .in = {RND(-3, 3, 11)}, ALLG);
    CASE("geglu", b_geglu, .n_in = 1, .in = {RND(-2, 2, 3, 8)}, ALLG);
    CASE("modulate", b_modulate, .n_in = 3, .in = {RND(-1, 1, 2, 3, 4), RND(-1, 1, 2, 4), RND(-1, 1, 2, 4)}, ALLG);
    CASE("modulate (no shift)", b_modulate, .n_in = 2, .in = {RND(-1, 1, 2, 3, 4), RND(-1, 1, 2, 4)}, ALLG);
    CASE("gated_residual", b_gated, .n_in = 3, .in = {RND(-1, 1, 2, 3, 4), RND(-1, 1, 2, 4), RND(-1, 1, 2, 3, 4)}, ALLG);
    CASE("lerp_skip", b_lerp, .n_in = 3, .in = {RND(-1, 1, 2, 5), RND(-1, 1, 2, 5), RND(0, 1, 1)}, ALLG);
    CASE("sum_all", b_sum_all, .n_in = 1, .in = {RND(-1, 1, 2, 3)}, ALLG);
    CASE("mean_all", b_mean_all, .n_in = 1, .in = {RND(-1, 1, 2, 3)}, ALLG);
    CASE("sum_last 2", b_sum_last, .n_in = 1, .in = {RND(-1, 1, 2, 3, 4)}, ALLG, .iparam = {2});
    CASE("mean_last 1", b_mean_last, .n_in = 1, .in = {RND(-1, 1, 2, 3, 4)}, ALLG, .iparam = {1});
    CASE("mse", b_mse, .n_in = 2, .in = {RND(-1, 1, 3, 2, 2), RND(-1, 1, 3, 2, 2)}, ALLG);
    CASE("normal_kl", b_kl, .n_in = 4, .in = {RND(-1, 1, 9), RND(-2, 1, 9), RND(-1, 1, 9), RND(-2, 1, 9)}, ALLG);
    {
        /* x on the 256 bins incl. both edges; means near x, log-scales so no clamp is active */
        dk_tensor *x = RND(-1, 1, 12), *m = RND(-0.02, 0.02, 12), *ls = RND(-4.5, -3, 12);
        dk_f64(x)[0] = -1;
        dk_f64(x)[1] = 1;
        for (size_t i = 0; i < 12; i++) {
            double q = floor((dk_f64(x)[i] + 1) * 127.5 + 0.5) / 127.5 - 1;
            dk_f64(x)[i] = q;
            dk_f64(m)[i] += q;
        }
        CASE("discretized_gaussian_loglik", b_dgll, .n_in = 3, .in = {x, m, ls}, .grad = {0, 1, 1});
    }
    CASE("layernorm affine", b_layernorm, .n_in = 3, .in = {RND(-1, 1, 2, 3, 5), RND(0.5, 1.5, 5), RND(-1, 1, 5)}, ALLG);
    CASE("layernorm plain", b_layernorm, .n_in = 1, .in = {RND(-1, 1, 4, 6)}, ALLG);
    CASE("rmsnorm plain", b_rmsnorm, .n_in = 1, .in = {RND(-1, 1, 4, 6)}, ALLG);
    CASE("rmsnorm per-feature", b_rmsnorm, .n_in = 2, .in = {RND(-1, 1, 2, 3, 6), RND(0.5, 1.5, 6)}, ALLG);
    CASE("rmsnorm per-sample [B,D]", b_rmsnorm, .n_in = 2, .in = {RND(-1, 1, 2, 3, 6), RND(0.5, 1.5, 2, 6)}, ALLG);
    CASE("rmsnorm per-sample [B,1,1,D]", b_rmsnorm, .n_in = 2, .in = {RND(-1, 1, 2, 2, 2, 4), RND(0.5, 1.5, 2, 1, 1, 4)}, ALLG);
    /* D = 70: two column blocks (64 + a ragged 6) in the weight-gradient sums */
    CASE("layernorm affine wide", b_layernorm, .n_in = 3, .in = {RND(-1, 1, 2, 2, 70), RND(0.5, 1.5, 70), RND(-1, 1, 70)}, ALLG);
    CASE("rmsnorm per-sample wide", b_rmsnorm, .n_in = 2, .in = {RND(-1, 1, 2, 2, 70), RND(0.5, 1.5, 2, 70)}, ALLG);
    CASE("attention", b_attention, .n_in = 3, .in = {RND(-1, 1, 2, 2, 5, 3), RND(-1, 1, 2, 2, 4, 3), RND(-1, 1, 2, 2, 4, 2)},
         ALLG, .dparam = 0.8);
    CASE("neighborhood attention 5x6 k3", b_natten, .n_in = 3,
         .in = {RND(-1, 1, 1, 2, 30, 3), RND(-1, 1, 1, 2, 30, 3), RND(-1, 1, 1, 2, 30, 3)}, ALLG, .iparam = {5, 6, 3},
         .dparam = 0.9);
    CASE("window attention 4x4 w2 shift1", b_window, .n_in = 3,
         .in = {RND(-1, 1, 1, 2, 16, 3), RND(-1, 1, 1, 2, 16, 3), RND(-1, 1, 1, 2, 16, 3)}, ALLG, .iparam = {4, 4, 2, 1},
         .dparam = 0.9);
    CASE("window attention 4x6 w2 shift0", b_window, .n_in = 3,
         .in = {RND(-1, 1, 1, 1, 24, 2), RND(-1, 1, 1, 1, 24, 2), RND(-1, 1, 1, 1, 24, 2)}, ALLG, .iparam = {4, 6, 2, 0},
         .dparam = 1.1);
    CASE("heads split/merge", b_heads, .n_in = 1, .in = {RND(-1, 1, 2, 3, 12)}, ALLG);
    CASE("cosine_sim_scale", b_cosine, .n_in = 2, .in = {RND(-1, 1, 2, 2, 3, 4), RND(1, 10, 2)}, ALLG);
    {
        gc_case c = {.name = "rope_axial", .n_in = 1, .in = {RND(-1, 1, 2, 2, 6, 9)}, ALLG};
        c.pos = RND(-1, 1, 6, 2);
        c.freqs = RND(0, 6, 2, 2);
        gradcheck(&c, b_rope);
    }
    CASE("embedding", b_embedding, .n_in = 1, .in = {RND(-1, 1, 4, 3)}, ALLG, .iparam = {5}, .labels = {1, 3, 1, 0, 3});
    CASE("timestep_embedding", b_timestep, .n_in = 1, .in = {RND(0, 3, 3)}, ALLG, .iparam = {9});
    CASE("fourier_features", b_fourier, .n_in = 2, .in = {RND(-1, 1, 2, 3), RND(-1, 1, 4, 3)}, ALLG);
    CASE("reshape", b_reshape, .n_in = 1, .in = {RND(-1, 1, 2, 3, 4)}, ALLG);
    CASE("permute", b_permute, .n_in = 1, .in = {RND(-1, 1, 2, 3, 4, 2)}, ALLG);
    CASE("slice_last", b_slice, .n_in = 1, .in = {RND(-1, 1, 2, 3, 6)}, ALLG);
    CASE("concat_last", b_concat, .n_in = 3, .in = {RND(-1, 1, 2, 3, 2), RND(-1, 1, 2, 3, 1), RND(-1, 1, 2, 3, 4)}, ALLG);
    CASE("patchify CIJ", b_patchify, .n_in = 1, .in = {RND(-1, 1, 2, 3, 4, 6)}, ALLG, .iparam = {0});
    CASE("patchify IJC", b_patchify, .n_in = 1, .in = {RND(-1, 1, 2, 3, 4, 6)}, ALLG, .iparam = {1});
    CASE("unpatchify IJC", b_unpatchify, .n_in = 1, .in = {RND(-1, 1, 2, 6, 12)}, ALLG, .iparam = {1});
    CASE("unpatchify CIJ", b_unpatchify, .n_in = 1, .in = {RND(-1, 1, 1, 6, 8)}, ALLG, .iparam = {0});
    CASE("token_merge", b_merge, .n_in = 1, .in = {RND(-1, 1, 2, 4, 2, 3)}, ALLG);
    CASE("token_split", b_split, .n_in = 1, .in = {RND(-1, 1, 2, 2, 1, 8)}, ALLG);
    return dk_test_finish();
}
