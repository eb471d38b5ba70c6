/* ddpm.c: the `ddpm` sampling schedule: the sigmas of a discrete DDPM
 * (DiT's linear or cosine betas, see diffkit/ddpm.h) as k-diffusion's
 * DiscreteSchedule.get_sigmas(n) gives them: t = lin(T-1, 0, n), sigma =
 * t_to_sigma(t) (log-sigma interpolation, float32 quirk), then 0.
 *
 * With `respacing` (DiT's space_timesteps, e.g. "250" of 1000 keeps
 * 0, 4, 8, ..., 995, 999) the schedule is the respaced model's own table,
 * sigma_j = sqrt((1 - abar'_j)/abar'_j) over the kept steps, descending, then
 * 0; n must then equal the number of kept steps. */
#include "../schedule_common.h"
#include "diffkit/ddpm.h"

typedef struct ddpm_sched {
    dk_ddpm table;
    int respaced;
    char respacing[64];
} ddpm_sched;

static dk_status ddpm_create(const dk_options *o, void **self, dk_error *err) {
    ddpm_sched *s;
    const char *resp = dk_opt_str(o, "respacing");
    if (!resp) resp = "";
    if (strlen(resp) >= sizeof s->respacing)
        return dk_error_set(err, DK_EINVAL, "schedule 'ddpm': option 'respacing' is too long ('%s'): use e.g. '250' or 'ddim50'", resp);
    if (!(s = sched_alloc(sizeof *s, "ddpm", err))) return DK_ENOMEM;
    dk_status st = dk_ddpm_init(&s->table, dk_opt_str(o, "betas"), dk_opt_int(o, "timesteps"), resp, err);
    if (st != DK_OK) {
        free(s);
        return dk_error_prefix(err, "schedule 'ddpm'");
    }
    s->respaced = resp[0] != 0;
    snprintf(s->respacing, sizeof s->respacing, "%s", resp);
    *self = s;
    return DK_OK;
}

static void ddpm_destroy(void *self) {
    ddpm_sched *s = self;
    if (!s) return;
    dk_ddpm_free(&s->table);
    free(s);
}

static dk_status ddpm_sigmas(void *self, int64_t n, double *out, dk_error *err) {
    const ddpm_sched *s = self;
    DK_TRY(sched_check_n("ddpm", n, err));
    if (!s->respaced) return dk_ddpm_get_sigmas(&s->table, n, out, err);
    const int64_t K = s->table.T;
    if (n != K)
        return dk_error_set(err, DK_EINVAL,
                            "schedule 'ddpm': option 'respacing' = '%s' keeps %lld steps, but %lld were asked "
                            "for: sample with %lld steps or change 'respacing'",
                            s->respacing, (long long)K, (long long)n, (long long)K);
    for (int64_t i = 0; i < K; i++) out[i] = s->table.sigmas[K - 1 - i];
    out[K] = 0.0;
    return DK_OK;
}

static const dk_option_spec ddpm_options[] = {
    {"betas", DK_OPT_ENUM, "linear", -INFINITY, INFINITY, "linear|cosine",
     "beta schedule: DiT linear (1e-4..0.02, scaled by 1000/T) or cosine (squaredcos_cap_v2)", 0},
    {"timesteps", DK_OPT_INT, "1000", 2, INFINITY, NULL, "number of training timesteps T", 0},
    {"respacing", DK_OPT_STRING, "", -INFINITY, INFINITY, NULL,
     "DiT timestep respacing: '' (none), '250', '10,15,20' or 'ddim50'", 0},
};

static const dk_schedule_vtable ddpm_vtable = {
    .struct_size = sizeof(dk_schedule_vtable),
    .create = ddpm_create,
    .destroy = ddpm_destroy,
    .sigmas = ddpm_sigmas,
    .density = NULL,
};

static const dk_plugin ddpm_plugin = {
    .abi_version = DK_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(dk_plugin),
    .kind = DK_KIND_SCHEDULE,
    .name = "ddpm",
    .version = "1.0",
    .summary = "sigmas of a discrete DDPM (DiT linear/cosine betas), k-diffusion DiscreteSchedule.get_sigmas, DiT respacing",
    .options = ddpm_options,
    .n_options = sizeof ddpm_options / sizeof ddpm_options[0],
    .vtable = &ddpm_vtable,
};

DK_PLUGIN_EXPORT const dk_plugin *diffkit_plugin(void) { return &ddpm_plugin; }
