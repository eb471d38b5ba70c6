/* vdiff.c: the `vdiff` preconditioner: continuous-time v-prediction
 * (v-diffusion; Salimans & Ho 2022) in the VE frame, as k-diffusion's
 * external.VDenoiser wraps it (sigma_data = 1 there; an option here):
 *   c_skip = sd^2/(sigma^2 + sd^2), c_out = -sigma sd/sqrt(sigma^2 + sd^2),
 *   c_in = 1/sqrt(sigma^2 + sd^2), c_noise = t = atan(sigma/sd) 2/pi
 * (the cosine-schedule time; sigma = sd tan(t pi/2)). The host's default loss
 * is k-diffusion's unweighted mean((F - (x0 - c_skip y)/c_out)^2). */
#include <math.h>
#include <stdlib.h>
#include "diffkit/diffkit.h"

typedef struct vdiff {
    double sd;
} vdiff;

static dk_status vdiff_create(const dk_options *o, void **self, dk_error *err) {
    vdiff *s = calloc(1, sizeof *s);
    if (!s) return dk_error_set(err, DK_ENOMEM, "precond 'vdiff': out of memory");
    s->sd = dk_opt_float(o, "sigma_data");
    *self = s;
    return DK_OK;
}

static void vdiff_destroy(void *self) { free(self); }

static dk_status vdiff_scalings(void *self, size_t n, const double *sigma, double *c_skip, double *c_out,
                                double *c_in, double *c_noise, dk_error *err) {
    const vdiff *s = self;
    const double sd2 = s->sd * s->sd;
    for (size_t i = 0; i < n; i++) {
        double sg = sigma[i], v = sg * sg + sd2;
        if (c_skip) c_skip[i] = sd2 / v;
        if (c_out) c_out[i] = -sg * s->sd / sqrt(v);
        if (c_in) c_in[i] = 1.0 / sqrt(v);
        if (c_noise) c_noise[i] = atan(sg / s->sd) / M_PI * 2.0; /* VDenoiser.sigma_to_t */
    }
    return DK_OK;
}

static const dk_option_spec vdiff_options[] = {
    {"sigma_data", DK_OPT_FLOAT, "1", 0.0, INFINITY, NULL, "standard deviation of the data (k-diffusion VDenoiser: 1)", DK_OPT_MIN_EXCLUSIVE},
};

static const dk_precond_vtable vdiff_vtable = {
    .struct_size = sizeof(dk_precond_vtable),
    .create = vdiff_create,
    .destroy = vdiff_destroy,
    .scalings = vdiff_scalings,
    .weight = NULL,
    .loss = NULL,
    .out_channel_factor = NULL,
    .denoised = NULL,
};

static const dk_plugin vdiff_plugin = {
    .abi_version = DK_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(dk_plugin),
    .kind = DK_KIND_PRECOND,
    .name = "vdiff",
    .version = "1.0",
    .summary = "continuous v-prediction wrapper (k-diffusion VDenoiser), c_noise = atan(sigma) 2/pi",
    .options = vdiff_options,
    .n_options = sizeof vdiff_options / sizeof vdiff_options[0],
    .vtable = &vdiff_vtable,
};

DK_PLUGIN_EXPORT const dk_plugin *diffkit_plugin(void) { return &vdiff_plugin; }
