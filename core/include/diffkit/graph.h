/* graph.h: tape-based reverse-mode autograd and the parameter store.
 *
 * A dk_graph records, while gradients are enabled, every op applied to
 * dk_vars; dk_graph_backward walks the tape in reverse and calls each op's
 * backward kernel, which ACCUMULATES (+=) into the inputs' gradients.
 * Intermediate vars belong to the graph and are freed by dk_graph_reset.
 * Parameters belong to a dk_params store and outlive graphs.
 *
 * Errors are sticky: an op that fails (bad shape, out of memory) records the
 * first error in the graph and returns NULL; every op given a NULL input
 * returns NULL at once. A model's forward pass can therefore be written
 * without a check per line, and the caller checks dk_graph_status once.
 *
 * The ops themselves (linear, layernorm, attention, ...) are declared in
 * diffkit/ops.h. A plugin can add its own op with dk_graph_custom. */
#ifndef DIFFKIT_GRAPH_H
#define DIFFKIT_GRAPH_H

#include <stddef.h>
#include <stdint.h>
#include "diffkit/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dk_graph dk_graph;

typedef struct dk_var {
    dk_tensor *value;   /* forward value */
    dk_tensor *grad;    /* same shape as value; NULL until needed (allocated zeroed) */
    int requires_grad;  /* 1 if a gradient flows to it */
    const char *name;   /* parameters: their safetensors name; else NULL */
} dk_var;

dk_graph *dk_graph_new(void);
void dk_graph_free(dk_graph *g);
/* Gradients on/off (default on). Off: no tape, no saved activations. */
void dk_graph_set_grad(dk_graph *g, int enabled);
int dk_graph_grad_enabled(const dk_graph *g);
/* Frees every intermediate var and the tape; clears the sticky error. */
void dk_graph_reset(dk_graph *g);
/* DK_OK, or the first error recorded (copied into err). */
dk_status dk_graph_status(const dk_graph *g, dk_error *err);
/* Record an error from outside an op (e.g. a model's own check); returns NULL. */
dk_var *dk_graph_fail(dk_graph *g, dk_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Wrap a tensor as a leaf var owned by the graph (tensor retained).
 * requires_grad: whether backward should compute its gradient. */
dk_var *dk_graph_input(dk_graph *g, dk_tensor *t, int requires_grad);
/* A new zero tensor var owned by the graph (for ops and custom ops). */
dk_var *dk_graph_new_var(dk_graph *g, dk_dtype dtype, int ndim, const int64_t *shape);

/* Backward from a scalar (numel 1) var, seeding d(loss)/d(loss) = 1. */
dk_status dk_graph_backward(dk_graph *g, dk_var *loss, dk_error *err);
/* Backward with a hook (the gradient buckets of data parallelism, PyTorch
 * DDP's design): after the backward of tape entry i (entries run from the
 * last to the first), on_entry(ctx, i) is called; set fn = NULL to remove. */
typedef void (*dk_backward_hook)(void *ctx, size_t entry);
void dk_graph_set_backward_hook(dk_graph *g, dk_backward_hook fn, void *ctx);
/* Zeroes (allocating if needed) v->grad. */
dk_status dk_var_zero_grad(dk_var *v, dk_error *err);

/* Custom ops: forward has already computed `out`; backward (may be NULL for
 * a non-differentiable op) receives out->grad and must ACCUMULATE into the
 * grads of inputs that require them (dk_var_zero_grad allocates if NULL).
 * ctx is freed with free_ctx (may be NULL) when the graph resets. */
typedef dk_status (*dk_backward_fn)(void *ctx, dk_var *out, dk_var **inputs, int n_inputs,
                                    dk_error *err);
dk_var *dk_graph_custom(dk_graph *g, dk_var *out, dk_var **inputs, int n_inputs,
                        dk_backward_fn backward, void *ctx, void (*free_ctx)(void *));

/* ---- parameter store ------------------------------------------------------
 * A model declares its parameters in create(); the host then finalizes the
 * store, which allocates ONE block for all values and one for all gradients
 * (so optimizers and all-reduce run over flat arrays), and initializes them. */

typedef enum dk_init {
    DK_INIT_ZEROS = 0,
    DK_INIT_ONES,
    DK_INIT_CONST,    /* arg = value */
    DK_INIT_NORMAL,   /* arg = std */
    DK_INIT_UNIFORM,  /* uniform in [-arg, arg] */
    DK_INIT_XAVIER_UNIFORM, /* arg = gain; fan_in = shape[1..], fan_out = shape[0] */
    DK_INIT_CUSTOM    /* the model fills it in its init() slot */
} dk_init;

/* Tags drive optimizer parameter groups (k-diffusion / DiT conventions). */
enum {
    DK_PARAM_NO_DECAY = 1u << 0, /* norms, scales, biases, lerp factors, embeddings */
    DK_PARAM_MAPPING = 1u << 1,  /* HDiT mapping network (lr scaled) */
    DK_PARAM_FROZEN = 1u << 2,   /* buffers: stored in checkpoints, never updated (pos_embed, rope freqs) */
};

typedef struct dk_param {
    dk_var var;          /* var.name = full safetensors name */
    dk_init init;
    double init_arg;
    unsigned tags;
    double lr_scale;     /* 1 unless set */
    size_t offset;       /* element offset inside the block */
} dk_param;

typedef struct dk_params dk_params;
/* For each parameter i of p (dk_params_at order), out[i] = the smallest tape
 * entry that takes it as an input: its gradient is final once that entry's
 * backward has run; SIZE_MAX when no entry uses it (final from the start). */
void dk_graph_param_last_writers(const dk_graph *g, dk_params *p, size_t *out);

dk_params *dk_params_new(dk_dtype dtype);
void dk_params_free(dk_params *p);
dk_dtype dk_params_dtype(const dk_params *p);
/* Declare a parameter. Returns its var (stable pointer; value allocated at
 * finalize), or NULL and err on a duplicate name / bad shape / after finalize. */
dk_var *dk_params_add(dk_params *p, const char *name, int ndim, const int64_t *shape,
                      dk_init init, double init_arg, unsigned tags, dk_error *err);
/* Allocate blocks and initialize with the given seed (stream per parameter index). */
dk_status dk_params_finalize(dk_params *p, uint64_t seed, dk_error *err);
size_t dk_params_count(const dk_params *p);
dk_param *dk_params_at(dk_params *p, size_t i);
dk_param *dk_params_find(dk_params *p, const char *name);
size_t dk_params_numel(const dk_params *p, int trainable_only);
void *dk_params_data(dk_params *p);  /* the value block */
void *dk_params_grad(dk_params *p);  /* the gradient block (zeroed by dk_params_zero_grad) */
void dk_params_zero_grad(dk_params *p);
void dk_params_set_lr_scale(dk_param *prm, double s);
/* Moves the value and gradient blocks to dev (a finalized store); every
 * parameter's dk_var stays the same pointer and views the new blocks. */
dk_status dk_params_to_device(dk_params *p, dk_device dev, dk_error *err);
dk_device dk_params_device(const dk_params *p);

#ifdef __cplusplus
}
#endif
#endif
