/* loglogistic.c: the `loglogistic` training density of sigma, truncated to
 * [min_value, max_value] (k-diffusion rand_log_logistic): with
 * cdf(v) = sigmoid((ln v - loc)/scale) (0 at v = 0, 1 at v = inf),
 * p = u (cdf(max) - cdf(min)) + cdf(min), sigma = exp(logit(p) scale + loc). */
#include "../schedule_common.h"

typedef struct loglogistic {
    double loc, scale, min_cdf, max_cdf;
} loglogistic;

static dk_status loglogistic_create(const dk_options *o, void **self, dk_error *err) {
    loglogistic *s;
    double lo = dk_opt_float(o, "min_value"), hi = dk_opt_float(o, "max_value");
    DK_TRY(sched_check_range("loglogistic", lo, hi, "min_value", "max_value", err));
    if (!(s = sched_alloc(sizeof *s, "loglogistic", err))) return DK_ENOMEM;
    s->loc = dk_opt_float(o, "loc");
    s->scale = dk_opt_float(o, "scale");
    s->min_cdf = dk_sigmoid((log(lo) - s->loc) / s->scale);
    s->max_cdf = dk_sigmoid((log(hi) - s->loc) / s->scale);
    *self = s;
    return DK_OK;
}

static void loglogistic_destroy(void *self) { free(self); }

static dk_status loglogistic_density(void *self, size_t n, dk_draws *src, double *out, dk_error *err) {
    const loglogistic *s = self;
    DK_TRY(sched_uniforms("loglogistic", src, n, out, err));
    for (size_t i = 0; i < n; i++) {
        double p = out[i] * (s->max_cdf - s->min_cdf) + s->min_cdf;
        out[i] = exp(dk_logit(p) * s->scale + s->loc);
    }
    return DK_OK;
}

static const dk_option_spec loglogistic_options[] = {
    {"loc", DK_OPT_FLOAT, "0", -INFINITY, INFINITY, NULL, "location of ln sigma (k-diffusion's default: ln sigma_data)", 0},
    {"scale", DK_OPT_FLOAT, "0.5", 0.0, INFINITY, NULL, "scale of ln sigma (0.5)", DK_OPT_MIN_EXCLUSIVE},
    {"min_value", DK_OPT_FLOAT, "0", 0.0, INFINITY, NULL, "lower truncation of sigma (0 = none)", 0},
    {"max_value", DK_OPT_FLOAT, "inf", 0.0, INFINITY, NULL, "upper truncation of sigma (inf = none)", DK_OPT_MIN_EXCLUSIVE | DK_OPT_ALLOW_INF},
};

SCHED_PLUGIN(loglogistic, "loglogistic", "truncated log-logistic training density of sigma, k-diffusion rand_log_logistic",
             NULL, loglogistic_density)
