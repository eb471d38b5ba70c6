/* edm.c: the `edm` preconditioner (Karras et al. 2022, "Elucidating the
 * Design Space...", Table 1 / eq. 7; k-diffusion layers.Denoiser):
 *   c_skip = sd^2/(sigma^2 + sd^2), c_out = sigma sd/sqrt(sigma^2 + sd^2),
 *   c_in = 1/sqrt(sigma^2 + sd^2), c_noise = ln(sigma)/4.
 * (k-diffusion's Denoiser hands sigma itself to its models, which compute
 * ln(sigma)/4 inside; here the preconditioner owns c_noise.)
 * The loss is taken in F space against (x0 - c_skip y)/c_out (the host's
 * default loss) times a weight w(sigma) (k-diffusion, `layers.Denoiser.loss`; Crowson et al. 2024, HDiT, App. C):
 *   karras        w = 1                        (EDM's lambda = 1/c_out^2 in D space)
 *   snr           w = sd^2/(sigma^2 + sd^2)    (lambda = 1/sigma^2: eps-MSE)
 *   soft-min-snr  w = (sigma sd)^2/(sigma^2 + sd^2)^2   (HDiT eq. 5, lambda = 1/(sigma^2 + sd^2))
 *   min-snr       w = min(1/sigma^2, gamma) c_out^2     (Hang et al. 2023: lambda = min(SNR, gamma))
 *   function      w = weight_fn(sigma), a user function (e.g. from Lua). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "diffkit/diffkit.h"

typedef enum { W_KARRAS, W_SNR, W_SOFT_MIN_SNR, W_MIN_SNR, W_FUNCTION } weighting;

typedef struct edm {
    double sd, gamma;
    weighting w;
    dk_opt_fn fn;
} edm;

static dk_status edm_create(const dk_options *o, void **self, dk_error *err) {
    const char *w = dk_opt_str(o, "weighting");
    int has_fn = dk_opt_has(o, "weight_fn");
    weighting k;
    if (strcmp(w, "karras") == 0) k = W_KARRAS;
    else if (strcmp(w, "snr") == 0) k = W_SNR;
    else if (strcmp(w, "soft-min-snr") == 0) k = W_SOFT_MIN_SNR;
    else if (strcmp(w, "min-snr") == 0) k = W_MIN_SNR;
    else k = W_FUNCTION;
    if (k == W_FUNCTION && !has_fn)
        return dk_error_set(err, DK_EINVAL,
                            "precond 'edm': option 'weighting' is 'function' but option 'weight_fn' is not set: "
                            "give a function of sigma");
    if (k != W_FUNCTION && has_fn)
        return dk_error_set(err, DK_EINVAL,
                            "precond 'edm': option 'weight_fn' is set but option 'weighting' is '%s': "
                            "set weighting = 'function' to use it", w);
    edm *s = calloc(1, sizeof *s);
    if (!s) return dk_error_set(err, DK_ENOMEM, "precond 'edm': out of memory");
    s->sd = dk_opt_float(o, "sigma_data");
    s->gamma = dk_opt_float(o, "gamma");
    s->w = k;
    if (k == W_FUNCTION) s->fn = *dk_opt_func(o, "weight_fn");
    *self = s;
    return DK_OK;
}

static void edm_destroy(void *self) { free(self); }

static dk_status edm_scalings(void *self, size_t n, const double *sigma, double *c_skip, double *c_out,
                              double *c_in, double *c_noise, dk_error *err) {
    const edm *s = self;
    const double sd2 = s->sd * s->sd;
    for (size_t i = 0; i < n; i++) {
        double sg = sigma[i], v = sg * sg + sd2;
        if (c_skip) c_skip[i] = sd2 / v;
        if (c_out) c_out[i] = sg * s->sd / sqrt(v);
        if (c_in) c_in[i] = 1.0 / sqrt(v);
        if (c_noise) c_noise[i] = log(sg) / 4.0;
    }
    return DK_OK;
}

static dk_status edm_weight(void *self, size_t n, const double *sigma, double *w, dk_error *err) {
    const edm *s = self;
    const double sd2 = s->sd * s->sd;
    if (s->w == W_FUNCTION) {
        if (s->fn.call(s->fn.ctx, n, sigma, w, err) != DK_OK)
            return dk_error_prefix(err, "precond 'edm': option 'weight_fn' failed");
        for (size_t i = 0; i < n; i++)
            if (!isfinite(w[i]) || w[i] < 0.0)
                return dk_error_set(err, DK_ENUMERIC,
                                    "precond 'edm': option 'weight_fn' returned %g for sigma = %.17g: "
                                    "a loss weight must be finite and >= 0", w[i], sigma[i]);
        return DK_OK;
    }
    for (size_t i = 0; i < n; i++) {
        double sg = sigma[i], v = sg * sg + sd2;
        switch (s->w) {
        case W_KARRAS: w[i] = 1.0; break;
        case W_SNR: w[i] = sd2 / v; break;
        case W_SOFT_MIN_SNR: w[i] = (sg * s->sd) * (sg * s->sd) / (v * v); break;
        case W_MIN_SNR: {
            double snr = 1.0 / (sg * sg);
            w[i] = (snr < s->gamma ? snr : s->gamma) * (sg * sg) * sd2 / v; /* min(SNR, gamma) c_out^2 */
            break;
        }
        case W_FUNCTION: break;
        }
    }
    return DK_OK;
}

static const dk_option_spec edm_options[] = {
    {"sigma_data", DK_OPT_FLOAT, "0.5", 0.0, INFINITY, NULL, "standard deviation of the data (0.5 for images in [-1, 1])", DK_OPT_MIN_EXCLUSIVE},
    {"weighting", DK_OPT_ENUM, "karras", -INFINITY, INFINITY, "karras|snr|soft-min-snr|min-snr|function",
     "loss weighting of the F-space MSE (see docs/components.md)", 0},
    {"gamma", DK_OPT_FLOAT, "5", 0.0, INFINITY, NULL, "min-snr: the SNR cap gamma (Hang et al. 2023: 5)", DK_OPT_MIN_EXCLUSIVE},
    {"weight_fn", DK_OPT_FUNCTION, NULL, -INFINITY, INFINITY, NULL,
     "weighting = function: w(sigma), finite and >= 0", DK_OPT_OPTIONAL},
};

static const dk_precond_vtable edm_vtable = {
    .struct_size = sizeof(dk_precond_vtable),
    .create = edm_create,
    .destroy = edm_destroy,
    .scalings = edm_scalings,
    .weight = edm_weight,
    .loss = NULL,
    .out_channel_factor = NULL,
    .denoised = NULL,
};

static const dk_plugin edm_plugin = {
    .abi_version = DK_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(dk_plugin),
    .kind = DK_KIND_PRECOND,
    .name = "edm",
    .version = "1.0",
    .summary = "EDM / Karras preconditioning (k-diffusion Denoiser) with karras, snr, soft-min-snr, min-snr or custom weighting",
    .options = edm_options,
    .n_options = sizeof edm_options / sizeof edm_options[0],
    .vtable = &edm_vtable,
};

DK_PLUGIN_EXPORT const dk_plugin *diffkit_plugin(void) { return &edm_plugin; }
