/* loguniform.c: the `loguniform` training density of sigma (k-diffusion
 * rand_log_uniform): sigma = exp(u (ln max - ln min) + ln min). */
#include "../schedule_common.h"

typedef struct loguniform {
    double lmin, lmax;
} loguniform;

static dk_status loguniform_create(const dk_options *o, void **self, dk_error *err) {
    loguniform *s;
    double lo = dk_opt_float(o, "min_value"), hi = dk_opt_float(o, "max_value");
    DK_TRY(sched_check_range("loguniform", lo, hi, "min_value", "max_value", err));
    if (!(s = sched_alloc(sizeof *s, "loguniform", err))) return DK_ENOMEM;
    s->lmin = log(lo);
    s->lmax = log(hi);
    *self = s;
    return DK_OK;
}

static void loguniform_destroy(void *self) { free(self); }

static dk_status loguniform_density(void *self, size_t n, dk_draws *src, double *out, dk_error *err) {
    const loguniform *s = self;
    DK_TRY(sched_uniforms("loguniform", src, n, out, err));
    for (size_t i = 0; i < n; i++) out[i] = exp(out[i] * (s->lmax - s->lmin) + s->lmin);
    return DK_OK;
}

static const dk_option_spec loguniform_options[] = {
    {"min_value", DK_OPT_FLOAT, "0.002", 0.0, INFINITY, NULL, "smallest sigma (k-diffusion's default: the model's sigma_min)", DK_OPT_MIN_EXCLUSIVE},
    {"max_value", DK_OPT_FLOAT, "80", 0.0, INFINITY, NULL, "largest sigma (k-diffusion's default: the model's sigma_max)", DK_OPT_MIN_EXCLUSIVE},
};

SCHED_PLUGIN(loguniform, "loguniform", "log-uniform training density of sigma, k-diffusion rand_log_uniform",
             NULL, loguniform_density)
