/* ddpm_v.c: the `ddpm_v` preconditioner: a discrete-time v-prediction
 * network (Salimans & Ho 2022, "Progressive Distillation", v = alpha eps -
 * sigma_vp x0) in the VE frame, as k-diffusion's
 * external.DiscreteVDDPMDenoiser wraps it (sigma_data = 1):
 *   c_skip = 1/(sigma^2 + 1), c_out = -sigma/sqrt(sigma^2 + 1),
 *   c_in = 1/sqrt(sigma^2 + 1), c_noise = t(sigma)
 * with t(sigma) from the DDPM table (diffkit/ddpm.h; quantize = nearest).
 * The host's default loss is k-diffusion's: mean((F - (x0 - c_skip y)/c_out)^2). */
#include <math.h>
#include <stdlib.h>
#include "diffkit/diffkit.h"
#include "diffkit/ddpm.h"

typedef struct ddpm_v {
    dk_ddpm table;
    int quantize;
} ddpm_v;

static dk_status ddpm_v_create(const dk_options *o, void **self, dk_error *err) {
    ddpm_v *s = calloc(1, sizeof *s);
    if (!s) return dk_error_set(err, DK_ENOMEM, "precond 'ddpm_v': out of memory");
    if (dk_ddpm_init(&s->table, dk_opt_str(o, "betas"), dk_opt_int(o, "timesteps"), NULL, err) != DK_OK) {
        free(s);
        return dk_error_prefix(err, "precond 'ddpm_v'");
    }
    s->quantize = dk_opt_bool(o, "quantize");
    *self = s;
    return DK_OK;
}

static void ddpm_v_destroy(void *self) {
    ddpm_v *s = self;
    if (!s) return;
    dk_ddpm_free(&s->table);
    free(s);
}

static dk_status ddpm_v_scalings(void *self, size_t n, const double *sigma, double *c_skip, double *c_out,
                                 double *c_in, double *c_noise, dk_error *err) {
    const ddpm_v *s = self;
    for (size_t i = 0; i < n; i++) {
        double sg = sigma[i], v = sg * sg + 1.0;
        if (c_skip) c_skip[i] = 1.0 / v;
        if (c_out) c_out[i] = -sg * 1.0 / sqrt(v);
        if (c_in) c_in[i] = 1.0 / sqrt(v);
        if (c_noise)
            c_noise[i] = s->quantize ? (double)dk_ddpm_sigma_to_t_quantized(&s->table, sg)
                                     : dk_ddpm_sigma_to_t(&s->table, sg);
    }
    return DK_OK;
}

static const dk_option_spec ddpm_v_options[] = {
    {"betas", DK_OPT_ENUM, "linear", -INFINITY, INFINITY, "linear|cosine",
     "beta schedule: DiT linear (1e-4..0.02, scaled by 1000/T) or cosine (squaredcos_cap_v2)", 0},
    {"timesteps", DK_OPT_INT, "1000", 2, INFINITY, NULL, "number of training timesteps T", 0},
    {"quantize", DK_OPT_BOOL, "false", -INFINITY, INFINITY, NULL,
     "condition on the nearest integer timestep instead of the log-sigma interpolated one", 0},
};

static const dk_precond_vtable ddpm_v_vtable = {
    .struct_size = sizeof(dk_precond_vtable),
    .create = ddpm_v_create,
    .destroy = ddpm_v_destroy,
    .scalings = ddpm_v_scalings,
    .weight = NULL,
    .loss = NULL,
    .out_channel_factor = NULL,
    .denoised = NULL,
};

static const dk_plugin ddpm_v_plugin = {
    .abi_version = DK_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(dk_plugin),
    .kind = DK_KIND_PRECOND,
    .name = "ddpm_v",
    .version = "1.0",
    .summary = "discrete DDPM v-prediction wrapper (k-diffusion DiscreteVDDPMDenoiser), c_noise = timestep",
    .options = ddpm_v_options,
    .n_options = sizeof ddpm_v_options / sizeof ddpm_v_options[0],
    .vtable = &ddpm_v_vtable,
};

DK_PLUGIN_EXPORT const dk_plugin *diffkit_plugin(void) { return &ddpm_v_plugin; }
