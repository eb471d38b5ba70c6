/* sampling.c: the shared pieces of the sampler plugins (see sampling.h):
 * the per-call context (checks, denoise calls, noise draws, step reports,
 * scratch tensors), k-diffusion's ancestral / churn / LMS helpers and the
 * DPM-Solver-1/2/3 steps. Float64 throughout. */
#include "diffkit/sampling.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- the call context ----------------------------------------------------- */

double dk_sampling_sigma_min(const double *sigmas, int64_t n_sigmas) {
    double m = 0.0;
    for (int64_t i = 0; i < n_sigmas; i++)
        if (sigmas[i] > 0.0 && (m == 0.0 || sigmas[i] < m)) m = sigmas[i];
    return m;
}

dk_status dk_sampling_begin(dk_sampling *s, const char *name, const dk_sampler_env *env, const double *sigmas,
                            int64_t n_sigmas, dk_tensor *x, int own_sigmas, dk_error *err) {
    memset(s, 0, sizeof *s);
    s->name = name;
    s->env = env;
    s->x = x;
    if (!env || !env->denoise)
        return dk_error_set(err, DK_EINVAL, "sampler %s: no denoise callback in the environment", name);
    if (!x || x->dtype != DK_F64 || x->ndim < 1 || x->shape[0] < 1 || x->numel == 0) {
        char a[64];
        return dk_error_set(err, DK_ESHAPE, "sampler %s: x must be a non-empty F64 tensor [B, ...], got %s %s", name,
                            x ? dk_dtype_name(x->dtype) : "NULL", x ? dk_shape_str(x, a, sizeof a) : "");
    }
    if (!sigmas || n_sigmas < 2)
        return dk_error_set(err, DK_EINVAL, "sampler %s: needs at least 2 sigmas (n >= 1 steps), got %lld", name,
                            (long long)n_sigmas);
    for (int64_t i = 0; i < n_sigmas; i++)
        if (!(sigmas[i] >= 0.0) || !isfinite(sigmas[i]))
            return dk_error_set(err, DK_EINVAL, "sampler %s: sigmas[%lld] = %g: every sigma must be finite and >= 0",
                                name, (long long)i, sigmas[i]);
    if (own_sigmas) {
        double smin = dk_sampling_sigma_min(sigmas, n_sigmas);
        if (!(sigmas[0] > 0.0) || !(smin > 0.0) || !(smin < sigmas[0]))
            return dk_error_set(err, DK_EINVAL,
                                "sampler %s: uses sigma_max = sigmas[0] = %g and sigma_min = the last non-zero sigma = %g; "
                                "both must be > 0 with sigma_min < sigma_max",
                                name, sigmas[0], smin);
    } else {
        for (int64_t i = 0; i + 1 < n_sigmas; i++)
            if (!(sigmas[i + 1] < sigmas[i]))
                return dk_error_set(err, DK_EINVAL,
                                    "sampler %s: sigmas must be strictly descending (sigmas[%lld] = %g, sigmas[%lld] = %g)",
                                    name, (long long)i, sigmas[i], (long long)(i + 1), sigmas[i + 1]);
        if (sigmas[n_sigmas - 1] != 0.0)
            return dk_error_set(err, DK_EINVAL, "sampler %s: the last sigma must be 0, got %g (append a zero to the schedule)",
                                name, sigmas[n_sigmas - 1]);
    }
    s->batch = x->shape[0];
    s->numel = x->numel;
    s->sig = malloc((size_t)s->batch * sizeof(double));
    if (!s->sig) return dk_error_set(err, DK_ENOMEM, "sampler %s: out of memory", name);
    dk_error e;
    s->noise = dk_tensor_new_like(x, &e);
    if (!s->noise) {
        dk_sampling_end(s);
        if (err) *err = e;
        dk_error_prefix(err, "sampler %s", name);
        return e.code;
    }
    return DK_OK;
}

void dk_sampling_end(dk_sampling *s) {
    free(s->sig);
    s->sig = NULL;
    dk_tensor_free(s->noise);
    s->noise = NULL;
    for (int i = 0; i < s->n_tmp; i++) dk_tensor_free(s->tmp[i]);
    s->n_tmp = 0;
}

dk_status dk_sampling_tmp(dk_sampling *s, dk_tensor **t, dk_error *err) {
    *t = NULL;
    if (s->n_tmp >= DK_SAMPLING_MAX_TMP)
        return dk_error_set(err, DK_EINVAL, "sampler %s: more than %d scratch tensors requested", s->name,
                            DK_SAMPLING_MAX_TMP);
    dk_error e;
    dk_tensor *n = dk_tensor_new_like(s->x, &e);
    if (!n) {
        if (err) *err = e;
        dk_error_prefix(err, "sampler %s", s->name);
        return e.code;
    }
    s->tmp[s->n_tmp++] = n;
    *t = n;
    return DK_OK;
}

dk_status dk_sampling_denoise(dk_sampling *s, const dk_tensor *x, double sigma, dk_tensor *denoised, dk_error *err) {
    /* A non-finite x before the call is the sampler's own update (its options
     * or the sigmas), not the model: say so, instead of blaming the model for
     * the NaN it is about to return. */
    const double *xv = dk_f64(x);
    for (size_t k = 0; k < s->numel; k++)
        if (!isfinite(xv[k]))
            return dk_error_set(err, DK_ENUMERIC,
                                "sampler %s: its state x became %g at element %zu before the denoiser call at sigma %g "
                                "(evaluation %llu): the sampler's update overflowed, not the model; check the sampler's "
                                "options (e.g. s_noise, eta, s_churn: use values near their defaults) and the sigmas",
                                s->name, xv[k], k, sigma, (unsigned long long)s->nfe + 1);
    if (!isfinite(sigma))
        return dk_error_set(err, DK_ENUMERIC, "sampler %s: asked to denoise at sigma %g: check the schedule's options", s->name,
                            sigma);
    for (int64_t b = 0; b < s->batch; b++) s->sig[b] = sigma;
    dk_status st = s->env->denoise(s->env->denoise_ctx, x, s->sig, denoised, NULL, err);
    if (st != DK_OK) return dk_error_prefix(err, "sampler %s: denoise at sigma %g", s->name, sigma);
    s->nfe++;
    const double *d = dk_f64(denoised);
    for (size_t k = 0; k < s->numel; k++)
        if (!isfinite(d[k]))
            return dk_error_set(err, DK_ENUMERIC,
                                "sampler %s: the denoiser returned %g at element %zu (sigma %g, evaluation %llu) for a "
                                "finite input: check the model and the preconditioner",
                                s->name, d[k], k, sigma, (unsigned long long)s->nfe);
    return DK_OK;
}

dk_status dk_sampling_noise(dk_sampling *s, double sigma, double sigma_next, int needed, const char *why,
                            const double **z, dk_error *err) {
    *z = NULL;
    if (!s->env->noise) {
        if (needed)
            return dk_error_set(err, DK_EINVAL, "sampler %s: %s needs a noise source, but none was given", s->name, why);
        return DK_OK;
    }
    /* A draw k-diffusion makes but does not use is skipped: the source moves
     * on exactly as if drawn (same later noise, same slice count), at no cost. */
    dk_status st = needed ? dk_noise_draw(s->env->noise, sigma, sigma_next, s->noise, err)
                          : dk_noise_skip(s->env->noise, sigma, sigma_next, s->noise, err);
    if (st != DK_OK) return dk_error_prefix(err, "sampler %s", s->name);
    if (needed) *z = dk_f64(s->noise);
    return DK_OK;
}

int dk_sampling_step(dk_sampling *s, int64_t i, int64_t n, double sigma, double sigma_next, double sigma_hat,
                     const dk_tensor *x, const dk_tensor *denoised) {
    if (!s->env->on_step) return 0;
    dk_step_info info = {.step = i, .n_steps = n, .sigma = sigma, .sigma_next = sigma_next,
                         .sigma_hat = sigma_hat, .x = x, .denoised = denoised};
    if (s->env->on_step(s->env->step_ctx, &info) != 0) s->stopped = 1;
    return s->stopped;
}

/* ---- k-diffusion's helpers ------------------------------------------------ */

dk_status dk_sampling_churn(dk_sampling *s, const dk_churn *c, int64_t i, int64_t n, double sigma,
                            double sigma_next, double *sigma_hat, const dk_tensor **x_top, dk_error *err) {
    double gamma = dk_churn_gamma(sigma, n, c->s_churn, c->s_tmin, c->s_tmax);
    const double *z;
    *x_top = s->x;
    /* k-diffusion draws before it looks at gamma: one slice every step. */
    DK_TRY(dk_sampling_noise(s, sigma, sigma_next, gamma > 0.0, "s_churn > 0", &z, err));
    *sigma_hat = sigma * (gamma + 1.0);
    if (gamma > 0.0) {
        if (s->env->on_step) {
            if (!s->x_top) DK_TRY(dk_sampling_tmp(s, &s->x_top, err));
            memcpy(s->x_top->data, s->x->data, s->numel * sizeof(double));
            *x_top = s->x_top;
        }
        double a = sqrt(*sigma_hat * *sigma_hat - sigma * sigma);
        double *x = dk_f64(s->x);
        for (size_t k = 0; k < s->numel; k++) x[k] += z[k] * c->s_noise * a;
    }
    return DK_OK;
}

void dk_ancestral_step(double sigma_from, double sigma_to, double eta, double *sigma_down, double *sigma_up) {
    if (eta == 0.0) {
        *sigma_down = sigma_to;
        *sigma_up = 0.0;
        return;
    }
    double su = eta * sqrt(sigma_to * sigma_to * (sigma_from * sigma_from - sigma_to * sigma_to) /
                           (sigma_from * sigma_from));
    if (su > sigma_to) su = sigma_to;
    *sigma_up = su;
    *sigma_down = sqrt(sigma_to * sigma_to - su * su);
}

double dk_churn_gamma(double sigma, int64_t n_steps, double s_churn, double s_tmin, double s_tmax) {
    if (!(s_tmin <= sigma && sigma <= s_tmax)) return 0.0;
    double g = s_churn / (double)n_steps;
    double cap = sqrt(2.0) - 1.0;
    return g < cap ? g : cap;
}

dk_status dk_lms_coeffs(const double *sigmas, int64_t i, int order, double *coeff, dk_error *err) {
    if (order < 1 || order > 16 || (int64_t)order - 1 > i)
        return dk_error_set(err, DK_EINVAL, "lms: order %d is too high for step %lld (at most step + 1, and <= 16)", order,
                            (long long)i);
    /* Shift tau by sigmas[i]: u_k = sigmas[i-k] - sigmas[i], integrate over [0, h]. */
    double u[16], poly[17];
    double h = sigmas[i + 1] - sigmas[i];
    for (int k = 0; k < order; k++) u[k] = sigmas[i - k] - sigmas[i];
    for (int j = 0; j < order; j++) {
        /* poly(u) = prod_{k != j} (u - u_k), coefficients in ascending powers */
        int deg = 0;
        double denom = 1.0;
        poly[0] = 1.0;
        for (int k = 0; k < order; k++) {
            if (k == j) continue;
            poly[deg + 1] = 0.0;
            for (int m = deg + 1; m >= 1; m--) poly[m] = poly[m - 1] - u[k] * poly[m];
            poly[0] = -u[k] * poly[0];
            deg++;
            denom *= u[j] - u[k];
        }
        /* integral_0^h poly = sum_m poly[m] h^(m+1) / (m+1), by Horner */
        double acc = 0.0;
        for (int m = deg; m >= 0; m--) acc = acc * h + poly[m] / (double)(m + 1);
        coeff[j] = acc * h / denom;
    }
    return DK_OK;
}

/* ---- DPM-Solver steps ----------------------------------------------------- */

static double sigma_of(double t) { return exp(-t); }

dk_status dk_dpm_init(dk_dpm *d, dk_sampling *s, dk_error *err) {
    memset(d, 0, sizeof *d);
    d->s = s;
    DK_TRY(dk_sampling_tmp(s, &d->eps, err));
    DK_TRY(dk_sampling_tmp(s, &d->eps_r1, err));
    DK_TRY(dk_sampling_tmp(s, &d->eps_r2, err));
    DK_TRY(dk_sampling_tmp(s, &d->u, err));
    return dk_sampling_tmp(s, &d->den, err);
}

void dk_dpm_reset(dk_dpm *d) { d->has_eps = d->has_r1 = d->has_r2 = 0; }

/* out = (x - D(x; sigma(t))) / sigma(t) */
static dk_status dpm_eval(dk_dpm *d, const dk_tensor *x, double t, dk_tensor *out, dk_error *err) {
    double sg = sigma_of(t);
    DK_TRY(dk_sampling_denoise(d->s, x, sg, d->den, err));
    const double *xp = dk_f64(x), *dp = dk_f64(d->den);
    double *o = dk_f64(out);
    for (size_t k = 0; k < d->s->numel; k++) o[k] = (xp[k] - dp[k]) / sg;
    return DK_OK;
}

dk_status dk_dpm_eps(dk_dpm *d, const dk_tensor *x, double t, dk_error *err) {
    if (d->has_eps) return DK_OK;
    DK_TRY(dpm_eval(d, x, t, d->eps, err));
    d->has_eps = 1;
    return DK_OK;
}

dk_status dk_dpm_step1(dk_dpm *d, const dk_tensor *x, double t, double t_next, dk_tensor *out, dk_error *err) {
    double h = t_next - t;
    DK_TRY(dk_dpm_eps(d, x, t, err));
    /* Lu et al. 2022 eq. 3.7: x' = x - sigma(t_next) (e^h - 1) eps */
    double a = sigma_of(t_next) * expm1(h);
    const double *xp = dk_f64(x), *e = dk_f64(d->eps);
    double *o = dk_f64(out);
    for (size_t k = 0; k < d->s->numel; k++) o[k] = xp[k] - a * e[k];
    return DK_OK;
}

/* u = x - sigma(s1) (e^{r1 h} - 1) eps, then eps_r1 = eps(u, s1) (cached) */
static dk_status dpm_stage_r1(dk_dpm *d, const dk_tensor *x, double t, double h, double r1, dk_error *err) {
    if (d->has_r1) return DK_OK;
    double s1 = t + r1 * h;
    double a = sigma_of(s1) * expm1(r1 * h);
    const double *xp = dk_f64(x), *e = dk_f64(d->eps);
    double *u = dk_f64(d->u);
    for (size_t k = 0; k < d->s->numel; k++) u[k] = xp[k] - a * e[k];
    DK_TRY(dpm_eval(d, d->u, s1, d->eps_r1, err));
    d->has_r1 = 1;
    return DK_OK;
}

dk_status dk_dpm_step2(dk_dpm *d, const dk_tensor *x, double t, double t_next, double r1, dk_tensor *out,
                       dk_error *err) {
    double h = t_next - t;
    DK_TRY(dk_dpm_eps(d, x, t, err));
    DK_TRY(dpm_stage_r1(d, x, t, h, r1, err));
    /* Lu et al. 2022 Algorithm 1 (DPM-Solver-2):
     * x' = x - sigma(t_next)(e^h - 1) eps - sigma(t_next)/(2 r1) (e^h - 1)(eps_r1 - eps) */
    double a = sigma_of(t_next) * expm1(h);
    double b = sigma_of(t_next) / (2.0 * r1) * expm1(h);
    const double *xp = dk_f64(x), *e = dk_f64(d->eps), *e1 = dk_f64(d->eps_r1);
    double *o = dk_f64(out);
    for (size_t k = 0; k < d->s->numel; k++) o[k] = xp[k] - a * e[k] - b * (e1[k] - e[k]);
    return DK_OK;
}

dk_status dk_dpm_step3(dk_dpm *d, const dk_tensor *x, double t, double t_next, double r1, double r2,
                       dk_tensor *out, dk_error *err) {
    double h = t_next - t;
    DK_TRY(dk_dpm_eps(d, x, t, err));
    DK_TRY(dpm_stage_r1(d, x, t, h, r1, err));
    const double *xp = dk_f64(x), *e = dk_f64(d->eps), *e1 = dk_f64(d->eps_r1);
    if (!d->has_r2) {
        /* u2 = x - sigma(s2)(e^{r2 h} - 1) eps - sigma(s2) (r2/r1) ((e^{r2 h} - 1)/(r2 h) - 1)(eps_r1 - eps) */
        double s2 = t + r2 * h;
        double a = sigma_of(s2) * expm1(r2 * h);
        double b = sigma_of(s2) * (r2 / r1) * (expm1(r2 * h) / (r2 * h) - 1.0);
        double *u = dk_f64(d->u);
        for (size_t k = 0; k < d->s->numel; k++) u[k] = xp[k] - a * e[k] - b * (e1[k] - e[k]);
        DK_TRY(dpm_eval(d, d->u, s2, d->eps_r2, err));
        d->has_r2 = 1;
    }
    /* Lu et al. 2022 Algorithm 2 (DPM-Solver-3):
     * x' = x - sigma(t_next)(e^h - 1) eps - sigma(t_next)/r2 ((e^h - 1)/h - 1)(eps_r2 - eps) */
    double a = sigma_of(t_next) * expm1(h);
    double b = sigma_of(t_next) / r2 * (expm1(h) / h - 1.0);
    const double *e2 = dk_f64(d->eps_r2);
    double *o = dk_f64(out);
    for (size_t k = 0; k < d->s->numel; k++) o[k] = xp[k] - a * e[k] - b * (e2[k] - e[k]);
    return DK_OK;
}

dk_status dk_churn_create(const dk_options *o, const char *sampler, void **self, dk_error *err) {
    dk_churn *c = malloc(sizeof *c);
    if (!c) return dk_error_set(err, DK_ENOMEM, "sampler %s: out of memory", sampler);
    c->s_churn = dk_opt_float(o, "s_churn");
    c->s_tmin = dk_opt_float(o, "s_tmin");
    c->s_tmax = dk_opt_float(o, "s_tmax");
    c->s_noise = dk_opt_float(o, "s_noise");
    *self = c;
    return DK_OK;
}

dk_status dk_ancestral_create(const dk_options *o, const char *sampler, void **self, dk_error *err) {
    dk_ancestral *a = malloc(sizeof *a);
    if (!a) return dk_error_set(err, DK_ENOMEM, "sampler %s: out of memory", sampler);
    a->eta = dk_opt_float(o, "eta");
    a->s_noise = dk_opt_float(o, "s_noise");
    *self = a;
    return DK_OK;
}
