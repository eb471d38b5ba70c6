/* optim.h: optimizers (AdamW, SGD), parameter groups, gradient clipping,
 * gradient accumulation and learning-rate schedules.
 *
 * Optimizers update a dk_params store in place, over its flat value and
 * gradient blocks (F32 or F64, the store's dtype; optimizer state has the same
 * dtype, as in PyTorch). The update formulas are torch.optim.AdamW and
 * torch.optim.SGD, evaluated in the parameters' precision with the scalar
 * coefficients computed in double and rounded once, as PyTorch does.
 *
 * Parameter groups are derived from each parameter's tags and lr_scale
 * (graph.h): a parameter tagged DK_PARAM_NO_DECAY gets weight decay 0, its
 * learning rate is lr * lr_scale, and DK_PARAM_FROZEN parameters (buffers)
 * are never updated and have no optimizer state. Two parameters are in the
 * same group when they agree on (decay or not, lr_scale); groups are listed
 * for logs by dk_optim_group.
 *
 * Learning-rate schedules are k-diffusion's (k_diffusion/utils.py): every
 * schedule multiplies by the exponential warmup factor 1 - warmup^(s + 1),
 * where s = 0 for the first optimizer step. */
#ifndef DIFFKIT_OPTIM_H
#define DIFFKIT_OPTIM_H

#include <stddef.h>
#include <stdint.h>
#include "diffkit/error.h"
#include "diffkit/graph.h"
#include "diffkit/safetensors.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- learning-rate schedules ------------------------------------------- */

typedef enum dk_lr_kind {
    DK_LR_CONSTANT = 0, /* lr = warm(s) * base                           (ConstantLRWithWarmup) */
    DK_LR_INVERSE,      /* lr = warm(s) * max(min_lr, base * (1 + s/inv_gamma)^-power)  (InverseLR) */
    DK_LR_EXPONENTIAL   /* lr = warm(s) * max(min_lr, base * (decay^(1/num_steps))^s) (ExponentialLR) */
} dk_lr_kind;

typedef struct dk_lr_sched {
    dk_lr_kind kind;
    double warmup;    /* 0 <= warmup < 1; warm(s) = 1 - warmup^(s+1); 0 disables */
    double min_lr;    /* inverse / exponential only (k-diffusion default 0) */
    double inv_gamma; /* inverse: steps until lr has decayed by (1/2)^power (default 1) */
    double power;     /* inverse: exponent (default 1) */
    double num_steps; /* exponential: steps over which lr is multiplied by decay */
    double decay;     /* exponential: factor per num_steps (default 0.5) */
} dk_lr_sched;

/* Defaults of k-diffusion for each kind (exponential: num_steps must still be set). */
dk_lr_sched dk_lr_sched_default(dk_lr_kind kind);
/* Checks the ranges (warmup in [0, 1), inv_gamma > 0, num_steps > 0, decay > 0). */
dk_status dk_lr_sched_check(const dk_lr_sched *s, dk_error *err);
/* The learning rate for optimizer step `step` (0 = first) of a group with base lr `base`. */
double dk_lr_sched_value(const dk_lr_sched *s, double base, int64_t step);
const char *dk_lr_kind_name(dk_lr_kind k);        /* "constant", "inverse", "exponential" */
int dk_lr_kind_from_name(const char *name, dk_lr_kind *out); /* 0 on success */

/* ---- optimizers ---------------------------------------------------------- */

typedef enum dk_optim_kind { DK_OPTIM_ADAMW = 0, DK_OPTIM_SGD } dk_optim_kind;

typedef struct dk_optim_config {
    dk_optim_kind kind;
    double lr;            /* base learning rate */
    double weight_decay;  /* AdamW: decoupled (p -= lr*wd*p); SGD: L2 added to the gradient */
    /* AdamW */
    double beta1, beta2;  /* default 0.9, 0.999 */
    double eps;           /* default 1e-8; added outside the square root */
    /* SGD */
    double momentum;      /* default 0 */
    double dampening;     /* default 0 */
    int nesterov;         /* needs momentum > 0 and dampening 0 */
} dk_optim_config;

/* torch defaults: AdamW lr 1e-3, betas (0.9, 0.999), eps 1e-8, wd 1e-2;
 * SGD lr 1e-3, momentum 0, dampening 0, wd 0, nesterov off. */
dk_optim_config dk_optim_config_default(dk_optim_kind kind);
const char *dk_optim_kind_name(dk_optim_kind k);  /* "adamw", "sgd" */
int dk_optim_kind_from_name(const char *name, dk_optim_kind *out);

typedef struct dk_optim dk_optim;

/* The store must be finalized; it must outlive the optimizer. */
dk_optim *dk_optim_new(dk_params *params, const dk_optim_config *cfg, dk_error *err);
void dk_optim_free(dk_optim *o);
const dk_optim_config *dk_optim_config_of(const dk_optim *o);

/* Use a schedule (copied; NULL = constant lr without warmup). Each step's group
 * lr is then dk_lr_sched_value(s, cfg.lr * lr_scale, step). */
dk_status dk_optim_set_schedule(dk_optim *o, const dk_lr_sched *s, dk_error *err);
/* Change the base lr (cfg.lr) for later steps. */
void dk_optim_set_lr(dk_optim *o, double lr);
/* The lr the next step will use for a parameter with lr_scale 1. */
double dk_optim_current_lr(const dk_optim *o);

/* One update from the gradients now in the store's gradient block.
 * Does not zero the gradients. DK_ENUMERIC (nothing changed) if a gradient of
 * a trainable parameter is NaN or Inf, naming the parameter. */
dk_status dk_optim_step(dk_optim *o, dk_error *err);
/* Number of steps taken (the torch "step" state). */
int64_t dk_optim_steps(const dk_optim *o);

/* Parameter groups, for logs: weight decay, lr scale and parameter counts. */
typedef struct dk_optim_group_info {
    double weight_decay;
    double lr_scale;
    size_t n_params;  /* tensors */
    size_t numel;     /* scalars */
} dk_optim_group_info;
size_t dk_optim_group_count(const dk_optim *o);
dk_status dk_optim_group(const dk_optim *o, size_t i, dk_optim_group_info *out, dk_error *err);

/* State in safetensors: "optim.m.<param>" / "optim.v.<param>" (AdamW) or
 * "optim.momentum.<param>" (SGD with momentum) for each trainable parameter,
 * and metadata "optim.kind", "optim.step". Load checks kind, names and shapes
 * before changing anything. */
dk_status dk_optim_save(const dk_optim *o, dk_st_writer *w, dk_error *err);
dk_status dk_optim_load(dk_optim *o, const dk_st_file *f, dk_error *err);
/* The checks of dk_optim_load alone (changes nothing). */
dk_status dk_optim_check(const dk_optim *o, const dk_st_file *f, dk_error *err);

/* ---- gradients ----------------------------------------------------------- */

/* Global L2 norm of the trainable gradients, summed in double. */
double dk_grad_norm(dk_params *p);
/* torch.nn.utils.clip_grad_norm_: norm = dk_grad_norm; if finite, every
 * trainable gradient is multiplied by min(1, max_norm / (norm + 1e-6)).
 * Returns the norm before clipping (NaN/Inf returned as is, grads untouched). */
double dk_grad_clip(dk_params *p, double max_norm);
/* Multiply the trainable gradients by s (e.g. 1/k after accumulating k
 * micro-batches whose losses were not divided by k). */
void dk_grad_scale(dk_params *p, double s);
/* Gradient accumulation over k micro-batches: dk_grad_scale(p, 1.0 / k). */
void dk_grad_accum_finish(dk_params *p, int k);
/* 1 if every trainable gradient is finite; otherwise 0 and, if name is
 * non-NULL, *name = the first parameter with a NaN/Inf gradient. */
int dk_grad_all_finite(dk_params *p, const char **name);

#ifdef __cplusplus
}
#endif
#endif
