/* hdit.h (internal to the hdit plugin): configuration, parameter views and
 * the functions shared by the plugin's files.
 *
 *   hdit_config.c  option table, paper-row presets, configuration checks
 *   hdit_model.c   parameter declaration (k-diffusion names), init, forward
 *   hdit_macs.c    parameter-free MAC count in the paper's convention
 *
 * The network is k-diffusion's ImageTransformerDenoiserModelV2 (HDiT,
 * Crowson et al. 2024) with the ablation switches of the paper's table
 * (Crowson et al. 2024, HDiT, Tables 1 and 5): attention type per level, FFN, position
 * encoding, skip merge, norm, output gate. Shape legend: B batch, h x w
 * token grid of a level, T = h*w tokens, D level width, Hh heads, d head
 * dim, F feed-forward width, M mapping width. */
#ifndef DIFFKIT_PLUGIN_HDIT_H
#define DIFFKIT_PLUGIN_HDIT_H

#include "diffkit/ops.h"
#include "diffkit/plugin.h"

#define HDIT_MAX_LEVELS 8
#define HDIT_AUG_DIM 9        /* k-diffusion's augmentation vector (k-diffusion, `augmentation.py` `KarrasAugmentationPipeline`) */
#define HDIT_EPS 1e-6         /* RMSNorm / LayerNorm / cosine-sim epsilon */

typedef enum { HDIT_ATTN_GLOBAL, HDIT_ATTN_NEIGHBORHOOD, HDIT_ATTN_WINDOW, HDIT_ATTN_NONE } hdit_attn;
typedef enum { HDIT_SKIP_LERP, HDIT_SKIP_ADD, HDIT_SKIP_CONCAT } hdit_skip;
typedef enum { HDIT_FFN_GEGLU, HDIT_FFN_GELU } hdit_ffn;
typedef enum { HDIT_POS_ROPE, HDIT_POS_ADDITIVE, HDIT_POS_NONE } hdit_pos;
typedef enum { HDIT_NORM_ADARMS, HDIT_NORM_ADALN } hdit_norm;

typedef struct hdit_level_cfg {
    int64_t width, depth, d_ff, d_head, kernel, window;
    hdit_attn attn;
    double dropout;
} hdit_level_cfg;

typedef struct hdit_config {
    int n_levels;
    hdit_level_cfg lv[HDIT_MAX_LEVELS];
    int64_t in_ch, out_ch, ph, pw;
    int64_t map_width, map_depth, map_d_ff;
    int64_t num_classes;  /* real classes (the option) */
    int64_t class_rows;   /* rows of class_emb: num_classes (+1 with the null row), 0 = none */
    int64_t img_h, img_w; /* 0 = any size (required for additive pos) */
    hdit_skip skip;
    hdit_ffn ffn, map_ffn;
    hdit_pos pos;
    hdit_norm norm;
    int out_gate;         /* row H: DiT-style gate on each residual branch */
} hdit_config;

/* One transformer layer: attention block (absent for attn none) then FF block. */
typedef struct hdit_layer {
    hdit_attn attn;
    int shift;                        /* shifted window: window/2 on odd indices */
    dk_var *attn_norm, *scale, *qkv, *freqs, *out_proj; /* attn_norm (nD, M); scale (Hh); freqs (Hh, d/8) */
    dk_var *ff_norm, *up, *down;
} hdit_layer;

typedef struct hdit_level {
    hdit_layer *down, *up; /* depth layers each; `up` NULL for the last level */
} hdit_level;

/* Cached constant tables per token grid (kept until destroy: ops may hold them). */
typedef struct hdit_pos_cache {
    int64_t h, w;
    dk_dtype dtype;
    dk_tensor *pos[HDIT_MAX_LEVELS]; /* (T_i, 2) axial positions of level i */
    struct hdit_pos_cache *next;
} hdit_pos_cache;

typedef struct hdit {
    hdit_config c;
    dk_dtype dtype;
    hdit_level lv[HDIT_MAX_LEVELS];
    dk_var *patch_in, *patch_out, *out_norm, *pos_emb;
    dk_var *time_emb, *time_in, *aug_emb, *aug_in, *class_emb;
    dk_var *map_in_norm, *map_out_norm;
    dk_var **map_norm, **map_up, **map_down;         /* map_depth each */
    dk_var *merge[HDIT_MAX_LEVELS], *split[HDIT_MAX_LEVELS], *fac[HDIT_MAX_LEVELS], *cat[HDIT_MAX_LEVELS];
    hdit_pos_cache *cache;
} hdit;

extern const dk_model_vtable hdit_vtable;

/* Reads and checks the options; errors name the option. */
dk_status hdit_config_read(const dk_options *o, hdit_config *c, dk_error *err);
/* Grid checks for an h x w image (divisibility, kernel, window). */
dk_status hdit_check_size(const hdit_config *c, int64_t H, int64_t W, dk_error *err);
/* Forward MACs of one H x W image (paper / k-diffusion flops.py convention). */
dk_status hdit_count_macs(const hdit_config *c, int64_t H, int64_t W, uint64_t *macs, dk_error *err);

#endif
