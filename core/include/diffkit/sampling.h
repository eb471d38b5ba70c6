/* sampling.h: the pieces shared by the sampler plugins (plugins/sampler/<name>/).
 *
 * A sampler plugin owns its loop; this file gives it the common parts so each
 * plugin stays short and reads like the algorithm:
 *   - dk_sampling: one sample() call's context: validates x and the sigmas,
 *     calls the denoise callback with sigma broadcast over the batch (and
 *     checks the result is finite), draws noise, reports steps, allocates
 *     scratch tensors like x and frees them at the end;
 *   - k-diffusion's helpers: the ancestral step split, the churn gamma, the
 *     linear multistep coefficients (exact polynomial integration);
 *   - DPM-Solver-1/2/3 single steps with the per-step eps cache (Lu et al.
 *     2022, "DPM-Solver", arXiv:2206.00927, Algorithms 1-2), used by dpm_fast
 *     and dpm_adaptive.
 * Everything is float64. Notation as in k-diffusion: the VE frame x = x0 +
 * sigma n, D(x; sigma) the denoiser, d = (x - D)/sigma, t = -log sigma.
 *
 * Noise draws (docs/samplers.md): every draw k-diffusion makes is made in the
 * same order, including draws whose value is multiplied by zero (euler churn
 * with gamma = 0, ancestral samplers with eta = 0), so a replayed stream lines
 * up with the golden files. Such "discarded" draws are skipped when the
 * caller passes no noise source (env->noise == NULL); a draw that matters with
 * no source is an error naming the sampler and the option. */
#ifndef DIFFKIT_SAMPLING_H
#define DIFFKIT_SAMPLING_H

#include <stddef.h>
#include <stdint.h>
#include "diffkit/plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DK_SAMPLING_MAX_TMP 32

typedef struct dk_sampling {
    const char *name;            /* the sampler, for messages */
    const dk_sampler_env *env;
    dk_tensor *x;                /* the caller's x: F64 [B, ...] */
    int64_t batch;               /* B */
    size_t numel;                /* B * D */
    double *sig;                 /* (B) sigma broadcast for the denoise callback */
    dk_tensor *noise;            /* the last draw, like x */
    dk_tensor *tmp[DK_SAMPLING_MAX_TMP];
    int n_tmp;
    dk_tensor *x_top;            /* copy of x before churn noise (for step reports) */
    uint64_t nfe;                /* denoise calls so far */
    int stopped;                 /* the step callback asked to stop */
} dk_sampling;

/* Begin a sample() call. Checks: x is F64 with a batch dim, every sigma is
 * finite and >= 0, n_sigmas >= 2; unless own_sigmas, the sigmas are strictly
 * descending and the last is 0 (own_sigmas: sigmas[0] > 0 and the last
 * non-zero sigma, dk_sampling_sigma_min, is > 0 and below sigmas[0]). */
dk_status dk_sampling_begin(dk_sampling *s, const char *name, const dk_sampler_env *env,
                            const double *sigmas, int64_t n_sigmas, dk_tensor *x, int own_sigmas,
                            dk_error *err);
/* Frees the scratch tensors. On failure dk_sampling_begin has already
 * cleaned up; after success, call dk_sampling_end exactly once. */
void dk_sampling_end(dk_sampling *s);
/* *t = a zeroed scratch tensor like x, freed by dk_sampling_end. */
dk_status dk_sampling_tmp(dk_sampling *s, dk_tensor **t, dk_error *err);
/* The smallest non-zero sigma of a schedule (0 if none). */
double dk_sampling_sigma_min(const double *sigmas, int64_t n_sigmas);

/* denoised = D(x; sigma) for every sample; counts an evaluation; fails with
 * DK_ENUMERIC if the result is not finite. */
dk_status dk_sampling_denoise(dk_sampling *s, const dk_tensor *x, double sigma, dk_tensor *denoised,
                              dk_error *err);
/* Draw the next noise slice for the step sigma -> sigma_next into s->noise and
 * return its data in *z. When env->noise is NULL: if `needed`, an error
 * naming `why` (e.g. "eta > 0"); else *z = NULL (the draw is skipped). When
 * the draw is not `needed` (k-diffusion draws it and throws it away), the
 * source is advanced with dk_noise_skip and *z = NULL. */
dk_status dk_sampling_noise(dk_sampling *s, double sigma, double sigma_next, int needed, const char *why,
                            const double **z, dk_error *err);
/* Report a step to env->on_step (if any). Returns 1 if sampling must stop
 * (s->stopped is set), else 0. */
int dk_sampling_step(dk_sampling *s, int64_t i, int64_t n, double sigma, double sigma_next,
                     double sigma_hat, const dk_tensor *x, const dk_tensor *denoised);

/* ---- k-diffusion's helpers ------------------------------------------------ */

/* Churn options of euler, heun and dpm_2 (Karras et al. 2022, Algorithm 2). */
typedef struct dk_churn {
    double s_churn, s_tmin, s_tmax, s_noise;
} dk_churn;
/* The option-table rows of the churn options (euler, heun, dpm_2), and a
 * create() that reads them into a malloc'd dk_churn (freed with free()). */
#define DK_CHURN_OPTION_SPECS                                                                                   \
    {"s_churn", DK_OPT_FLOAT, "0", 0.0, INFINITY, NULL,                                                        \
     "churn: gamma = min(s_churn / n_steps, sqrt(2) - 1) inside [s_tmin, s_tmax] (Karras et al. 2022, Alg. 2)", 0}, \
    {"s_tmin", DK_OPT_FLOAT, "0", 0.0, INFINITY, NULL, "churn only at sigmas >= s_tmin", 0},                    \
    {"s_tmax", DK_OPT_FLOAT, "inf", 0.0, INFINITY, NULL, "churn only at sigmas <= s_tmax (inf = no bound)", DK_OPT_ALLOW_INF},                  \
    {"s_noise", DK_OPT_FLOAT, "1", 0.0, INFINITY, NULL, "scale of the churn noise (S_noise)", 0}
dk_status dk_churn_create(const dk_options *o, const char *sampler, void **self, dk_error *err);

/* The eta / s_noise options of the ancestral samplers and a create() that
 * reads them into a malloc'd dk_ancestral (freed with free()). */
typedef struct dk_ancestral {
    double eta, s_noise;
} dk_ancestral;
#define DK_ANCESTRAL_OPTION_SPECS                                                          \
    {"eta", DK_OPT_FLOAT, "1", 0.0, INFINITY, NULL,                                          \
     "ancestral noise: 0 = deterministic, 1 = the full ancestral (DDPM-like) step", 0},     \
    {"s_noise", DK_OPT_FLOAT, "1", 0.0, INFINITY, NULL, "scale of the added noise", 0}
dk_status dk_ancestral_create(const dk_options *o, const char *sampler, void **self, dk_error *err);
/* The churn part of step i of n (sigma = sigmas[i], sigma_next = sigmas[i+1]):
 * gamma = dk_churn_gamma(...); one noise slice is drawn every step (discarded
 * when gamma = 0; skipped then if there is no noise source);
 * sigma_hat = sigma (gamma + 1); if gamma > 0,
 * x += s_noise z sqrt(sigma_hat^2 - sigma^2). *x_top is x before the noise
 * (for the step report: a copy when noise was added, else x itself). */
dk_status dk_sampling_churn(dk_sampling *s, const dk_churn *c, int64_t i, int64_t n, double sigma,
                            double sigma_next, double *sigma_hat, const dk_tensor **x_top, dk_error *err);

/* get_ancestral_step: eta == 0 gives (sigma_to, 0); else
 * su = min(st, eta sqrt(st^2 (sf^2 - st^2) / sf^2)), sd = sqrt(st^2 - su^2). */
void dk_ancestral_step(double sigma_from, double sigma_to, double eta, double *sigma_down,
                       double *sigma_up);
/* Karras et al. 2022, Algorithm 2: gamma = min(s_churn / n_steps, sqrt(2) - 1)
 * if s_tmin <= sigma <= s_tmax, else 0. */
double dk_churn_gamma(double sigma, int64_t n_steps, double s_churn, double s_tmin, double s_tmax);
/* Linear multistep coefficients for step i of order o (1 <= o <= i+1):
 * coeff[j] = integral over [sigmas[i], sigmas[i+1]] of the Lagrange basis
 * polynomial prod_{k != j, k < o} (tau - sigmas[i-k]) / (sigmas[i-j] - sigmas[i-k]),
 * the weight of the j-th most recent derivative; integrated exactly. */
dk_status dk_lms_coeffs(const double *sigmas, int64_t i, int order, double *coeff, dk_error *err);

/* ---- DPM-Solver steps (t = -log sigma) ------------------------------------ */

typedef struct dk_dpm {
    dk_sampling *s;
    dk_tensor *eps, *eps_r1, *eps_r2; /* the per-step cache */
    int has_eps, has_r1, has_r2;
    dk_tensor *u;                     /* intermediate point */
    dk_tensor *den;                   /* denoised at the last evaluation */
} dk_dpm;

dk_status dk_dpm_init(dk_dpm *d, dk_sampling *s, dk_error *err);
/* Start a new step: forget the cached evaluations. */
void dk_dpm_reset(dk_dpm *d);
/* eps(x, t) = (x - D(x; sigma(t))) / sigma(t), cached for the step; on the
 * first call of a step d->den holds D(x; sigma(t)). */
dk_status dk_dpm_eps(dk_dpm *d, const dk_tensor *x, double t, dk_error *err);
/* out = DPM-Solver-1 step from t to t_next (out may not alias x). */
dk_status dk_dpm_step1(dk_dpm *d, const dk_tensor *x, double t, double t_next, dk_tensor *out,
                       dk_error *err);
/* out = DPM-Solver-2 step with intermediate ratio r1. */
dk_status dk_dpm_step2(dk_dpm *d, const dk_tensor *x, double t, double t_next, double r1,
                       dk_tensor *out, dk_error *err);
/* out = DPM-Solver-3 step with ratios r1, r2. */
dk_status dk_dpm_step3(dk_dpm *d, const dk_tensor *x, double t, double t_next, double r1, double r2,
                       dk_tensor *out, dk_error *err);

#ifdef __cplusplus
}
#endif
#endif
