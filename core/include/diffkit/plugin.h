/* plugin.h: the plugin ABI.
 *
 * A plugin is a shared object that exports ONE function, `diffkit_plugin`
 * (DK_PLUGIN_ENTRY), returning a pointer to a constant dk_plugin descriptor.
 * The host checks `abi_version` and `struct_size` before reading anything
 * else and reports both numbers when they differ. The descriptor names the
 * kind, the plugin's name, version and a one-line summary, an option table
 * (name, type, default, range, doc) and the kind's vtable.
 *
 * Rules (see docs/plugins.md):
 *  - Vtables only grow at the end; each starts with its own struct_size so the
 *    host can tell which slots a plugin was compiled with. Optional slots may
 *    be NULL; the documented default applies.
 *  - Lifetime: create(options) -> use -> destroy. The host owns buffers passed
 *    in; the plugin owns what it allocates in create and frees it in destroy.
 *  - Plugins link against libdiffkit and use its ops; they never exit or abort:
 *    they return a dk_status and fill the caller's dk_error.
 *  - Options reaching create() have been validated against the option table
 *    (unknown names, wrong types, out-of-range values are rejected by the host
 *    with the option's name and documented range). */
#ifndef DIFFKIT_PLUGIN_H
#define DIFFKIT_PLUGIN_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include "diffkit/error.h"
#include "diffkit/graph.h"
#include "diffkit/noise.h"
#include "diffkit/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DK_PLUGIN_ABI_VERSION 1u
#define DK_PLUGIN_ENTRY "diffkit_plugin"
#define DK_PLUGIN_EXPORT __attribute__((visibility("default")))

typedef enum dk_plugin_kind {
    DK_KIND_MODEL = 1,
    DK_KIND_PRECOND = 2,
    DK_KIND_SCHEDULE = 3,
    DK_KIND_SAMPLER = 4
} dk_plugin_kind;

const char *dk_kind_name(dk_plugin_kind k);          /* "model", ... */
int dk_kind_from_name(const char *s, dk_plugin_kind *out); /* 0 on success */

/* ---- options ------------------------------------------------------------ */

typedef enum dk_opt_type {
    DK_OPT_BOOL = 1,
    DK_OPT_INT,
    DK_OPT_FLOAT,
    DK_OPT_STRING,
    DK_OPT_ENUM,        /* one of `choices` ("a|b|c") */
    DK_OPT_INT_LIST,
    DK_OPT_FLOAT_LIST,
    DK_OPT_STRING_LIST, /* elements checked against `choices` when it is non-NULL */
    DK_OPT_FUNCTION     /* a callable (e.g. a Lua function of sigma) */
} dk_opt_type;

enum {
    DK_OPT_MIN_EXCLUSIVE = 1u << 0, /* value > min rather than >= */
    DK_OPT_MAX_EXCLUSIVE = 1u << 1,
    DK_OPT_OPTIONAL = 1u << 2,      /* no default; may be absent (dk_opt_has tells) */
    DK_OPT_ALLOW_INF = 1u << 3,     /* a float that may be +-inf (within its range), e.g. s_tmax = inf
                                       meaning "no bound"; without it every number must be finite */
};

typedef struct dk_option_spec {
    const char *name;
    dk_opt_type type;
    const char *default_value; /* as text: "0.5", "true", "karras", "[128,256]", "inf";
                                  NULL with DK_OPT_OPTIONAL = absent by default */
    double min, max;           /* numeric range, inclusive unless flagged; use
                                  -INFINITY / INFINITY for none */
    const char *choices;       /* DK_OPT_ENUM / STRING_LIST: "a|b|c" */
    const char *doc;           /* one line */
    unsigned flags;
} dk_option_spec;

/* A function option: maps n inputs to n outputs (e.g. sigma -> weight). */
typedef struct dk_opt_fn {
    dk_status (*call)(void *ctx, size_t n, const double *in, double *out, dk_error *err);
    void *ctx;
} dk_opt_fn;

typedef struct dk_options dk_options; /* validated values, built by the host */

/* Accessors for plugins; a value not set explicitly gives the default. */
int dk_opt_has(const dk_options *o, const char *name);
int dk_opt_bool(const dk_options *o, const char *name);
int64_t dk_opt_int(const dk_options *o, const char *name);
double dk_opt_float(const dk_options *o, const char *name);
const char *dk_opt_str(const dk_options *o, const char *name); /* STRING and ENUM */
size_t dk_opt_len(const dk_options *o, const char *name);      /* lists */
int64_t dk_opt_int_at(const dk_options *o, const char *name, size_t i);
double dk_opt_float_at(const dk_options *o, const char *name, size_t i);
const char *dk_opt_str_at(const dk_options *o, const char *name, size_t i);
const dk_opt_fn *dk_opt_func(const dk_options *o, const char *name);

/* ---- the descriptor ----------------------------------------------------- */

typedef struct dk_plugin {
    uint32_t abi_version;          /* DK_PLUGIN_ABI_VERSION */
    uint32_t struct_size;          /* sizeof(dk_plugin) */
    dk_plugin_kind kind;
    const char *name;              /* unique within its kind, e.g. "karras" */
    const char *version;           /* e.g. "1.0" */
    const char *summary;           /* one line */
    const dk_option_spec *options;
    size_t n_options;
    const void *vtable;            /* dk_<kind>_vtable */
} dk_plugin;

typedef const dk_plugin *(*dk_plugin_entry_fn)(void);

/* ---- schedule ----------------------------------------------------------- */

/* A source of random draws for training densities. The host's implementation
 * applies k-diffusion's stratification to uniforms when enabled. */
typedef struct dk_draws dk_draws;
struct dk_draws {
    dk_status (*uniform)(dk_draws *self, size_t n, double *out, dk_error *err); /* U(0,1) */
    dk_status (*normal)(dk_draws *self, size_t n, double *out, dk_error *err);  /* N(0,1) */
};

typedef struct dk_schedule_vtable {
    uint32_t struct_size;
    dk_status (*create)(const dk_options *opts, void **self, dk_error *err);
    void (*destroy)(void *self);
    /* Sampling schedule: n >= 1 steps -> out[0..n] = n+1 sigmas, descending,
     * out[n] = 0. NULL for a training-only density. */
    dk_status (*sigmas)(void *self, int64_t n, double *out, dk_error *err);
    /* Training density: n sigmas drawn through src. NULL for sampling-only. */
    dk_status (*density)(void *self, size_t n, dk_draws *src, double *out, dk_error *err);
} dk_schedule_vtable;

/* ---- preconditioner ----------------------------------------------------- */

/* D(x; sigma) = c_skip x + c_out F(c_in x, c_noise) in the VE frame x = x0 + sigma n. */
typedef struct dk_precond_loss_args {
    dk_var *model_out;        /* F(c_in y, c_noise): [B, C*factor, H, W] */
    const dk_tensor *x;       /* clean data [B, C, H, W] */
    const dk_tensor *noise;   /* unit noise [B, C, H, W] */
    const dk_tensor *y;       /* noisy input x + sigma*noise */
    const double *sigma;      /* [B] */
    const double *c_skip, *c_out, *c_in, *c_noise; /* [B] */
    size_t batch;
} dk_precond_loss_args;

typedef struct dk_precond_vtable {
    uint32_t struct_size;
    dk_status (*create)(const dk_options *opts, void **self, dk_error *err);
    void (*destroy)(void *self);
    /* Scalings at n sigmas; c_noise is what the model is conditioned on. */
    dk_status (*scalings)(void *self, size_t n, const double *sigma, double *c_skip,
                          double *c_out, double *c_in, double *c_noise, dk_error *err);
    /* Loss weighting per sample. NULL = 1. */
    dk_status (*weight)(void *self, size_t n, const double *sigma, double *w, dk_error *err);
    /* Custom per-sample loss, a [B] var. NULL = the host's default:
     * mean over C,H,W of (model_out - (x - c_skip*y)/c_out)^2, times weight. */
    dk_var *(*loss)(void *self, dk_graph *g, const dk_precond_loss_args *a);
    /* Model output channels per data channel (2 for learned variance). NULL = 1. */
    int (*out_channel_factor)(void *self);
    /* Custom denoised from the raw model output (e.g. split off variance
     * channels into aux). NULL = c_skip x + c_out out. aux may be NULL. */
    dk_status (*denoised)(void *self, const dk_tensor *x, const dk_tensor *model_out,
                          const double *sigma, dk_tensor *denoised, dk_tensor *aux, dk_error *err);
} dk_precond_vtable;

/* ---- sampler ------------------------------------------------------------ */

/* The only view a sampler has of the model: denoised = D(x; sigma[b]) per
 * sample. x and denoised are F64 [B, ...]. aux (NULL unless the sampler has
 * DK_SAMPLER_NEEDS_AUX) receives the preconditioner's auxiliary output. */
typedef dk_status (*dk_denoise_fn)(void *ctx, const dk_tensor *x, const double *sigma,
                                   dk_tensor *denoised, dk_tensor *aux, dk_error *err);

typedef struct dk_step_info {
    int64_t step, n_steps;      /* i of n (n_steps = -1 if adaptive) */
    double sigma, sigma_next, sigma_hat;
    const dk_tensor *x;         /* x at the top of the step */
    const dk_tensor *denoised;  /* the step's first denoised */
} dk_step_info;
typedef int (*dk_step_fn)(void *ctx, const dk_step_info *info); /* non-zero stops sampling */

typedef struct dk_sampler_env {
    dk_denoise_fn denoise;
    void *denoise_ctx;
    dk_noise *noise;            /* may be NULL for deterministic samplers */
    dk_step_fn on_step;         /* may be NULL */
    void *step_ctx;
} dk_sampler_env;

enum {
    DK_SAMPLER_STOCHASTIC = 1u << 0, /* draws noise */
    DK_SAMPLER_NEEDS_AUX = 1u << 1,  /* needs the preconditioner's aux output */
    DK_SAMPLER_OWN_SIGMAS = 1u << 2  /* uses only sigmas[0] and the last non-zero sigma (dpm_fast, dpm_adaptive) */
};

typedef struct dk_sampler_vtable {
    uint32_t struct_size;
    dk_status (*create)(const dk_options *opts, void **self, dk_error *err);
    void (*destroy)(void *self);
    /* x: in, the start point (noise already scaled by sigmas[0]); out, the
     * sample. sigmas: n_sigmas values, descending, last 0. */
    dk_status (*sample)(void *self, const dk_sampler_env *env, const double *sigmas,
                        int64_t n_sigmas, dk_tensor *x, dk_error *err);
    unsigned flags;
} dk_sampler_vtable;

/* ---- model -------------------------------------------------------------- */

typedef struct dk_model_input {
    dk_var *x;                   /* [B, C, H, W] in the model's dtype */
    dk_var *c_noise;             /* [B] */
    const int64_t *class_labels; /* [B] or NULL; the value num_classes is the null (CFG) label */
    dk_var *aug_cond;            /* [B, A] or NULL */
} dk_model_input;

typedef struct dk_model_info {
    int64_t in_channels;
    int64_t out_channels;
    int64_t image_size;          /* expected H = W (0 = any) */
    int64_t num_classes;         /* 0 = unconditional */
    int64_t aug_dim;             /* 0 = no augmentation conditioning */
} dk_model_info;

typedef struct dk_model_vtable {
    uint32_t struct_size;
    /* Declare parameters in `params` (dk_params_add); the host finalizes them. */
    dk_status (*create)(const dk_options *opts, dk_params *params, void **self, dk_error *err);
    void (*destroy)(void *self);
    /* The forward pass only; gradients come from the graph. Returns [B, outC, H, W]. */
    dk_var *(*forward)(void *self, dk_graph *g, const dk_model_input *in);
    /* Multiply-accumulates of one forward pass of ONE image of h x w, in the
     * paper's convention (linear = tokens*in*out; attention = heads*Lq*Lk*(dq+dv)). */
    dk_status (*macs)(void *self, int64_t h, int64_t w, uint64_t *macs, dk_error *err);
    /* Optional: custom initialization after finalize (fixed tables, zero-init). */
    dk_status (*init)(void *self, dk_params *params, uint64_t seed, dk_error *err);
    void (*describe)(void *self, dk_model_info *info);
} dk_model_vtable;

#ifdef __cplusplus
}
#endif
#endif
