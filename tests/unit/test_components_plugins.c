/* test_components_plugins.c: the schedule, density and preconditioner
 * plugins through the host (dk_host_find / dk_options_set /
 * dk_instance_create): values, stratified draws, and bad input (n < 1,
 * sigma_min <= 0, sigma_min >= sigma_max, respacing mismatch, a replay that
 * runs out, a weight function that errors or returns NaN), each with a
 * message naming the plugin and the option. */
#include <stdlib.h>
#include <string.h>
#include "dktest.h"
#include "diffkit/ddpm.h"
#include "diffkit/draws.h"

#define CHECK_MSG(substr) do { dk_test_checks++; if (!strstr(dk_test_err.msg, substr)) \
    dk_test_fail(__FILE__, __LINE__, "message '%s' lacks '%s'", dk_test_err.msg, substr); } while (0)

static dk_host *host;

/* Instance of kind/name with "key", "value" pairs; NULL + dk_test_err on error. */
static dk_instance *make(dk_plugin_kind kind, const char *name, const char *const *kv) {
    const dk_plugin *p = dk_host_find(host, kind, name, &dk_test_err);
    dk_instance *inst = NULL;
    if (!p) return NULL;
    dk_options *o = dk_options_new(p);
    for (; kv && kv[0]; kv += 2)
        if (dk_options_set(o, kv[0], kv[1], &dk_test_err) != DK_OK) {
            dk_options_free(o);
            return NULL;
        }
    dk_instance_create(p, o, DK_F64, 0, &inst, &dk_test_err);
    dk_options_free(o);
    return inst;
}

static void test_sampling_schedules(void) {
    double s[32];
    const char *kv[] = {"sigma_min", "0.01", "sigma_max", "10", NULL};
    dk_instance *k = make(DK_KIND_SCHEDULE, "karras", kv);
    DK_CHECK(k != NULL);
    if (!k) return;
    /* n = 1: [sigma_max, 0] (torch.linspace(0, 1, 1) = [0]) */
    DK_CHECK_OK(dk_schedule_vt(k)->sigmas(k->self, 1, s, &dk_test_err));
    DK_CHECK_NEAR(s[0], 10.0, 0, 1e-15);
    DK_CHECK(s[1] == 0.0);
    /* n = 5: ends at sigma_min, rho-spaced in between (Karras eq. 5) */
    DK_CHECK_OK(dk_schedule_vt(k)->sigmas(k->self, 5, s, &dk_test_err));
    DK_CHECK_NEAR(s[4], 0.01, 0, 1e-14);
    double mid = pow(pow(10.0, 1 / 7.0) + 0.5 * (pow(0.01, 1 / 7.0) - pow(10.0, 1 / 7.0)), 7.0);
    DK_CHECK_NEAR(s[2], mid, 0, 1e-14);
    DK_CHECK(s[5] == 0.0);
    DK_CHECK_STATUS(dk_schedule_vt(k)->sigmas(k->self, 0, s, &dk_test_err), DK_EINVAL);
    CHECK_MSG("karras");
    CHECK_MSG("n must be >= 1");
    dk_instance_free(k);

    /* exponential is geometric; polyexponential with rho = 1 equals it */
    dk_instance *e = make(DK_KIND_SCHEDULE, "exponential", kv);
    dk_instance *pe = make(DK_KIND_SCHEDULE, "polyexponential", kv);
    double t[32];
    DK_CHECK(e && pe);
    if (e && pe) {
        DK_CHECK_OK(dk_schedule_vt(e)->sigmas(e->self, 4, s, &dk_test_err));
        DK_CHECK_OK(dk_schedule_vt(pe)->sigmas(pe->self, 4, t, &dk_test_err));
        DK_CHECK_NEAR(s[1], 10.0 * pow(0.001, 1.0 / 3.0), 0, 1e-14);
        for (int i = 0; i < 5; i++) DK_CHECK_NEAR(s[i], t[i], 1e-300, 1e-14);
    }
    dk_instance_free(e);
    dk_instance_free(pe);

    /* vp: t = 1 gives sqrt(exp(beta_d/2 + beta_min) - 1) */
    dk_instance *vp = make(DK_KIND_SCHEDULE, "vp", NULL);
    DK_CHECK(vp != NULL);
    if (vp) {
        DK_CHECK_OK(dk_schedule_vt(vp)->sigmas(vp->self, 3, s, &dk_test_err));
        DK_CHECK_NEAR(s[0], sqrt(exp(19.9 / 2 + 0.1) - 1), 0, 1e-14);
        DK_CHECK(s[0] > s[1] && s[1] > s[2] && s[3] == 0.0);
    }
    dk_instance_free(vp);

    /* ddpm: plain get_sigmas, and respacing 250 of 1000 */
    dk_instance *d = make(DK_KIND_SCHEDULE, "ddpm", NULL);
    DK_CHECK(d != NULL);
    if (d) {
        DK_CHECK_OK(dk_schedule_vt(d)->sigmas(d->self, 2, s, &dk_test_err));
        DK_CHECK_NEAR(s[0], 157.4073, 0, 1e-6);
        DK_CHECK(s[2] == 0.0);
    }
    dk_instance_free(d);
    const char *kvr[] = {"respacing", "250", NULL};
    d = make(DK_KIND_SCHEDULE, "ddpm", kvr);
    DK_CHECK(d != NULL);
    if (d) {
        double *r = malloc(251 * sizeof(double));
        dk_ddpm base;
        DK_CHECK_OK(dk_ddpm_init(&base, "linear", 1000, NULL, &dk_test_err));
        DK_CHECK_OK(dk_schedule_vt(d)->sigmas(d->self, 250, r, &dk_test_err));
        DK_CHECK(r[250] == 0.0);
        DK_CHECK_NEAR(r[0], base.sigmas[999], 0, 1e-12);  /* kept steps 999, 995, ..., 4, 0 */
        DK_CHECK_NEAR(r[1], base.sigmas[995], 0, 1e-12);
        DK_CHECK_NEAR(r[248], base.sigmas[4], 0, 1e-12);
        DK_CHECK_NEAR(r[249], base.sigmas[0], 0, 1e-12);
        DK_CHECK_STATUS(dk_schedule_vt(d)->sigmas(d->self, 50, r, &dk_test_err), DK_EINVAL);
        CHECK_MSG("respacing");
        dk_ddpm_free(&base);
        free(r);
    }
    dk_instance_free(d);
}

static void test_bad_options(void) {
    /* sigma_min >= sigma_max: create() names both options */
    const char *swap[] = {"sigma_min", "10", "sigma_max", "1", NULL};
    DK_CHECK(make(DK_KIND_SCHEDULE, "karras", swap) == NULL);
    CHECK_MSG("karras");
    CHECK_MSG("sigma_min");
    CHECK_MSG("sigma_max");
    /* sigma_min <= 0: the option range rejects it, naming the option */
    const char *zero[] = {"sigma_min", "0", NULL};
    DK_CHECK(make(DK_KIND_SCHEDULE, "exponential", zero) == NULL);
    CHECK_MSG("sigma_min");
    const char *neg[] = {"min_value", "-1", NULL};
    DK_CHECK(make(DK_KIND_SCHEDULE, "loguniform", neg) == NULL);
    CHECK_MSG("min_value");
    const char *unknown[] = {"sigma_mix", "1", NULL};
    DK_CHECK(make(DK_KIND_SCHEDULE, "karras", unknown) == NULL);
    CHECK_MSG("sigma_mix");
    const char *resp[] = {"respacing", "2000", NULL};
    DK_CHECK(make(DK_KIND_SCHEDULE, "ddpm", resp) == NULL);
    CHECK_MSG("ddpm");
    CHECK_MSG("2000");
    /* cosine-interpolated needs image_d */
    DK_CHECK(make(DK_KIND_SCHEDULE, "cosine-interpolated", NULL) == NULL);
    CHECK_MSG("image_d");
    const char *wf[] = {"weighting", "function", NULL};
    DK_CHECK(make(DK_KIND_PRECOND, "edm", wf) == NULL);
    CHECK_MSG("weight_fn");
}

static void test_densities(void) {
    /* stratified draws: G groups of n = 8 put one draw in each of the 8*G
     * interleaved strata [k/(8G), (k+1)/(8G)) */
    dk_rng rng;
    dk_draws_src src;
    const int G = 3, n = 8;
    int hit[24] = {0};
    dk_rng_init(&rng, 1234, 7);
    dk_draws_init_rng(&src, &rng);
    for (int g = 0; g < G; g++) {
        double u[8];
        DK_CHECK_OK(dk_draws_set_stratified(&src, g, G, &dk_test_err));
        DK_CHECK_OK(src.base.uniform(&src.base, n, u, &dk_test_err));
        for (int i = 0; i < n; i++) {
            int k = (int)floor(u[i] * n * G);
            DK_CHECK(k == g + i * G);
            if (k >= 0 && k < 24) hit[k]++;
        }
    }
    for (int k = 0; k < 24; k++) DK_CHECK(hit[k] == 1);
    DK_CHECK_STATUS(dk_draws_set_stratified(&src, 3, 3, &dk_test_err), DK_EINVAL);

    /* loguniform from a replay: exact values; running out is DK_ESTATE */
    const double us[4] = {0.0, 0.5, 0.25, 1.0};
    const char *kv[] = {"min_value", "0.01", "max_value", "100", NULL};
    dk_instance *lu = make(DK_KIND_SCHEDULE, "loguniform", kv);
    DK_CHECK(lu != NULL);
    if (lu) {
        double out[4];
        dk_draws_init_replay(&src, us, 4, NULL, 0);
        DK_CHECK_OK(dk_schedule_vt(lu)->density(lu->self, 4, &src.base, out, &dk_test_err));
        DK_CHECK_NEAR(out[0], 0.01, 0, 1e-14);
        DK_CHECK_NEAR(out[1], 1.0, 1e-15, 1e-14);
        DK_CHECK_NEAR(out[2], 0.1, 0, 1e-14);
        DK_CHECK_NEAR(out[3], 100.0, 0, 1e-14);
        DK_CHECK_STATUS(dk_schedule_vt(lu)->density(lu->self, 1, &src.base, out, &dk_test_err), DK_ESTATE);
        CHECK_MSG("loguniform");
        CHECK_MSG("uniforms");
    }
    dk_instance_free(lu);

    /* lognormal median exp(loc) at u = 0.5 (loc, scale rounded to float32) */
    dk_instance *ln = make(DK_KIND_SCHEDULE, "lognormal", NULL);
    if (ln) {
        double half = 0.5, out;
        dk_draws_init_replay(&src, &half, 1, NULL, 0);
        DK_CHECK_OK(dk_schedule_vt(ln)->density(ln->self, 1, &src.base, &out, &dk_test_err));
        DK_CHECK_NEAR(out, exp((double)-1.2f), 0, 1e-15);
    }
    dk_instance_free(ln);

    /* cosine-interpolated reference values of k-diffusion `utils.rand_cosine_interpolated` (image_d 128, sd 0.5) */
    const char *ci[] = {"image_d", "128", "noise_d_low", "32", "sigma_data", "0.5", NULL};
    dk_instance *c = make(DK_KIND_SCHEDULE, "cosine-interpolated", ci);
    DK_CHECK(c != NULL);
    if (c) {
        const double cu[5] = {0.1, 0.25, 0.5, 0.75, 0.9};
        const double want[5] = {10.880, 3.4046, 1.0000, 0.29372, 0.091910};
        double out[5];
        dk_draws_init_replay(&src, cu, 5, NULL, 0);
        DK_CHECK_OK(dk_schedule_vt(c)->density(c->self, 5, &src.base, out, &dk_test_err));
        for (int i = 0; i < 5; i++) DK_CHECK_NEAR(out[i], want[i], 0, 1e-4);
    }
    dk_instance_free(c);

    /* ddpm-uniform-t: u in [j/T, (j+1)/T) gives sigma_j exactly */
    dk_instance *ut = make(DK_KIND_SCHEDULE, "ddpm-uniform-t", NULL);
    DK_CHECK(ut != NULL);
    if (ut) {
        dk_ddpm base;
        DK_CHECK_OK(dk_ddpm_init(&base, "linear", 1000, NULL, &dk_test_err));
        const double tu[3] = {0.0, 0.0125, 0.99999};
        double out[3];
        dk_draws_init_replay(&src, tu, 3, NULL, 0);
        DK_CHECK_OK(dk_schedule_vt(ut)->density(ut->self, 3, &src.base, out, &dk_test_err));
        DK_CHECK(out[0] == base.sigmas[0] && out[1] == base.sigmas[12] && out[2] == base.sigmas[999]);
        dk_ddpm_free(&base);
    }
    dk_instance_free(ut);
}

static int nan_calls;
static dk_status fn_nan(void *ctx, size_t n, const double *in, double *out, dk_error *err) {
    nan_calls++;
    for (size_t i = 0; i < n; i++) out[i] = i == 1 ? NAN : 1.0;
    return DK_OK;
}
static dk_status fn_fail(void *ctx, size_t n, const double *in, double *out, dk_error *err) {
    return dk_error_set(err, DK_EINVAL, "script.lua:3: attempt to call a nil value");
}
static dk_status fn_inv(void *ctx, size_t n, const double *in, double *out, dk_error *err) {
    for (size_t i = 0; i < n; i++) out[i] = 1.0 / (1.0 + in[i]);
    return DK_OK;
}

static dk_instance *edm_with_fn(dk_status (*call)(void *, size_t, const double *, double *, dk_error *)) {
    const dk_plugin *p = dk_host_find(host, DK_KIND_PRECOND, "edm", &dk_test_err);
    dk_instance *inst = NULL;
    if (!p) return NULL;
    dk_options *o = dk_options_new(p);
    dk_opt_fn fn = {call, NULL};
    DK_CHECK_OK(dk_options_set(o, "weighting", "function", &dk_test_err));
    DK_CHECK_OK(dk_options_set_fn(o, "weight_fn", fn, &dk_test_err));
    DK_CHECK_OK(dk_instance_create(p, o, DK_F64, 0, &inst, &dk_test_err));
    dk_options_free(o);
    return inst;
}

static void test_preconds(void) {
    const double sg[3] = {0.1, 0.5, 2.0};
    double w[3], cs[3], co[3], ci[3], cn[3];
    /* min-snr: min(1/sigma^2, gamma) c_out^2 in F space */
    const char *ms[] = {"weighting", "min-snr", "gamma", "5", NULL};
    dk_instance *e = make(DK_KIND_PRECOND, "edm", ms);
    DK_CHECK(e != NULL);
    if (e) {
        DK_CHECK_OK(dk_precond_vt(e)->weight(e->self, 3, sg, w, &dk_test_err));
        DK_CHECK_OK(dk_precond_vt(e)->scalings(e->self, 3, sg, cs, co, ci, cn, &dk_test_err));
        DK_CHECK_NEAR(w[0], 5.0 * co[0] * co[0], 0, 1e-14);          /* 1/0.01 = 100 > 5: capped */
        DK_CHECK_NEAR(w[2], 0.25 * co[2] * co[2], 0, 1e-14);         /* 1/4 < 5 */
        DK_CHECK_NEAR(cn[1], log(0.5) / 4, 0, 1e-15);
        DK_CHECK_NEAR(cs[1] + co[1] * co[1] / (0.5 * 0.5), 1.0, 0, 1e-15); /* c_skip + c_out^2/sd^2 = 1 */
    }
    dk_instance_free(e);

    /* a weight function: used, checked for NaN, errors passed on */
    dk_instance *f = edm_with_fn(fn_inv);
    if (f) {
        DK_CHECK_OK(dk_precond_vt(f)->weight(f->self, 3, sg, w, &dk_test_err));
        DK_CHECK_NEAR(w[2], 1.0 / 3.0, 0, 1e-15);
    }
    dk_instance_free(f);
    f = edm_with_fn(fn_nan);
    if (f) {
        DK_CHECK_STATUS(dk_precond_vt(f)->weight(f->self, 3, sg, w, &dk_test_err), DK_ENUMERIC);
        CHECK_MSG("edm");
        CHECK_MSG("weight_fn");
        CHECK_MSG("0.5");
    }
    dk_instance_free(f);
    f = edm_with_fn(fn_fail);
    if (f) {
        DK_CHECK_STATUS(dk_precond_vt(f)->weight(f->self, 3, sg, w, &dk_test_err), DK_EINVAL);
        CHECK_MSG("weight_fn");
        CHECK_MSG("script.lua:3");
    }
    dk_instance_free(f);

    /* ddpm_eps: D = x - sigma eps, c_noise at a table sigma is its timestep */
    dk_ddpm base;
    DK_CHECK_OK(dk_ddpm_init(&base, "cosine", 1000, NULL, &dk_test_err));
    const char *eq[] = {"betas", "cosine", NULL};
    dk_instance *eps = make(DK_KIND_PRECOND, "ddpm_eps", eq);
    DK_CHECK(eps != NULL);
    if (eps) {
        double ts[3] = {base.sigmas[0], base.sigmas[321], base.sigmas[999]};
        DK_CHECK_OK(dk_precond_vt(eps)->scalings(eps->self, 3, ts, cs, co, ci, cn, &dk_test_err));
        DK_CHECK(cn[0] == 0.0 && cn[1] == 321.0 && cn[2] == 999.0);
        DK_CHECK(cs[1] == 1.0 && co[1] == -ts[1]);
        DK_CHECK_NEAR(ci[1], sqrt(base.alphas_cumprod[321]), 0, 1e-14); /* 1/sqrt(sigma^2+1) = sqrt(abar) */
    }
    dk_instance_free(eps);
    dk_ddpm_free(&base);

    /* vdiff: c_noise = atan(sigma) 2/pi, 0.5 at sigma = 1 */
    dk_instance *vd = make(DK_KIND_PRECOND, "vdiff", NULL);
    if (vd) {
        double one = 1.0;
        DK_CHECK_OK(dk_precond_vt(vd)->scalings(vd->self, 1, &one, cs, co, ci, cn, &dk_test_err));
        DK_CHECK_NEAR(cn[0], 0.5, 0, 1e-15);
        DK_CHECK_NEAR(co[0], -sqrt(0.5), 0, 1e-15);
    }
    dk_instance_free(vd);
}

int main(void) {
    if (!(host = dk_host_new(&dk_test_err))) {
        fprintf(stderr, "%s\n", dk_test_err.msg);
        return 1;
    }
    test_sampling_schedules();
    test_bad_options();
    test_densities();
    test_preconds();
    dk_host_free(host);
    return dk_test_finish();
}
