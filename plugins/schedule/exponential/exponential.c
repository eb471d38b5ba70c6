/* exponential.c: the `exponential` sampling schedule: sigmas evenly spaced in
 * log sigma, sigma_i = exp(lin(log smax, log smin, n)_i), then an appended 0
 * (k-diffusion get_sigmas_exponential). float32=true reproduces k-diffusion's
 * default float32 result. */
#include "../schedule_common.h"

typedef struct exponential {
    double sigma_min, sigma_max;
    int f32;
} exponential;

static dk_status exponential_create(const dk_options *o, void **self, dk_error *err) {
    exponential *s;
    double lo = dk_opt_float(o, "sigma_min"), hi = dk_opt_float(o, "sigma_max");
    DK_TRY(sched_check_range("exponential", lo, hi, "sigma_min", "sigma_max", err));
    if (!(s = sched_alloc(sizeof *s, "exponential", err))) return DK_ENOMEM;
    s->sigma_min = lo;
    s->sigma_max = hi;
    s->f32 = dk_opt_bool(o, "float32");
    *self = s;
    return DK_OK;
}

static void exponential_destroy(void *self) { free(self); }

static dk_status exponential_sigmas(void *self, int64_t n, double *out, dk_error *err) {
    const exponential *s = self;
    DK_TRY(sched_check_n("exponential", n, err));
    if (s->f32) {
        float *r = malloc((size_t)n * sizeof(float));
        if (!r) return dk_error_set(err, DK_ENOMEM, "schedule 'exponential': out of memory for %lld steps", (long long)n);
        dk_lin_f32((float)log(s->sigma_max), (float)log(s->sigma_min), n, r);
        for (int64_t i = 0; i < n; i++) out[i] = (double)expf(r[i]);
        free(r);
    } else {
        dk_lin(log(s->sigma_max), log(s->sigma_min), n, out);
        for (int64_t i = 0; i < n; i++) out[i] = exp(out[i]);
    }
    out[n] = 0.0;
    return DK_OK;
}

static const dk_option_spec exponential_options[] = {
    {"sigma_min", DK_OPT_FLOAT, "0.002", 0.0, INFINITY, NULL, "smallest non-zero sigma", DK_OPT_MIN_EXCLUSIVE},
    {"sigma_max", DK_OPT_FLOAT, "80", 0.0, INFINITY, NULL, "largest sigma, sigmas[0]", DK_OPT_MIN_EXCLUSIVE},
    {"float32", DK_OPT_BOOL, "false", -INFINITY, INFINITY, NULL,
     "compute in float32 as k-diffusion does with torch's default dtype (values then widened)", 0},
};

static const dk_schedule_vtable exponential_vtable = {
    .struct_size = sizeof(dk_schedule_vtable),
    .create = exponential_create,
    .destroy = exponential_destroy,
    .sigmas = exponential_sigmas,
    .density = NULL,
};

static const dk_plugin exponential_plugin = {
    .abi_version = DK_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(dk_plugin),
    .kind = DK_KIND_SCHEDULE,
    .name = "exponential",
    .version = "1.0",
    .summary = "log-linearly spaced sampling sigmas, k-diffusion get_sigmas_exponential",
    .options = exponential_options,
    .n_options = sizeof exponential_options / sizeof exponential_options[0],
    .vtable = &exponential_vtable,
};

DK_PLUGIN_EXPORT const dk_plugin *diffkit_plugin(void) { return &exponential_plugin; }
