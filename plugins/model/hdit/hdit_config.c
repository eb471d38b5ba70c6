/* hdit_config.c: the option table of the hdit plugin, the paper-row presets
 * and the configuration checks (every error names the option to change).
 *
 * Presets (Crowson et al. 2024, HDiT, Tables 1 and 5, ImageNet 128x128 at patch 4): A, B1, B2, C, D,
 * E (= E2, E3: they differ only in the loss weighting), F1, F2, G, H, R3
 * (= R4). For image_size 128*2^k the hourglass rows get k extra outer levels
 * of width 384, depth 2 (HDiT, App. A: global for A, shifted window for B1,
 * neighborhood otherwise); R3/R4 stay one level on the larger grid, as the
 * paper's DiT-B/4-matched baseline. An option set explicitly replaces the
 * preset's value (lists as a whole). */
#include "hdit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const dk_option_spec hdit_option_specs[] = {
    {"preset", DK_OPT_ENUM, "none", -INFINITY, INFINITY, "none|A|B1|B2|C|D|E|E2|E3|F1|F2|G|H|R3|R4",
     "paper ablation row (HDiT paper, Table 1 and Sec. 4) at image_size (default 128); explicit options override it", 0},
    {"image_size", DK_OPT_INT_LIST, NULL, 1, INFINITY, NULL,
     "H or [H, W]: the image size (needed by pos = additive and by presets above 128; 0 = any)", DK_OPT_OPTIONAL},
    {"in_channels", DK_OPT_INT, "3", 1, INFINITY, NULL, "image channels in", 0},
    {"out_channels", DK_OPT_INT, NULL, 1, INFINITY, NULL, "channels out (default in_channels)", DK_OPT_OPTIONAL},
    {"patch", DK_OPT_INT_LIST, "[4]", 1, INFINITY, NULL, "patch size p or [ph, pw] (patch_in TokenMerge)", 0},
    {"widths", DK_OPT_INT_LIST, "[128,256]", 1, INFINITY, NULL, "width of each level, outermost first", 0},
    {"depths", DK_OPT_INT_LIST, "[2,2]", 1, INFINITY, NULL,
     "layers per level (non-last levels: this many down AND this many up)", 0},
    {"d_ffs", DK_OPT_INT_LIST, NULL, 1, INFINITY, NULL,
     "feed-forward width per level (default 3*width for geglu, 4*width for gelu)", DK_OPT_OPTIONAL},
    {"attn", DK_OPT_STRING_LIST, NULL, -INFINITY, INFINITY, "global|neighborhood|shifted-window|none",
     "attention per level (one value = every level; default neighborhood, global at the last level)", DK_OPT_OPTIONAL},
    {"d_head", DK_OPT_INT_LIST, "[64]", 1, INFINITY, NULL,
     "head dim per level (one value = every level); must divide the width; a multiple of 8 with pos = rope", 0},
    {"kernel", DK_OPT_INT_LIST, "[7]", 1, INFINITY, NULL, "neighborhood kernel per level (odd, <= the level's grid)", 0},
    {"window", DK_OPT_INT_LIST, "[8]", 1, INFINITY, NULL,
     "shifted-window size per level (must divide the level's grid; odd layers shift by window/2)", 0},
    {"dropout", DK_OPT_FLOAT_LIST, "[0]", 0, 1, NULL, "dropout per level (only 0 is supported)", DK_OPT_MAX_EXCLUSIVE},
    {"skip", DK_OPT_ENUM, "lerp", -INFINITY, INFINITY, "lerp|add|concat",
     "skip merge: lerp (learned fac, init 0.5; E), add (F2), concat + Linear(2w -> w) (F1)", 0},
    {"ffn", DK_OPT_ENUM, "geglu", -INFINITY, INFINITY, "geglu|gelu", "feed-forward: geglu (C-H) or gelu (A, B, R3, H)", 0},
    {"pos", DK_OPT_ENUM, "rope", -INFINITY, INFINITY, "rope|additive|none",
     "position encoding: axial rope (D, E) | fixed 2-D sin-cos added after patch_in (A-C, R3) | none", 0},
    {"norm", DK_OPT_ENUM, "adarmsnorm", -INFINITY, INFINITY, "adarmsnorm|adaln",
     "block norm: AdaRMSNorm (scale only) or AdaLN (LayerNorm with scale and shift; rows G, H)", 0},
    {"out_gate", DK_OPT_BOOL, "false", -INFINITY, INFINITY, NULL,
     "DiT-style gate on each residual branch from the block norm's linear (row H)", 0},
    {"mapping_width", DK_OPT_INT, "256", 2, INFINITY, NULL, "mapping network width (even)", 0},
    {"mapping_depth", DK_OPT_INT, "2", 0, INFINITY, NULL, "mapping network blocks", 0},
    {"mapping_d_ff", DK_OPT_INT, NULL, 1, INFINITY, NULL, "mapping feed-forward width (default 3*mapping_width)",
     DK_OPT_OPTIONAL},
    {"mapping_ffn", DK_OPT_ENUM, "geglu", -INFINITY, INFINITY, "geglu|gelu", "mapping network feed-forward", 0},
    {"mapping_dropout", DK_OPT_FLOAT, "0", 0, 1, NULL, "mapping network dropout (only 0 is supported)",
     DK_OPT_MAX_EXCLUSIVE},
    {"num_classes", DK_OPT_INT, "0", 0, INFINITY, NULL, "classes (0 = unconditional)", 0},
    {"null_class", DK_OPT_BOOL, "true", -INFINITY, INFINITY, NULL,
     "add the null (CFG) row: class_emb has num_classes+1 rows (k-diffusion's config adds it)", 0},
};

/* The plugin descriptor (the vtable is in hdit_model.c). */
static const dk_plugin hdit_plugin = {
    .abi_version = DK_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(dk_plugin),
    .kind = DK_KIND_MODEL,
    .name = "hdit",
    .version = "1.0",
    .summary = "Hourglass Diffusion Transformer (k-diffusion image_transformer_v2) with the paper's ablation switches",
    .options = hdit_option_specs,
    .n_options = sizeof hdit_option_specs / sizeof hdit_option_specs[0],
    .vtable = &hdit_vtable,
};

DK_PLUGIN_EXPORT const dk_plugin *diffkit_plugin(void) { return &hdit_plugin; }


/* Whether option `name` was given a value other than its table default. The
 * options API marks defaults as present (dk_opt_has is 1 for them), so a
 * preset yields to an option only when its value differs from the default;
 * optional options without a default count when present. */
static int given(const dk_options *o, const char *name) {
    const dk_option_spec *s = NULL;
    for (size_t i = 0; i < sizeof hdit_option_specs / sizeof hdit_option_specs[0]; i++)
        if (strcmp(hdit_option_specs[i].name, name) == 0) s = &hdit_option_specs[i];
    if (!s || !dk_opt_has(o, name)) return 0;
    if (!s->default_value) return 1;
    switch (s->type) {
    case DK_OPT_ENUM:
    case DK_OPT_STRING: return strcmp(dk_opt_str(o, name), s->default_value) != 0;
    case DK_OPT_BOOL: return dk_opt_bool(o, name) != (strcmp(s->default_value, "true") == 0);
    case DK_OPT_INT: return dk_opt_int(o, name) != strtoll(s->default_value, NULL, 10);
    case DK_OPT_FLOAT: return dk_opt_float(o, name) != strtod(s->default_value, NULL);
    case DK_OPT_INT_LIST:
    case DK_OPT_FLOAT_LIST: {
        const char *p = s->default_value;
        size_t n = 0;
        while (*p) {
            if (*p == '[' || *p == ',' || *p == ']' || *p == ' ') {
                p++;
                continue;
            }
            char *end;
            double v = strtod(p, &end);
            if (end == p) return 1;
            if (n >= dk_opt_len(o, name) || dk_opt_float_at(o, name, n) != v) return 1;
            n++;
            p = end;
        }
        return n != dk_opt_len(o, name);
    }
    default: return 1;
    }
}

/* ---- presets ---------------------------------------------------------------- */

typedef struct preset {
    const char *name;
    int n;                /* levels at 128x128 */
    int64_t widths[2], depths[2], d_ffs[2];
    const char *attn[2];
    const char *ffn, *pos, *skip, *norm;
    int out_gate;
    const char *extra_attn; /* attention of the outer levels added above 128 (NULL: none added) */
} preset;

static const preset presets[] = {
    {"A", 2, {384, 768}, {2, 11}, {1536, 3072}, {"global", "global"}, "gelu", "additive", "lerp", "adarmsnorm", 0, "global"},
    {"B1", 2, {384, 768}, {2, 11}, {1536, 3072}, {"shifted-window", "global"}, "gelu", "additive", "lerp", "adarmsnorm", 0,
     "shifted-window"},
    {"B2", 2, {384, 768}, {2, 11}, {1536, 3072}, {"neighborhood", "global"}, "gelu", "additive", "lerp", "adarmsnorm", 0,
     "neighborhood"},
    {"C", 2, {384, 768}, {2, 11}, {1152, 2304}, {"neighborhood", "global"}, "geglu", "additive", "lerp", "adarmsnorm", 0,
     "neighborhood"},
    {"D", 2, {384, 768}, {2, 11}, {1152, 2304}, {"neighborhood", "global"}, "geglu", "rope", "lerp", "adarmsnorm", 0,
     "neighborhood"},
    {"E", 2, {384, 768}, {2, 11}, {1152, 2304}, {"neighborhood", "global"}, "geglu", "rope", "lerp", "adarmsnorm", 0,
     "neighborhood"},
    {"E2", 2, {384, 768}, {2, 11}, {1152, 2304}, {"neighborhood", "global"}, "geglu", "rope", "lerp", "adarmsnorm", 0,
     "neighborhood"},
    {"E3", 2, {384, 768}, {2, 11}, {1152, 2304}, {"neighborhood", "global"}, "geglu", "rope", "lerp", "adarmsnorm", 0,
     "neighborhood"},
    {"F1", 2, {384, 768}, {2, 11}, {1152, 2304}, {"neighborhood", "global"}, "geglu", "rope", "concat", "adarmsnorm", 0,
     "neighborhood"},
    {"F2", 2, {384, 768}, {2, 11}, {1152, 2304}, {"neighborhood", "global"}, "geglu", "rope", "add", "adarmsnorm", 0,
     "neighborhood"},
    {"G", 2, {384, 768}, {2, 11}, {1152, 2304}, {"neighborhood", "global"}, "geglu", "rope", "lerp", "adaln", 0,
     "neighborhood"},
    {"H", 2, {384, 768}, {2, 11}, {1536, 3072}, {"neighborhood", "global"}, "gelu", "rope", "lerp", "adaln", 1,
     "neighborhood"},
    {"R3", 1, {768, 0}, {12, 0}, {3072, 0}, {"global", NULL}, "gelu", "additive", "lerp", "adarmsnorm", 0, NULL},
    {"R4", 1, {768, 0}, {12, 0}, {3072, 0}, {"global", NULL}, "gelu", "additive", "lerp", "adarmsnorm", 0, NULL},
};

static const preset *find_preset(const char *name) {
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
        if (strcmp(presets[i].name, name) == 0) return &presets[i];
    return NULL;
}

/* ---- reading ------------------------------------------------------------------ */

static int parse_attn(const char *s, hdit_attn *a) {
    if (strcmp(s, "global") == 0) *a = HDIT_ATTN_GLOBAL;
    else if (strcmp(s, "neighborhood") == 0) *a = HDIT_ATTN_NEIGHBORHOOD;
    else if (strcmp(s, "shifted-window") == 0) *a = HDIT_ATTN_WINDOW;
    else if (strcmp(s, "none") == 0) *a = HDIT_ATTN_NONE;
    else return 0;
    return 1;
}

/* Per-level int list: 1 value broadcast or n values. */
static dk_status level_ints(const dk_options *o, const char *name, int n, int64_t *out, dk_error *err) {
    size_t len = dk_opt_len(o, name);
    if (len != 1 && len != (size_t)n)
        return dk_error_set(err, DK_EINVAL,
                            "model 'hdit': option '%s' has %zu values but option 'widths' has %d levels: give 1 value "
                            "(every level) or %d",
                            name, len, n, n);
    for (int i = 0; i < n; i++) out[i] = dk_opt_int_at(o, name, len == 1 ? 0 : (size_t)i);
    return DK_OK;
}

static const char *str_opt(const dk_options *o, const preset *p, const char *name, const char *pv) {
    return (p && !given(o, name)) ? pv : dk_opt_str(o, name);
}

dk_status hdit_config_read(const dk_options *o, hdit_config *c, dk_error *err) {
    memset(c, 0, sizeof *c);
    const char *pname = dk_opt_str(o, "preset");
    const preset *p = (pname && strcmp(pname, "none") != 0) ? find_preset(pname) : NULL;

    /* image size */
    if (given(o, "image_size")) {
        size_t n = dk_opt_len(o, "image_size");
        if (n != 1 && n != 2)
            return dk_error_set(err, DK_EINVAL, "model 'hdit': option 'image_size' must be H or [H, W], got %zu values", n);
        c->img_h = dk_opt_int_at(o, "image_size", 0);
        c->img_w = dk_opt_int_at(o, "image_size", n == 2 ? 1 : 0);
    } else if (p) {
        c->img_h = c->img_w = 128;
    }

    /* levels: widths and depths fix the count */
    int extra = 0;
    if (p && p->extra_attn) {
        int64_t s = c->img_h > c->img_w ? c->img_h : c->img_w;
        if (c->img_h != c->img_w || s < 128 || (s / 128) * 128 != s || (s / 128 & (s / 128 - 1)) != 0)
            return dk_error_set(err, DK_EINVAL,
                                "model 'hdit': option 'preset' %s is defined for square images of 128*2^k pixels, "
                                "option 'image_size' is %lld x %lld",
                                p->name, (long long)c->img_h, (long long)c->img_w);
        for (int64_t r = s / 128; r > 1; r /= 2) extra++;
    }
    int n;
    if (p && !given(o, "widths")) n = p->n + extra;
    else n = (int)dk_opt_len(o, "widths");
    int nd = (p && !given(o, "depths")) ? p->n + extra : (int)dk_opt_len(o, "depths");
    if (n < 1 || n > HDIT_MAX_LEVELS)
        return dk_error_set(err, DK_EINVAL, "model 'hdit': option 'widths' has %d levels; give 1 to %d", n,
                            HDIT_MAX_LEVELS);
    if (nd != n)
        return dk_error_set(err, DK_EINVAL,
                            "model 'hdit': option 'depths' has %d values but option 'widths' has %d: give one depth per "
                            "level",
                            nd, n);
    c->n_levels = n;
    for (int i = 0; i < n; i++) {
        hdit_level_cfg *L = &c->lv[i];
        int pi = i - extra; /* index into the preset's 128x128 levels */
        L->width = (p && !given(o, "widths")) ? (pi < 0 ? 384 : p->widths[pi]) : dk_opt_int_at(o, "widths", (size_t)i);
        L->depth = (p && !given(o, "depths")) ? (pi < 0 ? 2 : p->depths[pi]) : dk_opt_int_at(o, "depths", (size_t)i);
    }

    /* switches */
    const char *ffn = str_opt(o, p, "ffn", p ? p->ffn : NULL);
    const char *pos = str_opt(o, p, "pos", p ? p->pos : NULL);
    const char *skip = str_opt(o, p, "skip", p ? p->skip : NULL);
    const char *norm = str_opt(o, p, "norm", p ? p->norm : NULL);
    c->ffn = strcmp(ffn, "gelu") == 0 ? HDIT_FFN_GELU : HDIT_FFN_GEGLU;
    c->pos = strcmp(pos, "additive") == 0 ? HDIT_POS_ADDITIVE : strcmp(pos, "none") == 0 ? HDIT_POS_NONE : HDIT_POS_ROPE;
    c->skip = strcmp(skip, "add") == 0 ? HDIT_SKIP_ADD : strcmp(skip, "concat") == 0 ? HDIT_SKIP_CONCAT : HDIT_SKIP_LERP;
    c->norm = strcmp(norm, "adaln") == 0 ? HDIT_NORM_ADALN : HDIT_NORM_ADARMS;
    c->out_gate = (p && !given(o, "out_gate")) ? p->out_gate : dk_opt_bool(o, "out_gate");
    c->map_ffn = strcmp(dk_opt_str(o, "mapping_ffn"), "gelu") == 0 ? HDIT_FFN_GELU : HDIT_FFN_GEGLU;
    if (c->out_gate && c->norm != HDIT_NORM_ADALN)
        return dk_error_set(err, DK_EINVAL,
                            "model 'hdit': option 'out_gate' needs option 'norm' = adaln (the gate comes from the AdaLN "
                            "linear, as DiT's adaLN-Zero)");

    /* attention per level */
    if (given(o, "attn")) {
        size_t len = dk_opt_len(o, "attn");
        if (len != 1 && len != (size_t)n)
            return dk_error_set(err, DK_EINVAL,
                                "model 'hdit': option 'attn' has %zu values but option 'widths' has %d levels: give 1 "
                                "value (every level) or %d",
                                len, n, n);
        for (int i = 0; i < n; i++) {
            const char *s = dk_opt_str_at(o, "attn", len == 1 ? 0 : (size_t)i);
            if (!s || !parse_attn(s, &c->lv[i].attn))
                return dk_error_set(err, DK_EINVAL,
                                    "model 'hdit': option 'attn' value '%s' is not one of global|neighborhood|shifted-window|none",
                                    s ? s : "(null)");
        }
    } else {
        /* the preset's attention is per level: with explicit widths of
         * another level count it does not say which level gets which (and
         * indexing it past its levels read out of bounds; found by
         * tests/fuzz/fuzz_options.c) */
        if (p && n != p->n + extra)
            return dk_error_set(err, DK_EINVAL,
                                "model 'hdit': option 'widths' has %d levels but option 'preset' %s defines the attention of "
                                "%d: give option 'attn' as well",
                                n, p->name, p->n + extra);
        for (int i = 0; i < n; i++) {
            if (p) {
                int pi = i - extra;
                parse_attn(pi < 0 ? p->extra_attn : p->attn[pi], &c->lv[i].attn);
            } else {
                c->lv[i].attn = i == n - 1 ? HDIT_ATTN_GLOBAL : HDIT_ATTN_NEIGHBORHOOD;
            }
        }
    }

    int64_t tmp[HDIT_MAX_LEVELS];
    DK_TRY(level_ints(o, "d_head", n, tmp, err));
    for (int i = 0; i < n; i++) c->lv[i].d_head = tmp[i];
    DK_TRY(level_ints(o, "kernel", n, tmp, err));
    for (int i = 0; i < n; i++) c->lv[i].kernel = tmp[i];
    DK_TRY(level_ints(o, "window", n, tmp, err));
    for (int i = 0; i < n; i++) c->lv[i].window = tmp[i];
    if (given(o, "d_ffs")) {
        DK_TRY(level_ints(o, "d_ffs", n, tmp, err));
        for (int i = 0; i < n; i++) c->lv[i].d_ff = tmp[i];
    } else {
        for (int i = 0; i < n; i++) {
            int pi = i - extra;
            int mult = c->ffn == HDIT_FFN_GELU ? 4 : 3;
            /* presets keep their own d_ff only while the ffn is theirs */
            if (p && !given(o, "widths") && !given(o, "ffn") && pi >= 0) c->lv[i].d_ff = p->d_ffs[pi];
            else c->lv[i].d_ff = mult * c->lv[i].width;
        }
    }
    size_t nd_ = dk_opt_len(o, "dropout");
    if (nd_ != 1 && nd_ != (size_t)n)
        return dk_error_set(err, DK_EINVAL,
                            "model 'hdit': option 'dropout' has %zu values but option 'widths' has %d levels", nd_, n);
    for (int i = 0; i < n; i++) {
        c->lv[i].dropout = dk_opt_float_at(o, "dropout", nd_ == 1 ? 0 : (size_t)i);
        if (c->lv[i].dropout != 0.0)
            return dk_error_set(err, DK_EUNSUPPORTED,
                                "model 'hdit': option 'dropout' = %g at level %d: dropout is not implemented in this "
                                "plugin (the paper trains without it); set it to 0",
                                c->lv[i].dropout, i);
    }
    if (dk_opt_float(o, "mapping_dropout") != 0.0)
        return dk_error_set(err, DK_EUNSUPPORTED,
                            "model 'hdit': option 'mapping_dropout' = %g: dropout is not implemented; set it to 0",
                            dk_opt_float(o, "mapping_dropout"));

    /* per-level checks */
    for (int i = 0; i < n; i++) {
        hdit_level_cfg *L = &c->lv[i];
        if (L->attn == HDIT_ATTN_NONE) continue;
        if (L->width % L->d_head)
            return dk_error_set(err, DK_EINVAL,
                                "model 'hdit': option 'd_head' %lld does not divide level %d's width %lld (option "
                                "'widths'): heads = width / d_head",
                                (long long)L->d_head, i, (long long)L->width);
        if (c->pos == HDIT_POS_ROPE && L->d_head % 8)
            return dk_error_set(err, DK_EINVAL,
                                "model 'hdit': option 'd_head' %lld at level %d is not a multiple of 8, which pos = rope "
                                "needs (d_head/8 frequencies per axis, half the head rotated)",
                                (long long)L->d_head, i);
        if (L->attn == HDIT_ATTN_NEIGHBORHOOD && L->kernel % 2 == 0)
            return dk_error_set(err, DK_EINVAL, "model 'hdit': option 'kernel' %lld at level %d must be odd",
                                (long long)L->kernel, i);
    }

    /* patch, channels, mapping, classes */
    size_t np = (p && !given(o, "patch")) ? 1 : dk_opt_len(o, "patch");
    if (np != 1 && np != 2)
        return dk_error_set(err, DK_EINVAL, "model 'hdit': option 'patch' must be p or [ph, pw], got %zu values", np);
    if (p && !given(o, "patch")) {
        c->ph = c->pw = 4;
    } else {
        c->ph = dk_opt_int_at(o, "patch", 0);
        c->pw = dk_opt_int_at(o, "patch", np == 2 ? 1 : 0);
    }
    c->in_ch = dk_opt_int(o, "in_channels");
    c->out_ch = given(o, "out_channels") ? dk_opt_int(o, "out_channels") : c->in_ch;
    c->map_width = (p && !given(o, "mapping_width")) ? 768 : dk_opt_int(o, "mapping_width");
    c->map_depth = (p && !given(o, "mapping_depth")) ? 1 : dk_opt_int(o, "mapping_depth");
    if (c->map_width % 2)
        return dk_error_set(err, DK_EINVAL,
                            "model 'hdit': option 'mapping_width' %lld must be even (Fourier features give cos|sin halves)",
                            (long long)c->map_width);
    c->map_d_ff = given(o, "mapping_d_ff") ? dk_opt_int(o, "mapping_d_ff") : 3 * c->map_width;
    c->num_classes = (p && !given(o, "num_classes")) ? 1000 : dk_opt_int(o, "num_classes");
    c->class_rows = c->num_classes > 0 ? c->num_classes + (dk_opt_bool(o, "null_class") ? 1 : 0) : 0;
    if (c->pos == HDIT_POS_ADDITIVE) {
        if (c->img_h <= 0)
            return dk_error_set(err, DK_EINVAL,
                                "model 'hdit': pos = additive needs option 'image_size' (its fixed sin-cos table covers "
                                "the token grid)");
        if (c->lv[0].width % 4)
            return dk_error_set(err, DK_EINVAL,
                                "model 'hdit': pos = additive needs the first width (option 'widths') to be a multiple "
                                "of 4, got %lld",
                                (long long)c->lv[0].width);
    }
    if (c->img_h > 0) DK_TRY(hdit_check_size(c, c->img_h, c->img_w, err));
    return DK_OK;
}

dk_status hdit_check_size(const hdit_config *c, int64_t H, int64_t W, dk_error *err) {
    if (H % c->ph || W % c->pw)
        return dk_error_set(err, DK_EINVAL,
                            "model 'hdit': image %lld x %lld is not divisible by option 'patch' %lld x %lld",
                            (long long)H, (long long)W, (long long)c->ph, (long long)c->pw);
    if (c->img_h > 0 && (H != c->img_h || W != c->img_w) && c->pos == HDIT_POS_ADDITIVE)
        return dk_error_set(err, DK_EINVAL,
                            "model 'hdit': image %lld x %lld but option 'image_size' is %lld x %lld (pos = additive has "
                            "a table of that size)",
                            (long long)H, (long long)W, (long long)c->img_h, (long long)c->img_w);
    int64_t h = H / c->ph, w = W / c->pw, f = (int64_t)1 << (c->n_levels - 1);
    if (h % f || w % f)
        return dk_error_set(err, DK_EINVAL,
                            "model 'hdit': the token grid %lld x %lld (image / option 'patch') is not divisible by the "
                            "merge factor 2^(levels-1) = %lld of option 'widths' (%d levels)",
                            (long long)h, (long long)w, (long long)f, c->n_levels);
    for (int i = 0; i < c->n_levels; i++, h /= 2, w /= 2) {
        const hdit_level_cfg *L = &c->lv[i];
        if (L->attn == HDIT_ATTN_NEIGHBORHOOD && (L->kernel > h || L->kernel > w))
            return dk_error_set(err, DK_EINVAL,
                                "model 'hdit': option 'kernel' %lld at level %d is larger than its token grid %lld x %lld",
                                (long long)L->kernel, i, (long long)h, (long long)w);
        if (L->attn == HDIT_ATTN_WINDOW && (h % L->window || w % L->window))
            return dk_error_set(err, DK_EINVAL,
                                "model 'hdit': option 'window' %lld at level %d does not divide its token grid %lld x %lld",
                                (long long)L->window, i, (long long)h, (long long)w);
    }
    return DK_OK;
}
