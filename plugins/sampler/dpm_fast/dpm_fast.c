/* dpm_fast: DPM-Solver-fast (Lu et al. 2022, "DPM-Solver", arXiv:2206.00927,
 * section 3.4; k-diffusion sample_dpm_fast / DPMSolver.dpm_solver_fast).
 * Uses only sigma_max = sigmas[0] and sigma_min = the last non-zero sigma of
 * the schedule it is given, and a budget of `nfe` model evaluations (0 = the
 * schedule's step count). In t = -log sigma: m = floor(nfe/3) + 1 steps,
 * ts = linspace(t(sigma_max), t(sigma_min), m + 1) (torch's linspace bit for
 * bit, dk_lin), orders [3]*(m-2) + [2, 1] when 3 divides nfe, else
 * [3]*(m-1) + [nfe % 3]. With eta > 0 each step goes to
 * t' = min(t_end, t(sigma_down)) and adds sqrt(sigma(t_next)^2 - sigma(t')^2)
 * of noise. One noise slice per step, drawn even when eta = 0. */
#include "diffkit/numeric.h"
#include "diffkit/plugin.h"
#include "diffkit/sampling.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct opts {
    double eta, s_noise;
    int64_t nfe;
} opts;

static const dk_option_spec options[] = {
    {"eta", DK_OPT_FLOAT, "0", 0.0, INFINITY, NULL, "ancestral noise per step (0 = the deterministic solver)", 0},
    {"s_noise", DK_OPT_FLOAT, "1", 0.0, INFINITY, NULL, "scale of the added noise", 0},
    {"nfe", DK_OPT_INT, "0", 0.0, 1e9, NULL,
     "model evaluations in total (k-diffusion's n); 0 = the number of steps of the given schedule", 0},
};

static dk_status create(const dk_options *o, void **self, dk_error *err) {
    opts *p = malloc(sizeof *p);
    if (!p) return dk_error_set(err, DK_ENOMEM, "sampler dpm_fast: out of memory");
    p->eta = dk_opt_float(o, "eta");
    p->s_noise = dk_opt_float(o, "s_noise");
    p->nfe = dk_opt_int(o, "nfe");
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
    dk_dpm dpm;
    dk_tensor *out = NULL;
    DK_TRY(dk_sampling_begin(&s, "dpm_fast", env, sigmas, n_sigmas, x, 1, err));
    int64_t nfe = p->nfe > 0 ? p->nfe : n_sigmas - 1;
    double t_start = t_fn(sigmas[0]), t_end = t_fn(dk_sampling_sigma_min(sigmas, n_sigmas));
    int64_t m = nfe / 3 + 1;
    double *ts = malloc((size_t)(m + 1) * sizeof *ts);
    int *orders = malloc((size_t)m * sizeof *orders); /* both rules give m steps */
    dk_status st = (!ts || !orders) ? dk_error_set(err, DK_ENOMEM, "sampler dpm_fast: out of memory") : DK_OK;
    if (!st) st = dk_dpm_init(&dpm, &s, err);
    if (!st) st = dk_sampling_tmp(&s, &out, err);
    if (!st) {
        dk_lin(t_start, t_end, m + 1, ts);
        for (int64_t i = 0; i < m; i++) orders[i] = 3;
        if (nfe % 3 == 0) {
            orders[m - 2] = 2;
            orders[m - 1] = 1;
        } else {
            orders[m - 1] = (int)(nfe % 3);
        }
    }
    double *xp = dk_f64(x);
    for (int64_t i = 0; st == DK_OK && i < m; i++) {
        dk_dpm_reset(&dpm);
        double t = ts[i], t_next = ts[i + 1], t_next_, su;
        if (p->eta != 0.0) {
            double sd;
            dk_ancestral_step(sigma_fn(t), sigma_fn(t_next), p->eta, &sd, &su);
            t_next_ = fmin(t_end, t_fn(sd));
            su = sqrt(sigma_fn(t_next) * sigma_fn(t_next) - sigma_fn(t_next_) * sigma_fn(t_next_));
        } else {
            t_next_ = t_next;
            su = 0.0;
        }
        if ((st = dk_dpm_eps(&dpm, x, t, err))) break;
        if (dk_sampling_step(&s, i, m, sigma_fn(t), sigma_fn(t_next), sigma_fn(t), x, dpm.den)) break;
        if (orders[i] == 1) st = dk_dpm_step1(&dpm, x, t, t_next_, out, err);
        else if (orders[i] == 2) st = dk_dpm_step2(&dpm, x, t, t_next_, 0.5, out, err);
        else st = dk_dpm_step3(&dpm, x, t, t_next_, 1.0 / 3.0, 2.0 / 3.0, out, err);
        if (st) break;
        memcpy(xp, out->data, s.numel * sizeof(double));
        const double *z;
        if ((st = dk_sampling_noise(&s, sigma_fn(t), sigma_fn(t_next), su != 0.0, "eta > 0", &z, err))) break;
        if (z)
            for (size_t k = 0; k < s.numel; k++) xp[k] += su * p->s_noise * z[k];
    }
    free(ts);
    free(orders);
    dk_sampling_end(&s);
    return st;
}

static const dk_sampler_vtable vtable = {sizeof(dk_sampler_vtable), create, destroy, sample,
                                         DK_SAMPLER_STOCHASTIC | DK_SAMPLER_OWN_SIGMAS};
static const dk_plugin plugin = {DK_PLUGIN_ABI_VERSION, sizeof(dk_plugin), DK_KIND_SAMPLER, "dpm_fast", "1.0",
                                 "DPM-Solver-fast, fixed NFE budget (Lu et al. 2022; k-diffusion sample_dpm_fast)",
                                 options, sizeof options / sizeof options[0], &vtable};

DK_PLUGIN_EXPORT const dk_plugin *diffkit_plugin(void) { return &plugin; }
