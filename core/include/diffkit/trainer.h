/* trainer.h: one training step of a diffusion model, k-diffusion style.
 *
 * A step (k-diffusion train.py; DiT train.py for R1):
 *   for each of grad_accum micro-batches (grad_accum * world with data
 *   parallelism: see dk_trainer_setup.world):
 *     x, labels <- loader (label dropout to the null class inside the loader)
 *     sigma     <- the training density (stratified: group = micro-batch index)
 *     noise     <- N(0, I) from the trainer's noise stream
 *     y = x + sigma * noise
 *     loss_b    <- the preconditioner's loss (default: w(sigma) * mean((F(c_in y, c_noise) - (x - c_skip y)/c_out)^2))
 *     backward(mean_b(loss_b) / grad_accum)
 *   NaN/Inf guard on loss and gradients (the step is refused, weights untouched),
 *   clip the global gradient norm (if clip_norm > 0), optimizer step, EMA update.
 *
 * Draws: data order / flips / label dropout live in the loader's streams; the
 * sigma and noise draws have streams of their own (DK_STREAM_SIGMA,
 * DK_STREAM_NOISE), so a resumed run continues the same sequence bit for bit. */
#ifndef DIFFKIT_TRAINER_H
#define DIFFKIT_TRAINER_H

#include "diffkit/checkpoint.h"
#include "diffkit/data.h"
#include "diffkit/ema.h"
#include "diffkit/host.h"
#include "diffkit/optim.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DK_STREAM_SIGMA 0x53490001u
#define DK_STREAM_NOISE 0x4e4f0001u
#define DK_STREAM_SAMPLE 0x53410001u

typedef struct dk_trainer_setup {
    dk_instance *model;     /* borrowed; params finalized */
    dk_instance *precond;   /* borrowed */
    dk_instance *density;   /* borrowed: a schedule plugin with a density slot */
    dk_loader *loader;      /* borrowed */
    dk_optim_config optim;
    dk_lr_sched lr_sched;
    int use_ema;
    dk_ema_config ema;
    int grad_accum;         /* >= 1 */
    double clip_norm;       /* <= 0: no clipping */
    int stratified;         /* stratified sigma draws (k-diffusion) */
    uint64_t seed;
    /* Data parallelism (docs/distributed.md; 0 = one process): this process is
     * rank `rank` of `world` (dk_dist_world / dk_dist_rank). The loader's batch
     * is then the micro-batch m; a step is M = grad_accum * world micro-batches
     * k = 0..M-1 of m images (global batch M*m); this rank computes k = a*world
     * + rank for a = 0..grad_accum-1, exactly what one process with grad_accum =
     * M computes for that k (the same images, flips, label dropout, sigma draws
     * with stratification group k of M, and noise), and the gradients are
     * summed in the order of k (dk_dist_sum_ordered), so parameters are
     * bit-identical to that one process for any world size. */
    int world, rank;
    /* With world > 1 on the CPU: sum the gradients in buckets of about 2^20
     * elements, each started during backward as soon as its parameters'
     * gradients are final, in a fixed order (the last bucket first), as
     * PyTorch DDP overlaps its all-reduce with backward. 0: one sum after
     * backward. The result is the same bit for bit either way. */
    int overlap;
    size_t bucket_elems;    /* bucket size with overlap (0: 2^20 elements) */
} dk_trainer_setup;

typedef struct dk_train_stats {
    int64_t step;           /* steps done after this one */
    double loss;            /* mean loss of the step */
    double grad_norm;       /* before clipping */
    double lr;              /* lr used (scale-1 group) */
    double ema_decay;       /* decay used (NaN without EMA) */
    double sigma_min, sigma_max, sigma_mean_log;
    double seconds;         /* wall time of the step */
    double comm_seconds;    /* of which: summing gradients across ranks (waiting included) */
} dk_train_stats;

typedef struct dk_trainer dk_trainer;

dk_trainer *dk_trainer_new(const dk_trainer_setup *s, dk_error *err);
void dk_trainer_free(dk_trainer *t);
dk_status dk_trainer_step(dk_trainer *t, dk_train_stats *stats, dk_error *err);
int64_t dk_trainer_steps(const dk_trainer *t);
dk_optim *dk_trainer_optim(dk_trainer *t);
dk_ema *dk_trainer_ema(dk_trainer *t);

/* Checkpoint into dir (ckpt_<step>.safetensors + latest); config = text stored with it. */
dk_status dk_trainer_save(dk_trainer *t, const char *dir, const char *config, char *path_out,
                          size_t path_n, dk_error *err);
/* Restore model, EMA, optimizer, step, loader position and RNG streams. */
dk_status dk_trainer_load(dk_trainer *t, const char *path, char **config_out, dk_error *err);

/* Use the EMA weights in the model (swap = 1) or the trained ones (swap = 0 restores). */
dk_status dk_trainer_use_ema(dk_trainer *t, int on, dk_error *err);

#ifdef __cplusplus
}
#endif
#endif
