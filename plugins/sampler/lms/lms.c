/* lms: linear multistep in sigma (k-diffusion sample_lms; Karras et al. 2022
 * discuss it as the "LMS" baseline). Step i uses the last o = min(i+1, order)
 * derivatives d = (x - D)/sigma with Adams-Bashforth-style coefficients:
 * the integral over [sigma_i, sigma_{i+1}] of each Lagrange basis polynomial
 * through sigma_i, ..., sigma_{i-o+1} (dk_lms_coeffs, exact; k-diffusion uses
 * scipy quad, exact to rounding for these low degrees). The last step to
 * sigma 0 is part of the scheme. One denoiser call per step, no noise. */
#include "diffkit/plugin.h"
#include "diffkit/sampling.h"

#include <math.h>
#include <stdlib.h>

#define LMS_MAX_ORDER 16

static const dk_option_spec options[] = {
    {"order", DK_OPT_INT, "4", 1.0, LMS_MAX_ORDER, NULL, "number of past derivatives combined (ramps up from 1)", 0},
};

static dk_status create(const dk_options *o, void **self, dk_error *err) {
    int *order = malloc(sizeof *order);
    if (!order) return dk_error_set(err, DK_ENOMEM, "sampler lms: out of memory");
    *order = (int)dk_opt_int(o, "order");
    *self = order;
    return DK_OK;
}

static void destroy(void *self) { free(self); }

static dk_status sample(void *self, const dk_sampler_env *env, const double *sigmas, int64_t n_sigmas,
                        dk_tensor *x, dk_error *err) {
    const int order = *(const int *)self;
    dk_sampling s;
    dk_tensor *den = NULL, *acc = NULL, *ds[LMS_MAX_ORDER] = {0};
    DK_TRY(dk_sampling_begin(&s, "lms", env, sigmas, n_sigmas, x, 0, err));
    dk_status st = dk_sampling_tmp(&s, &den, err);
    if (!st) st = dk_sampling_tmp(&s, &acc, err);
    for (int j = 0; j < order && st == DK_OK; j++) st = dk_sampling_tmp(&s, &ds[j], err);
    const int64_t n = n_sigmas - 1;
    double *xp = dk_f64(x), *ap = st == DK_OK ? dk_f64(acc) : NULL;
    double coeff[LMS_MAX_ORDER];
    for (int64_t i = 0; st == DK_OK && i < n; i++) {
        if ((st = dk_sampling_denoise(&s, x, sigmas[i], den, err))) break;
        /* ring buffer: the derivative of step i goes to slot i % order */
        double *dp = dk_f64(ds[i % order]);
        const double *dn = dk_f64(den);
        for (size_t k = 0; k < s.numel; k++) dp[k] = (xp[k] - dn[k]) / sigmas[i];
        if (dk_sampling_step(&s, i, n, sigmas[i], sigmas[i + 1], sigmas[i], x, den)) break;
        int cur = i + 1 < order ? (int)(i + 1) : order;
        if ((st = dk_lms_coeffs(sigmas, i, cur, coeff, err))) break;
        /* x += sum_j coeff[j] d_{i-j} */
        for (size_t k = 0; k < s.numel; k++) ap[k] = 0.0;
        for (int j = 0; j < cur; j++) {
            const double *dj = dk_f64(ds[(i - j) % order]);
            for (size_t k = 0; k < s.numel; k++) ap[k] += coeff[j] * dj[k];
        }
        for (size_t k = 0; k < s.numel; k++) xp[k] += ap[k];
    }
    dk_sampling_end(&s);
    return st;
}

static const dk_sampler_vtable vtable = {sizeof(dk_sampler_vtable), create, destroy, sample, 0};
static const dk_plugin plugin = {DK_PLUGIN_ABI_VERSION, sizeof(dk_plugin), DK_KIND_SAMPLER, "lms", "1.0",
                                 "Linear multistep in sigma with exact Lagrange coefficients (k-diffusion sample_lms)",
                                 options, sizeof options / sizeof options[0], &vtable};

DK_PLUGIN_EXPORT const dk_plugin *diffkit_plugin(void) { return &plugin; }
