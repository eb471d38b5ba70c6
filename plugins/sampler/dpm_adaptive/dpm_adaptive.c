/* dpm_adaptive: DPM-Solver-12 / DPM-Solver-23 with adaptive step size (Lu et
 * al. 2022, "DPM-Solver", arXiv:2206.00927, section 4 / Algorithm 5;
 * k-diffusion sample_dpm_adaptive / DPMSolver.dpm_solver_adaptive).
 * Uses only sigma_max = sigmas[0] and sigma_min = the last non-zero sigma.
 * Each attempt from s to t = min(t_end, s + h) (t = -log sigma) computes an
 * embedded pair: order 3: low = DPM-Solver-2 with r1 = 1/3, high =
 * DPM-Solver-3 (3 evaluations, the 1/3 one shared); order 2: low =
 * DPM-Solver-1, high = DPM-Solver-2 (2 evaluations). The error
 *   delta = max(atol, rtol max(|x_low|, |x_prev|)) elementwise,
 *   err = ||(x_low - x_high)/delta||_2 / sqrt(numel)   over the whole batch,
 * drives a PID controller (Soderlind 2003; k-diffusion's
 * PIDStepSizeController): b1 = (p+i+d)/k, b2 = -(p+2d)/k, b3 = d/k with
 * k = 1.5 if eta else order, factor = 1 + atan(prod_j (1/(err_j + 1e-8))^{b_j} - 1),
 * accept iff factor >= accept_safety, h *= factor always. On acceptance
 * x = x_high + s_noise su z (one slice per accepted attempt, even when
 * eta = 0) and x_prev = x_low. Runs while s < t_end - 1e-5.
 * The step report is made once per attempt, after the decision, with the x
 * at the top of the attempt: step = attempt index, n_steps = -1, sigma =
 * sigma(s), sigma_hat = the attempted sigma(t), sigma_next = sigma(t) if
 * accepted and sigma(s) if rejected. */
#include "diffkit/plugin.h"
#include "diffkit/sampling.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct opts {
    int order;
    double rtol, atol, h_init, pcoeff, icoeff, dcoeff, accept_safety, eta, s_noise;
    int64_t max_attempts;
} opts;

/* Ranges that make the controller converge (docs/reliability.md): the factor
 * 1 + atan(prod - 1) lies in [1 - pi/4, 1 + pi/2); a rejection multiplies h
 * by a factor below accept_safety, so accept_safety < 1 makes every
 * rejection shrink h (with accept_safety >= 1 a rejected step can grow h
 * and the run never ends); p + i + d > 0 (b1 > 0) makes a larger error give
 * a smaller factor. max_attempts caps the loop whatever happens. */
static const dk_option_spec options[] = {
    {"order", DK_OPT_INT, "3", 2.0, 3.0, NULL, "3 = DPM-Solver-23, 2 = DPM-Solver-12", 0},
    {"rtol", DK_OPT_FLOAT, "0.05", 1e-12, INFINITY, NULL, "relative tolerance of the local error", 0},
    {"atol", DK_OPT_FLOAT, "0.0078", 1e-12, INFINITY, NULL, "absolute tolerance of the local error", 0},
    {"h_init", DK_OPT_FLOAT, "0.05", 1e-8, 100.0, NULL, "first step size in log sigma (sigma 80 to 0.002 spans 10.6)", 0},
    {"pcoeff", DK_OPT_FLOAT, "0", -10.0, 10.0, NULL, "PID controller: proportional coefficient (p + i + d must be > 0)", 0},
    {"icoeff", DK_OPT_FLOAT, "1", -10.0, 10.0, NULL, "PID controller: integral coefficient (p + i + d must be > 0)", 0},
    {"dcoeff", DK_OPT_FLOAT, "0", -10.0, 10.0, NULL, "PID controller: derivative coefficient (p + i + d must be > 0)", 0},
    {"accept_safety", DK_OPT_FLOAT, "0.81", 0.0, 1.0, NULL,
     "accept an attempt when the step factor >= this (< 1, or a rejected step may grow and never end)", DK_OPT_MAX_EXCLUSIVE},
    {"eta", DK_OPT_FLOAT, "0", 0.0, INFINITY, NULL, "ancestral noise per accepted step (0 = deterministic)", 0},
    {"s_noise", DK_OPT_FLOAT, "1", 0.0, INFINITY, NULL, "scale of the added noise", 0},
    {"max_attempts", DK_OPT_INT, "10000", 1.0, 1e9, NULL,
     "stop with an error after this many attempts (accepted + rejected; a normal run needs tens to hundreds)", 0},
};

static dk_status create(const dk_options *o, void **self, dk_error *err) {
    opts *p = malloc(sizeof *p);
    if (!p) return dk_error_set(err, DK_ENOMEM, "sampler dpm_adaptive: out of memory");
    p->order = (int)dk_opt_int(o, "order");
    p->rtol = dk_opt_float(o, "rtol");
    p->atol = dk_opt_float(o, "atol");
    p->h_init = dk_opt_float(o, "h_init");
    p->pcoeff = dk_opt_float(o, "pcoeff");
    p->icoeff = dk_opt_float(o, "icoeff");
    p->dcoeff = dk_opt_float(o, "dcoeff");
    p->accept_safety = dk_opt_float(o, "accept_safety");
    p->eta = dk_opt_float(o, "eta");
    p->s_noise = dk_opt_float(o, "s_noise");
    p->max_attempts = dk_opt_int(o, "max_attempts");
    if (!(p->pcoeff + p->icoeff + p->dcoeff > 0.0)) {
        dk_status st = dk_error_set(err, DK_EINVAL,
                                    "sampler dpm_adaptive: pcoeff + icoeff + dcoeff = %g + %g + %g must be > 0, or a larger "
                                    "error would grow the step and the run would not end: use the defaults 0, 1, 0",
                                    p->pcoeff, p->icoeff, p->dcoeff);
        free(p);
        return st;
    }
    *self = p;
    return DK_OK;
}

static void destroy(void *self) { free(self); }

static double sigma_fn(double t) { return exp(-t); }
static double t_fn(double sigma) { return -log(sigma); }

/* PID step-size controller state. */
typedef struct pid {
    double h, b1, b2, b3, accept_safety;
    double errs[3];
    int started;
} pid;

static int pid_propose(pid *c, double error) {
    double inv = 1.0 / (error + 1e-8);
    if (!c->started) {
        c->errs[0] = c->errs[1] = c->errs[2] = inv;
        c->started = 1;
    }
    c->errs[0] = inv;
    double f = pow(c->errs[0], c->b1) * pow(c->errs[1], c->b2) * pow(c->errs[2], c->b3);
    if (!isfinite(f)) {
        /* overflow (inf * 0 = NaN): the same product in logs, clamped; the errs are in (0, 1e8] */
        double lf = c->b1 * log(c->errs[0]) + c->b2 * log(c->errs[1]) + c->b3 * log(c->errs[2]);
        f = exp(fmax(-700.0, fmin(700.0, isnan(lf) ? 0.0 : lf)));
    }
    f = 1.0 + atan(f - 1.0);
    int accept = f >= c->accept_safety;
    if (accept) {
        c->errs[2] = c->errs[1];
        c->errs[1] = c->errs[0];
    }
    c->h *= f;
    return accept;
}

static dk_status sample(void *self, const dk_sampler_env *env, const double *sigmas, int64_t n_sigmas,
                        dk_tensor *x, dk_error *err) {
    const opts *p = self;
    dk_sampling s;
    dk_dpm dpm;
    dk_tensor *low = NULL, *high = NULL, *prev = NULL;
    DK_TRY(dk_sampling_begin(&s, "dpm_adaptive", env, sigmas, n_sigmas, x, 1, err));
    dk_status st = dk_dpm_init(&dpm, &s, err);
    if (!st) st = dk_sampling_tmp(&s, &low, err);
    if (!st) st = dk_sampling_tmp(&s, &high, err);
    if (!st) st = dk_sampling_tmp(&s, &prev, err);
    if (st) {
        dk_sampling_end(&s);
        return st;
    }
    double t_start = t_fn(sigmas[0]), t_end = t_fn(dk_sampling_sigma_min(sigmas, n_sigmas));
    double k = p->eta != 0.0 ? 1.5 : (double)p->order;
    pid c = {.h = fabs(p->h_init),
             .b1 = (p->pcoeff + p->icoeff + p->dcoeff) / k,
             .b2 = -(p->pcoeff + 2.0 * p->dcoeff) / k,
             .b3 = p->dcoeff / k,
             .accept_safety = p->accept_safety};
    double *xp = dk_f64(x), *lp = dk_f64(low), *hp = dk_f64(high), *pp = dk_f64(prev);
    memcpy(pp, xp, s.numel * sizeof(double));
    double sc = t_start;
    int64_t accepted = 0;
    for (int64_t attempt = 0; sc < t_end - 1e-5; attempt++) {
        /* also stop when h no longer moves s (it underflowed after many rejections) */
        if (attempt >= p->max_attempts || !(c.h > 0.0) || !isfinite(c.h) || !(fmin(t_end, sc + c.h) > sc)) {
            st = dk_error_set(err, DK_ENUMERIC,
                              "sampler dpm_adaptive: no convergence after %lld attempts (%lld accepted; at sigma %g, "
                              "sigma_min %g, step size h %g): the step-size controller is not converging; lower "
                              "accept_safety (now %g, default 0.81), larger rtol/atol (now %g/%g), the default PID "
                              "coefficients (0, 1, 0), or raise max_attempts (now %lld)",
                              (long long)attempt, (long long)accepted, sigma_fn(sc), sigma_fn(t_end), c.h,
                              p->accept_safety, p->rtol, p->atol, (long long)p->max_attempts);
            break;
        }
        dk_dpm_reset(&dpm);
        double t = fmin(t_end, sc + c.h), t_, su;
        if (p->eta != 0.0) {
            double sd;
            dk_ancestral_step(sigma_fn(sc), sigma_fn(t), p->eta, &sd, &su);
            t_ = fmin(t_end, t_fn(sd));
            su = sqrt(sigma_fn(t) * sigma_fn(t) - sigma_fn(t_) * sigma_fn(t_));
        } else {
            t_ = t;
            su = 0.0;
        }
        if ((st = dk_dpm_eps(&dpm, x, sc, err))) break;
        if (p->order == 2) {
            if ((st = dk_dpm_step1(&dpm, x, sc, t_, low, err))) break;
            if ((st = dk_dpm_step2(&dpm, x, sc, t_, 0.5, high, err))) break;
        } else {
            if ((st = dk_dpm_step2(&dpm, x, sc, t_, 1.0 / 3.0, low, err))) break;
            if ((st = dk_dpm_step3(&dpm, x, sc, t_, 1.0 / 3.0, 2.0 / 3.0, high, err))) break;
        }
        double sum = 0.0;
        for (size_t j = 0; j < s.numel; j++) {
            double m = fmax(fabs(lp[j]), fabs(pp[j]));
            double delta = fmax(p->atol, p->rtol * m);
            double e = (lp[j] - hp[j]) / delta;
            sum += e * e;
        }
        double error = sqrt(sum) / sqrt((double)s.numel);
        if (!isfinite(error)) {
            st = dk_error_set(err, DK_ENUMERIC,
                              "sampler dpm_adaptive: the error estimate is %g at sigma %g: rtol/atol (%g/%g) are too small "
                              "for the size of x, or x is not finite; use values near the defaults 0.05/0.0078",
                              error, sigma_fn(sc), p->rtol, p->atol);
            break;
        }
        int accept = pid_propose(&c, error);
        /* dpm.den was overwritten by the later stages: report D at (x, s) recomputed from eps */
        {
            double sg = sigma_fn(sc);
            double *dn = dk_f64(dpm.den);
            const double *e = dk_f64(dpm.eps);
            for (size_t j = 0; j < s.numel; j++) dn[j] = xp[j] - sg * e[j];
        }
        if (dk_sampling_step(&s, attempt, -1, sigma_fn(sc), accept ? sigma_fn(t) : sigma_fn(sc), sigma_fn(t), x,
                             dpm.den))
            break;
        if (accept) {
            const double *z;
            memcpy(pp, lp, s.numel * sizeof(double));
            if ((st = dk_sampling_noise(&s, sigma_fn(sc), sigma_fn(t), su != 0.0, "eta > 0", &z, err))) break;
            for (size_t j = 0; j < s.numel; j++) xp[j] = hp[j] + (z ? su * p->s_noise * z[j] : 0.0);
            sc = t;
            accepted++;
        }
    }
    dk_sampling_end(&s);
    return st;
}

static const dk_sampler_vtable vtable = {sizeof(dk_sampler_vtable), create, destroy, sample,
                                         DK_SAMPLER_STOCHASTIC | DK_SAMPLER_OWN_SIGMAS};
static const dk_plugin plugin = {DK_PLUGIN_ABI_VERSION, sizeof(dk_plugin), DK_KIND_SAMPLER, "dpm_adaptive", "1.0",
                                 "DPM-Solver-12/23 with PID step-size control (Lu et al. 2022; k-diffusion sample_dpm_adaptive)",
                                 options, sizeof options / sizeof options[0], &vtable};

DK_PLUGIN_EXPORT const dk_plugin *diffkit_plugin(void) { return &plugin; }
