/* test_dit_precond.c: the `ddpm_learned_var` preconditioner (DiT's R1
 * objective) against an independent direct computation in the VP frame,
 * written here from DiT's gaussian_diffusion.py formulas:
 *  - scalings: c_skip 1, c_out -sigma, c_in 1/sqrt(sigma^2+1), c_noise the
 *    integer timestep of a table sigma;
 *  - per-sample loss = mse(eps) + vb (KL in bits, t > 0; discretised
 *    Gaussian NLL in bits, t = 0) at t = 0, 1, 2, 500, 999;
 *  - KL of identical Gaussians is 0: eps_hat = the true noise and v = -1
 *    (model variance = the true posterior variance) give loss 0 for t > 0;
 *  - stop-gradient: d loss / d eps_hat is exactly the MSE gradient
 *    2 (eps_hat - n) / (C H W), and d loss / d v matches finite differences of
 *    the direct computation;
 *  - the denoised slot splits [eps | v] into x - sigma eps and aux = v. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "dktest.h"
#include "diffkit/ops.h"

#define T_STEPS 1000
#define B 5
#define C 2
#define HW 3
#define P (C * HW * HW)

static dk_host *host;
static double betas[T_STEPS], abar[T_STEPS];

/* Direct tables: DiT linear betas np.linspace(1e-4, 0.02, 1000), float64. */
static void tables(void) {
    double prod = 1.0;
    for (int i = 0; i < T_STEPS; i++) {
        betas[i] = 1e-4 + (0.02 - 1e-4) * i / (T_STEPS - 1);
        prod *= 1.0 - betas[i];
        abar[i] = prod;
    }
}

static double post_var(int t) {
    double ap = t > 0 ? abar[t - 1] : 1.0;
    return betas[t] * (1.0 - ap) / (1.0 - abar[t]);
}

/* guided-diffusion approx_standard_normal_cdf */
static double approx_cdf(double x) { return 0.5 * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x))); }

static double disc_loglik(double x, double mean, double log_scale) {
    double cx = x - mean, inv = exp(-log_scale);
    double cdf_plus = approx_cdf(inv * (cx + 1.0 / 255.0)), cdf_min = approx_cdf(inv * (cx - 1.0 / 255.0));
    double lp = log(fmax(cdf_plus, 1e-12)), lm = log(fmax(1.0 - cdf_min, 1e-12)), ld = log(fmax(cdf_plus - cdf_min, 1e-12));
    return x < -0.999 ? lp : (x > 0.999 ? lm : ld);
}

/* DiT training_losses for one sample: x0, noise, model output (eps, v) at t. */
static double direct_loss(int t, const double *x0, const double *nz, const double *eps, const double *v) {
    const double a = abar[t], ap = t > 0 ? abar[t - 1] : 1.0, be = betas[t];
    const double c1 = be * sqrt(ap) / (1.0 - a), c2 = (1.0 - ap) * sqrt(1.0 - be) / (1.0 - a);
    const double lpc = log(t == 0 ? post_var(1) : post_var(t)), lb = log(be);
    double mse = 0, vb = 0;
    for (int i = 0; i < P; i++) {
        double xt = sqrt(a) * x0[i] + sqrt(1.0 - a) * nz[i];           /* q_sample */
        double px0 = sqrt(1.0 / a) * xt - sqrt(1.0 / a - 1.0) * eps[i]; /* _predict_xstart_from_eps */
        double mq = c1 * x0[i] + c2 * xt, mp = c1 * px0 + c2 * xt;
        double frac = (v[i] + 1.0) / 2.0, lv = frac * lb + (1.0 - frac) * lpc;
        mse += (eps[i] - nz[i]) * (eps[i] - nz[i]);
        if (t > 0)
            vb += 0.5 * (-1.0 + lv - lpc + exp(lpc - lv) + (mq - mp) * (mq - mp) * exp(-lv));
        else
            vb += -disc_loglik(x0[i], mp, 0.5 * lv);
    }
    return mse / P + vb / P / log(2.0);
}

static dk_instance *make_precond(void) {
    const dk_plugin *p = dk_host_find(host, DK_KIND_PRECOND, "ddpm_learned_var", &dk_test_err);
    dk_instance *inst = NULL;
    if (p) dk_instance_create(p, NULL, DK_F64, 0, &inst, &dk_test_err);
    return inst;
}

typedef struct lcase {
    int t[B];
    double sigma[B], c_skip[B], c_out[B], c_in[B], c_noise[B];
    dk_tensor *x, *noise, *y, *out; /* out: [B, 2C, HW, HW] */
} lcase;

static void lcase_fill(lcase *c, dk_instance *pc, uint64_t seed, int exact) {
    static const int ts[B] = {0, 1, 2, 500, 999};
    int64_t xs[4] = {B, C, HW, HW}, os[4] = {B, 2 * C, HW, HW};
    c->x = dk_tensor_new(DK_F64, 4, xs, NULL);
    c->noise = dk_tensor_new(DK_F64, 4, xs, NULL);
    c->y = dk_tensor_new(DK_F64, 4, xs, NULL);
    c->out = dk_tensor_new(DK_F64, 4, os, NULL);
    dk_rng r;
    dk_rng_init(&r, seed, 0);
    for (int b = 0; b < B; b++) {
        c->t[b] = ts[b];
        c->sigma[b] = sqrt((1.0 - abar[ts[b]]) / abar[ts[b]]);
    }
    DK_CHECK_OK(dk_precond_vt(pc)->scalings(pc->self, B, c->sigma, c->c_skip, c->c_out, c->c_in, c->c_noise, &dk_test_err));
    for (size_t i = 0; i < c->x->numel; i++) {
        /* 8-bit data in [-1, 1] including both end bins */
        int k = (int)dk_rng_below(&r, 256);
        if (i % 7 == 0) k = 0;
        if (i % 11 == 0) k = 255;
        dk_f64(c->x)[i] = k / 127.5 - 1.0;
        dk_f64(c->noise)[i] = dk_rng_normal(&r);
    }
    for (int b = 0; b < B; b++)
        for (int i = 0; i < P; i++) {
            size_t k = (size_t)b * P + (size_t)i, ko = (size_t)b * 2 * P + (size_t)i;
            dk_f64(c->y)[k] = dk_f64(c->x)[k] + c->sigma[b] * dk_f64(c->noise)[k];
            dk_f64(c->out)[ko] = dk_f64(c->noise)[k] + (exact ? 0.0 : 0.3 * dk_rng_normal(&r));
            dk_f64(c->out)[ko + P] = exact ? -1.0 : 2.0 * dk_rng_uniform(&r) - 1.0;
        }
}

static void lcase_free(lcase *c) {
    dk_tensor_free(c->x);
    dk_tensor_free(c->noise);
    dk_tensor_free(c->y);
    dk_tensor_free(c->out);
}

/* loss var of the plugin; *mo = the model-output var (requires grad) */
static dk_var *plugin_loss(dk_instance *pc, dk_graph *g, lcase *c, dk_var **mo) {
    dk_precond_loss_args a = {0};
    a.model_out = *mo = dk_graph_input(g, c->out, 1);
    a.x = c->x;
    a.noise = c->noise;
    a.y = c->y;
    a.sigma = c->sigma;
    a.c_skip = c->c_skip;
    a.c_out = c->c_out;
    a.c_in = c->c_in;
    a.c_noise = c->c_noise;
    a.batch = B;
    dk_var *l = dk_precond_vt(pc)->loss(pc->self, g, &a);
    if (dk_graph_status(g, &dk_test_err) != DK_OK) dk_test_fail(__FILE__, __LINE__, "loss: %s", dk_test_err.msg);
    return l;
}

static double direct_of(lcase *c, int b) {
    const double *o = dk_f64(c->out) + (size_t)b * 2 * P;
    return direct_loss(c->t[b], dk_f64(c->x) + (size_t)b * P, dk_f64(c->noise) + (size_t)b * P, o, o + P);
}

static void test_scalings(dk_instance *pc) {
    lcase c;
    lcase_fill(&c, pc, 1, 0);
    for (int b = 0; b < B; b++) {
        DK_CHECK(c.c_noise[b] == (double)c.t[b]);
        DK_CHECK(c.c_skip[b] == 1.0);
        DK_CHECK(c.c_out[b] == -c.sigma[b]);
        DK_CHECK_NEAR(c.c_in[b], sqrt(abar[c.t[b]]), 0, 1e-14);
    }
    DK_CHECK(dk_precond_vt(pc)->out_channel_factor(pc->self) == 2);
    lcase_free(&c);
}

static void test_loss_matches_direct(dk_instance *pc) {
    lcase c;
    lcase_fill(&c, pc, 2, 0);
    dk_graph *g = dk_graph_new();
    dk_var *mo = NULL, *l = plugin_loss(pc, g, &c, &mo);
    DK_CHECK(l && l->value->numel == B);
    for (int b = 0; l && b < B; b++) {
        double want = direct_of(&c, b);
        DK_CHECK_NEAR(dk_f64(l->value)[b], want, 1e-12, 1e-9);
        DK_CHECK(want > 0.05); /* a real value, not a vacuous 0 */
    }
    /* gradients: eps part = MSE gradient only (mean stop-gradiented in vb) */
    if (l) {
        dk_var *s = dk_sum_all(g, l);
        DK_CHECK_OK(dk_graph_backward(g, s, &dk_test_err));
        DK_CHECK(mo->grad != NULL);
        double worst_v = 0;
        for (int b = 0; mo->grad && b < B; b++) {
            for (int i = 0; i < P; i++) {
                size_t ko = (size_t)b * 2 * P + (size_t)i;
                double e = dk_f64(c.out)[ko], n = dk_f64(c.noise)[(size_t)b * P + (size_t)i];
                DK_CHECK_NEAR(dk_f64(mo->grad)[ko], 2.0 * (e - n) / P, 1e-14, 1e-10);
            }
            /* d/dv by central differences of the direct loss */
            for (int i = 0; i < P; i += 5) {
                size_t kv = (size_t)b * 2 * P + P + (size_t)i;
                double v0 = dk_f64(c.out)[kv], h = 1e-6;
                dk_f64(c.out)[kv] = v0 + h;
                double lp = direct_of(&c, b);
                dk_f64(c.out)[kv] = v0 - h;
                double lm = direct_of(&c, b);
                dk_f64(c.out)[kv] = v0;
                double fd = (lp - lm) / (2 * h);
                DK_CHECK_NEAR(dk_f64(mo->grad)[kv], fd, 1e-8, 1e-6);
                worst_v = fmax(worst_v, fabs(fd));
            }
        }
        DK_CHECK(worst_v > 1e-4); /* the variance channel does get a gradient */
    }
    dk_graph_free(g);
    lcase_free(&c);
}

static void test_identical_gaussians(dk_instance *pc) {
    lcase c;
    lcase_fill(&c, pc, 3, 1); /* eps_hat = noise, v = -1 */
    dk_graph *g = dk_graph_new();
    dk_var *mo = NULL, *l = plugin_loss(pc, g, &c, &mo);
    for (int b = 1; l && b < B; b++) DK_CHECK_NEAR(dk_f64(l->value)[b], 0.0, 1e-9, 0); /* KL(q || q) = 0 */
    /* t = 0: the decoder NLL of x0 under N(x0, post_var(1)), positive */
    if (l) {
        DK_CHECK(dk_f64(l->value)[0] > 0.0);
        DK_CHECK_NEAR(dk_f64(l->value)[0], direct_of(&c, 0), 1e-12, 1e-9);
    }
    dk_graph_free(g);
    lcase_free(&c);
}

static void test_denoised_split(dk_instance *pc) {
    lcase c;
    lcase_fill(&c, pc, 4, 0);
    int64_t xs[4] = {B, C, HW, HW};
    dk_tensor *den = dk_tensor_new(DK_F64, 4, xs, NULL), *aux = dk_tensor_new(DK_F64, 4, xs, NULL);
    DK_CHECK_OK(dk_precond_vt(pc)->denoised(pc->self, c.y, c.out, c.sigma, den, aux, &dk_test_err));
    for (int b = 0; b < B; b++)
        for (int i = 0; i < P; i++) {
            size_t k = (size_t)b * P + (size_t)i, ko = (size_t)b * 2 * P + (size_t)i;
            DK_CHECK_NEAR(dk_f64(den)[k], dk_f64(c.y)[k] - c.sigma[b] * dk_f64(c.out)[ko], 1e-12, 1e-14);
            DK_CHECK(dk_f64(aux)[k] == dk_f64(c.out)[ko + P]);
        }
    /* a model without the variance channels is refused with a hint */
    DK_CHECK_STATUS(dk_precond_vt(pc)->denoised(pc->self, c.y, c.y, c.sigma, den, aux, &dk_test_err), DK_ESHAPE);
    DK_CHECK(strstr(dk_test_err.msg, "learn_sigma") != NULL);
    dk_tensor_free(den);
    dk_tensor_free(aux);
    lcase_free(&c);
}

int main(void) {
    tables();
    if (!(host = dk_host_new(&dk_test_err))) return 1;
    dk_instance *pc = make_precond();
    DK_CHECK(pc != NULL);
    if (pc) {
        test_scalings(pc);
        test_loss_matches_direct(pc);
        test_identical_gaussians(pc);
        test_denoised_split(pc);
        dk_instance_free(pc);
    }
    dk_host_free(host);
    return dk_test_finish();
}
