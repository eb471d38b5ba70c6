/* dpmpp_2m: DPM-Solver++(2M) (Lu et al. 2022b, "DPM-Solver++: Fast Solver for
 * Guided Sampling of Diffusion Probabilistic Models", arXiv:2211.01095,
 * Algorithm 2; k-diffusion sample_dpmpp_2m). In t = -log sigma, h = t_next - t:
 *   first step, or sigma_next = 0:  x = (sigma_next/sigma) x - expm1(-h) D
 *   else, r = h_last/h:             D' = (1 + 1/(2r)) D - (1/(2r)) D_prev,
 *                                   x = (sigma_next/sigma) x - expm1(-h) D'
 * (the step to sigma 0 gives x = D). One denoiser call per step, no noise. */
#include "diffkit/plugin.h"
#include "diffkit/sampling.h"

#include <math.h>
#include <stdlib.h>

static double sigma_fn(double t) { return exp(-t); }
static double t_fn(double sigma) { return -log(sigma); }

static dk_status create(const dk_options *o, void **self, dk_error *err) {
    (void)o;
    (void)err;
    *self = NULL;
    return DK_OK;
}

static void destroy(void *self) { (void)self; }

static dk_status sample(void *self, const dk_sampler_env *env, const double *sigmas, int64_t n_sigmas,
                        dk_tensor *x, dk_error *err) {
    dk_sampling s;
    dk_tensor *den = NULL, *old = NULL;
    DK_TRY(dk_sampling_begin(&s, "dpmpp_2m", env, sigmas, n_sigmas, x, 0, err));
    dk_status st = dk_sampling_tmp(&s, &den, err);
    if (!st) st = dk_sampling_tmp(&s, &old, err);
    const int64_t n = n_sigmas - 1;
    double *xp = dk_f64(x);
    for (int64_t i = 0; st == DK_OK && i < n; i++) {
        if ((st = dk_sampling_denoise(&s, x, sigmas[i], den, err))) break;
        if (dk_sampling_step(&s, i, n, sigmas[i], sigmas[i + 1], sigmas[i], x, den)) break;
        double t = t_fn(sigmas[i]), t_next = t_fn(sigmas[i + 1]);
        double h = t_next - t;
        double a = sigma_fn(t_next) / sigma_fn(t), b = expm1(-h);
        const double *dn = dk_f64(den), *od = dk_f64(old);
        if (i == 0 || sigmas[i + 1] == 0.0) {
            for (size_t k = 0; k < s.numel; k++) xp[k] = a * xp[k] - b * dn[k];
        } else {
            double h_last = t - t_fn(sigmas[i - 1]);
            double r = h_last / h;
            double c1 = 1.0 + 1.0 / (2.0 * r), c2 = 1.0 / (2.0 * r);
            for (size_t k = 0; k < s.numel; k++) xp[k] = a * xp[k] - b * (c1 * dn[k] - c2 * od[k]);
        }
        /* old_denoised = denoised */
        dk_tensor *tmp = old;
        old = den;
        den = tmp;
    }
    dk_sampling_end(&s);
    return st;
}

static const dk_sampler_vtable vtable = {sizeof(dk_sampler_vtable), create, destroy, sample, 0};
static const dk_plugin plugin = {DK_PLUGIN_ABI_VERSION, sizeof(dk_plugin), DK_KIND_SAMPLER, "dpmpp_2m", "1.0",
                                 "DPM-Solver++(2M) multistep (Lu et al. 2022b; k-diffusion sample_dpmpp_2m)",
                                 NULL, 0, &vtable};

DK_PLUGIN_EXPORT const dk_plugin *diffkit_plugin(void) { return &plugin; }
