/* dpmpp_2s_ancestral: ancestral sampling with DPM-Solver++(2S) steps (Lu et
 * al. 2022b, "DPM-Solver++", arXiv:2211.01095, Algorithm 1 with r = 1/2;
 * k-diffusion sample_dpmpp_2s_ancestral). In t = -log sigma, with
 * h = t(sigma_down) - t(sigma) and s = t + h/2:
 *   x2 = (sigma(s)/sigma(t)) x - expm1(-h/2) D(x; sigma),
 *   x  = (sigma_down/sigma(t)) x - expm1(-h) D(x2; sigma(s)),
 * then + s_noise sigma_up z when sigma_next > 0 (drawn even when eta = 0).
 * A step with sigma_down = 0 is an Euler step. */
#include "diffkit/plugin.h"
#include "diffkit/sampling.h"

#include <math.h>
#include <stdlib.h>

typedef dk_ancestral anc_opts;

static const dk_option_spec options[] = {
    DK_ANCESTRAL_OPTION_SPECS,
};

static dk_status create(const dk_options *o, void **self, dk_error *err) { return dk_ancestral_create(o, "dpmpp_2s_ancestral", self, err); }

static void destroy(void *self) { free(self); }

static double sigma_fn(double t) { return exp(-t); }
static double t_fn(double sigma) { return -log(sigma); }

static dk_status sample(void *self, const dk_sampler_env *env, const double *sigmas, int64_t n_sigmas,
                        dk_tensor *x, dk_error *err) {
    const anc_opts *a = self;
    dk_sampling s;
    dk_tensor *den = NULL, *x2 = NULL;
    DK_TRY(dk_sampling_begin(&s, "dpmpp_2s_ancestral", env, sigmas, n_sigmas, x, 0, err));
    dk_status st = dk_sampling_tmp(&s, &den, err);
    if (!st) st = dk_sampling_tmp(&s, &x2, err);
    const int64_t n = n_sigmas - 1;
    double *xp = dk_f64(x);
    for (int64_t i = 0; st == DK_OK && i < n; i++) {
        double sg = sigmas[i], sn = sigmas[i + 1], sd, su;
        if ((st = dk_sampling_denoise(&s, x, sg, den, err))) break;
        dk_ancestral_step(sg, sn, a->eta, &sd, &su);
        if (dk_sampling_step(&s, i, n, sg, sn, sg, x, den)) break;
        const double *dn = dk_f64(den);
        if (sd == 0.0) {
            double dt = sd - sg;
            for (size_t k = 0; k < s.numel; k++) xp[k] += (xp[k] - dn[k]) / sg * dt;
        } else {
            double t = t_fn(sg), t_next = t_fn(sd);
            double h = t_next - t, r = 0.5;
            double sm = t + r * h;
            double c1 = sigma_fn(sm) / sigma_fn(t), c2 = expm1(-h * r);
            double *x2p = dk_f64(x2);
            for (size_t k = 0; k < s.numel; k++) x2p[k] = c1 * xp[k] - c2 * dn[k];
            if ((st = dk_sampling_denoise(&s, x2, sigma_fn(sm), den, err))) break;
            double c3 = sigma_fn(t_next) / sigma_fn(t), c4 = expm1(-h);
            for (size_t k = 0; k < s.numel; k++) xp[k] = c3 * xp[k] - c4 * dn[k];
        }
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
static const dk_plugin plugin = {DK_PLUGIN_ABI_VERSION, sizeof(dk_plugin), DK_KIND_SAMPLER, "dpmpp_2s_ancestral", "1.0",
                                 "Ancestral sampling with DPM-Solver++(2S) steps (Lu et al. 2022b; k-diffusion sample_dpmpp_2s_ancestral)",
                                 options, sizeof options / sizeof options[0], &vtable};

DK_PLUGIN_EXPORT const dk_plugin *diffkit_plugin(void) { return &plugin; }
