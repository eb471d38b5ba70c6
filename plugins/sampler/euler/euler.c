/* euler: Karras et al. 2022 ("Elucidating the Design Space of Diffusion-Based
 * Generative Models"), Algorithm 2 with Euler steps; k-diffusion's
 * sample_euler. One denoiser call per step; optional churn noise. */
#include "diffkit/plugin.h"
#include "diffkit/sampling.h"

#include <math.h>
#include <stdlib.h>

static const dk_option_spec options[] = {
    DK_CHURN_OPTION_SPECS,
};

static dk_status create(const dk_options *o, void **self, dk_error *err) { return dk_churn_create(o, "euler", self, err); }

static void destroy(void *self) { free(self); }

static dk_status sample(void *self, const dk_sampler_env *env, const double *sigmas, int64_t n_sigmas,
                        dk_tensor *x, dk_error *err) {
    const dk_churn *c = self;
    dk_sampling s;
    dk_tensor *den = NULL;
    DK_TRY(dk_sampling_begin(&s, "euler", env, sigmas, n_sigmas, x, 0, err));
    dk_status st = dk_sampling_tmp(&s, &den, err);
    const int64_t n = n_sigmas - 1;
    double *xp = dk_f64(x);
    for (int64_t i = 0; st == DK_OK && i < n; i++) {
        double sigma_hat;
        const dk_tensor *x_top;
        if ((st = dk_sampling_churn(&s, c, i, n, sigmas[i], sigmas[i + 1], &sigma_hat, &x_top, err))) break;
        if ((st = dk_sampling_denoise(&s, x, sigma_hat, den, err))) break;
        if (dk_sampling_step(&s, i, n, sigmas[i], sigmas[i + 1], sigma_hat, x_top, den)) break;
        /* x += d (sigma_next - sigma_hat), d = (x - D) / sigma_hat */
        const double *dp = dk_f64(den);
        double dt = sigmas[i + 1] - sigma_hat;
        for (size_t k = 0; k < s.numel; k++) xp[k] += (xp[k] - dp[k]) / sigma_hat * dt;
    }
    dk_sampling_end(&s);
    return st;
}

static const dk_sampler_vtable vtable = {sizeof(dk_sampler_vtable), create, destroy, sample, DK_SAMPLER_STOCHASTIC};
static const dk_plugin plugin = {DK_PLUGIN_ABI_VERSION, sizeof(dk_plugin), DK_KIND_SAMPLER, "euler", "1.0",
                                 "Euler steps with optional churn (Karras et al. 2022, Alg. 2; k-diffusion sample_euler)",
                                 options, sizeof options / sizeof options[0], &vtable};

DK_PLUGIN_EXPORT const dk_plugin *diffkit_plugin(void) { return &plugin; }
