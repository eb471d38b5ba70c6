/* dpmpp_3m_sde: DPM-Solver++(3M) SDE (k-diffusion sample_dpmpp_3m_sde, a
 * third-order multistep extension of Lu et al. 2022b). With h = log(sigma /
 * sigma_next), h_eta = h (eta + 1), phi_2 = expm1(-h_eta)/h_eta + 1,
 * phi_3 = phi_2/h_eta - 1/2:
 *   x = e^{-h_eta} x - expm1(-h_eta) D
 *   two previous D (r0 = h_1/h, r1 = h_2/h): d1_0 = (D - D_1)/r0,
 *     d1_1 = (D_1 - D_2)/r1, d1 = d1_0 + (d1_0 - d1_1) r0/(r0 + r1),
 *     d2 = (d1_0 - d1_1)/(r0 + r1):       x += phi_2 d1 - phi_3 d2
 *   one previous D (r = h_1/h):             x += phi_2 (D - D_1)/r
 *   eta != 0: x += s_noise sigma_next sqrt(-expm1(-2 h eta)) z
 * The step to sigma 0 returns x = D. One denoiser call per step; one noise
 * slice per step with sigma_next > 0, only when eta != 0. */
#include "diffkit/plugin.h"
#include "diffkit/sampling.h"

#include <math.h>
#include <stdlib.h>

static const dk_option_spec options[] = {
    {"eta", DK_OPT_FLOAT, "1", 0.0, INFINITY, NULL, "SDE noise: 0 = the ODE, 1 = the full SDE", 0},
    {"s_noise", DK_OPT_FLOAT, "1", 0.0, INFINITY, NULL, "scale of the added noise", 0},
};

/* eta and s_noise, read into a dk_ancestral (sampling.h) */
static dk_status create(const dk_options *o, void **self, dk_error *err) {
    return dk_ancestral_create(o, "dpmpp_3m_sde", self, err);
}

static void destroy(void *self) { free(self); }

static dk_status sample(void *self, const dk_sampler_env *env, const double *sigmas, int64_t n_sigmas,
                        dk_tensor *x, dk_error *err) {
    const dk_ancestral *p = self;
    dk_sampling s;
    dk_tensor *den = NULL, *den1 = NULL, *den2 = NULL;
    DK_TRY(dk_sampling_begin(&s, "dpmpp_3m_sde", env, sigmas, n_sigmas, x, 0, err));
    dk_status st = dk_sampling_tmp(&s, &den, err);
    if (!st) st = dk_sampling_tmp(&s, &den1, err);
    if (!st) st = dk_sampling_tmp(&s, &den2, err);
    const int64_t n = n_sigmas - 1;
    double *xp = dk_f64(x);
    /* h persists across iterations, as in k-diffusion (the step to 0 keeps the last h) */
    double h = 0.0, h1 = 0.0, h2 = 0.0;
    int has_h = 0, has_h1 = 0, has_h2 = 0;
    for (int64_t i = 0; st == DK_OK && i < n; i++) {
        double sg = sigmas[i], sn = sigmas[i + 1];
        if ((st = dk_sampling_denoise(&s, x, sg, den, err))) break;
        if (dk_sampling_step(&s, i, n, sg, sn, sg, x, den)) break;
        const double *d0 = dk_f64(den), *d1p = dk_f64(den1), *d2p = dk_f64(den2);
        if (sn == 0.0) {
            for (size_t k = 0; k < s.numel; k++) xp[k] = d0[k];
        } else {
            double t = -log(sg), tn = -log(sn);
            h = tn - t;
            has_h = 1;
            double h_eta = h * (p->eta + 1.0);
            double a = exp(-h_eta), g = -expm1(-h_eta);
            for (size_t k = 0; k < s.numel; k++) xp[k] = a * xp[k] + g * d0[k];
            double phi_2 = expm1(-h_eta) / h_eta + 1.0;
            if (has_h2) {
                double r0 = h1 / h, r1 = h2 / h;
                double phi_3 = phi_2 / h_eta - 0.5;
                for (size_t k = 0; k < s.numel; k++) {
                    double d1_0 = (d0[k] - d1p[k]) / r0;
                    double d1_1 = (d1p[k] - d2p[k]) / r1;
                    double d1 = d1_0 + (d1_0 - d1_1) * r0 / (r0 + r1);
                    double d2 = (d1_0 - d1_1) / (r0 + r1);
                    xp[k] = xp[k] + phi_2 * d1 - phi_3 * d2;
                }
            } else if (has_h1) {
                double r = h1 / h;
                for (size_t k = 0; k < s.numel; k++) xp[k] += phi_2 * ((d0[k] - d1p[k]) / r);
            }
            if (p->eta != 0.0) {
                const double *z;
                if ((st = dk_sampling_noise(&s, sg, sn, 1, "eta > 0", &z, err))) break;
                double c = sn * sqrt(-expm1(-2.0 * h * p->eta)) * p->s_noise;
                for (size_t k = 0; k < s.numel; k++) xp[k] += z[k] * c;
            }
        }
        /* denoised_1, denoised_2 = denoised, denoised_1; h_1, h_2 = h, h_1 */
        dk_tensor *tmp = den2;
        den2 = den1;
        den1 = den;
        den = tmp;
        h2 = h1;
        has_h2 = has_h1;
        h1 = h;
        has_h1 = has_h;
    }
    dk_sampling_end(&s);
    return st;
}

static const dk_sampler_vtable vtable = {sizeof(dk_sampler_vtable), create, destroy, sample, DK_SAMPLER_STOCHASTIC};
static const dk_plugin plugin = {DK_PLUGIN_ABI_VERSION, sizeof(dk_plugin), DK_KIND_SAMPLER, "dpmpp_3m_sde", "1.0",
                                 "DPM-Solver++(3M) SDE (k-diffusion sample_dpmpp_3m_sde)",
                                 options, sizeof options / sizeof options[0], &vtable};

DK_PLUGIN_EXPORT const dk_plugin *diffkit_plugin(void) { return &plugin; }
