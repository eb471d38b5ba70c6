/* dpmpp_2m_sde: DPM-Solver++(2M) SDE (Lu et al. 2022b, arXiv:2211.01095, the
 * SDE variant of Algorithm 2; k-diffusion sample_dpmpp_2m_sde). With
 * h = log(sigma/sigma_next), eta_h = eta h, g = -expm1(-h - eta_h):
 *   x = (sigma_next/sigma) e^{-eta_h} x + g D
 *   with a previous D (r = h_last/h):
 *     midpoint: x += g/2 (1/r)(D - D_prev)
 *     heun:     x += (g/(-h - eta_h) + 1)(1/r)(D - D_prev)
 *   eta != 0:   x += s_noise sigma_next sqrt(-expm1(-2 eta_h)) z
 * The step to sigma 0 returns x = D. One denoiser call per step; one noise
 * slice per step with sigma_next > 0, only when eta != 0. */
#include "diffkit/plugin.h"
#include "diffkit/sampling.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct opts {
    double eta, s_noise;
    int heun;
} opts;

static const dk_option_spec options[] = {
    {"eta", DK_OPT_FLOAT, "1", 0.0, INFINITY, NULL, "SDE noise: 0 = the ODE (DPM-Solver++(2M)), 1 = the full SDE", 0},
    {"s_noise", DK_OPT_FLOAT, "1", 0.0, INFINITY, NULL, "scale of the added noise", 0},
    {"solver_type", DK_OPT_ENUM, "midpoint", -INFINITY, INFINITY, "midpoint|heun",
     "the 2nd-order correction: midpoint or heun", 0},
};

static dk_status create(const dk_options *o, void **self, dk_error *err) {
    opts *p = malloc(sizeof *p);
    if (!p) return dk_error_set(err, DK_ENOMEM, "sampler dpmpp_2m_sde: out of memory");
    p->eta = dk_opt_float(o, "eta");
    p->s_noise = dk_opt_float(o, "s_noise");
    p->heun = strcmp(dk_opt_str(o, "solver_type"), "heun") == 0;
    *self = p;
    return DK_OK;
}

static void destroy(void *self) { free(self); }

static dk_status sample(void *self, const dk_sampler_env *env, const double *sigmas, int64_t n_sigmas,
                        dk_tensor *x, dk_error *err) {
    const opts *p = self;
    dk_sampling s;
    dk_tensor *den = NULL, *old = NULL;
    DK_TRY(dk_sampling_begin(&s, "dpmpp_2m_sde", env, sigmas, n_sigmas, x, 0, err));
    dk_status st = dk_sampling_tmp(&s, &den, err);
    if (!st) st = dk_sampling_tmp(&s, &old, err);
    const int64_t n = n_sigmas - 1;
    double *xp = dk_f64(x);
    int has_old = 0;
    double h = 0.0, h_last = 0.0;
    for (int64_t i = 0; st == DK_OK && i < n; i++) {
        double sg = sigmas[i], sn = sigmas[i + 1];
        if ((st = dk_sampling_denoise(&s, x, sg, den, err))) break;
        if (dk_sampling_step(&s, i, n, sg, sn, sg, x, den)) break;
        const double *dn = dk_f64(den), *od = dk_f64(old);
        if (sn == 0.0) {
            /* denoising step */
            for (size_t k = 0; k < s.numel; k++) xp[k] = dn[k];
        } else {
            double t = -log(sg), tn = -log(sn);
            h = tn - t;
            double eta_h = p->eta * h;
            double a = sn / sg * exp(-eta_h), g = -expm1(-h - eta_h);
            for (size_t k = 0; k < s.numel; k++) xp[k] = a * xp[k] + g * dn[k];
            if (has_old) {
                double r = h_last / h;
                double c = p->heun ? (g / (-h - eta_h) + 1.0) * (1.0 / r) : 0.5 * g * (1.0 / r);
                for (size_t k = 0; k < s.numel; k++) xp[k] += c * (dn[k] - od[k]);
            }
            if (p->eta != 0.0) {
                const double *z;
                if ((st = dk_sampling_noise(&s, sg, sn, 1, "eta > 0", &z, err))) break;
                double c = sn * sqrt(-expm1(-2.0 * eta_h)) * p->s_noise;
                for (size_t k = 0; k < s.numel; k++) xp[k] += z[k] * c;
            }
        }
        dk_tensor *tmp = old;
        old = den;
        den = tmp;
        has_old = 1;
        h_last = h;
    }
    dk_sampling_end(&s);
    return st;
}

static const dk_sampler_vtable vtable = {sizeof(dk_sampler_vtable), create, destroy, sample, DK_SAMPLER_STOCHASTIC};
static const dk_plugin plugin = {DK_PLUGIN_ABI_VERSION, sizeof(dk_plugin), DK_KIND_SAMPLER, "dpmpp_2m_sde", "1.0",
                                 "DPM-Solver++(2M) SDE, midpoint or heun correction (k-diffusion sample_dpmpp_2m_sde)",
                                 options, sizeof options / sizeof options[0], &vtable};

DK_PLUGIN_EXPORT const dk_plugin *diffkit_plugin(void) { return &plugin; }
