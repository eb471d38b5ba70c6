/* test_samplers_plugins.c: the sampler plugins through the host, on the exact
 * denoiser of a Gaussian (gmm with K = 1, where the probability-flow ODE has
 * the closed form x(sigma) = mu + (x0 - mu) sqrt(s^2 + sigma^2)/sqrt(s^2 + sigma_0^2)):
 *  - ddim with eta = 0 equals euler on the same sigmas (the VE-frame identity),
 *    and ddim with eta > 0 equals euler_ancestral with the same noise;
 *  - the noise draws per sampler (tests/data/golden/FORMAT.md 4.3) with a counting source;
 *  - no noise source: discarded draws are skipped, needed ones are an error;
 *  - bad sigmas are rejected with the sampler named;
 *  - observed orders of convergence at the last non-zero sigma (euler ~1,
 *    heun / dpm_2 / dpmpp_2m ~2, lms and dpm_fast higher);
 *  - the step callback: called once per step, can stop the run;
 *  - brownian noise: a sample's SDE trajectory does not depend on its batch. */
#include "dktest.h"
#include "diffkit/gmm.h"
#include "diffkit/sampling.h"
#include <stdlib.h>
#include <string.h>

static dk_host *host;
static dk_gmm *gauss;
static const double MU[4] = {0.5, -1.0, 2.0, 0.0}, S = 0.5;

typedef struct capture {
    int64_t steps;
    int64_t stop_at;       /* -1: never */
    double last_sigma;
    double x_last[8];      /* x at the top of the last reported step (B = 2, D = 4) */
} capture;

static int on_step(void *ctx, const dk_step_info *info) {
    capture *c = ctx;
    c->steps++;
    c->last_sigma = info->sigma;
    memcpy(c->x_last, info->x->data, info->x->numel * sizeof(double));
    return c->stop_at >= 0 && info->step == c->stop_at;
}

static void karras(int64_t n, double smin, double smax, double *out) {
    for (int64_t i = 0; i < n; i++) {
        double r = n > 1 ? (double)i / (double)(n - 1) : 0.0;
        out[i] = pow(pow(smax, 1 / 7.0) + r * (pow(smin, 1 / 7.0) - pow(smax, 1 / 7.0)), 7.0);
    }
    out[n] = 0.0;
}

/* Run sampler `name` with options kv (name, value, ..., NULL) on x (B=2, D=4). */
static dk_status run(const char *name, const char *const *kv, const double *sigmas, int64_t n_sigmas, dk_tensor *x,
                     dk_noise *noise, capture *cap, dk_error *err) {
    const dk_plugin *p = dk_host_find(host, DK_KIND_SAMPLER, name, err);
    if (!p) return err->code;
    dk_options *o = dk_options_new(p);
    dk_status st = DK_OK;
    for (; kv && *kv && st == DK_OK; kv += 2) st = dk_options_set(o, kv[0], kv[1], err);
    dk_instance *inst = NULL;
    if (st == DK_OK) st = dk_instance_create(p, o, DK_F64, 0, &inst, err);
    if (st == DK_OK) {
        dk_sampler_env env = {.denoise = dk_gmm_denoise_fn, .denoise_ctx = gauss, .noise = noise,
                              .on_step = cap ? on_step : NULL, .step_ctx = cap};
        st = dk_sampler_vt(inst)->sample(inst->self, &env, sigmas, n_sigmas, x, err);
    }
    dk_instance_free(inst);
    dk_options_free(o);
    return st;
}

static dk_tensor *start(double scale) {
    int64_t s[2] = {2, 4};
    dk_tensor *x = dk_tensor_new(DK_F64, 2, s, &dk_test_err);
    const double z[8] = {0.3, -1.2, 0.8, 1.9, -0.4, 0.1, -2.2, 0.6};
    for (int i = 0; i < 8; i++) dk_f64(x)[i] = z[i] * scale;
    return x;
}

static double max_diff(const dk_tensor *a, const dk_tensor *b) {
    double m = 0;
    for (size_t i = 0; i < a->numel; i++) m = fmax(m, fabs(dk_f64(a)[i] - dk_f64(b)[i]));
    return m;
}

static void test_ddim_identities(void) {
    double sig[13];
    karras(12, 0.02, 10.0, sig);
    dk_tensor *a = start(10.0), *b = start(10.0);
    const char *eta0[] = {"eta", "0", NULL};
    DK_CHECK_OK(run("ddim", eta0, sig, 13, a, NULL, NULL, &dk_test_err));
    DK_CHECK_OK(run("euler", NULL, sig, 13, b, NULL, NULL, &dk_test_err));
    DK_CHECK(max_diff(a, b) < 1e-12);
    /* eta = 0.5: the same as euler_ancestral with the same noise */
    dk_tensor *c = start(10.0), *d = start(10.0);
    dk_noise *n1 = dk_noise_iid(9, 0, &dk_test_err), *n2 = dk_noise_iid(9, 0, &dk_test_err);
    const char *eta5[] = {"eta", "0.5", NULL};
    DK_CHECK_OK(run("ddim", eta5, sig, 13, c, n1, NULL, &dk_test_err));
    DK_CHECK_OK(run("euler_ancestral", eta5, sig, 13, d, n2, NULL, &dk_test_err));
    DK_CHECK(max_diff(c, d) < 1e-12);
    DK_CHECK(max_diff(a, c) > 1e-3); /* and the noise did something */
    DK_CHECK(n1->draws == 11 && n2->draws == 11);
    dk_noise_free(n1);
    dk_noise_free(n2);
    dk_tensor_free(a);
    dk_tensor_free(b);
    dk_tensor_free(c);
    dk_tensor_free(d);
}

static void test_noise_counts(void) {
    const int64_t n = 8;
    double sig[9];
    karras(n, 0.02, 10.0, sig);
    struct {
        const char *name;
        const char *kv[5];
        uint64_t draws;
    } cases[] = {
        {"euler", {NULL}, n},
        {"euler", {"s_churn", "1", NULL}, n},
        {"heun", {NULL}, n},
        {"dpm_2", {NULL}, n},
        {"euler_ancestral", {NULL}, n - 1},
        {"euler_ancestral", {"eta", "0", NULL}, n - 1},
        {"dpm_2_ancestral", {NULL}, n - 1},
        {"dpmpp_2s_ancestral", {"eta", "0", NULL}, n - 1},
        {"dpmpp_sde", {NULL}, 2 * (n - 1)},
        {"dpmpp_sde", {"eta", "0", NULL}, 2 * (n - 1)},
        {"dpmpp_2m_sde", {NULL}, n - 1},
        {"dpmpp_2m_sde", {"eta", "0", NULL}, 0},
        {"dpmpp_2m_sde", {"solver_type", "heun", NULL}, n - 1},
        {"dpmpp_3m_sde", {NULL}, n - 1},
        {"dpmpp_3m_sde", {"eta", "0", NULL}, 0},
        {"lms", {NULL}, 0},
        {"dpmpp_2m", {NULL}, 0},
        {"ddim", {NULL}, 0},
        {"dpm_fast", {NULL}, 3},            /* nfe = 8 -> m = 3 steps */
        {"dpm_fast", {"nfe", "10", NULL}, 4},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        dk_tensor *x = start(10.0);
        dk_noise *z = dk_noise_iid(1, 2, &dk_test_err);
        capture cap = {.stop_at = -1};
        dk_status st = run(cases[c].name, cases[c].kv, sig, n + 1, x, z, &cap, &dk_test_err);
        DK_CHECK_OK(st);
        if (z->draws != cases[c].draws)
            dk_test_fail(__FILE__, __LINE__, "%s (case %zu): %llu draws, expected %llu", cases[c].name, c,
                         (unsigned long long)z->draws, (unsigned long long)cases[c].draws);
        int adaptive_like = strcmp(cases[c].name, "dpm_fast") == 0;
        DK_CHECK(adaptive_like || cap.steps == n);
        for (int i = 0; i < 8; i++) DK_CHECK(isfinite(dk_f64(x)[i]));
        dk_noise_free(z);
        dk_tensor_free(x);
    }
}

static void test_no_noise_source(void) {
    double sig[7];
    karras(6, 0.02, 10.0, sig);
    dk_tensor *x = start(10.0);
    const char *eta0[] = {"eta", "0", NULL};
    DK_CHECK_OK(run("euler_ancestral", eta0, sig, 7, x, NULL, NULL, &dk_test_err));
    dk_error e;
    DK_CHECK(run("euler_ancestral", NULL, sig, 7, x, NULL, NULL, &e) == DK_EINVAL);
    DK_CHECK(strstr(e.msg, "euler_ancestral") && strstr(e.msg, "eta > 0"));
    const char *churn[] = {"s_churn", "2", NULL};
    DK_CHECK(run("heun", churn, sig, 7, x, NULL, NULL, &e) == DK_EINVAL);
    DK_CHECK(strstr(e.msg, "s_churn"));
    DK_CHECK_OK(run("dpm_adaptive", NULL, sig, 7, x, NULL, NULL, &dk_test_err));
    dk_tensor_free(x);
}

static void test_bad_sigmas(void) {
    dk_tensor *x = start(1.0);
    dk_error e;
    const double up[4] = {1.0, 2.0, 0.5, 0.0}, nozero[3] = {2.0, 1.0, 0.5}, one[1] = {1.0};
    DK_CHECK(run("euler", NULL, up, 4, x, NULL, NULL, &e) == DK_EINVAL && strstr(e.msg, "descending"));
    DK_CHECK(run("dpmpp_2m", NULL, nozero, 3, x, NULL, NULL, &e) == DK_EINVAL && strstr(e.msg, "last sigma must be 0"));
    DK_CHECK(run("lms", NULL, one, 1, x, NULL, NULL, &e) == DK_EINVAL && strstr(e.msg, "lms"));
    const double zmax[3] = {0.0, 0.0, 0.0};
    DK_CHECK(run("dpm_fast", NULL, zmax, 3, x, NULL, NULL, &e) == DK_EINVAL && strstr(e.msg, "sigma_min"));
    dk_tensor_free(x);
}

/* max |x(sigma_min) - exact| over both samples after n steps from smax to smin */
static double ode_error(const char *name, const char *const *kv, int64_t n) {
    const double smin = 0.05, smax = 10.0;
    double *sig = malloc((size_t)(n + 2) * sizeof *sig);
    karras(n + 1, smin, smax, sig); /* n steps reach smin, one more goes to 0 */
    sig[n] = smin;                  /* exactly (pow may round) */
    dk_tensor *x = start(smax);
    capture cap = {.stop_at = n}; /* stop at the top of step n: x(smin) */
    dk_status st = run(name, kv, sig, n + 2, x, NULL, &cap, &dk_test_err);
    DK_CHECK_OK(st);
    DK_CHECK(cap.last_sigma == smin);
    double err = 0, f = sqrt(S * S + smin * smin) / sqrt(S * S + smax * smax);
    dk_tensor *x0 = start(smax);
    for (int i = 0; i < 8; i++) {
        double exact = MU[i % 4] + (dk_f64(x0)[i] - MU[i % 4]) * f;
        err = fmax(err, fabs(cap.x_last[i] - exact));
    }
    dk_tensor_free(x0);
    dk_tensor_free(x);
    free(sig);
    return err;
}

static void test_orders(void) {
    struct {
        const char *name;
        double lo, hi;
    } cases[] = {
        {"euler", 0.8, 1.3}, {"heun", 1.7, 2.6}, {"dpm_2", 1.7, 2.6}, {"dpmpp_2m", 1.7, 2.6}, {"lms", 2.5, 5.0},
        {"ddim", 0.8, 1.3},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        double e1 = ode_error(cases[c].name, NULL, 16), e2 = ode_error(cases[c].name, NULL, 32);
        double p = log2(e1 / e2);
        printf("  %-10s error(16) %.3e  error(32) %.3e  observed order %.2f\n", cases[c].name, e1, e2, p);
        if (!(p >= cases[c].lo && p <= cases[c].hi))
            dk_test_fail(__FILE__, __LINE__, "%s: observed order %.3f outside [%.1f, %.1f]", cases[c].name, p,
                         cases[c].lo, cases[c].hi);
    }
}

static void test_stop(void) {
    double sig[9];
    karras(8, 0.02, 10.0, sig);
    dk_tensor *x = start(10.0);
    capture cap = {.stop_at = 2};
    DK_CHECK_OK(run("euler", NULL, sig, 9, x, NULL, &cap, &dk_test_err));
    DK_CHECK(cap.steps == 3);
    dk_tensor_free(x);
}

static void test_brownian_batch(void) {
    double sig[11];
    karras(10, 0.02, 10.0, sig);
    uint64_t both[2] = {5, 9}, only[1] = {9};
    dk_tensor *x2 = start(10.0);
    int64_t s1[2] = {1, 4};
    dk_tensor *x1 = dk_tensor_new(DK_F64, 2, s1, &dk_test_err);
    memcpy(x1->data, dk_f64(x2) + 4, 4 * sizeof(double));
    dk_noise *n2 = dk_noise_brownian(both, 2, 0.02, 10.0, &dk_test_err);
    dk_noise *n1 = dk_noise_brownian(only, 1, 0.02, 10.0, &dk_test_err);
    const char *kv[] = {"eta", "1", NULL};
    DK_CHECK_OK(run("dpmpp_2m_sde", kv, sig, 11, x2, n2, NULL, &dk_test_err));
    DK_CHECK_OK(run("dpmpp_2m_sde", kv, sig, 11, x1, n1, NULL, &dk_test_err));
    for (int j = 0; j < 4; j++) DK_CHECK(dk_f64(x1)[j] == dk_f64(x2)[4 + j]);
    DK_CHECK_OK(run("dpmpp_sde", kv, sig, 11, x2, n2, NULL, &dk_test_err)); /* half steps inside the range */
    dk_noise_free(n1);
    dk_noise_free(n2);
    dk_tensor_free(x1);
    dk_tensor_free(x2);
}

static void test_lms_coeffs(void) {
    /* sum of the Lagrange weights = the step; exact for polynomial derivatives */
    const double sg[6] = {10.0, 6.0, 3.5, 1.7, 0.6, 0.0};
    double c[4];
    for (int64_t i = 3; i < 5; i++) {
        DK_CHECK_OK(dk_lms_coeffs(sg, i, 4, c, &dk_test_err));
        DK_CHECK_NEAR(c[0] + c[1] + c[2] + c[3], sg[i + 1] - sg[i], 1e-13, 1e-13);
        /* d(tau) = tau^3: the integral is exact */
        double q = 0;
        for (int j = 0; j < 4; j++) q += c[j] * pow(sg[i - j], 3);
        double want = (pow(sg[i + 1], 4) - pow(sg[i], 4)) / 4;
        DK_CHECK_NEAR(q, want, 1e-12, 1e-12);
    }
    dk_error e;
    DK_CHECK(dk_lms_coeffs(sg, 1, 4, c, &e) == DK_EINVAL);
}

int main(void) {
    host = dk_host_new(&dk_test_err);
    dk_gmm *g = dk_gmm_new(1, 4, MU, &S, &(double){1.0}, &dk_test_err);
    gauss = g;
    DK_CHECK(host && g);
    if (!host || !g) return dk_test_finish();
    test_lms_coeffs();
    test_ddim_identities();
    test_noise_counts();
    test_no_noise_source();
    test_bad_sigmas();
    test_orders();
    test_stop();
    test_brownian_batch();
    dk_gmm_free(g);
    dk_host_free(host);
    return dk_test_finish();
}
