/* gmm.c: the `gmm` model plugin: the exact denoiser of an isotropic Gaussian
 * mixture (core/include/diffkit/gmm.h, tests/data/golden/FORMAT.md 4.1). No parameters and
 * no training: tests and sampler studies use it as a model whose ideal
 * denoiser is known in closed form.
 *
 * The model IS the full denoiser: forward(x, c_noise) = D(x; sigma) with
 * c_noise = sigma and x unscaled, so pair it with the `identity`
 * preconditioner (c_skip 0, c_out 1, c_in 1, c_noise sigma). Create it with
 * the F64 dtype: the host hands the model x and c_noise in the parameter dtype,
 * and F32 would round sigma. The computation itself is always float64; the
 * output has the input's dtype. It is not differentiable (no backward).
 *
 * Options: the mixture either from a safetensors `file` (tensors gmm.means
 * [K, C, H, W], gmm.stds [K], gmm.weights [K], as in the golden files; the
 * names means/stds/weights also work), or inline: `means` (K*C*H*W values,
 * component-major), `stds` (K), `weights` (K, default equal) and `shape`
 * ([C, H, W]). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "diffkit/diffkit.h"
#include "diffkit/gmm.h"

typedef struct gmm_model {
    dk_gmm *g;
    int64_t c, h, w;
} gmm_model;

static const dk_option_spec gmm_options[] = {
    {"file", DK_OPT_STRING, NULL, -INFINITY, INFINITY, NULL,
     "safetensors file with gmm.means [K,C,H,W], gmm.stds [K], gmm.weights [K]", DK_OPT_OPTIONAL},
    {"means", DK_OPT_FLOAT_LIST, NULL, -INFINITY, INFINITY, NULL,
     "inline means: K*C*H*W values, component-major (needs shape and stds)", DK_OPT_OPTIONAL},
    {"stds", DK_OPT_FLOAT_LIST, NULL, 0.0, INFINITY, NULL, "inline per-component standard deviations (K values, > 0)",
     DK_OPT_OPTIONAL | DK_OPT_MIN_EXCLUSIVE},
    {"weights", DK_OPT_FLOAT_LIST, NULL, 0.0, INFINITY, NULL, "inline mixture weights (K values, >= 0; default equal)",
     DK_OPT_OPTIONAL},
    {"shape", DK_OPT_INT_LIST, NULL, 1.0, INFINITY, NULL, "data shape [C, H, W] (inline means; checked against a file)",
     DK_OPT_OPTIONAL},
};

static dk_tensor *get_either(dk_st_file *f, const char *a, const char *b, dk_error *err) {
    const char *name = dk_st_has(f, a) ? a : b;
    return dk_st_get_as(f, name, DK_F64, err);
}

static dk_status gmm_from_file(gmm_model *m, const char *path, dk_error *err) {
    dk_st_file *f = dk_st_open(path, err);
    if (!f) return dk_error_prefix(err, "model 'gmm': option 'file'");
    dk_tensor *mu = get_either(f, "gmm.means", "means", err);
    dk_tensor *sd = mu ? get_either(f, "gmm.stds", "stds", err) : NULL;
    dk_tensor *wt = sd ? get_either(f, "gmm.weights", "weights", err) : NULL;
    dk_status st = DK_OK;
    if (!wt) {
        st = dk_error_prefix(err, "model 'gmm': option 'file' '%s'", path);
    } else if (mu->ndim != 4) {
        char a[64];
        st = dk_error_set(err, DK_ESHAPE, "model 'gmm': option 'file' '%s': means must be [K, C, H, W], got %s", path,
                          dk_shape_str(mu, a, sizeof a));
    } else {
        m->c = mu->shape[1];
        m->h = mu->shape[2];
        m->w = mu->shape[3];
        m->g = dk_gmm_from_tensors(mu, sd, wt, err);
        if (!m->g) st = dk_error_prefix(err, "model 'gmm': option 'file' '%s'", path);
    }
    dk_tensor_free(mu);
    dk_tensor_free(sd);
    dk_tensor_free(wt);
    dk_st_close(f);
    return st;
}

static dk_status gmm_inline(gmm_model *m, const dk_options *o, dk_error *err) {
    if (!dk_opt_has(o, "shape") || dk_opt_len(o, "shape") != 3)
        return dk_error_set(err, DK_EINVAL, "model 'gmm': option 'shape' must be [C, H, W] when option 'means' is given");
    if (!dk_opt_has(o, "stds"))
        return dk_error_set(err, DK_EINVAL, "model 'gmm': option 'stds' is needed with option 'means'");
    m->c = dk_opt_int_at(o, "shape", 0);
    m->h = dk_opt_int_at(o, "shape", 1);
    m->w = dk_opt_int_at(o, "shape", 2);
    size_t d = (size_t)(m->c * m->h * m->w), nm = dk_opt_len(o, "means"), k = dk_opt_len(o, "stds");
    if (k == 0 || nm != k * d)
        return dk_error_set(err, DK_EINVAL,
                            "model 'gmm': option 'means' has %zu values but %zu components of shape [%lld, %lld, %lld] need %zu",
                            nm, k, (long long)m->c, (long long)m->h, (long long)m->w, k * d);
    if (dk_opt_has(o, "weights") && dk_opt_len(o, "weights") != k)
        return dk_error_set(err, DK_EINVAL, "model 'gmm': option 'weights' has %zu values, option 'stds' has %zu",
                            dk_opt_len(o, "weights"), k);
    double *mu = malloc(nm * sizeof *mu), *sd = malloc(k * sizeof *sd), *wt = malloc(k * sizeof *wt);
    dk_status st = DK_OK;
    if (!mu || !sd || !wt) {
        st = dk_error_set(err, DK_ENOMEM, "model 'gmm': out of memory");
    } else {
        for (size_t i = 0; i < nm; i++) mu[i] = dk_opt_float_at(o, "means", i);
        for (size_t i = 0; i < k; i++) {
            sd[i] = dk_opt_float_at(o, "stds", i);
            wt[i] = dk_opt_has(o, "weights") ? dk_opt_float_at(o, "weights", i) : 1.0 / (double)k;
        }
        m->g = dk_gmm_new((int64_t)k, (int64_t)d, mu, sd, wt, err);
        if (!m->g) st = dk_error_prefix(err, "model 'gmm'");
    }
    free(mu);
    free(sd);
    free(wt);
    return st;
}

static dk_status gmm_create(const dk_options *o, dk_params *params, void **self, dk_error *err) {
    (void)params;
    int has_file = dk_opt_has(o, "file"), has_means = dk_opt_has(o, "means");
    if (has_file == has_means)
        return dk_error_set(err, DK_EINVAL, "model 'gmm': give exactly one of option 'file' and option 'means' (got %s)",
                            has_file ? "both" : "neither");
    gmm_model *m = calloc(1, sizeof *m);
    if (!m) return dk_error_set(err, DK_ENOMEM, "model 'gmm': out of memory");
    dk_status st = has_file ? gmm_from_file(m, dk_opt_str(o, "file"), err) : gmm_inline(m, o, err);
    if (st == DK_OK && has_file && dk_opt_has(o, "shape")) {
        if (dk_opt_len(o, "shape") != 3 || dk_opt_int_at(o, "shape", 0) != m->c ||
            dk_opt_int_at(o, "shape", 1) != m->h || dk_opt_int_at(o, "shape", 2) != m->w)
            st = dk_error_set(err, DK_EINVAL, "model 'gmm': option 'shape' does not match the file's [%lld, %lld, %lld]",
                              (long long)m->c, (long long)m->h, (long long)m->w);
    }
    if (st != DK_OK) {
        dk_gmm_free(m->g);
        free(m);
        return st;
    }
    *self = m;
    return DK_OK;
}

static void gmm_destroy(void *self) {
    gmm_model *m = self;
    if (!m) return;
    dk_gmm_free(m->g);
    free(m);
}

/* out (B, C, H, W) = D(x; c_noise) per sample; not differentiable. */
static dk_var *gmm_forward(void *self, dk_graph *g, const dk_model_input *in) {
    gmm_model *m = self;
    if (!in || !in->x || !in->c_noise) return dk_graph_fail(g, DK_EINVAL, "model 'gmm': needs x and c_noise");
    const dk_tensor *x = in->x->value, *cn = in->c_noise->value;
    int64_t B = x->ndim >= 1 ? x->shape[0] : 0;
    if (x->ndim != 4 || x->shape[1] != m->c || x->shape[2] != m->h || x->shape[3] != m->w || cn->numel != (size_t)B) {
        char a[64], b[64];
        return dk_graph_fail(g, DK_ESHAPE, "model 'gmm': expected x [B, %lld, %lld, %lld] and c_noise [B], got %s and %s",
                             (long long)m->c, (long long)m->h, (long long)m->w, dk_shape_str(x, a, sizeof a),
                             dk_shape_str(cn, b, sizeof b));
    }
    dk_var *out = dk_graph_new_var(g, x->dtype, x->ndim, x->shape);
    if (!out) return NULL;
    double *xs = malloc(x->numel * sizeof(double)), *sg = malloc((size_t)B * sizeof(double));
    if (!xs || !sg) {
        free(xs);
        free(sg);
        return dk_graph_fail(g, DK_ENOMEM, "model 'gmm': out of memory");
    }
    for (size_t i = 0; i < x->numel; i++) xs[i] = dk_tensor_get(x, i);
    for (int64_t b = 0; b < B; b++) sg[b] = dk_tensor_get(cn, (size_t)b);
    dk_error e;
    dk_status st = dk_gmm_denoise(m->g, B, xs, sg, xs, &e);
    if (st == DK_OK)
        for (size_t i = 0; i < x->numel; i++) dk_tensor_set(out->value, i, xs[i]);
    free(xs);
    free(sg);
    if (st != DK_OK) return dk_graph_fail(g, st, "model 'gmm': %s", e.msg);
    dk_var *inputs[2] = {in->x, in->c_noise};
    return dk_graph_custom(g, out, inputs, 2, NULL, NULL, NULL);
}

static dk_status gmm_macs(void *self, int64_t h, int64_t w, uint64_t *macs, dk_error *err) {
    gmm_model *m = self;
    if (h != m->h || w != m->w)
        return dk_error_set(err, DK_EINVAL, "model 'gmm': it is defined on %lld x %lld images, not %lld x %lld",
                            (long long)m->h, (long long)m->w, (long long)h, (long long)w);
    /* per component: |x - mu|^2 (D) and the weighted mean (D) */
    *macs = (uint64_t)(2 * m->g->k * m->g->d);
    return DK_OK;
}

static void gmm_describe(void *self, dk_model_info *info) {
    gmm_model *m = self;
    memset(info, 0, sizeof *info);
    info->in_channels = m->c;
    info->out_channels = m->c;
    info->image_size = m->h == m->w ? m->h : 0;
}

static const dk_model_vtable gmm_vtable = {
    .struct_size = sizeof(dk_model_vtable),
    .create = gmm_create,
    .destroy = gmm_destroy,
    .forward = gmm_forward,
    .macs = gmm_macs,
    .init = NULL,
    .describe = gmm_describe,
};

static const dk_plugin gmm_plugin = {
    .abi_version = DK_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(dk_plugin),
    .kind = DK_KIND_MODEL,
    .name = "gmm",
    .version = "1.0",
    .summary = "exact denoiser D(x; sigma) of an isotropic Gaussian mixture (use with precond 'identity', dtype F64)",
    .options = gmm_options,
    .n_options = sizeof gmm_options / sizeof gmm_options[0],
    .vtable = &gmm_vtable,
};

DK_PLUGIN_EXPORT const dk_plugin *diffkit_plugin(void) { return &gmm_plugin; }
