/* featnet.c: the evaluation feature network (featnet.h): a sequential
 * network read from a layer list + safetensors weights, its forward pass on
 * the autograd ops (conv2d, pool, relu, linear), the fixed training recipe of
 * diffkit's own CNN classifier, and the feature cache. */
#include "diffkit/featnet.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "diffkit/graph.h"
#include "diffkit/log.h"
#include "diffkit/ops.h"
#include "diffkit/ops_conv.h"
#include "diffkit/optim.h"
#include "diffkit/rng.h"
#include "diffkit/safetensors.h"
#include "diffkit/sha256.h"

#define DK_STREAM_FEATNET_ORDER 0x46450001u /* data order of the feature-net training */
#define DK_STREAM_FEATNET_AUG 0x46460001u   /* augmentation: stream AUG + step */

typedef enum { L_CONV, L_LINEAR, L_RELU, L_MAXPOOL, L_AVGPOOL, L_FLATTEN, L_FEATURES } layer_kind;

typedef struct layer {
    layer_kind kind;
    char name[128];
    int pad, stride;
    dk_var *w, *b;
} layer;

struct dk_featnet {
    char name[128];
    char *layers_text;
    layer *layers;
    int n_layers;
    int in_c, in_h, in_w;
    int64_t dim, n_out;
    dk_params *P;
    dk_graph *g;
    double test_acc, train_s;
    char recipe[512], dataset[256];
};

/* ---- layer list ---------------------------------------------------------------- */

static dk_status parse_layers(dk_featnet *n, const char *text, dk_error *err) {
    size_t cap = 8;
    n->layers = calloc(cap, sizeof(layer));
    n->layers_text = strdup(text);
    if (!n->layers || !n->layers_text) return dk_error_set(err, DK_ENOMEM, "feature net: out of memory");
    const char *p = text;
    int have_features = 0;
    while (*p) {
        char tok[128];
        size_t len = strcspn(p, ",");
        if (len == 0 || len >= sizeof tok)
            return dk_error_set(err, DK_EFORMAT, "feature net '%s': bad layer entry at '%.40s' in featnet.layers", n->name, p);
        memcpy(tok, p, len);
        tok[len] = 0;
        p += len + (p[len] == ',');
        if ((size_t)n->n_layers == cap) {
            layer *nl = realloc(n->layers, sizeof(layer) * cap * 2);
            if (!nl) return dk_error_set(err, DK_ENOMEM, "feature net: out of memory");
            memset(nl + cap, 0, sizeof(layer) * cap);
            n->layers = nl;
            cap *= 2;
        }
        layer *l = &n->layers[n->n_layers++];
        l->stride = 1;
        if (!strncmp(tok, "conv:", 5)) {
            l->kind = L_CONV;
            char *c = strchr(tok + 5, ':');
            if (!c) return dk_error_set(err, DK_EFORMAT, "feature net '%s': '%s' must be conv:NAME:PAD[:STRIDE]", n->name, tok);
            *c = 0;
            snprintf(l->name, sizeof l->name, "%s", tok + 5);
            if (sscanf(c + 1, "%d:%d", &l->pad, &l->stride) < 1 || l->pad < 0 || l->stride < 1)
                return dk_error_set(err, DK_EFORMAT, "feature net '%s': conv '%s' needs PAD >= 0 [and STRIDE >= 1]", n->name, l->name);
        } else if (!strncmp(tok, "linear:", 7)) {
            l->kind = L_LINEAR;
            snprintf(l->name, sizeof l->name, "%s", tok + 7);
        } else if (!strcmp(tok, "relu")) l->kind = L_RELU;
        else if (!strcmp(tok, "maxpool2")) l->kind = L_MAXPOOL;
        else if (!strcmp(tok, "avgpool2")) l->kind = L_AVGPOOL;
        else if (!strcmp(tok, "flatten")) l->kind = L_FLATTEN;
        else if (!strcmp(tok, "features")) l->kind = L_FEATURES, have_features = 1;
        else
            return dk_error_set(err, DK_EFORMAT,
                                "feature net '%s': unknown layer '%s' (known: conv:NAME:PAD[:STRIDE], linear:NAME, relu, "
                                "maxpool2, avgpool2, flatten, features)", n->name, tok);
    }
    if (!have_features)
        return dk_error_set(err, DK_EFORMAT, "feature net '%s': the layer list has no 'features' marker", n->name);
    return DK_OK;
}

/* Forward pass; *feats = the activations at the 'features' marker (flattened to [B, D]). */
static dk_var *forward(dk_featnet *n, dk_graph *g, dk_var *x, dk_var **feats) {
    dk_var *h = x;
    for (int i = 0; i < n->n_layers && h; i++) {
        layer *l = &n->layers[i];
        switch (l->kind) {
        case L_CONV: h = dk_conv2d(g, h, l->w, l->b, l->stride, l->pad); break;
        case L_LINEAR:
            if (h->value->ndim != 2) h = dk_reshape(g, h, 2, (int64_t[]){h->value->shape[0], (int64_t)(h->value->numel / (size_t)h->value->shape[0])});
            h = dk_linear(g, h, l->w, l->b);
            break;
        case L_RELU: h = dk_relu(g, h); break;
        case L_MAXPOOL: h = dk_pool2x2(g, h, DK_POOL_MAX); break;
        case L_AVGPOOL: h = dk_pool2x2(g, h, DK_POOL_AVG); break;
        case L_FLATTEN:
            h = dk_reshape(g, h, 2, (int64_t[]){h->value->shape[0], (int64_t)(h->value->numel / (size_t)h->value->shape[0])});
            break;
        case L_FEATURES:
            if (feats)
                *feats = h->value->ndim == 2 ? h
                         : dk_reshape(g, h, 2, (int64_t[]){h->value->shape[0], (int64_t)(h->value->numel / (size_t)h->value->shape[0])});
            break;
        }
    }
    return h;
}

static dk_featnet *net_new(const char *name, const char *layers, int c, int h, int w, dk_error *err) {
    dk_featnet *n = calloc(1, sizeof *n);
    if (!n) {
        dk_error_set(err, DK_ENOMEM, "feature net: out of memory");
        return NULL;
    }
    snprintf(n->name, sizeof n->name, "%s", name);
    n->in_c = c, n->in_h = h, n->in_w = w;
    n->test_acc = NAN;
    n->train_s = NAN;
    n->P = dk_params_new(DK_F32);
    n->g = dk_graph_new();
    if (!n->P || !n->g || parse_layers(n, layers, err) != DK_OK) {
        if (n->P && n->g) {} else dk_error_set(err, DK_ENOMEM, "feature net: out of memory");
        dk_featnet_free(n);
        return NULL;
    }
    return n;
}

/* Runs one zero image through the network: checks the layer list against
 * the input shape and sets dim / n_out. */
static dk_status probe(dk_featnet *n, dk_error *err) {
    dk_tensor *x = dk_tensor_new(DK_F32, 4, (int64_t[]){1, n->in_c, n->in_h, n->in_w}, err);
    if (!x) return err ? err->code : DK_ENOMEM;
    dk_graph_reset(n->g);
    dk_graph_set_grad(n->g, 0);
    dk_var *f = NULL, *y = forward(n, n->g, dk_graph_input(n->g, x, 0), &f);
    dk_tensor_free(x);
    if (dk_graph_status(n->g, err) != DK_OK || !y || !f) {
        dk_graph_reset(n->g);
        return dk_error_prefix(err, "feature net '%s' (layers %s, input %d,%d,%d)", n->name, n->layers_text, n->in_c,
                               n->in_h, n->in_w);
    }
    n->dim = (int64_t)f->value->numel;
    n->n_out = (int64_t)y->value->numel;
    dk_graph_reset(n->g);
    return DK_OK;
}

void dk_featnet_free(dk_featnet *n) {
    if (!n) return;
    if (n->g) dk_graph_free(n->g);
    if (n->P) dk_params_free(n->P);
    free(n->layers);
    free(n->layers_text);
    free(n);
}

const char *dk_featnet_name(const dk_featnet *n) { return n->name; }
int64_t dk_featnet_dim(const dk_featnet *n) { return n->dim; }
double dk_featnet_test_accuracy(const dk_featnet *n) { return n->test_acc; }
double dk_featnet_train_seconds(const dk_featnet *n) { return n->train_s; }
const char *dk_featnet_layers(const dk_featnet *n) { return n->layers_text; }

/* ---- load / save --------------------------------------------------------------- */

dk_featnet *dk_featnet_load(const char *path, dk_error *err) {
    dk_st_file *f = dk_st_open(path, err);
    if (!f) return NULL;
    const char *kind = dk_st_meta(f, "diffkit.kind"), *name = dk_st_meta(f, "featnet.name");
    const char *layers = dk_st_meta(f, "featnet.layers"), *input = dk_st_meta(f, "featnet.input");
    int c = 0, h = 0, w = 0;
    if (!kind || strcmp(kind, "feature_net") || !name || !layers || !input || sscanf(input, "%d,%d,%d", &c, &h, &w) != 3 ||
        c < 1 || h < 1 || w < 1) {
        dk_error_set(err, DK_EFORMAT,
                     "'%s' is not a diffkit feature network: it needs metadata diffkit.kind = feature_net, featnet.name, "
                     "featnet.layers and featnet.input = \"C,H,W\" (see docs/evaluation.md)", path);
        dk_st_close(f);
        return NULL;
    }
    dk_featnet *n = net_new(name, layers, c, h, w, err);
    dk_status st = n ? DK_OK : (err ? err->code : DK_ENOMEM);
    for (int i = 0; n && !st && i < n->n_layers; i++) {
        layer *l = &n->layers[i];
        if (l->kind != L_CONV && l->kind != L_LINEAR) continue;
        for (int wb = 0; wb < 2 && !st; wb++) {
            char tn[160];
            snprintf(tn, sizeof tn, "%s.%s", l->name, wb ? "bias" : "weight");
            if (!dk_st_has(f, tn)) {
                if (wb) continue; /* bias is optional */
                st = dk_error_set(err, DK_ENOTFOUND, "feature net '%s' in '%s': layer %s needs tensor '%s'", name, path,
                                  l->name, tn);
                break;
            }
            dk_dtype dt;
            int nd;
            int64_t shp[DK_MAX_DIMS];
            st = dk_st_info(f, tn, &dt, &nd, shp, err);
            if (st) break;
            int want = l->kind == L_CONV ? (wb ? 1 : 4) : (wb ? 1 : 2);
            if (nd != want) {
                st = dk_error_set(err, DK_ESHAPE, "feature net '%s': '%s' has %d dims, expected %d", name, tn, nd, want);
                break;
            }
            dk_var *v = dk_params_add(n->P, tn, nd, shp, DK_INIT_ZEROS, 0, 0, err);
            if (!v) st = err ? err->code : DK_EINVAL;
            else if (wb) l->b = v;
            else l->w = v;
        }
    }
    if (!st) st = dk_params_finalize(n->P, 0, err);
    for (size_t i = 0; !st && i < dk_params_count(n->P); i++) {
        dk_param *p = dk_params_at(n->P, i);
        dk_tensor *t = dk_st_get(f, p->var.name, err);
        if (!t) st = err ? err->code : DK_EIO;
        else {
            st = dk_tensor_copy(p->var.value, t, err);
            dk_tensor_free(t);
        }
    }
    if (!st) {
        const char *acc = dk_st_meta(f, "featnet.test_accuracy");
        if (acc) n->test_acc = strtod(acc, NULL);
        const char *r = dk_st_meta(f, "featnet.recipe"), *ds = dk_st_meta(f, "featnet.dataset");
        if (r) snprintf(n->recipe, sizeof n->recipe, "%s", r);
        if (ds) snprintf(n->dataset, sizeof n->dataset, "%s", ds);
        st = probe(n, err);
    }
    dk_st_close(f);
    if (st) {
        dk_featnet_free(n);
        return NULL;
    }
    return n;
}

dk_status dk_featnet_save(const dk_featnet *n, const char *path, dk_error *err) {
    dk_st_writer *w = dk_st_writer_new();
    if (!w) return dk_error_set(err, DK_ENOMEM, "feature net: out of memory");
    char input[64], acc[64];
    snprintf(input, sizeof input, "%d,%d,%d", n->in_c, n->in_h, n->in_w);
    snprintf(acc, sizeof acc, "%.6f", n->test_acc);
    dk_status st = DK_OK;
    for (size_t i = 0; !st && i < dk_params_count(n->P); i++) {
        dk_param *p = dk_params_at(n->P, i);
        st = dk_st_writer_add(w, p->var.name, p->var.value, err);
    }
    if (!st) st = dk_st_writer_meta(w, "diffkit.kind", "feature_net", err);
    if (!st) st = dk_st_writer_meta(w, "featnet.name", n->name, err);
    if (!st) st = dk_st_writer_meta(w, "featnet.layers", n->layers_text, err);
    if (!st) st = dk_st_writer_meta(w, "featnet.input", input, err);
    if (!st && !isnan(n->test_acc)) st = dk_st_writer_meta(w, "featnet.test_accuracy", acc, err);
    if (!st && n->recipe[0]) st = dk_st_writer_meta(w, "featnet.recipe", n->recipe, err);
    if (!st && n->dataset[0]) st = dk_st_writer_meta(w, "featnet.dataset", n->dataset, err);
    if (!st) st = dk_st_writer_save(w, path, err);
    dk_st_writer_free(w);
    return st;
}

/* ---- inference ----------------------------------------------------------------- */

/* Copies images [i0, i0 + b) of src (any channels, F32/F64) into x (b, in_c, in_h, in_w),
 * clamped to [-1, 1]; 1 -> 3 channels by repetition. */
static dk_status fill_batch(dk_featnet *n, dk_tensor *x, const dk_tensor *src, int64_t i0, int64_t b, dk_error *err) {
    int64_t C = src->shape[1], H = src->shape[2], W = src->shape[3];
    if (H != n->in_h || W != n->in_w || !(C == n->in_c || (C == 1 && n->in_c == 3)))
        return dk_error_set(err, DK_ESHAPE,
                            "feature net '%s' takes images [N, %d, %d, %d], got [N, %lld, %lld, %lld]: use a feature "
                            "network made for this image size", n->name, n->in_c, n->in_h, n->in_w, (long long)C,
                            (long long)H, (long long)W);
    size_t plane = (size_t)(H * W);
    float *dst = dk_f32(x);
    for (int64_t i = 0; i < b; i++)
        for (int c = 0; c < n->in_c; c++) {
            size_t sc = (size_t)(C == 1 ? 0 : c);
            size_t so = ((size_t)(i0 + i) * (size_t)C + sc) * plane, dof = ((size_t)i * (size_t)n->in_c + (size_t)c) * plane;
            for (size_t k = 0; k < plane; k++) {
                double v = dk_tensor_get(src, so + k);
                dst[dof + k] = (float)(v < -1 ? -1 : v > 1 ? 1 : v);
            }
        }
    return DK_OK;
}

/* Runs a batch x; copies features (and logits) out. */
static dk_status run_batch(dk_featnet *n, dk_tensor *x, double *feats, float *logits, dk_error *err) {
    dk_graph_reset(n->g);
    dk_graph_set_grad(n->g, 0);
    dk_var *f = NULL, *y = forward(n, n->g, dk_graph_input(n->g, x, 0), &f);
    if (dk_graph_status(n->g, err) != DK_OK || !y || !f) return dk_error_prefix(err, "feature net '%s'", n->name);
    if (feats)
        for (size_t i = 0; i < f->value->numel; i++) feats[i] = dk_f32(f->value)[i];
    if (logits) memcpy(logits, y->value->data, sizeof(float) * y->value->numel);
    dk_graph_reset(n->g);
    return DK_OK;
}

dk_tensor *dk_featnet_features(dk_featnet *n, const dk_tensor *images, int64_t batch, dk_error *err) {
    if (!images || images->ndim != 4 || (images->dtype != DK_F32 && images->dtype != DK_F64)) {
        dk_error_set(err, DK_ESHAPE, "feature net '%s': images must be an F32/F64 tensor [N, C, H, W]", n->name);
        return NULL;
    }
    if (batch < 1) batch = 100;
    int64_t N = images->shape[0];
    dk_tensor *out = dk_tensor_new(DK_F64, 2, (int64_t[]){N, n->dim}, err);
    if (!out) return NULL;
    for (int64_t i0 = 0; i0 < N; i0 += batch) {
        int64_t b = N - i0 < batch ? N - i0 : batch;
        dk_tensor *x = dk_tensor_new(DK_F32, 4, (int64_t[]){b, n->in_c, n->in_h, n->in_w}, err);
        dk_status st = x ? fill_batch(n, x, images, i0, b, err) : DK_ENOMEM;
        if (!st) st = run_batch(n, x, dk_f64(out) + (size_t)(i0 * n->dim), NULL, err);
        dk_tensor_free(x);
        if (st) {
            dk_tensor_free(out);
            return NULL;
        }
    }
    return out;
}

/* Loads dataset images idx[i0 .. i0 + b) into t (b, C, H, W) F32, labels too. */
static dk_status load_images(const dk_dataset *ds, const int64_t *idx, int64_t i0, int64_t b, dk_tensor *t,
                             int64_t *labels, dk_error *err) {
    size_t per = (size_t)ds->channels * (size_t)ds->height * (size_t)ds->width;
    for (int64_t i = 0; i < b; i++) {
        int64_t k = idx ? idx[i0 + i] : i0 + i, lab = 0;
        DK_TRY(dk_dataset_get(ds, k, dk_f32(t) + (size_t)i * per, &lab, err));
        if (labels) labels[i] = lab;
    }
    return DK_OK;
}

dk_tensor *dk_featnet_dataset_features(dk_featnet *n, const dk_dataset *ds, const int64_t *idx, int64_t count,
                                       int64_t batch, dk_error *err) {
    if (batch < 1) batch = 100;
    if (count < 1 || (!idx && count > ds->count)) {
        dk_error_set(err, DK_EINVAL, "feature net: %lld images asked of dataset '%s' (%lld images)", (long long)count,
                     ds->name, (long long)ds->count);
        return NULL;
    }
    dk_tensor *out = dk_tensor_new(DK_F64, 2, (int64_t[]){count, n->dim}, err);
    if (!out) return NULL;
    for (int64_t i0 = 0; i0 < count; i0 += batch) {
        int64_t b = count - i0 < batch ? count - i0 : batch;
        dk_tensor *img = dk_tensor_new(DK_F32, 4, (int64_t[]){b, ds->channels, ds->height, ds->width}, err);
        dk_tensor *x = dk_tensor_new(DK_F32, 4, (int64_t[]){b, n->in_c, n->in_h, n->in_w}, err);
        dk_status st = img && x ? load_images(ds, idx, i0, b, img, NULL, err) : DK_ENOMEM;
        if (!st) st = fill_batch(n, x, img, 0, b, err);
        if (!st) st = run_batch(n, x, dk_f64(out) + (size_t)(i0 * n->dim), NULL, err);
        dk_tensor_free(img);
        dk_tensor_free(x);
        if (st) {
            dk_tensor_free(out);
            return NULL;
        }
    }
    return out;
}

dk_status dk_featnet_accuracy(dk_featnet *n, const dk_dataset *ds, int64_t limit, double *acc, dk_error *err) {
    if (ds->num_classes < 2 || n->n_out != ds->num_classes)
        return dk_error_set(err, DK_EINVAL, "feature net '%s' has %lld outputs, dataset '%s' has %d classes: cannot classify",
                            n->name, (long long)n->n_out, ds->name, ds->num_classes);
    int64_t N = limit > 0 && limit < ds->count ? limit : ds->count, B = 500, correct = 0;
    dk_tensor *img = dk_tensor_new(DK_F32, 4, (int64_t[]){B, ds->channels, ds->height, ds->width}, err);
    dk_tensor *x = dk_tensor_new(DK_F32, 4, (int64_t[]){B, n->in_c, n->in_h, n->in_w}, err);
    float *logits = malloc(sizeof(float) * (size_t)(B * n->n_out));
    int64_t *labels = malloc(sizeof(int64_t) * (size_t)B);
    dk_status st = img && x && logits && labels ? DK_OK : dk_error_set(err, DK_ENOMEM, "feature net: out of memory");
    for (int64_t i0 = 0; !st && i0 < N; i0 += B) {
        int64_t b = N - i0 < B ? N - i0 : B;
        dk_tensor *xi = NULL;
        st = load_images(ds, NULL, i0, b, img, labels, err);
        if (!st && b < B) {
            xi = dk_tensor_new(DK_F32, 4, (int64_t[]){b, n->in_c, n->in_h, n->in_w}, err);
            if (!xi) st = DK_ENOMEM;
        }
        if (!st) st = fill_batch(n, xi ? xi : x, img, 0, b, err);
        if (!st) st = run_batch(n, xi ? xi : x, NULL, logits, err);
        for (int64_t i = 0; !st && i < b; i++) {
            int64_t best = 0;
            for (int64_t k = 1; k < n->n_out; k++)
                if (logits[i * n->n_out + k] > logits[i * n->n_out + best]) best = k;
            correct += best == labels[i];
        }
        dk_tensor_free(xi);
    }
    dk_tensor_free(img);
    dk_tensor_free(x);
    free(logits);
    free(labels);
    if (!st) *acc = (double)correct / (double)N;
    return st;
}

/* ---- training ------------------------------------------------------------------ */

dk_featnet_recipe dk_featnet_recipe_default(void) {
    dk_featnet_recipe r;
    memset(&r, 0, sizeof r);
    r.c1 = 16, r.c2 = 32, r.c3 = 64, r.fc = 128;
    r.steps = 3600;
    r.batch = 96;
    r.lr = 2e-3;
    r.lr_final = 0;
    r.warmup = 100;
    r.weight_decay = 1e-4;
    r.label_smoothing = 0.1;
    r.aug_flip = 0;  /* flips + 2-pixel shifts cost 1.4 points at this short budget (docs/evaluation.md) */
    r.aug_shift = 0;
    r.seed = 0;
    return r;
}

void dk_featnet_recipe_text(const dk_featnet_recipe *r, const dk_dataset *train, char *buf, size_t n) {
    snprintf(buf, n,
             "arch=%s c=%d,%d,%d fc=%d optim=adamw lr=%.6g warmup=%lld cosine_to=%.6g wd=%.6g ls=%.6g flip=%d "
             "shift=%d steps=%lld batch=%lld seed=%llu train_limit=%lld data=%s %dx%dx%d n=%lld classes=%d",
             DK_FEATNET_ARCH, r->c1, r->c2, r->c3, r->fc, r->lr, (long long)r->warmup, r->lr_final, r->weight_decay,
             r->label_smoothing, r->aug_flip, r->aug_shift, (long long)r->steps, (long long)r->batch,
             (unsigned long long)r->seed, (long long)r->train_limit, train->name, train->channels, train->height,
             train->width, (long long)train->count, train->num_classes);
}

/* lr of step s (0-based): linear warmup to lr over `warmup` steps, then
 * lr_final*lr + (1 - lr_final) lr (1 + cos(pi t)) / 2, t = progress in [0, 1]
 * (the warmup is capped at half the steps for short test runs)
 * (Loshchilov & Hutter 2017, SGDR eq. 5 with one cycle). */
static double recipe_lr(const dk_featnet_recipe *r, int64_t s) {
    int64_t w = r->warmup < r->steps / 2 ? r->warmup : r->steps / 2; /* short (test) runs: at most half */
    if (s < w) return r->lr * (double)(s + 1) / (double)w;
    int64_t span = r->steps - w;
    double t = span > 1 ? (double)(s - w) / (double)(span - 1) : 1.0;
    return r->lr * (r->lr_final + (1 - r->lr_final) * 0.5 * (1 + cos(3.14159265358979323846 * t)));
}

/* Augments image im (C, H, W) in place: mirror (flip) and translate by
 * (dy, dx) with zero fill; tmp holds C*H*W floats. */
static void augment(float *im, float *tmp, int64_t C, int64_t H, int64_t W, int flip, int dy, int dx) {
    memcpy(tmp, im, sizeof(float) * (size_t)(C * H * W));
    for (int64_t c = 0; c < C; c++)
        for (int64_t y = 0; y < H; y++)
            for (int64_t x = 0; x < W; x++) {
                int64_t sy = y - dy, sx = x - dx;
                if (flip) sx = W - 1 - sx;
                im[(c * H + y) * W + x] = sy < 0 || sy >= H || sx < 0 || sx >= W ? 0.f : tmp[(c * H + sy) * W + sx];
            }
}

dk_featnet *dk_featnet_train(const dk_dataset *train, const dk_dataset *test, const dk_featnet_recipe *r,
                             const char *name, dk_error *err) {
    if (train->num_classes < 2) {
        dk_error_set(err, DK_EINVAL,
                     "feature net: dataset '%s' has no labels, so diffkit cannot train its own classifier on it: give a "
                     "feature network file (features = \"path.safetensors\", docs/evaluation.md)", train->name);
        return NULL;
    }
    if (train->height % 8 || train->width % 8 || r->steps < 1 || r->batch < 1 || r->warmup < 0 ||
        r->label_smoothing < 0 || r->label_smoothing >= 1 || r->aug_shift < 0) {
        dk_error_set(err, DK_EINVAL,
                     "feature net: the %s recipe needs H and W divisible by 8 (got %dx%d), steps and batch >= 1, "
                     "warmup >= 0, 0 <= label_smoothing < 1 and aug_shift >= 0",
                     DK_FEATNET_ARCH, train->height, train->width);
        return NULL;
    }
    char layers[512];
    snprintf(layers, sizeof layers,
             "conv:conv1:1,relu,maxpool2,conv:conv2:1,relu,maxpool2,conv:conv3:1,relu,maxpool2,flatten,linear:fc1,relu,"
             "features,linear:fc2");
    dk_featnet *n = net_new(name, layers, train->channels, train->height, train->width, err);
    if (!n) return NULL;
    dk_featnet_recipe_text(r, train, n->recipe, sizeof n->recipe);
    snprintf(n->dataset, sizeof n->dataset, "%s", train->name);
    /* parameters: He-uniform weights (bound sqrt(6 / fan_in)), zero biases */
    int64_t C = train->channels, flat = (int64_t)r->c3 * (train->height / 8) * (train->width / 8);
    struct { const char *name; int nd; int64_t shp[4]; } ps[] = {
        {"conv1.weight", 4, {r->c1, C, 3, 3}},  {"conv1.bias", 1, {r->c1}},
        {"conv2.weight", 4, {r->c2, r->c1, 3, 3}}, {"conv2.bias", 1, {r->c2}},
        {"conv3.weight", 4, {r->c3, r->c2, 3, 3}}, {"conv3.bias", 1, {r->c3}},
        {"fc1.weight", 2, {r->fc, flat}},       {"fc1.bias", 1, {r->fc}},
        {"fc2.weight", 2, {train->num_classes, r->fc}}, {"fc2.bias", 1, {train->num_classes}}};
    dk_var *vars[10];
    for (int i = 0; i < 10; i++) {
        int bias = ps[i].nd == 1;
        double fan_in = 1;
        for (int k = 1; k < ps[i].nd; k++) fan_in *= (double)ps[i].shp[k];
        vars[i] = dk_params_add(n->P, ps[i].name, ps[i].nd, ps[i].shp, bias ? DK_INIT_ZEROS : DK_INIT_UNIFORM,
                                bias ? 0 : sqrt(6.0 / fan_in), bias ? DK_PARAM_NO_DECAY : 0, err);
        if (!vars[i]) {
            dk_featnet_free(n);
            return NULL;
        }
    }
    int li = 0;
    for (int i = 0; i < n->n_layers; i++)
        if (n->layers[i].kind == L_CONV || n->layers[i].kind == L_LINEAR) {
            n->layers[i].w = vars[2 * li];
            n->layers[i].b = vars[2 * li + 1];
            li++;
        }
    dk_optim *opt = NULL;
    dk_status st = dk_params_finalize(n->P, r->seed, err);
    if (!st) st = probe(n, err);
    if (!st) {
        dk_optim_config oc = dk_optim_config_default(DK_OPTIM_ADAMW);
        oc.lr = r->lr;
        oc.weight_decay = r->weight_decay;
        opt = dk_optim_new(n->P, &oc, err);
        if (!opt) st = err ? err->code : DK_ENOMEM;
    }
    int64_t N = r->train_limit > 0 && r->train_limit < train->count ? r->train_limit : train->count;
    int64_t K = train->num_classes, per = C * train->height * train->width;
    int64_t *perm = malloc(sizeof(int64_t) * (size_t)N), *labels = malloc(sizeof(int64_t) * (size_t)r->batch);
    float *tmp = malloc(sizeof(float) * (size_t)per);
    dk_tensor *x = dk_tensor_new(DK_F32, 4, (int64_t[]){r->batch, C, train->height, train->width}, err);
    /* label smoothing: loss = mean_b [CE_b + eps (z_{b,y} - mean_k z_{b,k})], the
     * cross-entropy against (1 - eps) onehot + eps / K; the second term is
     * sum(logits * ls) with ls = eps / B (onehot - 1 / K) */
    dk_tensor *ls = r->label_smoothing > 0 ? dk_tensor_new(DK_F32, 2, (int64_t[]){r->batch, K}, err) : NULL;
    if (!st && (!perm || !labels || !tmp || !x || (r->label_smoothing > 0 && !ls)))
        st = dk_error_set(err, DK_ENOMEM, "feature net: out of memory");
    dk_progress prog;
    if (r->verbose) dk_progress_begin(&prog, stderr, n->name, r->steps);
    double t0 = dk_time_now(), smooth = NAN;
    int64_t pos = N, epoch = -1;
    for (int64_t step = 0; !st && step < r->steps; step++) {
        dk_rng aug; /* augmentation draws of this step: Philox stream (seed, AUG + step) */
        dk_rng_init(&aug, r->seed, DK_STREAM_FEATNET_AUG + (uint64_t)step);
        for (int64_t i = 0; !st && i < r->batch; i++) {
            if (pos >= N) { /* a new permutation per epoch from the Philox stream (seed, ORDER + epoch) */
                dk_rng rg;
                epoch++;
                dk_rng_init(&rg, r->seed, DK_STREAM_FEATNET_ORDER + (uint64_t)epoch * 0x10000u);
                dk_rng_permutation(&rg, perm, (size_t)N);
                pos = 0;
            }
            int64_t lab = 0;
            float *im = dk_f32(x) + (size_t)(i * per);
            st = dk_dataset_get(train, perm[pos++], im, &lab, err);
            labels[i] = lab;
            if (r->aug_flip || r->aug_shift > 0) {
                int flip = r->aug_flip ? (int)dk_rng_below(&aug, 2) : 0, dy = 0, dx = 0;
                if (r->aug_shift > 0) {
                    dy = (int)dk_rng_below(&aug, (uint64_t)(2 * r->aug_shift + 1)) - r->aug_shift;
                    dx = (int)dk_rng_below(&aug, (uint64_t)(2 * r->aug_shift + 1)) - r->aug_shift;
                }
                augment(im, tmp, C, train->height, train->width, flip, dy, dx);
            }
            if (ls)
                for (int64_t k = 0; k < K; k++)
                    dk_f32(ls)[i * K + k] =
                        (float)(r->label_smoothing / (double)r->batch * ((k == lab) - 1.0 / (double)K));
        }
        if (st) break;
        dk_optim_set_lr(opt, recipe_lr(r, step));
        dk_graph_reset(n->g);
        dk_graph_set_grad(n->g, 1);
        dk_var *logits = forward(n, n->g, dk_graph_input(n->g, x, 0), NULL);
        dk_var *loss = dk_mean_all(n->g, dk_cross_entropy(n->g, logits, labels, (size_t)r->batch));
        if (ls) loss = dk_add(n->g, loss, dk_sum_all(n->g, dk_mul(n->g, logits, dk_graph_input(n->g, ls, 0))));
        if (dk_graph_status(n->g, err) != DK_OK) { st = err->code; break; }
        st = dk_graph_backward(n->g, loss, err);
        if (!st) st = dk_optim_step(opt, err);
        dk_params_zero_grad(n->P);
        double l = dk_f32(loss->value)[0];
        smooth = isnan(smooth) ? l : 0.98 * smooth + 0.02 * l;
        if (r->verbose && (step % 10 == 0 || step + 1 == r->steps)) {
            char extra[64];
            snprintf(extra, sizeof extra, "loss %.4f", smooth);
            dk_progress_update(&prog, step + 1, extra);
        }
    }
    dk_graph_reset(n->g);
    n->train_s = dk_time_now() - t0;
    free(perm);
    free(labels);
    free(tmp);
    dk_tensor_free(x);
    dk_tensor_free(ls);
    dk_optim_free(opt);
    if (!st && test) st = dk_featnet_accuracy(n, test, r->test_limit, &n->test_acc, err);
    if (r->verbose) {
        char extra[96];
        snprintf(extra, sizeof extra, "%.0f s, test accuracy %.2f %%", n->train_s, 100 * n->test_acc);
        dk_progress_end(&prog, st ? "failed" : extra);
    }
    if (st) {
        dk_error_prefix(err, "training feature net '%s'", name);
        dk_featnet_free(n);
        return NULL;
    }
    return n;
}

/* ---- cache --------------------------------------------------------------------- */

uint64_t dk_hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

dk_status dk_cache_dir(char *buf, size_t n, dk_error *err) {
    const char *c = getenv("DIFFKIT_CACHE"), *x = getenv("XDG_CACHE_HOME"), *h = getenv("HOME");
    int k;
    if (c && *c) k = snprintf(buf, n, "%s", c);
    else if (x && *x) k = snprintf(buf, n, "%s/diffkit", x);
    else if (h && *h) k = snprintf(buf, n, "%s/.cache/diffkit", h);
    else return dk_error_set(err, DK_ENOTFOUND, "no cache folder: set DIFFKIT_CACHE (or HOME)");
    if (k < 0 || (size_t)k >= n) return dk_error_set(err, DK_EINVAL, "cache folder path is too long");
    return DK_OK;
}

static dk_status mkdir_p(const char *path, dk_error *err) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, 0755) && errno != EEXIST)
                return dk_error_set(err, DK_EIO, "cannot create folder '%s': %s", tmp, strerror(errno));
            *p = '/';
        }
    if (mkdir(tmp, 0755) && errno != EEXIST)
        return dk_error_set(err, DK_EIO, "cannot create folder '%s': %s (set DIFFKIT_CACHE to a writable folder)", tmp,
                            strerror(errno));
    return DK_OK;
}

/* ---- the shipped networks (data/featnet/, docs/evaluation.md) ----------------
 * Trained once with the default recipe and committed, so that every machine
 * computes FIDs with the same weights (a network trained on each machine
 * differs by the machine's rounding: FID 13.40 vs 11.67 for the same run).
 * Each file is checked against its SHA-256 before it is used. */
#ifndef DIFFKIT_DATA_BUILD_DIR
#define DIFFKIT_DATA_BUILD_DIR ""
#endif
#ifndef DIFFKIT_DATA_INSTALL_DIR
#define DIFFKIT_DATA_INSTALL_DIR ""
#endif

static const struct {
    const char *name, *sha256;
} shipped_nets[] = {
    {"fmnist-cnn-v2", "78ccf1a7a04db4248a93ef55de986a942d0ace39388944daf93241dba4f7b2bd"},
};

/* The shipped file of `name`: $DIFFKIT_DATA_DIR, else the source tree's data/,
 * else the install tree's; the first folder holding featnet/<name>.safetensors. */
static int shipped_path(const char *name, char *path, size_t n) {
    const char *env = getenv("DIFFKIT_DATA_DIR");
    const char *dirs[3] = {env && *env ? env : "", DIFFKIT_DATA_BUILD_DIR, DIFFKIT_DATA_INSTALL_DIR};
    for (int i = 0; i < 3; i++) {
        struct stat sb;
        if (!dirs[i][0]) continue;
        snprintf(path, n, "%s/featnet/%s.safetensors", dirs[i], name);
        if (stat(path, &sb) == 0) return 1;
    }
    return 0;
}

dk_featnet *dk_featnet_shipped(const char *name, const char *recipe, char *path_out, size_t path_n, dk_error *err) {
    const char *sum = NULL;
    for (size_t i = 0; i < sizeof shipped_nets / sizeof shipped_nets[0]; i++)
        if (strcmp(shipped_nets[i].name, name) == 0) sum = shipped_nets[i].sha256;
    char path[4600], hex[65];
    if (!sum || !shipped_path(name, path, sizeof path)) {
        dk_error_set(err, DK_ENOTFOUND, "no shipped feature net '%s'", name);
        return NULL;
    }
    if (dk_sha256_file(path, hex, err) != DK_OK) return NULL;
    if (strcmp(hex, sum) != 0) {
        dk_error_set(err, DK_EFORMAT,
                     "the shipped feature net '%s' is corrupt: its SHA-256 is %s, expected %s (data/featnet/README.md); "
                     "restore it (git checkout data/featnet, or reinstall), or set DIFFKIT_FEATNET_RETRAIN=1 to train "
                     "and cache a local one instead (its FIDs are not comparable across machines)",
                     path, hex, sum);
        return NULL;
    }
    dk_featnet *n = dk_featnet_load(path, err);
    if (!n) return NULL;
    if (recipe && strcmp(n->recipe, recipe) != 0) {
        dk_featnet_free(n);
        dk_error_set(err, DK_ENOTFOUND, "the shipped feature net '%s' was trained with another recipe or dataset", name);
        return NULL;
    }
    if (path_out) snprintf(path_out, path_n, "%s", path);
    return n;
}

dk_featnet *dk_featnet_default(const dk_dataset *train, const dk_dataset *test, const char *tag, int verbose,
                               char *path_out, size_t path_n, dk_error *err) {
    char dir[4096], path[4600], recipe[600], name[128];
    dk_featnet_recipe r = dk_featnet_recipe_default();
    r.verbose = verbose;
    /* test-only (featnet.h, docs/evaluation.md): a short run of the cached route; the
     * steps are in the recipe line, so the cache file differs from the real one */
    const char *ts = getenv("DIFFKIT_FEATNET_TEST_STEPS");
    long long test_steps = ts && *ts ? atoll(ts) : 0;
    if (test_steps > 0) r.steps = test_steps;
    dk_featnet_recipe_text(&r, train, recipe, sizeof recipe);
    snprintf(name, sizeof name, "%s-%s%s", tag && *tag ? tag : "data", DK_FEATNET_ARCH, test_steps > 0 ? "-test" : "");
    /* the shipped network when one was trained by this very recipe on this very
     * dataset (its stored recipe line, dataset name, shape and count included) */
    const char *rt = getenv("DIFFKIT_FEATNET_RETRAIN");
    if (test_steps <= 0 && !(rt && *rt && strcmp(rt, "0") != 0)) {
        char sp[4600];
        int have = 0;
        for (size_t i = 0; i < sizeof shipped_nets / sizeof shipped_nets[0]; i++)
            if (strcmp(shipped_nets[i].name, name) == 0) have = shipped_path(name, sp, sizeof sp);
        if (have) {
            dk_error e2;
            dk_featnet *n = dk_featnet_shipped(name, recipe, path_out, path_n, &e2);
            if (n) return n;
            if (e2.code != DK_ENOTFOUND) { /* corrupt or unreadable: an error, never a silent retrain */
                if (err) *err = e2;
                return NULL;
            }
        }
    }
    if (dk_cache_dir(dir, sizeof dir, err) != DK_OK) return NULL;
    strncat(dir, "/features", sizeof dir - strlen(dir) - 1);
    snprintf(path, sizeof path, "%s/%s-%016llx.safetensors", dir, name, (unsigned long long)dk_hash_str(recipe));
    if (path_out) snprintf(path_out, path_n, "%s", path);
    struct stat sb;
    if (stat(path, &sb) == 0) return dk_featnet_load(path, err);
    if (mkdir_p(dir, err) != DK_OK) return NULL;
    if (verbose) dk_log(DK_LOG_INFO, "training feature net %s (cached afterwards as %s)", name, path);
    dk_featnet *n = dk_featnet_train(train, test, &r, name, err);
    if (n && dk_featnet_save(n, path, err) != DK_OK) {
        dk_featnet_free(n);
        return NULL;
    }
    return n;
}
