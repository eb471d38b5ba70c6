/* v-diffusion.c: the `v-diffusion` training density of sigma (k-diffusion
 * rand_v_diffusion; the cosine schedule of v-diffusion / Salimans & Ho 2022
 * with t uniform): c(v) = atan(v/sd) 2/pi,
 * sigma = tan((u (c(max) - c(min)) + c(min)) pi/2) sd. */
#include "../schedule_common.h"

typedef struct vdiff_density {
    double sd, min_cdf, max_cdf;
} vdiff_density;

static dk_status vdiff_create(const dk_options *o, void **self, dk_error *err) {
    vdiff_density *s;
    double lo = dk_opt_float(o, "min_value"), hi = dk_opt_float(o, "max_value");
    DK_TRY(sched_check_range("v-diffusion", lo, hi, "min_value", "max_value", err));
    if (!(s = sched_alloc(sizeof *s, "v-diffusion", err))) return DK_ENOMEM;
    s->sd = dk_opt_float(o, "sigma_data");
    s->min_cdf = atan(lo / s->sd) * 2.0 / M_PI;
    s->max_cdf = atan(hi / s->sd) * 2.0 / M_PI;
    *self = s;
    return DK_OK;
}

static void vdiff_destroy(void *self) { free(self); }

static dk_status vdiff_density_fn(void *self, size_t n, dk_draws *src, double *out, dk_error *err) {
    const vdiff_density *s = self;
    DK_TRY(sched_uniforms("v-diffusion", src, n, out, err));
    for (size_t i = 0; i < n; i++) {
        double u = out[i] * (s->max_cdf - s->min_cdf) + s->min_cdf;
        out[i] = tan(u * M_PI / 2.0) * s->sd;
    }
    return DK_OK;
}

static const dk_option_spec vdiff_options[] = {
    {"sigma_data", DK_OPT_FLOAT, "1", 0.0, INFINITY, NULL, "standard deviation of the data", DK_OPT_MIN_EXCLUSIVE},
    {"min_value", DK_OPT_FLOAT, "0.001", 0.0, INFINITY, NULL, "smallest sigma (k-diffusion config default 1e-3)", 0},
    {"max_value", DK_OPT_FLOAT, "1000", 0.0, INFINITY, NULL, "largest sigma (k-diffusion config default 1e3; inf allowed)", DK_OPT_MIN_EXCLUSIVE | DK_OPT_ALLOW_INF},
};

SCHED_PLUGIN(vdiff, "v-diffusion", "v-diffusion (cosine in atan(sigma)) training density of sigma, k-diffusion rand_v_diffusion",
             NULL, vdiff_density_fn)
