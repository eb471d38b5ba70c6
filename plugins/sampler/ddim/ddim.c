/* ddim: DDIM (Song, Meng & Ermon 2021, "Denoising Diffusion Implicit Models",
 * eq. 12) written in the VE frame x = x0 + sigma n that every diffkit sampler
 * sees. A VP state x_vp = sqrt(abar) x with sigma^2 = (1 - abar)/abar; DDIM's
 *   x_vp' = sqrt(abar') x0 + sqrt(1 - abar' - s^2) eps + s z,
 *   s^2 = eta^2 (1 - abar')/(1 - abar) (1 - abar/abar'),
 * divided by sqrt(abar') becomes, with eps = (x - D)/sigma,
 *   x' = D + sqrt(sigma'^2 - su^2) eps + su z,  su^2 = eta^2 sigma'^2 (sigma^2 - sigma'^2)/sigma^2,
 * i.e. sigma_up / sigma_down are exactly k-diffusion's get_ancestral_step.
 * Hence: eta = 0 is the Euler step x' = x + (sigma' - sigma)(x - D)/sigma
 * (same sigmas, same result; tests/unit/test_samplers_ddim.c checks it), and
 * eta > 0 is euler_ancestral with the same eta (for eta <= 1, where the
 * min(sigma', .) cap of the ancestral step is inactive). Noise: one slice per
 * step with sigma_next > 0, only when eta != 0. The step to 0 gives x = D. */
#include "diffkit/plugin.h"
#include "diffkit/sampling.h"

#include <math.h>
#include <stdlib.h>

static const dk_option_spec options[] = {
    {"eta", DK_OPT_FLOAT, "0", 0.0, INFINITY, NULL, "DDIM eta: 0 = deterministic DDIM, 1 = DDPM-like ancestral", 0},
    {"s_noise", DK_OPT_FLOAT, "1", 0.0, INFINITY, NULL, "scale of the added noise", 0},
};

/* eta and s_noise, read into a dk_ancestral (sampling.h) */
static dk_status create(const dk_options *o, void **self, dk_error *err) {
    return dk_ancestral_create(o, "ddim", self, err);
}

static void destroy(void *self) { free(self); }

static dk_status sample(void *self, const dk_sampler_env *env, const double *sigmas, int64_t n_sigmas,
                        dk_tensor *x, dk_error *err) {
    const dk_ancestral *p = self;
    dk_sampling s;
    dk_tensor *den = NULL;
    DK_TRY(dk_sampling_begin(&s, "ddim", env, sigmas, n_sigmas, x, 0, err));
    dk_status st = dk_sampling_tmp(&s, &den, err);
    const int64_t n = n_sigmas - 1;
    double *xp = dk_f64(x);
    for (int64_t i = 0; st == DK_OK && i < n; i++) {
        double sg = sigmas[i], sn = sigmas[i + 1], sd, su;
        if ((st = dk_sampling_denoise(&s, x, sg, den, err))) break;
        if (dk_sampling_step(&s, i, n, sg, sn, sg, x, den)) break;
        dk_ancestral_step(sg, sn, p->eta, &sd, &su);
        const double *dn = dk_f64(den);
        /* x' = D + sigma_down eps, eps = (x - D)/sigma */
        for (size_t k = 0; k < s.numel; k++) xp[k] = dn[k] + sd * ((xp[k] - dn[k]) / sg);
        if (sn > 0.0 && p->eta != 0.0) {
            const double *z;
            if ((st = dk_sampling_noise(&s, sg, sn, 1, "eta > 0", &z, err))) break;
            for (size_t k = 0; k < s.numel; k++) xp[k] += z[k] * p->s_noise * su;
        }
    }
    dk_sampling_end(&s);
    return st;
}

static const dk_sampler_vtable vtable = {sizeof(dk_sampler_vtable), create, destroy, sample, DK_SAMPLER_STOCHASTIC};
static const dk_plugin plugin = {DK_PLUGIN_ABI_VERSION, sizeof(dk_plugin), DK_KIND_SAMPLER, "ddim", "1.0",
                                 "DDIM with eta, in the VE frame (Song et al. 2021, eq. 12)",
                                 options, sizeof options / sizeof options[0], &vtable};

DK_PLUGIN_EXPORT const dk_plugin *diffkit_plugin(void) { return &plugin; }
