/* euler_ancestral: ancestral sampling with Euler steps (k-diffusion
 * sample_euler_ancestral; Ho et al. 2020 / Song et al. 2021 ancestral split of
 * each step into a deterministic step to sigma_down and fresh noise sigma_up).
 * One denoiser call per step; one noise slice per step with sigma_next > 0,
 * drawn even when eta = 0 (then multiplied by sigma_up = 0). */
#include "diffkit/plugin.h"
#include "diffkit/sampling.h"

#include <math.h>
#include <stdlib.h>

typedef dk_ancestral anc_opts;

static const dk_option_spec options[] = {
    DK_ANCESTRAL_OPTION_SPECS,
};

static dk_status create(const dk_options *o, void **self, dk_error *err) { return dk_ancestral_create(o, "euler_ancestral", self, err); }

static void destroy(void *self) { free(self); }

static dk_status sample(void *self, const dk_sampler_env *env, const double *sigmas, int64_t n_sigmas,
                        dk_tensor *x, dk_error *err) {
    const anc_opts *a = self;
    dk_sampling s;
    dk_tensor *den = NULL;
    DK_TRY(dk_sampling_begin(&s, "euler_ancestral", env, sigmas, n_sigmas, x, 0, err));
    dk_status st = dk_sampling_tmp(&s, &den, err);
    const int64_t n = n_sigmas - 1;
    double *xp = dk_f64(x);
    for (int64_t i = 0; st == DK_OK && i < n; i++) {
        double sg = sigmas[i], sn = sigmas[i + 1], sd, su;
        if ((st = dk_sampling_denoise(&s, x, sg, den, err))) break;
        dk_ancestral_step(sg, sn, a->eta, &sd, &su);
        if (dk_sampling_step(&s, i, n, sg, sn, sg, x, den)) break;
        const double *dn = dk_f64(den);
        double dt = sd - sg;
        for (size_t k = 0; k < s.numel; k++) xp[k] += (xp[k] - dn[k]) / sg * dt;
        if (sn > 0.0) {
            const double *z;
            if ((st = dk_sampling_noise(&s, sg, sn, su != 0.0, "eta > 0", &z, err))) break;
            if (z)
                for (size_t k = 0; k < s.numel; k++) xp[k] += z[k] * a->s_noise * su;
        }
    }
    dk_sampling_end(&s);
    return st;
}

static const dk_sampler_vtable vtable = {sizeof(dk_sampler_vtable), create, destroy, sample, DK_SAMPLER_STOCHASTIC};
static const dk_plugin plugin = {DK_PLUGIN_ABI_VERSION, sizeof(dk_plugin), DK_KIND_SAMPLER, "euler_ancestral", "1.0",
                                 "Ancestral sampling with Euler steps (k-diffusion sample_euler_ancestral)",
                                 options, sizeof options / sizeof options[0], &vtable};

DK_PLUGIN_EXPORT const dk_plugin *diffkit_plugin(void) { return &plugin; }
