/* karras.c: the `karras` sampling schedule (Karras et al. 2022, "Elucidating
 * the Design Space of Diffusion-Based Generative Models", eq. 5):
 *   sigma_i = (smax^(1/rho) + r_i (smin^(1/rho) - smax^(1/rho)))^rho,
 *   r = lin(0, 1, n), then an appended 0 (k-diffusion get_sigmas_karras).
 * float32=true reproduces what k-diffusion returns with torch's default
 * float32 dtype. */
#include "../schedule_common.h"

typedef struct karras {
    double sigma_min, sigma_max, rho;
    int f32;
} karras;

static dk_status karras_create(const dk_options *o, void **self, dk_error *err) {
    karras *s;
    double lo = dk_opt_float(o, "sigma_min"), hi = dk_opt_float(o, "sigma_max");
    DK_TRY(sched_check_range("karras", lo, hi, "sigma_min", "sigma_max", err));
    if (!(s = sched_alloc(sizeof *s, "karras", err))) return DK_ENOMEM;
    s->sigma_min = lo;
    s->sigma_max = hi;
    s->rho = dk_opt_float(o, "rho");
    s->f32 = dk_opt_bool(o, "float32");
    *self = s;
    return DK_OK;
}

static void karras_destroy(void *self) { free(self); }

static dk_status karras_sigmas(void *self, int64_t n, double *out, dk_error *err) {
    const karras *s = self;
    DK_TRY(sched_check_n("karras", n, err));
    /* Python scalars: min_inv_rho = sigma_min ** (1 / rho), likewise max. */
    double min_inv = pow(s->sigma_min, 1.0 / s->rho), max_inv = pow(s->sigma_max, 1.0 / s->rho);
    if (s->f32) {
        float *r = malloc((size_t)n * sizeof(float));
        if (!r) return dk_error_set(err, DK_ENOMEM, "schedule 'karras': out of memory for %lld steps", (long long)n);
        dk_lin_f32(0.0f, 1.0f, n, r);
        float d = (float)(min_inv - max_inv), m = (float)max_inv, p = (float)s->rho;
        for (int64_t i = 0; i < n; i++) out[i] = (double)sched_powf(m + r[i] * d, p);
        free(r);
    } else {
        dk_lin(0.0, 1.0, n, out);
        for (int64_t i = 0; i < n; i++) out[i] = sched_pow(max_inv + out[i] * (min_inv - max_inv), s->rho);
    }
    out[n] = 0.0;
    return DK_OK;
}

static const dk_option_spec karras_options[] = {
    {"sigma_min", DK_OPT_FLOAT, "0.002", 0.0, INFINITY, NULL, "smallest non-zero sigma (EDM: 0.002)", DK_OPT_MIN_EXCLUSIVE},
    {"sigma_max", DK_OPT_FLOAT, "80", 0.0, INFINITY, NULL, "largest sigma, sigmas[0] (EDM: 80)", DK_OPT_MIN_EXCLUSIVE},
    {"rho", DK_OPT_FLOAT, "7", 0.0, INFINITY, NULL, "spacing exponent (Karras et al. 2022 eq. 5: 7)", DK_OPT_MIN_EXCLUSIVE},
    {"float32", DK_OPT_BOOL, "false", -INFINITY, INFINITY, NULL,
     "compute in float32 as k-diffusion does with torch's default dtype (values then widened)", 0},
};

static const dk_schedule_vtable karras_vtable = {
    .struct_size = sizeof(dk_schedule_vtable),
    .create = karras_create,
    .destroy = karras_destroy,
    .sigmas = karras_sigmas,
    .density = NULL,
};

static const dk_plugin karras_plugin = {
    .abi_version = DK_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(dk_plugin),
    .kind = DK_KIND_SCHEDULE,
    .name = "karras",
    .version = "1.0",
    .summary = "Karras et al. (2022) rho-spaced sampling sigmas, k-diffusion get_sigmas_karras",
    .options = karras_options,
    .n_options = sizeof karras_options / sizeof karras_options[0],
    .vtable = &karras_vtable,
};

DK_PLUGIN_EXPORT const dk_plugin *diffkit_plugin(void) { return &karras_plugin; }
