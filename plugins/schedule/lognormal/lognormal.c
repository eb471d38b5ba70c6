/* lognormal.c: the `lognormal` training density of sigma (Karras et al.
 * 2022, EDM, Table 1: ln sigma ~ N(P_mean, P_std^2), -1.2 and 1.2), as
 * k-diffusion's rand_log_normal draws it by inverse CDF of (stratified)
 * uniforms: u' = u (1 - 2e-7) + 1e-7, sigma = exp(loc + scale sqrt(2) erfinv(2u' - 1)).
 * k-diffusion builds torch.distributions.Normal(loc, scale) from Python
 * floats, which become float32 tensors: the effective loc and scale are
 * float32-rounded (tests/data/golden/FORMAT.md section 5). float32_params=true (the default)
 * keeps that parity; false uses them exactly. */
#include "../schedule_common.h"

typedef struct lognormal {
    double loc, scale;
} lognormal;

static dk_status lognormal_create(const dk_options *o, void **self, dk_error *err) {
    lognormal *s;
    if (!(s = sched_alloc(sizeof *s, "lognormal", err))) return DK_ENOMEM;
    s->loc = dk_opt_float(o, "loc");
    s->scale = dk_opt_float(o, "scale");
    if (dk_opt_bool(o, "float32_params")) {
        s->loc = dk_round_f32(s->loc);
        s->scale = dk_round_f32(s->scale);
    }
    *self = s;
    return DK_OK;
}

static void lognormal_destroy(void *self) { free(self); }

static dk_status lognormal_density(void *self, size_t n, dk_draws *src, double *out, dk_error *err) {
    const lognormal *s = self;
    DK_TRY(sched_uniforms("lognormal", src, n, out, err));
    for (size_t i = 0; i < n; i++) {
        double u = out[i] * (1.0 - 2e-7) + 1e-7;
        /* Normal.icdf: loc + scale * erfinv(2u - 1) * sqrt(2) */
        out[i] = exp(s->loc + s->scale * dk_erfinv(2.0 * u - 1.0) * 1.4142135623730951);
    }
    return DK_OK;
}

static const dk_option_spec lognormal_options[] = {
    {"loc", DK_OPT_FLOAT, "-1.2", -INFINITY, INFINITY, NULL, "mean of ln sigma (EDM P_mean: -1.2)", 0},
    {"scale", DK_OPT_FLOAT, "1.2", 0.0, INFINITY, NULL, "std of ln sigma (EDM P_std: 1.2)", DK_OPT_MIN_EXCLUSIVE},
    {"float32_params", DK_OPT_BOOL, "true", -INFINITY, INFINITY, NULL,
     "round loc and scale to float32 as k-diffusion does (parity); false uses them exactly", 0},
};

SCHED_PLUGIN(lognormal, "lognormal", "log-normal training density of sigma (EDM), k-diffusion rand_log_normal",
             NULL, lognormal_density)
