/* cosine_example.c: a complete small schedule plugin, the example of
 * docs/plugins.md. Built by the tests (tests/host.cmake) into a test-only
 * folder and loaded through DIFFKIT_PLUGIN_PATH.
 *
 * The cosine schedule in the variance-exploding frame: with the cosine noise
 * schedule alpha(t) = cos(t pi/2), sigma(t) = sin(t pi/2) (Nichol & Dhariwal
 * 2021, eq. 17 with s = 0), the VE noise level is
 *     sigma_ve(t) = sigma(t) / alpha(t) = tan(t pi / 2),    t in [0, 1).
 * Sampling: n sigmas at t evenly spaced from t(sigma_max) down to
 * t(sigma_min), then a final 0 (n+1 values). Training density: t uniform on
 * [t(sigma_min), t(sigma_max)], sigma = tan(t pi / 2). */
#include <diffkit/plugin.h>
#include <math.h>
#include <stdlib.h>

typedef struct cosine_example {
    double t_min, t_max; /* t(sigma) = atan(sigma) * 2 / pi */
} cosine_example;

static const double half_pi = 1.57079632679489661923;

static dk_status ce_create(const dk_options *opts, void **self, dk_error *err) {
    /* Options arrive validated against the table below: sigma_min > 0 and
     * sigma_max > 0 are guaranteed; relations between options are ours. */
    double smin = dk_opt_float(opts, "sigma_min"), smax = dk_opt_float(opts, "sigma_max");
    cosine_example *s;
    if (!(smin < smax))
        return dk_error_set(err, DK_EINVAL,
                            "schedule 'cosine-example': sigma_min (%g) must be below sigma_max (%g): swap or change them", smin, smax);
    if (!(s = malloc(sizeof *s))) return dk_error_set(err, DK_ENOMEM, "schedule 'cosine-example': out of memory");
    s->t_min = atan(smin) / half_pi;
    s->t_max = atan(smax) / half_pi;
    *self = s;
    return DK_OK;
}

static void ce_destroy(void *self) { free(self); }

static dk_status ce_sigmas(void *self, int64_t n, double *out, dk_error *err) {
    const cosine_example *s = self;
    int64_t i;
    if (n < 1) return dk_error_set(err, DK_EINVAL, "schedule 'cosine-example': needs n >= 1 steps, got %lld", (long long)n);
    for (i = 0; i < n; i++) {
        double frac = n == 1 ? 0.0 : (double)i / (double)(n - 1);
        double t = s->t_max + frac * (s->t_min - s->t_max);
        out[i] = tan(t * half_pi);
    }
    out[n] = 0.0;
    return DK_OK;
}

static dk_status ce_density(void *self, size_t n, dk_draws *src, double *out, dk_error *err) {
    const cosine_example *s = self;
    size_t i;
    DK_TRY(src->uniform(src, n, out, err));
    for (i = 0; i < n; i++) out[i] = tan((s->t_min + out[i] * (s->t_max - s->t_min)) * half_pi);
    return DK_OK;
}

static const dk_schedule_vtable vtable = {
    .struct_size = sizeof(dk_schedule_vtable),
    .create = ce_create,
    .destroy = ce_destroy,
    .sigmas = ce_sigmas,
    .density = ce_density,
};

static const dk_option_spec options[] = {
    {.name = "sigma_min", .type = DK_OPT_FLOAT, .default_value = "0.01", .min = 0, .max = INFINITY,
     .doc = "smallest non-zero sigma", .flags = DK_OPT_MIN_EXCLUSIVE},
    {.name = "sigma_max", .type = DK_OPT_FLOAT, .default_value = "80", .min = 0, .max = INFINITY,
     .doc = "largest sigma (the first one)", .flags = DK_OPT_MIN_EXCLUSIVE},
};

static const dk_plugin plugin = {
    .abi_version = DK_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(dk_plugin),
    .kind = DK_KIND_SCHEDULE,
    .name = "cosine-example",
    .version = "1.0",
    .summary = "example: cosine schedule in the VE frame, sigma = tan(t pi/2)",
    .options = options,
    .n_options = sizeof options / sizeof options[0],
    .vtable = &vtable,
};

DK_PLUGIN_EXPORT const dk_plugin *diffkit_plugin(void) { return &plugin; }
