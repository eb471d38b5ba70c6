/* cosine-interpolated.c: the `cosine-interpolated` training density of sigma
 * (k-diffusion rand_cosine_interpolated; the shifted/interpolated cosine
 * schedule of Hoogeboom et al. 2023, "simple diffusion", used by every HDiT
 * config; k-diffusion `utils.rand_cosine_interpolated`, tests/data/golden/FORMAT.md section 5). In log-SNR:
 *   lmin = -2 ln(min/sd), lmax = -2 ln(max/sd);
 *   cos(t; a, b) = -2 ln tan(tmin + t (tmax - tmin)), tmin = atan(e^(-b/2)), tmax = atan(e^(-a/2));
 *   shifted(t; nd) = cos(t; lmin - sh, lmax - sh) + sh, sh = 2 ln(nd/image_d);
 *   logsnr(u) = lerp(shifted(u; noise_d_low), shifted(u; noise_d_high), u);
 *   sigma = exp(-logsnr/2) sd.
 * u = 0 gives max_value, u = 1 gives min_value. */
#include "../schedule_common.h"

typedef struct cosint {
    double sd, sh_low, sh_high;
    double tmin_low, tmax_low, tmin_high, tmax_high;
} cosint;

static void cos_bounds(double a, double b, double *tmin, double *tmax) {
    *tmin = atan(exp(-0.5 * b));
    *tmax = atan(exp(-0.5 * a));
}

static dk_status cosint_create(const dk_options *o, void **self, dk_error *err) {
    cosint *s;
    double lo = dk_opt_float(o, "min_value"), hi = dk_opt_float(o, "max_value");
    DK_TRY(sched_check_range("cosine-interpolated", lo, hi, "min_value", "max_value", err));
    double image_d = dk_opt_float(o, "image_d");
    double nd_low = dk_opt_float(o, "noise_d_low");
    double nd_high = dk_opt_has(o, "noise_d_high") ? dk_opt_float(o, "noise_d_high") : image_d;
    if (!(s = sched_alloc(sizeof *s, "cosine-interpolated", err))) return DK_ENOMEM;
    s->sd = dk_opt_float(o, "sigma_data");
    double lmin = -2.0 * log(lo / s->sd), lmax = -2.0 * log(hi / s->sd);
    s->sh_low = 2.0 * log(nd_low / image_d);
    s->sh_high = 2.0 * log(nd_high / image_d);
    cos_bounds(lmin - s->sh_low, lmax - s->sh_low, &s->tmin_low, &s->tmax_low);
    cos_bounds(lmin - s->sh_high, lmax - s->sh_high, &s->tmin_high, &s->tmax_high);
    *self = s;
    return DK_OK;
}

static void cosint_destroy(void *self) { free(self); }

static dk_status cosint_density(void *self, size_t n, dk_draws *src, double *out, dk_error *err) {
    const cosint *s = self;
    DK_TRY(sched_uniforms("cosine-interpolated", src, n, out, err));
    for (size_t i = 0; i < n; i++) {
        double u = out[i];
        double low = -2.0 * log(tan(s->tmin_low + u * (s->tmax_low - s->tmin_low))) + s->sh_low;
        double high = -2.0 * log(tan(s->tmin_high + u * (s->tmax_high - s->tmin_high))) + s->sh_high;
        double logsnr = dk_lerp(low, high, u);
        out[i] = exp(-logsnr / 2.0) * s->sd;
    }
    return DK_OK;
}

static const dk_option_spec cosint_options[] = {
    {"image_d", DK_OPT_FLOAT, NULL, 0.0, INFINITY, NULL, "image side length the schedule is for (k-diffusion: max(input_size))", DK_OPT_MIN_EXCLUSIVE},
    {"noise_d_low", DK_OPT_FLOAT, "32", 0.0, INFINITY, NULL, "side length of the low-resolution shifted schedule (32)", DK_OPT_MIN_EXCLUSIVE},
    {"noise_d_high", DK_OPT_FLOAT, NULL, 0.0, INFINITY, NULL, "side length of the high-resolution shifted schedule (default: image_d)",
     DK_OPT_MIN_EXCLUSIVE | DK_OPT_OPTIONAL},
    {"sigma_data", DK_OPT_FLOAT, "1", 0.0, INFINITY, NULL, "standard deviation of the data (HDiT configs: 0.5)", DK_OPT_MIN_EXCLUSIVE},
    {"min_value", DK_OPT_FLOAT, "0.001", 0.0, INFINITY, NULL, "smallest sigma (1e-3)", DK_OPT_MIN_EXCLUSIVE},
    {"max_value", DK_OPT_FLOAT, "1000", 0.0, INFINITY, NULL, "largest sigma (1e3)", DK_OPT_MIN_EXCLUSIVE},
};

SCHED_PLUGIN(cosint, "cosine-interpolated",
             "interpolated shifted-cosine training density of sigma (simple diffusion; HDiT), k-diffusion rand_cosine_interpolated",
             NULL, cosint_density)
