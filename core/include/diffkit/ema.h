/* ema.h: exponential moving average (EMA) of a parameter store.
 *
 * Two decay rules:
 *   DK_EMA_WARMUP  k-diffusion's EMAWarmup (k_diffusion/utils.py):
 *                  decay(s) = clamp(1 - (1 + s'/inv_gamma)^-power, min_value, max_value),
 *                  s' = max(0, s - start_at); s' counted in EMA updates (0 for the first),
 *                  so the first update copies the model (decay 0).
 *                  power 2/3 reaches 0.999 at ~31.6k updates, 0.9999 at ~1M;
 *                  power 3/4 reaches them at ~10k and ~215k.
 *   DK_EMA_FIXED   a constant decay (DiT: 0.9999), the EMA starting as a copy.
 * Update (both; k-diffusion ema_update and DiT update_ema):
 *   ema <- ema*decay + param*(1 - decay)   for trainable parameters,
 *   ema <- param                            for DK_PARAM_FROZEN ones (buffers),
 * evaluated in the store's dtype with decay and 1 - decay rounded to it. */
#ifndef DIFFKIT_EMA_H
#define DIFFKIT_EMA_H

#include <stdint.h>
#include "diffkit/error.h"
#include "diffkit/graph.h"
#include "diffkit/safetensors.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum dk_ema_kind { DK_EMA_WARMUP = 0, DK_EMA_FIXED } dk_ema_kind;

typedef struct dk_ema_config {
    dk_ema_kind kind;
    /* DK_EMA_WARMUP (k-diffusion defaults as used by its trainer: inv_gamma 1,
     * power 2/3, min 0, max 0.9999, start_at 0) */
    double inv_gamma;
    double power;
    double min_value;
    double max_value;
    int64_t start_at;
    /* DK_EMA_FIXED */
    double decay;
} dk_ema_config;

/* kind WARMUP: inv_gamma 1, power 2/3, min 0, max 0.9999, start_at 0;
 * kind FIXED: decay 0.9999. */
dk_ema_config dk_ema_config_default(dk_ema_kind kind);
dk_status dk_ema_config_check(const dk_ema_config *c, dk_error *err);
/* The decay used by update number `step` (0 = first). */
double dk_ema_decay_at(const dk_ema_config *c, int64_t step);

typedef struct dk_ema dk_ema;

/* A copy of the store's current values (the store must be finalized and
 * outlive the EMA). */
dk_ema *dk_ema_new(dk_params *params, const dk_ema_config *c, dk_error *err);
void dk_ema_free(dk_ema *e);
/* One update with decay dk_ema_decay_at(cfg, steps) from the store's values;
 * returns the decay used (NaN if e is NULL). */
double dk_ema_update(dk_ema *e);
int64_t dk_ema_steps(const dk_ema *e);       /* updates so far */
double dk_ema_next_decay(const dk_ema *e);   /* decay of the next update */
/* The EMA value block (same layout and dtype as dk_params_data). */
void *dk_ema_data(dk_ema *e);
/* Copy the EMA values into a store with the same layout (e.g. an inference
 * copy of the model) / reset the EMA to the store's values. */
dk_status dk_ema_copy_to(const dk_ema *e, dk_params *dst, dk_error *err);
void dk_ema_reset(dk_ema *e);

/* Save as "ema.<param>" for every parameter (frozen ones included) and
 * metadata "ema.step"; load checks every name and shape before changing anything. */
dk_status dk_ema_save(const dk_ema *e, dk_st_writer *w, dk_error *err);
dk_status dk_ema_load(dk_ema *e, const dk_st_file *f, dk_error *err);
/* The checks of dk_ema_load alone (changes nothing). */
dk_status dk_ema_check(const dk_ema *e, const dk_st_file *f, dk_error *err);

#ifdef __cplusplus
}
#endif
#endif
