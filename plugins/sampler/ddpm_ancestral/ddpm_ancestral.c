/* ddpm_ancestral: DiT's DDPM ancestral sampler with a learned variance
 * (facebookresearch/DiT gaussian_diffusion.py p_sample / p_sample_loop with
 * LEARNED_RANGE variance, clip_denoised=False; Ho et al. 2020, Algorithm 2;
 * Nichol & Dhariwal 2021, eq. 15), written in diffkit's VE frame.
 *
 * Use it with the `ddpm` schedule (respacing e.g. "250" of 1000 timesteps:
 * the sigmas of the kept steps, then 0) and the `ddpm_learned_var`
 * preconditioner, whose aux output is the variance channel v.
 *
 * Respacing: the respaced chain keeps abar at the kept steps, so its betas
 * are beta_i = 1 - abar_i / abar_prev (DiT respace.py). From the sigmas alone
 * (abar = 1/(1 + sigma^2)), for the step sigma s -> sigma_next sn:
 *   beta     = (s^2 - sn^2) / (1 + s^2)
 *   post_var = beta (1 - abar_prev)/(1 - abar) = (s^2 - sn^2) sn^2 / (s^2 (1 + sn^2))
 * and at the last step (sn = 0, post_var = 0) the clipped log posterior
 * variance is that of the step before (DiT: posterior_variance[1]).
 *
 * VP -> VE. DiT's step is x_{t-1} = mean + exp(logvar/2) z with
 * mean = coef1 x0_hat + coef2 x_t, x_t = sqrt(abar) x (x the VE state), and the
 * VE state after the step is x_{t-1} / sqrt(abar_prev). Substituting
 * coef1, coef2 (learned_var.h) gives, with r = sn^2 / s^2,
 *   x_next = r x + (1 - r) D + sqrt(1 + sn^2) exp(logvar/2) z,
 *   logvar = frac log(beta) + (1 - frac) log(post_var_clipped), frac = (v + 1)/2,
 * where D = x - s eps_hat is the denoised output (x0_hat, unclipped). No
 * noise is added at the last step (sn = 0): there x_next = D.
 *
 * Start: the host passes x = sigma_0 n. DiT starts from x_T ~ N(0, I) in the
 * VP frame, i.e. x = sqrt(1 + sigma_0^2) n in VE; with vp_prior = true (the
 * default) x is rescaled by sqrt(1 + sigma_0^2)/sigma_0 first (a factor
 * 1 + 2e-5 at sigma_0 = 157.4). One noise draw per step with sn > 0.
 *
 * variance = large | small: a fixed variance instead of the learned one
 * (DiT's FIXED_LARGE, beta_t, the default of create_diffusion for a model
 * without learned sigma, or FIXED_SMALL, the posterior variance): logvar =
 * log(beta) or log(post_var_clipped), any preconditioner (ddpm_eps). */
#include "diffkit/plugin.h"
#include "diffkit/sampling.h"
#include "../../precond/ddpm_learned_var/learned_var.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef enum { VAR_LEARNED, VAR_LARGE, VAR_SMALL } var_kind;

typedef struct anc {
    int vp_prior;
    var_kind variance;
} anc;

static const dk_option_spec options[] = {
    {"vp_prior", DK_OPT_BOOL, "true", -INFINITY, INFINITY, NULL,
     "rescale the start x = sigma_0 n to sqrt(1 + sigma_0^2) n, DiT's x_T ~ N(0, I) in the VP frame", 0},
    {"variance", DK_OPT_ENUM, "learned", -INFINITY, INFINITY, "learned|large|small",
     "step variance: learned (the model's variance channel, ddpm_learned_var), large (beta_t: DiT's FIXED_LARGE, "
     "what DiT samples a model without learned sigma with) or small (the posterior variance, FIXED_SMALL); the "
     "fixed ones work with any preconditioner (ddpm_eps)", 0},
};

static dk_status create(const dk_options *o, void **self, dk_error *err) {
    anc *a = malloc(sizeof *a);
    if (!a) return dk_error_set(err, DK_ENOMEM, "sampler ddpm_ancestral: out of memory");
    a->vp_prior = dk_opt_bool(o, "vp_prior");
    const char *v = dk_opt_str(o, "variance");
    a->variance = strcmp(v, "large") == 0 ? VAR_LARGE : strcmp(v, "small") == 0 ? VAR_SMALL : VAR_LEARNED;
    *self = a;
    return DK_OK;
}

static void destroy(void *self) { free(self); }

static dk_status sample(void *self, const dk_sampler_env *env, const double *sigmas, int64_t n_sigmas, dk_tensor *x,
                        dk_error *err) {
    const anc *a = self;
    dk_sampling s;
    dk_tensor *den = NULL, *aux = NULL;
    DK_TRY(dk_sampling_begin(&s, "ddpm_ancestral", env, sigmas, n_sigmas, x, 0, err));
    dk_status st = dk_sampling_tmp(&s, &den, err);
    if (st == DK_OK) st = dk_sampling_tmp(&s, &aux, err);
    const int64_t n = n_sigmas - 1;
    double *xp = dk_f64(x);
    if (st == DK_OK && a->vp_prior) {
        const double f = sqrt(1.0 + sigmas[0] * sigmas[0]) / sigmas[0];
        for (size_t k = 0; k < s.numel; k++) xp[k] *= f;
    }
    double prev_log_post = NAN; /* log post_var of the previous step (respaced t = 1 at the last step) */
    for (int64_t i = 0; st == DK_OK && i < n; i++) {
        const double sg = sigmas[i], sn = sigmas[i + 1], s2 = sg * sg, n2 = sn * sn;
        for (int64_t b = 0; b < s.batch; b++) s.sig[b] = sg;
        if ((st = env->denoise(env->denoise_ctx, x, s.sig, den, aux, err))) {
            dk_error_prefix(err, "sampler ddpm_ancestral: denoise at sigma %g", sg);
            break;
        }
        s.nfe++;
        const double *dn = dk_f64(den), *v = dk_f64(aux);
        const int learned = a->variance == VAR_LEARNED;
        for (size_t k = 0; k < s.numel; k++)
            if (!isfinite(dn[k]) || (learned && !isfinite(v[k]))) {
                st = dk_error_set(err, DK_ENUMERIC,
                                  "sampler ddpm_ancestral: the denoiser returned %s %g at element %zu (sigma %g): "
                                  "check the model and that the preconditioner is ddpm_learned_var",
                                  isfinite(dn[k]) ? "variance" : "denoised", isfinite(dn[k]) ? v[k] : dn[k], k, sg);
                break;
            }
        if (st) break;
        if (dk_sampling_step(&s, i, n, sg, sn, sg, x, den)) break;
        const double log_beta = log((s2 - n2) / (1.0 + s2));
        const double log_post = sn > 0.0 ? log((s2 - n2) * n2 / (s2 * (1.0 + n2))) : NAN;
        const double log_post_clipped = sn > 0.0 ? log_post : (isnan(prev_log_post) ? log_beta : prev_log_post);
        const double r = n2 / s2;
        if (sn > 0.0) {
            const double *z;
            if ((st = dk_sampling_noise(&s, sg, sn, 1, "the DDPM ancestral step", &z, err))) break;
            const double ve = sqrt(1.0 + n2);
            for (size_t k = 0; k < s.numel; k++) {
                double lv = learned ? dk_lv_log_variance(v[k], log_beta, log_post_clipped)
                                    : a->variance == VAR_LARGE ? log_beta : log_post_clipped;
                xp[k] = r * xp[k] + (1.0 - r) * dn[k] + ve * exp(0.5 * lv) * z[k];
            }
        } else {
            for (size_t k = 0; k < s.numel; k++) xp[k] = dn[k];
        }
        prev_log_post = log_post;
    }
    dk_sampling_end(&s);
    return st;
}

static const dk_sampler_vtable vtable = {sizeof(dk_sampler_vtable), create, destroy, sample,
                                         DK_SAMPLER_STOCHASTIC | DK_SAMPLER_NEEDS_AUX};
static const dk_plugin plugin = {DK_PLUGIN_ABI_VERSION, sizeof(dk_plugin), DK_KIND_SAMPLER, "ddpm_ancestral", "1.0",
                                 "DiT's DDPM ancestral sampler with learned variance (use the ddpm schedule with respacing "
                                 "and the ddpm_learned_var preconditioner)",
                                 options, sizeof options / sizeof options[0], &vtable};

DK_PLUGIN_EXPORT const dk_plugin *diffkit_plugin(void) { return &plugin; }
