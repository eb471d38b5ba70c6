/* heun: Karras et al. 2022, Algorithm 2 (Heun's 2nd-order method with churn);
 * k-diffusion's sample_heun. Two denoiser calls per step, one on the last
 * step to sigma 0 (Euler there). */
#include "diffkit/plugin.h"
#include "diffkit/sampling.h"

#include <math.h>
#include <stdlib.h>

static const dk_option_spec options[] = {
    DK_CHURN_OPTION_SPECS,
};

static dk_status create(const dk_options *o, void **self, dk_error *err) { return dk_churn_create(o, "heun", self, err); }

static void destroy(void *self) { free(self); }

static dk_status sample(void *self, const dk_sampler_env *env, const double *sigmas, int64_t n_sigmas,
                        dk_tensor *x, dk_error *err) {
    const dk_churn *c = self;
    dk_sampling s;
    dk_tensor *den = NULL, *d = NULL, *x2 = NULL;
    DK_TRY(dk_sampling_begin(&s, "heun", env, sigmas, n_sigmas, x, 0, err));
    dk_status st = dk_sampling_tmp(&s, &den, err);
    if (!st) st = dk_sampling_tmp(&s, &d, err);
    if (!st) st = dk_sampling_tmp(&s, &x2, err);
    const int64_t n = n_sigmas - 1;
    double *xp = dk_f64(x);
    for (int64_t i = 0; st == DK_OK && i < n; i++) {
        double sigma_hat, sn = sigmas[i + 1];
        const dk_tensor *x_top;
        if ((st = dk_sampling_churn(&s, c, i, n, sigmas[i], sn, &sigma_hat, &x_top, err))) break;
        if ((st = dk_sampling_denoise(&s, x, sigma_hat, den, err))) break;
        double *dp = dk_f64(d), *x2p = dk_f64(x2);
        const double *dn = dk_f64(den);
        for (size_t k = 0; k < s.numel; k++) dp[k] = (xp[k] - dn[k]) / sigma_hat;
        if (dk_sampling_step(&s, i, n, sigmas[i], sn, sigma_hat, x_top, den)) break;
        double dt = sn - sigma_hat;
        if (sn == 0.0) {
            /* the last step to sigma 0: Euler */
            for (size_t k = 0; k < s.numel; k++) xp[k] += dp[k] * dt;
            continue;
        }
        /* Heun (trapezoidal) correction: x += (d + d2)/2 dt, d2 = d(x + d dt; sigma_next) */
        for (size_t k = 0; k < s.numel; k++) x2p[k] = xp[k] + dp[k] * dt;
        if ((st = dk_sampling_denoise(&s, x2, sn, den, err))) break;
        for (size_t k = 0; k < s.numel; k++) {
            double d2 = (x2p[k] - dn[k]) / sn;
            xp[k] += (dp[k] + d2) / 2.0 * dt;
        }
    }
    dk_sampling_end(&s);
    return st;
}

static const dk_sampler_vtable vtable = {sizeof(dk_sampler_vtable), create, destroy, sample, DK_SAMPLER_STOCHASTIC};
static const dk_plugin plugin = {DK_PLUGIN_ABI_VERSION, sizeof(dk_plugin), DK_KIND_SAMPLER, "heun", "1.0",
                                 "Heun (2nd order) steps with optional churn (Karras et al. 2022, Alg. 2; k-diffusion sample_heun)",
                                 options, sizeof options / sizeof options[0], &vtable};

DK_PLUGIN_EXPORT const dk_plugin *diffkit_plugin(void) { return &plugin; }
