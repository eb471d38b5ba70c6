/* dpmpp_sde: DPM-Solver++ (stochastic, 2 stages per step; k-diffusion
 * sample_dpmpp_sde, after Lu et al. 2022b). With t = -log sigma,
 * h = t_next - t, s = t + r h, fac = 1/(2r):
 *   stage 1: (sd, su) = ancestral(sigma(t), sigma(s), eta), s' = -log sd,
 *            x2 = (sigma(s')/sigma(t)) x - expm1(t - s') D + s_noise su z1
 *   stage 2: (sd, su) = ancestral(sigma(t), sigma(t_next), eta), t' = -log sd,
 *            D' = (1 - fac) D + fac D(x2; sigma(s)),
 *            x = (sigma(t')/sigma(t)) x - expm1(t - t') D' + s_noise su z2
 * Two noise slices per step with sigma_next > 0 (z1 for (sigma, sigma(s)),
 * z2 for (sigma, sigma_next)), drawn even when eta = 0. The step to sigma 0
 * is an Euler step. Two denoiser calls per step, one on the last. */
#include "diffkit/plugin.h"
#include "diffkit/sampling.h"

#include <math.h>
#include <stdlib.h>

typedef struct opts {
    double eta, s_noise, r;
} opts;

static const dk_option_spec options[] = {
    {"eta", DK_OPT_FLOAT, "1", 0.0, INFINITY, NULL, "SDE noise: 0 = deterministic, 1 = the full ancestral split", 0},
    {"s_noise", DK_OPT_FLOAT, "1", 0.0, INFINITY, NULL, "scale of the added noise", 0},
    {"r", DK_OPT_FLOAT, "0.5", 0.0, 1.0, NULL, "position of the intermediate stage in log-sigma, s = t + r h",
     DK_OPT_MIN_EXCLUSIVE},
};

static dk_status create(const dk_options *o, void **self, dk_error *err) {
    opts *p = malloc(sizeof *p);
    if (!p) return dk_error_set(err, DK_ENOMEM, "sampler dpmpp_sde: out of memory");
    p->eta = dk_opt_float(o, "eta");
    p->s_noise = dk_opt_float(o, "s_noise");
    p->r = dk_opt_float(o, "r");
    *self = p;
    return DK_OK;
}

static void destroy(void *self) { free(self); }

static double sigma_fn(double t) { return exp(-t); }
static double t_fn(double sigma) { return -log(sigma); }

static dk_status sample(void *self, const dk_sampler_env *env, const double *sigmas, int64_t n_sigmas,
                        dk_tensor *x, dk_error *err) {
    const opts *p = self;
    dk_sampling s;
    dk_tensor *den = NULL, *den2 = NULL, *x2 = NULL;
    DK_TRY(dk_sampling_begin(&s, "dpmpp_sde", env, sigmas, n_sigmas, x, 0, err));
    dk_status st = dk_sampling_tmp(&s, &den, err);
    if (!st) st = dk_sampling_tmp(&s, &den2, err);
    if (!st) st = dk_sampling_tmp(&s, &x2, err);
    const int64_t n = n_sigmas - 1;
    double *xp = dk_f64(x), *x2p = x2 ? dk_f64(x2) : NULL;
    for (int64_t i = 0; st == DK_OK && i < n; i++) {
        double sg = sigmas[i], sn = sigmas[i + 1];
        if ((st = dk_sampling_denoise(&s, x, sg, den, err))) break;
        if (dk_sampling_step(&s, i, n, sg, sn, sg, x, den)) break;
        const double *dn = dk_f64(den), *dn2 = dk_f64(den2);
        if (sn == 0.0) {
            double dt = sn - sg;
            for (size_t k = 0; k < s.numel; k++) xp[k] += (xp[k] - dn[k]) / sg * dt;
            continue;
        }
        double t = t_fn(sg), t_next = t_fn(sn);
        double h = t_next - t;
        double sm = t + h * p->r;
        double fac = 1.0 / (2.0 * p->r);
        const double *z;
        /* stage 1 */
        double sd, su;
        dk_ancestral_step(sigma_fn(t), sigma_fn(sm), p->eta, &sd, &su);
        double s_ = t_fn(sd);
        double a = sigma_fn(s_) / sigma_fn(t), b = expm1(t - s_);
        for (size_t k = 0; k < s.numel; k++) x2p[k] = a * xp[k] - b * dn[k];
        if ((st = dk_sampling_noise(&s, sigma_fn(t), sigma_fn(sm), su != 0.0, "eta > 0", &z, err))) break;
        if (z)
            for (size_t k = 0; k < s.numel; k++) x2p[k] += z[k] * p->s_noise * su;
        if ((st = dk_sampling_denoise(&s, x2, sigma_fn(sm), den2, err))) break;
        /* stage 2 */
        dk_ancestral_step(sigma_fn(t), sigma_fn(t_next), p->eta, &sd, &su);
        double tn_ = t_fn(sd);
        a = sigma_fn(tn_) / sigma_fn(t);
        b = expm1(t - tn_);
        for (size_t k = 0; k < s.numel; k++) {
            double dd = (1.0 - fac) * dn[k] + fac * dn2[k];
            xp[k] = a * xp[k] - b * dd;
        }
        if ((st = dk_sampling_noise(&s, sigma_fn(t), sigma_fn(t_next), su != 0.0, "eta > 0", &z, err))) break;
        if (z)
            for (size_t k = 0; k < s.numel; k++) xp[k] += z[k] * p->s_noise * su;
    }
    dk_sampling_end(&s);
    return st;
}

static const dk_sampler_vtable vtable = {sizeof(dk_sampler_vtable), create, destroy, sample, DK_SAMPLER_STOCHASTIC};
static const dk_plugin plugin = {DK_PLUGIN_ABI_VERSION, sizeof(dk_plugin), DK_KIND_SAMPLER, "dpmpp_sde", "1.0",
                                 "DPM-Solver++ SDE, two stages per step (k-diffusion sample_dpmpp_sde)",
                                 options, sizeof options / sizeof options[0], &vtable};

DK_PLUGIN_EXPORT const dk_plugin *diffkit_plugin(void) { return &plugin; }
