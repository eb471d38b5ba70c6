/* hdit_model.c: the hdit model plugin: k-diffusion's ImageTransformerDenoiserModelV2
 * (HDiT, Crowson et al. 2024; tests/data/golden/FORMAT.md §6.2, k-diffusion `models/image_transformer_v2.py`) with
 * the ablation switches of HDiT Tables 1 and 5.
 *
 * Parameters carry k-diffusion's state_dict names (patch_in.proj.weight,
 * time_emb.weight, ..., down_levels.i.j.self_attn.qkv_proj.weight,
 * mid_level.j.ff.up_proj.weight, merges.i.proj.weight, splits.i.fac, ...),
 * so its checkpoints load by name. Tags follow its param_groups: no weight
 * decay on norm scales, attention scales, lerp factors, the class embedding
 * and the time/aug input projections; the mapping network and every
 * AdaRMSNorm linear run at lr/3. Buffers (Fourier weights, RoPE freqs, the
 * additive sin-cos table) are DK_PARAM_FROZEN.
 *
 * Forward (NHWC internally as [B, T, D] with T = h*w, token = row*w + col):
 *   x    = patch_in(TokenMerge_p(x))            (+ pos_emb if pos = additive)
 *   cond = mapping(time_in(FF(c_noise)) + aug_in(FF(aug)) + class_emb[y])
 *   down levels (layers, keep skip, merge), mid level, up levels (split +
 *   skip merge, layers), out_norm, patch_out, TokenSplit_p, NCHW.
 * A layer = attention block x + out(attn(rope(cos_sim(qkv(norm(x, cond))))))
 * then FF block x + down(act(up(norm(x, cond)))). c_noise is consumed as
 * given: the edm preconditioner hands the model ln(sigma)/4, which is what
 * k-diffusion computes inside (k-diffusion, `models/image_transformer_v2.py`). */
#include "hdit.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- parameter declaration -------------------------------------------------- */

typedef struct decl {
    dk_params *p;
    dk_error *err;
    dk_status st;
} decl;

/* Declares one parameter named by fmt; shape given as nd dims (a, b). */
static dk_var *param(decl *d, dk_init init, double arg, unsigned tags, int nd, int64_t a, int64_t b, const char *fmt,
                     ...) __attribute__((format(printf, 8, 9)));
static dk_var *param(decl *d, dk_init init, double arg, unsigned tags, int nd, int64_t a, int64_t b, const char *fmt,
                     ...) {
    if (d->st != DK_OK) return NULL;
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    int64_t shape[2] = {a, b};
    dk_var *v = dk_params_add(d->p, name, nd, shape, init, arg, tags, d->err);
    if (!v) {
        d->st = d->err ? d->err->code : DK_EINVAL;
        return NULL;
    }
    if (tags & DK_PARAM_MAPPING) dk_params_set_lr_scale(dk_params_find(d->p, name), 1.0 / 3.0);
    return v;
}

/* PyTorch's default Linear init: U(-1/sqrt(in), 1/sqrt(in)). */
static dk_var *linear_w(decl *d, int zero, unsigned tags, int64_t out, int64_t in, const char *fmt, const char *pre) {
    return param(d, zero ? DK_INIT_ZEROS : DK_INIT_UNIFORM, zero ? 0.0 : 1.0 / sqrt((double)in), tags, 2, out, in, fmt,
                 pre);
}

static int64_t norm_rows(const hdit_config *c, int64_t D) {
    return c->norm == HDIT_NORM_ADARMS ? D : D * (c->out_gate ? 3 : 2);
}

static void declare_layer(decl *d, const hdit_config *c, const hdit_level_cfg *L, hdit_layer *ly, int index,
                          const char *pre) {
    int64_t D = L->width, M = c->map_width, F = L->d_ff;
    int zero_out = !c->out_gate; /* with a DiT gate (zero at init) the projections keep their default init */
    ly->attn = L->attn;
    ly->shift = (L->attn == HDIT_ATTN_WINDOW && index % 2 == 1) ? (int)(L->window / 2) : 0;
    if (L->attn != HDIT_ATTN_NONE) {
        int64_t Hh = D / L->d_head;
        ly->scale = param(d, DK_INIT_CONST, 10.0, DK_PARAM_NO_DECAY, 1, Hh, 0, "%s.self_attn.scale", pre);
        ly->attn_norm = linear_w(d, 1, DK_PARAM_MAPPING, norm_rows(c, D), M, "%s.self_attn.norm.linear.weight", pre);
        ly->qkv = linear_w(d, 0, 0, 3 * D, D, "%s.self_attn.qkv_proj.weight", pre);
        if (c->pos == HDIT_POS_ROPE)
            ly->freqs = param(d, DK_INIT_CUSTOM, 0, DK_PARAM_FROZEN, 2, Hh, L->d_head / 8, "%s.self_attn.pos_emb.freqs", pre);
        ly->out_proj = linear_w(d, zero_out, 0, D, D, "%s.self_attn.out_proj.weight", pre);
    }
    ly->ff_norm = linear_w(d, 1, DK_PARAM_MAPPING, norm_rows(c, D), M, "%s.ff.norm.linear.weight", pre);
    ly->up = linear_w(d, 0, 0, c->ffn == HDIT_FFN_GEGLU ? 2 * F : F, D, "%s.ff.up_proj.weight", pre);
    ly->down = linear_w(d, zero_out, 0, D, F, "%s.ff.down_proj.weight", pre);
}

static void hdit_free(hdit *m) {
    if (!m) return;
    for (int i = 0; i < HDIT_MAX_LEVELS; i++) {
        free(m->lv[i].down);
        free(m->lv[i].up);
    }
    free(m->map_norm);
    free(m->map_up);
    free(m->map_down);
    hdit_pos_cache *pc = m->cache;
    while (pc) {
        hdit_pos_cache *nx = pc->next;
        for (int i = 0; i < HDIT_MAX_LEVELS; i++) dk_tensor_free(pc->pos[i]);
        free(pc);
        pc = nx;
    }
    free(m);
}

static dk_status hdit_create(const dk_options *opts, dk_params *params, void **self, dk_error *err) {
    hdit *m = calloc(1, sizeof *m);
    if (!m) return dk_error_set(err, DK_ENOMEM, "model 'hdit': out of memory");
    dk_status st = hdit_config_read(opts, &m->c, err);
    if (st != DK_OK) {
        free(m);
        return st;
    }
    const hdit_config *c = &m->c;
    m->dtype = dk_params_dtype(params);
    int64_t M = c->map_width, pp = c->ph * c->pw, w0 = c->lv[0].width;
    decl d = {params, err, DK_OK};
    m->map_norm = calloc((size_t)c->map_depth + 1, sizeof(dk_var *));
    m->map_up = calloc((size_t)c->map_depth + 1, sizeof(dk_var *));
    m->map_down = calloc((size_t)c->map_depth + 1, sizeof(dk_var *));
    for (int i = 0; i < c->n_levels; i++) {
        size_t n = (size_t)c->lv[i].depth;
        m->lv[i].down = calloc(n, sizeof(hdit_layer));
        if (i < c->n_levels - 1) m->lv[i].up = calloc(n, sizeof(hdit_layer));
        if (!m->lv[i].down || (i < c->n_levels - 1 && !m->lv[i].up)) d.st = DK_ENOMEM;
    }
    if (!m->map_norm || !m->map_up || !m->map_down || d.st != DK_OK) {
        hdit_free(m);
        return dk_error_set(err, DK_ENOMEM, "model 'hdit': out of memory");
    }

    /* in k-diffusion's state_dict order */
    m->patch_in = linear_w(&d, 0, 0, w0, pp * c->in_ch, "%s.proj.weight", "patch_in");
    if (c->pos == HDIT_POS_ADDITIVE) {
        int64_t shape[4] = {1, c->img_h / c->ph, c->img_w / c->pw, w0};
        if (d.st == DK_OK && !(m->pos_emb = dk_params_add(params, "pos_emb", 4, shape, DK_INIT_CUSTOM, 0, DK_PARAM_FROZEN, err)))
            d.st = err->code;
    }
    m->time_emb = param(&d, DK_INIT_NORMAL, 1.0, DK_PARAM_FROZEN, 2, M / 2, 1, "time_emb.weight");
    m->time_in = linear_w(&d, 0, DK_PARAM_NO_DECAY, M, M, "%s.weight", "time_in_proj");
    m->aug_emb = param(&d, DK_INIT_NORMAL, 1.0, DK_PARAM_FROZEN, 2, M / 2, HDIT_AUG_DIM, "aug_emb.weight");
    m->aug_in = linear_w(&d, 0, DK_PARAM_NO_DECAY, M, M, "%s.weight", "aug_in_proj");
    if (c->class_rows > 0)
        m->class_emb = param(&d, DK_INIT_NORMAL, 1.0, DK_PARAM_NO_DECAY, 2, c->class_rows, M, "class_emb.weight");
    m->map_in_norm = param(&d, DK_INIT_ONES, 0, DK_PARAM_NO_DECAY | DK_PARAM_MAPPING, 1, M, 0, "mapping.in_norm.scale");
    for (int64_t j = 0; j < c->map_depth; j++) {
        int64_t F = c->map_d_ff;
        m->map_norm[j] = param(&d, DK_INIT_ONES, 0, DK_PARAM_NO_DECAY | DK_PARAM_MAPPING, 1, M, 0,
                               "mapping.blocks.%lld.norm.scale", (long long)j);
        m->map_up[j] = param(&d, DK_INIT_UNIFORM, 1.0 / sqrt((double)M), DK_PARAM_MAPPING, 2,
                             c->map_ffn == HDIT_FFN_GEGLU ? 2 * F : F, M, "mapping.blocks.%lld.up_proj.weight", (long long)j);
        m->map_down[j] = param(&d, DK_INIT_ZEROS, 0, DK_PARAM_MAPPING, 2, M, F, "mapping.blocks.%lld.down_proj.weight",
                               (long long)j);
    }
    m->map_out_norm = param(&d, DK_INIT_ONES, 0, DK_PARAM_NO_DECAY | DK_PARAM_MAPPING, 1, M, 0, "mapping.out_norm.scale");
    char pre[96];
    for (int i = 0; i < c->n_levels - 1; i++)
        for (int64_t j = 0; j < c->lv[i].depth; j++) {
            snprintf(pre, sizeof pre, "down_levels.%d.%lld", i, (long long)j);
            declare_layer(&d, c, &c->lv[i], &m->lv[i].down[j], (int)j, pre);
        }
    for (int i = 0; i < c->n_levels - 1; i++)
        for (int64_t j = 0; j < c->lv[i].depth; j++) {
            snprintf(pre, sizeof pre, "up_levels.%d.%lld", i, (long long)j);
            declare_layer(&d, c, &c->lv[i], &m->lv[i].up[j], (int)(j + c->lv[i].depth), pre);
        }
    int last = c->n_levels - 1;
    for (int64_t j = 0; j < c->lv[last].depth; j++) {
        snprintf(pre, sizeof pre, "mid_level.%lld", (long long)j);
        declare_layer(&d, c, &c->lv[last], &m->lv[last].down[j], (int)j, pre);
    }
    for (int i = 0; i < last; i++) {
        snprintf(pre, sizeof pre, "merges.%d", i);
        m->merge[i] = linear_w(&d, 0, 0, c->lv[i + 1].width, 4 * c->lv[i].width, "%s.proj.weight", pre);
    }
    for (int i = 0; i < last; i++) {
        snprintf(pre, sizeof pre, "splits.%d", i);
        if (c->skip == HDIT_SKIP_LERP) m->fac[i] = param(&d, DK_INIT_CONST, 0.5, DK_PARAM_NO_DECAY, 1, 1, 0, "%s.fac", pre);
        m->split[i] = linear_w(&d, 0, 0, 4 * c->lv[i].width, c->lv[i + 1].width, "%s.proj.weight", pre);
        if (c->skip == HDIT_SKIP_CONCAT)
            m->cat[i] = linear_w(&d, 0, 0, c->lv[i].width, 2 * c->lv[i].width, "%s.cat_proj.weight", pre);
    }
    m->out_norm = param(&d, DK_INIT_ONES, 0, DK_PARAM_NO_DECAY, 1, w0, 0, "out_norm.scale");
    m->patch_out = linear_w(&d, 1, 0, pp * c->out_ch, w0, "%s.proj.weight", "patch_out");
    if (d.st != DK_OK) {
        hdit_free(m);
        return dk_error_prefix(err, "model 'hdit'");
    }
    *self = m;
    return DK_OK;
}

static void hdit_destroy(void *self) { hdit_free(self); }

/* Fixed tables: RoPE frequencies (k-diffusion, `models/axial_rope.py`) and the additive sin-cos table. */
static dk_status hdit_init(void *self, dk_params *params, uint64_t seed, dk_error *err) {
    (void)params;
    (void)seed;
    hdit *m = self;
    const hdit_config *c = &m->c;
    for (int i = 0; i < c->n_levels; i++) {
        if (c->pos != HDIT_POS_ROPE || c->lv[i].attn == HDIT_ATTN_NONE) continue;
        int64_t Hh = c->lv[i].width / c->lv[i].d_head, F = c->lv[i].d_head / 8;
        for (int64_t j = 0; j < c->lv[i].depth; j++) {
            DK_TRY(dk_rope_freqs(m->lv[i].down[j].freqs->value, Hh, F, err));
            if (m->lv[i].up) DK_TRY(dk_rope_freqs(m->lv[i].up[j].freqs->value, Hh, F, err));
        }
    }
    if (m->pos_emb) DK_TRY(dk_sincos_pos_2d(m->pos_emb->value, c->img_h / c->ph, c->img_w / c->pw, err));
    return DK_OK;
}

/* ---- forward ------------------------------------------------------------------ */

/* Axial positions of every level for a token grid h x w (cached). */
static hdit_pos_cache *positions(hdit *m, int64_t h, int64_t w, dk_dtype dt, dk_error *err) {
    for (hdit_pos_cache *pc = m->cache; pc; pc = pc->next)
        if (pc->h == h && pc->w == w && pc->dtype == dt) return pc;
    hdit_pos_cache *pc = calloc(1, sizeof *pc);
    if (!pc) {
        dk_error_set(err, DK_ENOMEM, "model 'hdit': out of memory");
        return NULL;
    }
    pc->h = h;
    pc->w = w;
    pc->dtype = dt;
    int64_t hh = h, ww = w;
    dk_status st = DK_OK;
    for (int i = 0; i < m->c.n_levels && st == DK_OK; i++) {
        int64_t shape[2] = {hh * ww, 2};
        pc->pos[i] = dk_tensor_new(dt, 2, shape, err);
        if (!pc->pos[i]) st = DK_ENOMEM;
        else if (i == 0) st = dk_axial_pos(pc->pos[i], hh, ww, err);
        else st = dk_axial_pos_downscale(pc->pos[i], pc->pos[i - 1], hh * 2, ww * 2, err);
        hh /= 2;
        ww /= 2;
    }
    if (st != DK_OK) {
        for (int i = 0; i < HDIT_MAX_LEVELS; i++) dk_tensor_free(pc->pos[i]);
        free(pc);
        return NULL;
    }
    pc->next = m->cache;
    m->cache = pc;
    return pc;
}

static dk_var *reshape3(dk_graph *g, dk_var *x, int64_t a, int64_t b, int64_t c) {
    int64_t s[3] = {a, b, c};
    return dk_reshape(g, x, 3, s);
}
static dk_var *reshape4(dk_graph *g, dk_var *x, int64_t a, int64_t b, int64_t c, int64_t d) {
    int64_t s[4] = {a, b, c, d};
    return dk_reshape(g, x, 4, s);
}

/* Adaptive norm of x (B, T, D) from cond (B, M): AdaRMSNorm (scale 1 + W c)
 * or AdaLN (LayerNorm (1 + scale) + shift, chunks (shift, scale[, gate]) of
 * W c, DiT's order). *gate receives the DiT-style gate (B, D) or NULL. */
static dk_var *ada_norm(const hdit *m, dk_graph *g, dk_var *x, dk_var *cond, dk_var *lin, int64_t B, int64_t D,
                        dk_var **gate) {
    dk_var *y = dk_linear(g, cond, lin, NULL);
    *gate = NULL;
    if (m->c.norm == HDIT_NORM_ADARMS) {
        dk_var *s = reshape3(g, dk_add_scalar(g, y, 1.0), B, 1, D);
        return dk_rmsnorm(g, x, s, HDIT_EPS);
    }
    dk_var *shift = dk_slice_last(g, y, 0, D), *scale = dk_slice_last(g, y, D, D);
    if (m->c.out_gate) *gate = dk_slice_last(g, y, 2 * D, D);
    return dk_modulate(g, dk_layernorm(g, x, NULL, NULL, HDIT_EPS), shift, scale);
}

static dk_var *residual(dk_graph *g, dk_var *x, dk_var *gate, dk_var *y) {
    return gate ? dk_gated_residual(g, x, gate, y) : dk_add(g, x, y);
}

static dk_var *layer_forward(const hdit *m, dk_graph *g, const hdit_level_cfg *L, const hdit_layer *ly, dk_var *x,
                             dk_var *cond, int64_t B, int64_t h, int64_t w, const dk_tensor *pos) {
    int64_t D = L->width;
    dk_var *gate;
    if (ly->attn != HDIT_ATTN_NONE) {
        int Hh = (int)(D / L->d_head);
        dk_var *n = ada_norm(m, g, x, cond, ly->attn_norm, B, D, &gate);
        dk_var *qkv = dk_linear(g, n, ly->qkv, NULL);                          /* (B, T, 3D) */
        dk_var *q = dk_heads_split(g, qkv, 3, Hh, 0), *k = dk_heads_split(g, qkv, 3, Hh, 1);
        dk_var *v = dk_heads_split(g, qkv, 3, Hh, 2);                          /* (B, Hh, T, d) */
        q = dk_cosine_sim_scale(g, q, ly->scale, HDIT_EPS);                     /* HDiT App. E.1 */
        k = dk_cosine_sim_scale(g, k, ly->scale, HDIT_EPS);
        if (ly->freqs) {
            q = dk_rope_axial(g, q, pos, ly->freqs->value);
            k = dk_rope_axial(g, k, pos, ly->freqs->value);
        }
        dk_var *a;
        switch (ly->attn) {
        case HDIT_ATTN_NEIGHBORHOOD: a = dk_neighborhood_attention(g, q, k, v, h, w, (int)L->kernel, 1.0); break;
        case HDIT_ATTN_WINDOW: a = dk_window_attention(g, q, k, v, h, w, (int)L->window, ly->shift, 1.0); break;
        default: a = dk_attention(g, q, k, v, 1.0); break;
        }
        dk_var *o = dk_linear(g, dk_heads_merge(g, a), ly->out_proj, NULL);    /* (B, T, D) */
        x = residual(g, x, gate, o);
    }
    dk_var *n = ada_norm(m, g, x, cond, ly->ff_norm, B, D, &gate);
    dk_var *u = dk_linear(g, n, ly->up, NULL);
    u = m->c.ffn == HDIT_FFN_GEGLU ? dk_geglu(g, u) : dk_gelu(g, u, 0);
    return residual(g, x, gate, dk_linear(g, u, ly->down, NULL));
}

static dk_var *mapping_forward(hdit *m, dk_graph *g, const dk_model_input *in, int64_t B) {
    const hdit_config *c = &m->c;
    if (in->c_noise->value->numel != (size_t)B)
        return dk_graph_fail(g, DK_ESHAPE, "model 'hdit': c_noise has %zu values for a batch of %lld",
                             in->c_noise->value->numel, (long long)B);
    int64_t s2[2] = {B, 1};
    dk_var *t = dk_fourier_features(g, dk_reshape(g, in->c_noise, 2, s2), m->time_emb); /* (B, M) */
    dk_var *e = dk_linear(g, t, m->time_in, NULL);
    dk_var *aug = in->aug_cond;
    if (!aug) {
        int64_t sa[2] = {B, HDIT_AUG_DIM};
        aug = dk_graph_new_var(g, m->dtype, 2, sa);
    } else if (aug->value->ndim != 2 || aug->value->shape[0] != B || aug->value->shape[1] != HDIT_AUG_DIM) {
        return dk_graph_fail(g, DK_ESHAPE, "model 'hdit': aug_cond must be [%lld, %d]", (long long)B, HDIT_AUG_DIM);
    }
    e = dk_add(g, e, dk_linear(g, dk_fourier_features(g, aug, m->aug_emb), m->aug_in, NULL));
    if (m->class_emb) {
        if (!in->class_labels)
            return dk_graph_fail(g, DK_EINVAL,
                                 "model 'hdit': class labels are required (num_classes = %lld; the null label is %lld)",
                                 (long long)c->num_classes, (long long)c->num_classes);
        for (int64_t b = 0; b < B; b++)
            if (in->class_labels[b] < 0 || in->class_labels[b] >= c->class_rows)
                return dk_graph_fail(g, DK_EINVAL, "model 'hdit': class label %lld of sample %lld is outside [0, %lld)",
                                     (long long)in->class_labels[b], (long long)b, (long long)c->class_rows);
        e = dk_add(g, e, dk_embedding(g, m->class_emb, in->class_labels, (size_t)B));
    }
    dk_var *x = dk_rmsnorm(g, e, m->map_in_norm, HDIT_EPS);
    for (int64_t j = 0; j < c->map_depth; j++) {
        dk_var *u = dk_linear(g, dk_rmsnorm(g, x, m->map_norm[j], HDIT_EPS), m->map_up[j], NULL);
        u = c->map_ffn == HDIT_FFN_GEGLU ? dk_geglu(g, u) : dk_gelu(g, u, 0);
        x = dk_add(g, x, dk_linear(g, u, m->map_down[j], NULL));
    }
    return dk_rmsnorm(g, x, m->map_out_norm, HDIT_EPS);
}

static dk_var *hdit_forward(void *self, dk_graph *g, const dk_model_input *in) {
    hdit *m = self;
    const hdit_config *c = &m->c;
    if (!in || !in->x || !in->c_noise) return dk_graph_fail(g, DK_EINVAL, "model 'hdit': needs x and c_noise");
    const dk_tensor *xt = in->x->value;
    if (xt->ndim != 4 || xt->shape[1] != c->in_ch) {
        char a[64];
        return dk_graph_fail(g, DK_ESHAPE, "model 'hdit': x must be [B, %lld, H, W], got %s", (long long)c->in_ch,
                             dk_shape_str(xt, a, sizeof a));
    }
    int64_t B = xt->shape[0], H = xt->shape[2], W = xt->shape[3];
    dk_error e;
    if (hdit_check_size(c, H, W, &e) != DK_OK) return dk_graph_fail(g, e.code, "%s", e.msg);
    int64_t h = H / c->ph, w = W / c->pw, L = c->n_levels;
    hdit_pos_cache *pc = NULL;
    if (c->pos == HDIT_POS_ROPE && !(pc = positions(m, h, w, xt->dtype, &e)))
        return dk_graph_fail(g, e.code, "%s", e.msg);

    dk_var *cond = mapping_forward(m, g, in, B); /* (B, M) */

    static const int to_nhwc[4] = {0, 2, 3, 1}, to_nchw[4] = {0, 3, 1, 2};
    dk_var *x = dk_token_merge(g, dk_permute(g, in->x, to_nhwc), (int)c->ph, (int)c->pw); /* (B, h, w, ph pw C) */
    x = dk_linear(g, reshape3(g, x, B, h * w, c->ph * c->pw * c->in_ch), m->patch_in, NULL); /* (B, T, D0) */
    if (m->pos_emb) x = dk_add(g, x, dk_reshape(g, m->pos_emb, 2, (int64_t[2]){h * w, c->lv[0].width}));

    dk_var *skips[HDIT_MAX_LEVELS];
    int64_t hs[HDIT_MAX_LEVELS], ws[HDIT_MAX_LEVELS];
    for (int i = 0; i < L; i++) {
        hs[i] = h >> i;
        ws[i] = w >> i;
    }
    for (int i = 0; i < L - 1; i++) {
        const hdit_level_cfg *lv = &c->lv[i];
        for (int64_t j = 0; j < lv->depth; j++)
            x = layer_forward(m, g, lv, &m->lv[i].down[j], x, cond, B, hs[i], ws[i], pc ? pc->pos[i] : NULL);
        skips[i] = x;
        x = dk_token_merge(g, reshape4(g, x, B, hs[i], ws[i], lv->width), 2, 2); /* (B, h/2, w/2, 4D) */
        x = dk_linear(g, reshape3(g, x, B, hs[i + 1] * ws[i + 1], 4 * lv->width), m->merge[i], NULL);
    }
    for (int64_t j = 0; j < c->lv[L - 1].depth; j++)
        x = layer_forward(m, g, &c->lv[L - 1], &m->lv[L - 1].down[j], x, cond, B, hs[L - 1], ws[L - 1],
                          pc ? pc->pos[L - 1] : NULL);
    for (int i = L - 2; i >= 0; i--) {
        const hdit_level_cfg *lv = &c->lv[i];
        dk_var *y = dk_linear(g, x, m->split[i], NULL); /* (B, T/4, 4D) */
        y = dk_token_split(g, reshape4(g, y, B, hs[i + 1], ws[i + 1], 4 * lv->width), 2, 2);
        y = reshape3(g, y, B, hs[i] * ws[i], lv->width);
        switch (c->skip) {
        case HDIT_SKIP_LERP: x = dk_lerp_skip(g, skips[i], y, m->fac[i]); break; /* HDiT eq. 2 */
        case HDIT_SKIP_ADD: x = dk_add(g, skips[i], y); break;
        case HDIT_SKIP_CONCAT: {
            dk_var *both[2] = {skips[i], y};
            x = dk_linear(g, dk_concat_last(g, both, 2), m->cat[i], NULL);
            break;
        }
        }
        for (int64_t j = 0; j < lv->depth; j++)
            x = layer_forward(m, g, lv, &m->lv[i].up[j], x, cond, B, hs[i], ws[i], pc ? pc->pos[i] : NULL);
    }
    x = dk_rmsnorm(g, x, m->out_norm, HDIT_EPS);
    x = dk_linear(g, x, m->patch_out, NULL); /* (B, T, ph pw oC) */
    x = dk_token_split(g, reshape4(g, x, B, h, w, c->ph * c->pw * c->out_ch), (int)c->ph, (int)c->pw);
    return dk_permute(g, x, to_nchw); /* (B, oC, H, W) */
}

static dk_status hdit_macs(void *self, int64_t h, int64_t w, uint64_t *macs, dk_error *err) {
    hdit *m = self;
    return hdit_count_macs(&m->c, h, w, macs, err);
}

static void hdit_describe(void *self, dk_model_info *info) {
    hdit *m = self;
    memset(info, 0, sizeof *info);
    info->in_channels = m->c.in_ch;
    info->out_channels = m->c.out_ch;
    info->image_size = (m->c.img_h > 0 && m->c.img_h == m->c.img_w) ? m->c.img_h : 0;
    info->num_classes = m->c.num_classes;
    info->aug_dim = HDIT_AUG_DIM;
}

const dk_model_vtable hdit_vtable = {
    .struct_size = sizeof(dk_model_vtable),
    .create = hdit_create,
    .destroy = hdit_destroy,
    .forward = hdit_forward,
    .macs = hdit_macs,
    .init = hdit_init,
    .describe = hdit_describe,
};
