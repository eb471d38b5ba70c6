/* ddpm_eps.c: the `ddpm_eps` preconditioner: a discrete-time eps-prediction
 * network (DDPM, Ho et al. 2020; DiT) in the VE frame, as k-diffusion's
 * external.DiscreteEpsDDPMDenoiser wraps it: sigma_t = sqrt((1-abar_t)/abar_t),
 *   c_skip = 1, c_out = -sigma, c_in = 1/sqrt(sigma^2 + 1), c_noise = t(sigma),
 * with t(sigma) the log-sigma interpolated timestep (or the nearest one when
 * quantize = true) of the DDPM table (diffkit/ddpm.h). D = x - sigma eps.
 * The host's default loss, mean((F - (x0 - y)/(-sigma))^2), is the eps-MSE
 * L_simple of Ho et al. (eq. 14): (x0 - y)/(-sigma) = noise. Unweighted. */
#include <math.h>
#include <stdlib.h>
#include "diffkit/diffkit.h"
#include "diffkit/ddpm.h"

typedef struct ddpm_eps {
    dk_ddpm table;
    int quantize;
} ddpm_eps;

static dk_status ddpm_eps_create(const dk_options *o, void **self, dk_error *err) {
    ddpm_eps *s = calloc(1, sizeof *s);
    if (!s) return dk_error_set(err, DK_ENOMEM, "precond 'ddpm_eps': out of memory");
    if (dk_ddpm_init(&s->table, dk_opt_str(o, "betas"), dk_opt_int(o, "timesteps"), NULL, err) != DK_OK) {
        free(s);
        return dk_error_prefix(err, "precond 'ddpm_eps'");
    }
    s->quantize = dk_opt_bool(o, "quantize");
    *self = s;
    return DK_OK;
}

static void ddpm_eps_destroy(void *self) {
    ddpm_eps *s = self;
    if (!s) return;
    dk_ddpm_free(&s->table);
    free(s);
}

static dk_status ddpm_eps_scalings(void *self, size_t n, const double *sigma, double *c_skip, double *c_out,
                                   double *c_in, double *c_noise, dk_error *err) {
    const ddpm_eps *s = self;
    for (size_t i = 0; i < n; i++) {
        double sg = sigma[i];
        if (c_skip) c_skip[i] = 1.0;
        if (c_out) c_out[i] = -sg;
        if (c_in) c_in[i] = 1.0 / sqrt(sg * sg + 1.0);
        if (c_noise)
            c_noise[i] = s->quantize ? (double)dk_ddpm_sigma_to_t_quantized(&s->table, sg)
                                     : dk_ddpm_sigma_to_t(&s->table, sg);
    }
    return DK_OK;
}

static const dk_option_spec ddpm_eps_options[] = {
    {"betas", DK_OPT_ENUM, "linear", -INFINITY, INFINITY, "linear|cosine",
     "beta schedule: DiT linear (1e-4..0.02, scaled by 1000/T) or cosine (squaredcos_cap_v2)", 0},
    {"timesteps", DK_OPT_INT, "1000", 2, INFINITY, NULL, "number of training timesteps T", 0},
    {"quantize", DK_OPT_BOOL, "false", -INFINITY, INFINITY, NULL,
     "condition on the nearest integer timestep instead of the log-sigma interpolated one", 0},
};

static const dk_precond_vtable ddpm_eps_vtable = {
    .struct_size = sizeof(dk_precond_vtable),
    .create = ddpm_eps_create,
    .destroy = ddpm_eps_destroy,
    .scalings = ddpm_eps_scalings,
    .weight = NULL,
    .loss = NULL,
    .out_channel_factor = NULL,
    .denoised = NULL,
};

static const dk_plugin ddpm_eps_plugin = {
    .abi_version = DK_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(dk_plugin),
    .kind = DK_KIND_PRECOND,
    .name = "ddpm_eps",
    .version = "1.0",
    .summary = "discrete DDPM eps-prediction wrapper (k-diffusion DiscreteEpsDDPMDenoiser), c_noise = timestep",
    .options = ddpm_eps_options,
    .n_options = sizeof ddpm_eps_options / sizeof ddpm_eps_options[0],
    .vtable = &ddpm_eps_vtable,
};

DK_PLUGIN_EXPORT const dk_plugin *diffkit_plugin(void) { return &ddpm_eps_plugin; }
