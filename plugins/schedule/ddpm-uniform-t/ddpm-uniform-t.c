/* ddpm-uniform-t.c: the `ddpm-uniform-t` training density: DiT's training
 * draw t ~ U{0, ..., T-1} (train.py: torch.randint(0, T)), returned as the
 * VE sigma of that timestep, sigma_t = sqrt((1 - abar_t)/abar_t) of the
 * chosen DDPM table (diffkit/ddpm.h). t = floor(u T) from a (stratified)
 * uniform u, so stratification spreads the timesteps of a batch. Paired with
 * the ddpm_eps / ddpm_v preconditioners, whose sigma_to_t maps sigma_t back
 * to exactly t. */
#include "../schedule_common.h"
#include "diffkit/ddpm.h"

typedef struct uniform_t {
    dk_ddpm table;
} uniform_t;

static dk_status uniform_t_create(const dk_options *o, void **self, dk_error *err) {
    uniform_t *s;
    if (!(s = sched_alloc(sizeof *s, "ddpm-uniform-t", err))) return DK_ENOMEM;
    if (dk_ddpm_init(&s->table, dk_opt_str(o, "betas"), dk_opt_int(o, "timesteps"), NULL, err) != DK_OK) {
        free(s);
        return dk_error_prefix(err, "schedule 'ddpm-uniform-t'");
    }
    *self = s;
    return DK_OK;
}

static void uniform_t_destroy(void *self) {
    uniform_t *s = self;
    if (!s) return;
    dk_ddpm_free(&s->table);
    free(s);
}

static dk_status uniform_t_density(void *self, size_t n, dk_draws *src, double *out, dk_error *err) {
    const uniform_t *s = self;
    const int64_t T = s->table.T;
    DK_TRY(sched_uniforms("ddpm-uniform-t", src, n, out, err));
    for (size_t i = 0; i < n; i++) {
        int64_t t = (int64_t)floor(out[i] * (double)T);
        if (t < 0) t = 0;
        if (t > T - 1) t = T - 1;
        out[i] = s->table.sigmas[t];
    }
    return DK_OK;
}

static const dk_option_spec uniform_t_options[] = {
    {"betas", DK_OPT_ENUM, "linear", -INFINITY, INFINITY, "linear|cosine",
     "beta schedule: DiT linear (1e-4..0.02, scaled by 1000/T) or cosine (squaredcos_cap_v2)", 0},
    {"timesteps", DK_OPT_INT, "1000", 2, INFINITY, NULL, "number of training timesteps T", 0},
};

SCHED_PLUGIN(uniform_t, "ddpm-uniform-t", "uniform integer DDPM timestep as a VE sigma (DiT training), for ddpm_eps / ddpm_v",
             NULL, uniform_t_density)
