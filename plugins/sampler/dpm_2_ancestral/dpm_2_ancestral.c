/* dpm_2_ancestral: ancestral sampling with the dpm_2 midpoint step
 * (k-diffusion sample_dpm_2_ancestral). The deterministic part goes from sigma
 * to sigma_down with a geometric midpoint, then sigma_up of fresh noise is
 * added. Noise is drawn only on steps that take the 2nd-order branch
 * (sigma_down != 0); a step to sigma_down = 0 is a plain Euler step. */
#include "diffkit/numeric.h"
#include "diffkit/plugin.h"
#include "diffkit/sampling.h"

#include <math.h>
#include <stdlib.h>

typedef dk_ancestral anc_opts;

static const dk_option_spec options[] = {
    DK_ANCESTRAL_OPTION_SPECS,
};

static dk_status create(const dk_options *o, void **self, dk_error *err) { return dk_ancestral_create(o, "dpm_2_ancestral", self, err); }

static void destroy(void *self) { free(self); }

static dk_status sample(void *self, const dk_sampler_env *env, const double *sigmas, int64_t n_sigmas,
                        dk_tensor *x, dk_error *err) {
    const anc_opts *a = self;
    dk_sampling s;
    dk_tensor *den = NULL, *d = NULL, *x2 = NULL;
    DK_TRY(dk_sampling_begin(&s, "dpm_2_ancestral", env, sigmas, n_sigmas, x, 0, err));
    dk_status st = dk_sampling_tmp(&s, &den, err);
    if (!st) st = dk_sampling_tmp(&s, &d, err);
    if (!st) st = dk_sampling_tmp(&s, &x2, err);
    const int64_t n = n_sigmas - 1;
    double *xp = dk_f64(x);
    for (int64_t i = 0; st == DK_OK && i < n; i++) {
        double sg = sigmas[i], sn = sigmas[i + 1], sd, su;
        if ((st = dk_sampling_denoise(&s, x, sg, den, err))) break;
        dk_ancestral_step(sg, sn, a->eta, &sd, &su);
        if (dk_sampling_step(&s, i, n, sg, sn, sg, x, den)) break;
        double *dp = dk_f64(d), *x2p = dk_f64(x2);
        const double *dn = dk_f64(den);
        for (size_t k = 0; k < s.numel; k++) dp[k] = (xp[k] - dn[k]) / sg;
        if (sd == 0.0) {
            double dt = sd - sg;
            for (size_t k = 0; k < s.numel; k++) xp[k] += dp[k] * dt;
            continue;
        }
        double sigma_mid = exp(dk_lerp(log(sg), log(sd), 0.5));
        double dt1 = sigma_mid - sg, dt2 = sd - sg;
        for (size_t k = 0; k < s.numel; k++) x2p[k] = xp[k] + dp[k] * dt1;
        if ((st = dk_sampling_denoise(&s, x2, sigma_mid, den, err))) break;
        for (size_t k = 0; k < s.numel; k++) xp[k] += (x2p[k] - dn[k]) / sigma_mid * dt2;
        const double *z;
        if ((st = dk_sampling_noise(&s, sg, sn, su != 0.0, "eta > 0", &z, err))) break;
        if (z)
            for (size_t k = 0; k < s.numel; k++) xp[k] += z[k] * a->s_noise * su;
    }
    dk_sampling_end(&s);
    return st;
}

static const dk_sampler_vtable vtable = {sizeof(dk_sampler_vtable), create, destroy, sample, DK_SAMPLER_STOCHASTIC};
static const dk_plugin plugin = {DK_PLUGIN_ABI_VERSION, sizeof(dk_plugin), DK_KIND_SAMPLER, "dpm_2_ancestral", "1.0",
                                 "Ancestral sampling with DPM-Solver-2-style midpoint steps (k-diffusion sample_dpm_2_ancestral)",
                                 options, sizeof options / sizeof options[0], &vtable};

DK_PLUGIN_EXPORT const dk_plugin *diffkit_plugin(void) { return &plugin; }
