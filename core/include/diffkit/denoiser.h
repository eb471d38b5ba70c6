/* denoiser.h: the host's denoise callback, D(x; sigma) = c_skip x + c_out F(c_in x, c_noise),
 * built from a model instance and a preconditioner instance, with classifier-free
 * guidance. This is what a sampler's dk_denoise_fn points at.
 *
 * CFG (Ho & Salimans 2022; k-diffusion's convention, HDiT paper App. D.2):
 * D = D_u + w (D_c - D_u), w = 1 meaning no guidance. With w != 1 the
 * conditional and unconditional passes run as one batch of 2B
 * ([cond; uncond], the null label being the model's num_classes). */
#ifndef DIFFKIT_DENOISER_H
#define DIFFKIT_DENOISER_H

#include "diffkit/host.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dk_denoiser dk_denoiser;

/* model and precond are borrowed. */
dk_denoiser *dk_denoiser_new(dk_instance *model, dk_instance *precond, dk_error *err);
void dk_denoiser_free(dk_denoiser *d);
/* Class labels for the next calls ([B], copied; NULL = unconditional / null label). */
dk_status dk_denoiser_set_labels(dk_denoiser *d, const int64_t *labels, int64_t batch, dk_error *err);
/* Guidance scale w (1 = none). Needs a class-conditional model when != 1. */
dk_status dk_denoiser_set_cfg(dk_denoiser *d, double w, dk_error *err);
/* Number of model forward passes so far (a CFG call counts once). */
uint64_t dk_denoiser_calls(const dk_denoiser *d);

/* The dk_denoise_fn: ctx is the dk_denoiser. x, denoised: F64 [B, C, H, W]. */
dk_status dk_denoiser_denoise(void *ctx, const dk_tensor *x, const double *sigma,
                              dk_tensor *denoised, dk_tensor *aux, dk_error *err);

#ifdef __cplusplus
}
#endif
#endif
