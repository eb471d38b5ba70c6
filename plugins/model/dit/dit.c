/* dit.c: the DiT model plugin (Peebles & Xie 2023, "Scalable Diffusion Models
 * with Transformers", ICCV; facebookresearch/DiT models.py): patch embedding,
 * fixed 2-D sin-cos position table, timestep and label embedders, adaLN-Zero
 * transformer blocks, the modulated final layer and unpatchify.
 *
 * Parameter names and shapes are those of DiT's state_dict, in its order, so a
 * DiT checkpoint loads by name (x_embedder.proj.weight keeps the Conv2d shape
 * [D, C, p, p]; it is applied as a linear map on patchified input with
 * features ordered (c, i, j), which is exactly a Conv2d of kernel p, stride p).
 *
 * The forward follows golden/README.md section 6.1 (shape legend: B batch,
 * T = (H/p)(W/p) tokens, token index = row*(W/p) + col, D hidden size,
 * Hh heads, d = D/Hh, F = mlp_ratio*D, oC output channels):
 *   h   = x_embedder(patchify(x)) + pos_embed                    (B, T, D)
 *   c   = t_embedder(t_freq(c_noise)) + y_embedder(labels)       (B, D)
 *   block: (shift, scale, gate) x {msa, mlp} = adaLN_modulation.1(SiLU(c))
 *          h += gate_msa * attn(LN(h) (1 + scale_msa) + shift_msa)
 *          h += gate_mlp * mlp(LN(h) (1 + scale_mlp) + shift_mlp)
 *   out = unpatchify(final_layer.linear(LN(h) (1 + scale) + shift))   (B, oC, H, W)
 * LN is a LayerNorm without affine, eps 1e-6; the MLP uses GELU (tanh form).
 * c_noise is the DDPM timestep t (the ddpm_eps / ddpm_learned_var
 * preconditioners give exactly that). Class dropout for CFG is the trainer's
 * job: it passes the null label num_classes, which has its own embedding row
 * when class_dropout_prob > 0. */
#include "diffkit/ops.h"
#include "diffkit/plugin.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIT_FREQ_DIM 256   /* t_embedder.frequency_embedding_size */
#define DIT_LN_EPS 1e-6
#define DIT_MAX_DEPTH 256

typedef struct dit_block {
    dk_var *qkv_w, *qkv_b, *proj_w, *proj_b;
    dk_var *fc1_w, *fc1_b, *fc2_w, *fc2_b;
    dk_var *ada_w, *ada_b;
} dit_block;

typedef struct dit {
    /* configuration */
    int64_t input_size, patch, in_ch, out_ch, hidden, depth, heads, mlp_hidden, num_classes;
    double mlp_ratio, class_dropout_prob;
    int learn_sigma, has_null;
    /* parameters (views into the host's block) */
    dk_var *pos_embed;              /* (1, T, D) frozen */
    dk_var *xe_w, *xe_b;            /* (D, C, p, p), (D) */
    dk_var *t0_w, *t0_b, *t2_w, *t2_b;
    dk_var *y_table;                /* (num_classes + has_null, D) or NULL */
    dit_block *blocks;
    dk_var *fin_w, *fin_b, *fada_w, *fada_b;
} dit;

/* ---- options and presets --------------------------------------------------- */

static const dk_option_spec dit_options[] = {
    {"preset", DK_OPT_STRING, "", -INFINITY, INFINITY, NULL,
     "DiT configuration S|B|L|XL with patch 2|4|8, e.g. 'B/4' (DiT-B/4); '' = give hidden_size, depth, "
     "num_heads, patch_size; explicit options override the preset", 0},
    {"input_size", DK_OPT_INT, "32", 1, 65536, NULL, "image height = width in pixels (latent size for latent DiT)", 0},
    {"patch_size", DK_OPT_INT, NULL, 1, 64, NULL, "patch size p (must divide input_size); default from preset", DK_OPT_OPTIONAL},
    {"in_channels", DK_OPT_INT, "4", 1, 4096, NULL, "image channels C", 0},
    {"hidden_size", DK_OPT_INT, NULL, 1, 65536, NULL, "width D (divisible by num_heads and by 4); default from preset", DK_OPT_OPTIONAL},
    {"depth", DK_OPT_INT, NULL, 0, DIT_MAX_DEPTH, NULL, "number of DiT blocks; default from preset", DK_OPT_OPTIONAL},
    {"num_heads", DK_OPT_INT, NULL, 1, 4096, NULL, "attention heads; default from preset", DK_OPT_OPTIONAL},
    {"mlp_ratio", DK_OPT_FLOAT, "4.0", 0.0, 64.0, NULL, "MLP hidden width = int(hidden_size * mlp_ratio)", DK_OPT_MIN_EXCLUSIVE},
    {"num_classes", DK_OPT_INT, "1000", 0, 1e9, NULL, "class labels (0 = unconditional: no y_embedder)", 0},
    {"class_dropout_prob", DK_OPT_FLOAT, "0.1", 0.0, 1.0, NULL,
     "label dropout for CFG; > 0 adds the null-label row num_classes to y_embedder (the trainer drops labels)", 0},
    {"learn_sigma", DK_OPT_BOOL, "true", -INFINITY, INFINITY, NULL,
     "output 2C channels (eps, then the learned-variance values v) instead of C", 0},
};

typedef struct dit_preset {
    const char *name;
    int64_t depth, hidden, heads;
} dit_preset;

/* DiT paper Table 1 / models.py DiT_models (mlp_ratio 4 for all). */
static const dit_preset presets[] = {
    {"S", 12, 384, 6}, {"B", 12, 768, 12}, {"L", 24, 1024, 16}, {"XL", 28, 1152, 16},
};

static dk_status parse_preset(const char *s, const dit_preset **out, int64_t *patch, dk_error *err) {
    const char *p = s;
    if (strncmp(p, "DiT-", 4) == 0) p += 4;
    const char *slash = strchr(p, '/');
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++) {
        if (strlen(presets[i].name) != n || strncmp(presets[i].name, p, n) != 0) continue;
        *out = &presets[i];
        *patch = 0;
        if (slash) {
            char *end;
            long v = strtol(slash + 1, &end, 10);
            if (*end || (v != 2 && v != 4 && v != 8)) break;
            *patch = v;
        }
        return DK_OK;
    }
    return dk_error_set(err, DK_EINVAL,
                        "model 'dit': option 'preset' = '%s' is not a DiT configuration: use S, B, L or XL with "
                        "patch 2, 4 or 8 (e.g. 'B/4'), or '' with explicit hidden_size, depth, num_heads, patch_size",
                        s);
}

/* ---- create: declare the parameters in DiT's state_dict order -------------- */

static dk_var *add(dk_params *p, const char *name, int nd, const int64_t *shape, dk_init init, double arg,
                   unsigned tags, dk_error *err) {
    return dk_params_add(p, name, nd, shape, init, arg, tags, err);
}

/* A torch Linear `name`.weight [out, in] and `name`.bias [out]. */
static dk_status add_linear(dk_params *p, const char *name, int64_t out, int64_t in, dk_init winit, double warg,
                            dk_init binit, dk_var **w, dk_var **b, dk_error *err) {
    char nm[160];
    int64_t ws[2] = {out, in}, bs[1] = {out};
    snprintf(nm, sizeof nm, "%s.weight", name);
    if (!(*w = add(p, nm, 2, ws, winit, warg, 0, err))) return err ? err->code : DK_EINVAL;
    snprintf(nm, sizeof nm, "%s.bias", name);
    if (!(*b = add(p, nm, 1, bs, binit, 0.0, DK_PARAM_NO_DECAY, err))) return err ? err->code : DK_EINVAL;
    return DK_OK;
}

static dk_status dit_config(const dk_options *o, dit *m, dk_error *err) {
    const char *ps = dk_opt_str(o, "preset");
    const dit_preset *pr = NULL;
    int64_t ppatch = 0;
    if (ps && *ps) DK_TRY(parse_preset(ps, &pr, &ppatch, err));
    m->input_size = dk_opt_int(o, "input_size");
    m->in_ch = dk_opt_int(o, "in_channels");
    m->mlp_ratio = dk_opt_float(o, "mlp_ratio");
    m->num_classes = dk_opt_int(o, "num_classes");
    m->class_dropout_prob = dk_opt_float(o, "class_dropout_prob");
    m->learn_sigma = dk_opt_bool(o, "learn_sigma");
    struct { const char *name; int64_t *dst; int64_t preset_value; } req[] = {
        {"hidden_size", &m->hidden, pr ? pr->hidden : 0},
        {"depth", &m->depth, pr ? pr->depth : 0},
        {"num_heads", &m->heads, pr ? pr->heads : 0},
        {"patch_size", &m->patch, ppatch},
    };
    for (size_t i = 0; i < sizeof req / sizeof req[0]; i++) {
        int from_preset = pr && (req[i].dst != &m->patch || ppatch > 0);
        if (dk_opt_has(o, req[i].name)) *req[i].dst = dk_opt_int(o, req[i].name);
        else if (from_preset) *req[i].dst = req[i].preset_value;
        else
            return dk_error_set(err, DK_EINVAL,
                                "model 'dit': option '%s' is not set and preset '%s' does not give it: set '%s' "
                                "or a preset with a patch size such as 'B/4'",
                                req[i].name, ps ? ps : "", req[i].name);
    }
    if (m->input_size % m->patch != 0)
        return dk_error_set(err, DK_EINVAL, "model 'dit': patch_size %lld does not divide input_size %lld",
                            (long long)m->patch, (long long)m->input_size);
    if (m->hidden % m->heads != 0)
        return dk_error_set(err, DK_EINVAL, "model 'dit': hidden_size %lld is not divisible by num_heads %lld",
                            (long long)m->hidden, (long long)m->heads);
    if (m->hidden % 4 != 0)
        return dk_error_set(err, DK_EINVAL,
                            "model 'dit': hidden_size %lld must be divisible by 4 (the 2-D sin-cos position table)",
                            (long long)m->hidden);
    m->mlp_hidden = (int64_t)((double)m->hidden * m->mlp_ratio); /* int(hidden_size * mlp_ratio) */
    if (m->mlp_hidden < 1)
        return dk_error_set(err, DK_EINVAL, "model 'dit': mlp_ratio %g gives an empty MLP for hidden_size %lld",
                            m->mlp_ratio, (long long)m->hidden);
    m->out_ch = m->learn_sigma ? 2 * m->in_ch : m->in_ch;
    m->has_null = m->class_dropout_prob > 0.0;
    return DK_OK;
}

static dk_status dit_create(const dk_options *o, dk_params *p, void **self, dk_error *err) {
    dit *m = calloc(1, sizeof *m);
    if (!m) return dk_error_set(err, DK_ENOMEM, "model 'dit': out of memory");
    dk_status st = dit_config(o, m, err);
    if (st == DK_OK && m->depth > 0 && !(m->blocks = calloc((size_t)m->depth, sizeof *m->blocks)))
        st = dk_error_set(err, DK_ENOMEM, "model 'dit': out of memory");
    if (st != DK_OK) {
        free(m);
        return st;
    }
    const int64_t D = m->hidden, C = m->in_ch, P = m->patch, G = m->input_size / P, T = G * G;
    const dk_init XAV = DK_INIT_XAVIER_UNIFORM, Z = DK_INIT_ZEROS;
    int64_t pe[3] = {1, T, D}, xw[4] = {D, C, P, P}, xb[1] = {D};
    /* DiT.initialize_weights: pos_embed fixed sin-cos (init()), Linear layers
     * xavier_uniform with zero bias, x_embedder xavier on the flattened
     * weight [D, C*p*p] (= fan_in C p^2, fan_out D), embedders N(0, 0.02),
     * adaLN modulation and the final linear zero ("adaLN-Zero"). */
    if (!(m->pos_embed = add(p, "pos_embed", 3, pe, DK_INIT_CUSTOM, 0, DK_PARAM_FROZEN | DK_PARAM_NO_DECAY, err)) ||
        !(m->xe_w = add(p, "x_embedder.proj.weight", 4, xw, XAV, 1.0, 0, err)) ||
        !(m->xe_b = add(p, "x_embedder.proj.bias", 1, xb, Z, 0, DK_PARAM_NO_DECAY, err)))
        goto fail;
    if ((st = add_linear(p, "t_embedder.mlp.0", D, DIT_FREQ_DIM, DK_INIT_NORMAL, 0.02, Z, &m->t0_w, &m->t0_b, err)) ||
        (st = add_linear(p, "t_embedder.mlp.2", D, D, DK_INIT_NORMAL, 0.02, Z, &m->t2_w, &m->t2_b, err)))
        goto fail;
    if (m->num_classes > 0) {
        int64_t ys[2] = {m->num_classes + m->has_null, D};
        if (!(m->y_table = add(p, "y_embedder.embedding_table.weight", 2, ys, DK_INIT_NORMAL, 0.02, DK_PARAM_NO_DECAY, err)))
            goto fail;
    }
    for (int64_t i = 0; i < m->depth; i++) {
        dit_block *b = &m->blocks[i];
        char nm[96];
#define BLK(suffix) (snprintf(nm, sizeof nm, "blocks.%lld." suffix, (long long)i), nm)
        if ((st = add_linear(p, BLK("attn.qkv"), 3 * D, D, XAV, 1.0, Z, &b->qkv_w, &b->qkv_b, err)) ||
            (st = add_linear(p, BLK("attn.proj"), D, D, XAV, 1.0, Z, &b->proj_w, &b->proj_b, err)) ||
            (st = add_linear(p, BLK("mlp.fc1"), m->mlp_hidden, D, XAV, 1.0, Z, &b->fc1_w, &b->fc1_b, err)) ||
            (st = add_linear(p, BLK("mlp.fc2"), D, m->mlp_hidden, XAV, 1.0, Z, &b->fc2_w, &b->fc2_b, err)) ||
            (st = add_linear(p, BLK("adaLN_modulation.1"), 6 * D, D, Z, 0, Z, &b->ada_w, &b->ada_b, err)))
            goto fail;
#undef BLK
    }
    if ((st = add_linear(p, "final_layer.linear", P * P * m->out_ch, D, Z, 0, Z, &m->fin_w, &m->fin_b, err)) ||
        (st = add_linear(p, "final_layer.adaLN_modulation.1", 2 * D, D, Z, 0, Z, &m->fada_w, &m->fada_b, err)))
        goto fail;
    *self = m;
    return DK_OK;
fail:
    free(m->blocks);
    free(m);
    return err && err->code ? err->code : DK_EINVAL;
}

static void dit_destroy(void *self) {
    dit *m = self;
    if (!m) return;
    free(m->blocks);
    free(m);
}

/* pos_embed = get_2d_sincos_pos_embed(D, G): column in [0, D/2), row in [D/2, D). */
static dk_status dit_init(void *self, dk_params *params, uint64_t seed, dk_error *err) {
    dit *m = self;
    const int64_t G = m->input_size / m->patch;
    int64_t shp[2] = {G * G, m->hidden};
    dk_tensor *view = dk_tensor_reshape(m->pos_embed->value, 2, shp, err);
    if (!view) return dk_error_prefix(err, "model 'dit': pos_embed");
    dk_status st = dk_sincos_pos_2d(view, G, G, err);
    dk_tensor_free(view);
    return st == DK_OK ? DK_OK : dk_error_prefix(err, "model 'dit': pos_embed");
}

/* ---- forward ----------------------------------------------------------------- */

static dk_var *final_and_unpatchify(dit *m, dk_graph *g, dk_var *h, dk_var *sc, int64_t H, int64_t W) {
    const int64_t D = m->hidden;
    dk_var *mod = dk_linear(g, sc, m->fada_w, m->fada_b);           /* (B, 2D) */
    dk_var *shift = dk_slice_last(g, mod, 0, D), *scale = dk_slice_last(g, mod, D, D);
    dk_var *y = dk_modulate(g, dk_layernorm(g, h, NULL, NULL, DIT_LN_EPS), shift, scale);
    y = dk_linear(g, y, m->fin_w, m->fin_b);                        /* (B, T, p*p*oC) */
    return dk_unpatchify(g, y, H, W, (int)m->patch, DK_PATCH_IJC);  /* (B, oC, H, W) */
}

static dk_var *dit_block_forward(dit *m, dk_graph *g, const dit_block *b, dk_var *h, dk_var *sc) {
    const int64_t D = m->hidden, Hh = m->heads, d = D / Hh;
    dk_var *mod = dk_linear(g, sc, b->ada_w, b->ada_b);             /* (B, 6D) */
    dk_var *ch[6];
    for (int k = 0; k < 6; k++) ch[k] = dk_slice_last(g, mod, k * D, D);
    /* chunks: shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp */
    dk_var *a = dk_modulate(g, dk_layernorm(g, h, NULL, NULL, DIT_LN_EPS), ch[0], ch[1]);
    dk_var *qkv = dk_linear(g, a, b->qkv_w, b->qkv_b);              /* (B, T, 3D), features (3, Hh, d) */
    dk_var *q = dk_heads_split(g, qkv, 3, (int)Hh, 0);              /* (B, Hh, T, d) */
    dk_var *k = dk_heads_split(g, qkv, 3, (int)Hh, 1);
    dk_var *v = dk_heads_split(g, qkv, 3, (int)Hh, 2);
    a = dk_attention(g, q, k, v, 1.0 / sqrt((double)d));            /* (B, Hh, T, d) */
    a = dk_linear(g, dk_heads_merge(g, a), b->proj_w, b->proj_b);   /* (B, T, D) */
    h = dk_gated_residual(g, h, ch[2], a);
    dk_var *f = dk_modulate(g, dk_layernorm(g, h, NULL, NULL, DIT_LN_EPS), ch[3], ch[4]);
    f = dk_gelu(g, dk_linear(g, f, b->fc1_w, b->fc1_b), 1);         /* (B, T, F) */
    f = dk_linear(g, f, b->fc2_w, b->fc2_b);                        /* (B, T, D) */
    return dk_gated_residual(g, h, ch[5], f);
}

static dk_var *dit_forward(void *self, dk_graph *g, const dk_model_input *in) {
    dit *m = self;
    if (!in || !in->x || !in->c_noise) return dk_graph_fail(g, DK_EINVAL, "model 'dit': x and c_noise are required");
    const dk_tensor *xv = in->x->value;
    if (xv->ndim != 4 || xv->shape[1] != m->in_ch || xv->shape[2] % m->patch || xv->shape[3] % m->patch)
        return dk_graph_fail(g, DK_ESHAPE,
                             "model 'dit': x has shape %s, expected [B, %lld, H, W] with H, W divisible by patch %lld",
                             dk_shape_str(xv, (char[96]){0}, 96), (long long)m->in_ch, (long long)m->patch);
    const int64_t B = xv->shape[0], H = xv->shape[2], W = xv->shape[3], G = m->input_size / m->patch;
    if (H / m->patch * (W / m->patch) != G * G || H != W)
        return dk_graph_fail(g, DK_ESHAPE,
                             "model 'dit': x is %lld x %lld but the model was built for input_size %lld (its "
                             "pos_embed has %lld tokens): resize the data or set input_size",
                             (long long)H, (long long)W, (long long)m->input_size, (long long)(G * G));
    if (in->c_noise->value->numel != (size_t)B)
        return dk_graph_fail(g, DK_ESHAPE, "model 'dit': c_noise has %zu values for a batch of %lld",
                             in->c_noise->value->numel, (long long)B);
    const int64_t D = m->hidden, P = m->patch;

    /* x_embedder: Conv2d(C, D, p, stride p) = linear on (c, i, j) patches */
    int64_t wshape[2] = {D, m->in_ch * P * P};
    dk_var *h = dk_patchify(g, in->x, (int)P, DK_PATCH_CIJ);                    /* (B, T, C p p) */
    h = dk_linear(g, h, dk_reshape(g, m->xe_w, 2, wshape), m->xe_b);           /* (B, T, D) */
    h = dk_add(g, h, m->pos_embed);

    /* conditioning c = t_emb + y_emb */
    dk_var *c = dk_timestep_embedding(g, in->c_noise, DIT_FREQ_DIM, 10000.0);  /* (B, 256) */
    c = dk_linear(g, dk_silu(g, dk_linear(g, c, m->t0_w, m->t0_b)), m->t2_w, m->t2_b);
    if (m->y_table) {
        const int64_t V = m->num_classes + m->has_null;
        int64_t *lab = malloc((size_t)B * sizeof *lab);
        if (!lab) return dk_graph_fail(g, DK_ENOMEM, "model 'dit': out of memory");
        for (int64_t b = 0; b < B; b++) {
            lab[b] = in->class_labels ? in->class_labels[b] : m->num_classes;
            if (lab[b] < 0 || lab[b] >= V) {
                long long bad = (long long)lab[b];
                free(lab);
                return dk_graph_fail(g, DK_EINVAL,
                                     "model 'dit': class label %lld at batch index %lld is outside [0, %lld)%s", bad,
                                     (long long)b, (long long)V,
                                     m->has_null ? "" : " (no null label: the model was built with class_dropout_prob = 0, "
                                                         "so it needs labels and cannot run unconditionally)");
            }
        }
        c = dk_add(g, c, dk_embedding(g, m->y_table, lab, (size_t)B));
        free(lab);
    }
    dk_var *sc = dk_silu(g, c);                                                  /* (B, D) */
    for (int64_t i = 0; i < m->depth; i++) h = dit_block_forward(m, g, &m->blocks[i], h, sc);
    return final_and_unpatchify(m, g, h, sc, H, W);
}

/* ---- macs (paper convention, k-diffusion `models/flops.py`: linear = tokens*in*out,
 * attention = heads*N*N*(dq+dv)) --------------------------------------------- */

static dk_status dit_macs(void *self, int64_t h, int64_t w, uint64_t *macs, dk_error *err) {
    const dit *m = self;
    if (h <= 0 || w <= 0 || h % m->patch || w % m->patch)
        return dk_error_set(err, DK_EINVAL, "model 'dit': macs for %lld x %lld: the size must be a positive multiple of patch %lld",
                            (long long)h, (long long)w, (long long)m->patch);
    const uint64_t T = (uint64_t)(h / m->patch) * (uint64_t)(w / m->patch), D = (uint64_t)m->hidden;
    const uint64_t C = (uint64_t)m->in_ch, P = (uint64_t)m->patch, F = (uint64_t)m->mlp_hidden;
    uint64_t n = T * (C * P * P) * D;                 /* x_embedder */
    n += DIT_FREQ_DIM * D + D * D;                    /* t_embedder (one token) */
    uint64_t blk = D * 6 * D                          /* adaLN modulation (one token) */
                   + T * D * 3 * D                    /* qkv */
                   + T * T * 2 * D                    /* heads * T * T * (d + d) */
                   + T * D * D                        /* proj */
                   + 2 * T * D * F;                   /* fc1, fc2 */
    n += (uint64_t)m->depth * blk;
    n += D * 2 * D + T * D * (P * P * (uint64_t)m->out_ch); /* final layer */
    *macs = n;
    return DK_OK;
}

static void dit_describe(void *self, dk_model_info *info) {
    const dit *m = self;
    memset(info, 0, sizeof *info);
    info->in_channels = m->in_ch;
    info->out_channels = m->out_ch;
    info->image_size = m->input_size;
    info->num_classes = m->num_classes;
    info->aug_dim = 0;
}

static const dk_model_vtable dit_vtable = {
    .struct_size = sizeof(dk_model_vtable),
    .create = dit_create,
    .destroy = dit_destroy,
    .forward = dit_forward,
    .macs = dit_macs,
    .init = dit_init,
    .describe = dit_describe,
};

static const dk_plugin dit_plugin = {
    .abi_version = DK_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(dk_plugin),
    .kind = DK_KIND_MODEL,
    .name = "dit",
    .version = "1.0",
    .summary = "DiT (Peebles & Xie 2023): adaLN-Zero transformer on patches, facebookresearch/DiT parameter names",
    .options = dit_options,
    .n_options = sizeof dit_options / sizeof dit_options[0],
    .vtable = &dit_vtable,
};

DK_PLUGIN_EXPORT const dk_plugin *diffkit_plugin(void) { return &dit_plugin; }
