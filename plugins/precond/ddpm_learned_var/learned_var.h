/* learned_var.h: the DDPM posterior and DiT's learned-range variance, shared
 * (header-only, static inline) by the `ddpm_learned_var` preconditioner, the
 * `ddpm_ancestral` sampler and their tests.
 *
 * VP frame (Ho et al. 2020, eqs. 6-7; Nichol & Dhariwal 2021, eq. 15):
 *   x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps,   alpha_t = 1 - beta_t,
 *   q(x_{t-1} | x_t, x0) = N(coef1 x0 + coef2 x_t, post_var),
 *   coef1 = beta_t sqrt(abar_prev) / (1 - abar_t),
 *   coef2 = (1 - abar_prev) sqrt(alpha_t) / (1 - abar_t),
 *   post_var = beta_t (1 - abar_prev) / (1 - abar_t),
 * abar_prev = abar_{t-1} (1 at t = 0). The log of post_var is "clipped" at
 * t = 0, where post_var = 0: DiT uses post_var at t = 1 there.
 * Learned range (Nichol & Dhariwal 2021, eq. 15; DiT LEARNED_RANGE): the
 * network's variance channel v in about [-1, 1] gives
 *   log Sigma = frac log(beta_t) + (1 - frac) log(post_var_clipped),
 *   frac = (v + 1) / 2,
 * so v = -1 is the posterior variance and v = +1 is beta_t.
 *
 * VE frame (diffkit, k-diffusion): x = x0 + sigma n, sigma = sqrt((1-abar)/abar),
 * abar = 1/(1 + sigma^2), and x_VP = x_VE sqrt(abar) = x_VE c_in. */
#ifndef DIFFKIT_LEARNED_VAR_H
#define DIFFKIT_LEARNED_VAR_H

#include <math.h>

typedef struct dk_lv_post {
    double abar, abar_prev, beta; /* beta = 1 - abar/abar_prev */
    double coef1, coef2;          /* posterior mean = coef1 x0 + coef2 x_t (VP) */
    double post_var;              /* posterior variance (VP), 0 at the last step */
} dk_lv_post;

/* The posterior of one DDPM step from abar_t and abar_prev (abar_prev = 1 for
 * the first timestep). beta may be given (the table's own value, NAN = derive
 * it as 1 - abar/abar_prev, as respacing does). */
static inline dk_lv_post dk_lv_posterior(double abar, double abar_prev, double beta) {
    dk_lv_post p;
    p.abar = abar;
    p.abar_prev = abar_prev;
    p.beta = isnan(beta) ? 1.0 - abar / abar_prev : beta;
    double alpha = 1.0 - p.beta;
    p.coef1 = p.beta * sqrt(abar_prev) / (1.0 - abar);
    p.coef2 = (1.0 - abar_prev) * sqrt(alpha) / (1.0 - abar);
    p.post_var = p.beta * (1.0 - abar_prev) / (1.0 - abar);
    return p;
}

/* abar of a VE sigma: 1/(1 + sigma^2) (sigma = 0 gives 1). */
static inline double dk_lv_abar_of_sigma(double sigma) { return 1.0 / (1.0 + sigma * sigma); }

/* DiT LEARNED_RANGE: log Sigma from the model's v, log(beta_t) (max) and the
 * clipped log posterior variance (min). */
static inline double dk_lv_log_variance(double v, double log_beta, double log_post_clipped) {
    double frac = (v + 1.0) / 2.0;
    return frac * log_beta + (1.0 - frac) * log_post_clipped;
}

#endif
