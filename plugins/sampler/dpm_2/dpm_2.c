/* dpm_2: k-diffusion's sample_dpm_2, "inspired by DPM-Solver-2 (Lu et al.
 * 2022) and Algorithm 2 of Karras et al. 2022": a midpoint step in sigma,
 * the midpoint taken geometrically. Two denoiser calls per step, one on the
 * last step to sigma 0 (Euler there). Optional churn as in euler. */
#include "diffkit/numeric.h"
#include "diffkit/plugin.h"
#include "diffkit/sampling.h"

#include <math.h>
#include <stdlib.h>

static const dk_option_spec options[] = {
    DK_CHURN_OPTION_SPECS,
};

static dk_status create(const dk_options *o, void **self, dk_error *err) { return dk_churn_create(o, "dpm_2", self, err); }

static void destroy(void *self) { free(self); }

static dk_status sample(void *self, const dk_sampler_env *env, const double *sigmas, int64_t n_sigmas,
                        dk_tensor *x, dk_error *err) {
    const dk_churn *c = self;
    dk_sampling s;
    dk_tensor *den = NULL, *d = NULL, *x2 = NULL;
    DK_TRY(dk_sampling_begin(&s, "dpm_2", env, sigmas, n_sigmas, x, 0, err));
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
        if (sn == 0.0) {
            /* the last step to sigma 0: Euler */
            double dt = sn - sigma_hat;
            for (size_t k = 0; k < s.numel; k++) xp[k] += dp[k] * dt;
            continue;
        }
        /* DPM-Solver-2 in sigma: midpoint sigma_mid = exp(lerp(log sigma_hat, log sigma_next, 1/2)),
         * x2 = x + d (sigma_mid - sigma_hat), x += d(x2; sigma_mid) (sigma_next - sigma_hat) */
        double sigma_mid = exp(dk_lerp(log(sigma_hat), log(sn), 0.5));
        double dt1 = sigma_mid - sigma_hat, dt2 = sn - sigma_hat;
        for (size_t k = 0; k < s.numel; k++) x2p[k] = xp[k] + dp[k] * dt1;
        if ((st = dk_sampling_denoise(&s, x2, sigma_mid, den, err))) break;
        for (size_t k = 0; k < s.numel; k++) xp[k] += (x2p[k] - dn[k]) / sigma_mid * dt2;
    }
    dk_sampling_end(&s);
    return st;
}

static const dk_sampler_vtable vtable = {sizeof(dk_sampler_vtable), create, destroy, sample, DK_SAMPLER_STOCHASTIC};
static const dk_plugin plugin = {DK_PLUGIN_ABI_VERSION, sizeof(dk_plugin), DK_KIND_SAMPLER, "dpm_2", "1.0",
                                 "DPM-Solver-2-style midpoint steps in sigma with optional churn (k-diffusion sample_dpm_2)",
                                 options, sizeof options / sizeof options[0], &vtable};

DK_PLUGIN_EXPORT const dk_plugin *diffkit_plugin(void) { return &plugin; }
