/* identity.c: the trivial preconditioner for models that already are the full
 * denoiser D(x; sigma), such as the `gmm` model: c_skip = 0, c_out = 1,
 * c_in = 1, c_noise = sigma, so D(x; sigma) = F(x, sigma). Its default loss
 * is the plain x0-prediction MSE mean((F(y, sigma) - x0)^2), weight 1. */
#include <math.h>
#include <stdlib.h>
#include "diffkit/diffkit.h"

static dk_status identity_create(const dk_options *o, void **self, dk_error *err) {
    (void)o;
    (void)err;
    *self = NULL;
    return DK_OK;
}

static void identity_destroy(void *self) { (void)self; }

static dk_status identity_scalings(void *self, size_t n, const double *sigma, double *c_skip, double *c_out,
                                   double *c_in, double *c_noise, dk_error *err) {
    (void)self;
    (void)err;
    for (size_t i = 0; i < n; i++) {
        if (c_skip) c_skip[i] = 0.0;
        if (c_out) c_out[i] = 1.0;
        if (c_in) c_in[i] = 1.0;
        if (c_noise) c_noise[i] = sigma[i];
    }
    return DK_OK;
}

static const dk_precond_vtable identity_vtable = {
    .struct_size = sizeof(dk_precond_vtable),
    .create = identity_create,
    .destroy = identity_destroy,
    .scalings = identity_scalings,
    .weight = NULL,
    .loss = NULL,
    .out_channel_factor = NULL,
    .denoised = NULL,
};

static const dk_plugin identity_plugin = {
    .abi_version = DK_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(dk_plugin),
    .kind = DK_KIND_PRECOND,
    .name = "identity",
    .version = "1.0",
    .summary = "no preconditioning: D(x; sigma) = F(x, sigma) (c_skip 0, c_out 1, c_in 1, c_noise sigma), for models like gmm",
    .options = NULL,
    .n_options = 0,
    .vtable = &identity_vtable,
};

DK_PLUGIN_EXPORT const dk_plugin *diffkit_plugin(void) { return &identity_plugin; }
