/* dit.c: `diffkit verify` section "dit" (tests/data/golden/FORMAT.md section 6.1).
 *
 * NAME.io.safetensors holds inputs x, t, y, the output `out`, intermediate
 * activations dbg.* and, for a model with a null label, a classifier-free
 * guidance case cfg.{x,t,y,out} (metadata cfg.cfg_scale). The weights are in
 * NAME.weights.safetensors beside it (the full DiT state_dict under its
 * original names); the configuration is the metadata cfg.* (the dit plugin's
 * option names). The checker builds the `dit` plugin through the host in F32,
 * loads every weight by name (a missing, extra or misshapen tensor is an
 * error naming it), runs the forward pass and compares at abs 1e-4 + rel 1e-4.
 *
 * Also compared, from the same loaded parameters and the graph ops directly:
 * dbg.t_freq (timestep features), dbg.x_embed (patch embedding before
 * pos_embed), dbg.t_emb and dbg.y_emb. The block outputs dbg.block<i> and
 * dbg.final are internal to the plugin and not compared (the final output
 * covers them).
 *
 * forward_with_cfg (DiT models.py): the first half of x is used for both
 * halves, the model runs on the batch, and ONLY the first three output
 * channels are guided, eps = uncond + s (cond - uncond), written to both
 * halves; the remaining channels are the model's own output. */
#include <math.h>
#include "components_common.h"
#include "diffkit/ops.h"

#define DIT_ATOL 1e-4
#define DIT_RTOL 1e-4

/* NAME.weights.safetensors from NAME.io.safetensors (malloc'd). */
static char *weights_path(const char *io, dk_error *err) {
    static const char suffix[] = ".io.safetensors";
    size_t n = strlen(io), ls = sizeof suffix - 1;
    if (n < ls || strcmp(io + n - ls, suffix) != 0) {
        dk_error_set(err, DK_EINVAL, "%s: a DiT golden file must be named NAME.io.safetensors (its weights are NAME.weights.safetensors)", io);
        return NULL;
    }
    char *w = malloc(n - ls + sizeof ".weights.safetensors");
    if (!w) {
        dk_error_set(err, DK_ENOMEM, "out of memory");
        return NULL;
    }
    memcpy(w, io, n - ls);
    strcpy(w + n - ls, ".weights.safetensors");
    return w;
}

/* Copies every parameter of the store from the weights file; errors name
 * missing, extra and misshapen tensors. */
static dk_status load_weights(dk_params *p, const dk_st_file *wf, const char *wpath, dk_error *err) {
    char missing[512] = "", extra[512] = "";
    size_t n_missing = 0, n_extra = 0, used;
    for (size_t i = 0; i < dk_params_count(p); i++) {
        dk_param *q = dk_params_at(p, i);
        const char *name = q->var.name;
        dk_dtype dt;
        int nd;
        int64_t shp[DK_MAX_DIMS];
        if (!dk_st_has(wf, name)) {
            used = strlen(missing);
            if (used < sizeof missing - 1) snprintf(missing + used, sizeof missing - used, "%s%s", n_missing ? ", " : "", name);
            n_missing++;
            continue;
        }
        DK_TRY(dk_st_info(wf, name, &dt, &nd, shp, err));
        const dk_tensor *v = q->var.value;
        int same = nd == v->ndim;
        for (int d = 0; same && d < nd; d++) same = shp[d] == v->shape[d];
        if (!same) {
            dk_tensor hdr = {.ndim = nd};
            memcpy(hdr.shape, shp, sizeof shp);
            char a[96], b[96];
            return dk_error_set(err, DK_ESHAPE, "%s: tensor '%s' has shape %s, the model expects %s: check the cfg.* metadata",
                                wpath, name, dk_shape_str(&hdr, a, sizeof a), dk_shape_str(v, b, sizeof b));
        }
        dk_tensor *t = dk_st_get_as(wf, name, v->dtype, err);
        if (!t) return dk_error_prefix(err, "%s", wpath);
        memcpy(v->data, t->data, v->numel * dk_dtype_size(v->dtype));
        dk_tensor_free(t);
    }
    for (size_t i = 0; i < dk_st_count(wf); i++) {
        const char *name = dk_st_name(wf, i);
        if (dk_params_find(p, name)) continue;
        used = strlen(extra);
        if (used < sizeof extra - 1) snprintf(extra + used, sizeof extra - used, "%s%s", n_extra ? ", " : "", name);
        n_extra++;
    }
    if (n_missing || n_extra)
        return dk_error_set(err, DK_ENOTFOUND, "%s: %zu tensor(s) the model needs are missing (%s); %zu tensor(s) are not parameters of the model (%s)",
                            wpath, n_missing, n_missing ? missing : "none", n_extra, n_extra ? extra : "none");
    return DK_OK;
}

/* out = model(x, t, y) as a new tensor (F32 [N, oC, H, W]). */
static dk_tensor *run_model(dk_instance *inst, dk_graph *g, dk_tensor *x, dk_tensor *t, const dk_tensor *y, dk_error *err) {
    dk_graph_reset(g);
    dk_model_input in = {0};
    in.x = dk_graph_input(g, x, 0);
    in.c_noise = dk_graph_input(g, t, 0);
    in.class_labels = y ? dk_i64(y) : NULL;
    dk_var *out = dk_model_vt(inst)->forward(inst->self, g, &in);
    if (dk_graph_status(g, err) != DK_OK) return NULL;
    if (!out) {
        dk_error_set(err, DK_ESTATE, "model 'dit' returned no output");
        return NULL;
    }
    return dk_tensor_clone(out->value, err);
}

static dk_var *param(dk_instance *inst, const char *name) {
    dk_param *q = dk_params_find(inst->params, name);
    return q ? &q->var : NULL;
}

/* dbg.t_freq, dbg.t_emb, dbg.y_emb, dbg.x_embed from the loaded parameters. */
static void check_dbg(dk_verify *v, dk_instance *inst, dk_graph *g, dk_tensor *x, dk_tensor *t, const dk_tensor *y) {
    dk_error e;
    dk_graph_reset(g);
    dk_var *tv = dk_graph_input(g, t, 0);
    dk_var *tf = dk_timestep_embedding(g, tv, 256, 10000.0);
    dk_var *te = dk_linear(g, dk_silu(g, dk_linear(g, tf, param(inst, "t_embedder.mlp.0.weight"), param(inst, "t_embedder.mlp.0.bias"))),
                           param(inst, "t_embedder.mlp.2.weight"), param(inst, "t_embedder.mlp.2.bias"));
    dk_var *table = param(inst, "y_embedder.embedding_table.weight");
    dk_var *ye = table && y ? dk_embedding(g, table, dk_i64(y), y->numel) : NULL;
    dk_var *w = param(inst, "x_embedder.proj.weight");
    dk_var *xe = NULL;
    if (w) {
        const dk_tensor *wv = w->value;
        int64_t ws[2] = {wv->shape[0], wv->shape[1] * wv->shape[2] * wv->shape[3]};
        xe = dk_linear(g, dk_patchify(g, dk_graph_input(g, x, 0), (int)wv->shape[2], DK_PATCH_CIJ), dk_reshape(g, w, 2, ws),
                       param(inst, "x_embedder.proj.bias"));
    }
    if (dk_graph_status(g, &e) != DK_OK) {
        dk_verify_check(v, 0, "dbg.*: %s", e.msg);
        return;
    }
    struct { const char *name; dk_var *got; } d[] = {
        {"dbg.t_freq", tf}, {"dbg.t_emb", te}, {"dbg.y_emb", ye}, {"dbg.x_embed", xe},
    };
    for (size_t i = 0; i < sizeof d / sizeof d[0]; i++) {
        if (!d[i].got || !dk_st_has(v->file, d[i].name)) continue;
        dk_tensor *want = dk_verify_get(v, d[i].name, DK_F32, &e);
        if (!want) {
            dk_verify_check(v, 0, "%s: %s", d[i].name, e.msg);
            continue;
        }
        dk_verify_compare(v, d[i].name, d[i].got->value, want, DIT_ATOL, DIT_RTOL);
        dk_tensor_free(want);
    }
}

/* DiT forward_with_cfg on cfg.x, cfg.t, cfg.y with scale s. */
static dk_tensor *forward_with_cfg(dk_instance *inst, dk_graph *g, dk_tensor *x, dk_tensor *t, const dk_tensor *y, double s,
                                   dk_error *err) {
    const int64_t N = x->shape[0], half = N / 2;
    if (N % 2 != 0) {
        dk_error_set(err, DK_ESHAPE, "cfg.x has an odd batch %lld: forward_with_cfg needs [cond; uncond]", (long long)N);
        return NULL;
    }
    dk_tensor *comb = dk_tensor_clone(x, err);
    if (!comb) return NULL;
    const size_t P = x->numel / (size_t)N;
    memcpy(dk_f32(comb) + (size_t)half * P, dk_f32(x), (size_t)half * P * sizeof(float)); /* cat([half, half]) */
    dk_tensor *out = run_model(inst, g, comb, t, y, err);
    dk_tensor_free(comb);
    if (!out) return NULL;
    const int64_t oC = out->shape[1], guided = oC < 3 ? oC : 3;
    const size_t HW = out->numel / (size_t)(N * oC);
    float *o = dk_f32(out);
    for (int64_t b = 0; b < half; b++)
        for (int64_t c = 0; c < guided; c++)
            for (size_t i = 0; i < HW; i++) {
                float *cond = o + ((size_t)b * (size_t)oC + (size_t)c) * HW + i;
                float *unc = o + ((size_t)(b + half) * (size_t)oC + (size_t)c) * HW + i;
                float e = *unc + (float)s * (*cond - *unc);
                *cond = e;
                *unc = e;
            }
    return out;
}

static dk_status verify_dit(dk_verify *v, dk_error *err) {
    static const char *const skip[] = {"cfg_scale", NULL};
    dk_status st = DK_OK;
    char *wpath = weights_path(v->path, err);
    dk_st_file *wf = NULL;
    dk_instance *inst = NULL;
    dk_graph *g = NULL;
    dk_tensor *x = NULL, *t = NULL, *y = NULL, *out = NULL, *want = NULL;
    if (!wpath) return err->code;
    if (!(wf = dk_st_open(wpath, err))) {
        st = dk_error_prefix(err, "%s: the weights file beside it", v->path);
        goto done;
    }
    const dk_plugin *p = vc_find(v, DK_KIND_MODEL, "dit", err);
    if (!p) { st = err->code; goto done; }
    dk_options *o = dk_options_new(p);
    if (!o) { st = dk_error_set(err, DK_ENOMEM, "out of memory"); goto done; }
    if ((st = vc_set_options(v, o, "cfg", skip, err)) != DK_OK) { dk_options_free(o); goto done; }
    st = dk_instance_create(p, o, DK_F32, 0, &inst, err); /* the golden model ran in float32 */
    dk_options_free(o);
    if (st != DK_OK) { dk_error_prefix(err, "%s", v->path); goto done; }
    if ((st = load_weights(inst->params, wf, wpath, err)) != DK_OK) goto done;
    if (v->verbose)
        printf("  loaded %zu tensors (%zu values) from %s\n", dk_params_count(inst->params), dk_params_numel(inst->params, 0), wpath);
    if (!(g = dk_graph_new())) { st = dk_error_set(err, DK_ENOMEM, "out of memory"); goto done; }
    dk_graph_set_grad(g, 0);

    if (!(x = dk_verify_get(v, "x", DK_F32, err)) || !(t = dk_verify_get(v, "t", DK_F32, err)) ||
        !(want = dk_verify_get(v, "out", DK_F32, err))) { st = err->code; goto done; }
    if (dk_st_has(v->file, "y") && !(y = dk_verify_get(v, "y", DK_I64, err))) { st = err->code; goto done; }
    if (!(out = run_model(inst, g, x, t, y, err))) { st = dk_error_prefix(err, "%s: forward", v->path); goto done; }
    dk_verify_compare(v, "out", out, want, DIT_ATOL, DIT_RTOL);
    check_dbg(v, inst, g, x, t, y);

    if (dk_st_has(v->file, "cfg.x")) {
        double s;
        dk_tensor_free(x); dk_tensor_free(t); dk_tensor_free(y); dk_tensor_free(out); dk_tensor_free(want);
        x = t = y = out = want = NULL;
        if ((st = dk_verify_meta_double(v, "cfg.cfg_scale", &s, err)) != DK_OK) goto done;
        if (!(x = dk_verify_get(v, "cfg.x", DK_F32, err)) || !(t = dk_verify_get(v, "cfg.t", DK_F32, err)) ||
            !(y = dk_verify_get(v, "cfg.y", DK_I64, err)) || !(want = dk_verify_get(v, "cfg.out", DK_F32, err))) {
            st = err->code;
            goto done;
        }
        if (!(out = forward_with_cfg(inst, g, x, t, y, s, err))) { st = dk_error_prefix(err, "%s: forward_with_cfg", v->path); goto done; }
        dk_verify_compare(v, "cfg.out", out, want, DIT_ATOL, DIT_RTOL);
    }
done:
    dk_tensor_free(x);
    dk_tensor_free(t);
    dk_tensor_free(y);
    dk_tensor_free(out);
    dk_tensor_free(want);
    dk_graph_free(g);
    dk_instance_free(inst);
    dk_st_close(wf);
    free(wpath);
    return st;
}

DK_VERIFY_SECTION("dit", verify_dit)
