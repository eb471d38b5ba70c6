/* polyexponential.c: the `polyexponential` sampling schedule
 * (k-diffusion get_sigmas_polyexponential): r = lin(1, 0, n)^rho,
 * sigma_i = exp(r_i (log smax - log smin) + log smin), then an appended 0.
 * rho = 1 is the exponential schedule. float32=true reproduces k-diffusion's
 * default float32 result. */
#include "../schedule_common.h"

typedef struct polyexponential {
    double sigma_min, sigma_max, rho;
    int f32;
} polyexponential;

static dk_status polyexponential_create(const dk_options *o, void **self, dk_error *err) {
    polyexponential *s;
    double lo = dk_opt_float(o, "sigma_min"), hi = dk_opt_float(o, "sigma_max");
    DK_TRY(sched_check_range("polyexponential", lo, hi, "sigma_min", "sigma_max", err));
    if (!(s = sched_alloc(sizeof *s, "polyexponential", err))) return DK_ENOMEM;
    s->sigma_min = lo;
    s->sigma_max = hi;
    s->rho = dk_opt_float(o, "rho");
    s->f32 = dk_opt_bool(o, "float32");
    *self = s;
    return DK_OK;
}

static void polyexponential_destroy(void *self) { free(self); }

static dk_status polyexponential_sigmas(void *self, int64_t n, double *out, dk_error *err) {
    const polyexponential *s = self;
    DK_TRY(sched_check_n("polyexponential", n, err));
    double lmin = log(s->sigma_min), lmax = log(s->sigma_max);
    if (s->f32) {
        float *r = malloc((size_t)n * sizeof(float));
        if (!r) return dk_error_set(err, DK_ENOMEM, "schedule 'polyexponential': out of memory for %lld steps", (long long)n);
        dk_lin_f32(1.0f, 0.0f, n, r);
        float d = (float)(lmax - lmin), m = (float)lmin, p = (float)s->rho;
        for (int64_t i = 0; i < n; i++) out[i] = (double)expf(sched_powf(r[i], p) * d + m);
        free(r);
    } else {
        dk_lin(1.0, 0.0, n, out);
        for (int64_t i = 0; i < n; i++) out[i] = exp(sched_pow(out[i], s->rho) * (lmax - lmin) + lmin);
    }
    out[n] = 0.0;
    return DK_OK;
}

static const dk_option_spec polyexponential_options[] = {
    {"sigma_min", DK_OPT_FLOAT, "0.002", 0.0, INFINITY, NULL, "smallest non-zero sigma", DK_OPT_MIN_EXCLUSIVE},
    {"sigma_max", DK_OPT_FLOAT, "80", 0.0, INFINITY, NULL, "largest sigma, sigmas[0]", DK_OPT_MIN_EXCLUSIVE},
    {"rho", DK_OPT_FLOAT, "1", 0.0, INFINITY, NULL, "polynomial exponent of the ramp (1 = exponential schedule)", DK_OPT_MIN_EXCLUSIVE},
    {"float32", DK_OPT_BOOL, "false", -INFINITY, INFINITY, NULL,
     "compute in float32 as k-diffusion does with torch's default dtype (values then widened)", 0},
};

static const dk_schedule_vtable polyexponential_vtable = {
    .struct_size = sizeof(dk_schedule_vtable),
    .create = polyexponential_create,
    .destroy = polyexponential_destroy,
    .sigmas = polyexponential_sigmas,
    .density = NULL,
};

static const dk_plugin polyexponential_plugin = {
    .abi_version = DK_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(dk_plugin),
    .kind = DK_KIND_SCHEDULE,
    .name = "polyexponential",
    .version = "1.0",
    .summary = "polynomial-in-log-sigma sampling sigmas, k-diffusion get_sigmas_polyexponential",
    .options = polyexponential_options,
    .n_options = sizeof polyexponential_options / sizeof polyexponential_options[0],
    .vtable = &polyexponential_vtable,
};

DK_PLUGIN_EXPORT const dk_plugin *diffkit_plugin(void) { return &polyexponential_plugin; }
