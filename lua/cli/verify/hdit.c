/* hdit.c: `diffkit verify` section "hdit" (tests/data/golden/FORMAT.md §6.2).
 *
 * NAME.io.safetensors holds x [N,C,H,W], sigma [N], class_cond [N], optional
 * aug_cond [N,9], the F32 output `out` and `out_f64` (the same weights and
 * inputs run in float64). The weights (k-diffusion's state_dict names) are
 * in NAME.weights.safetensors beside it; the configuration is the io file's
 * metadata cfg.n_levels, cfg.levels.<i>.{depth,width,d_ff,attn,d_head,
 * kernel_size,window_size}, cfg.mapping.{depth,width,d_ff}, cfg.in_channels,
 * cfg.out_channels, cfg.patch_size, cfg.num_classes (k-diffusion's
 * constructor argument = the number of class_emb rows, so the plugin gets
 * null_class = false), cfg.mapping_cond_dim (must be 0).
 *
 * The `hdit` plugin is built through the host twice: in F32 (compared at
 * abs 1e-4 + rel 1e-4) and in F64 with the weights converted (against
 * out_f64 at abs 1e-10 + rel 1e-10). The model gets c_noise = ln(sigma)/4,
 * what the edm preconditioner hands it (computed in the run's precision, as
 * k-diffusion does inside the model). Every weight is loaded by name: a
 * missing, extra or misshapen tensor is an error naming it. */
#include <math.h>
#include "components_common.h"
#include "diffkit/ops.h"

static char *hdit_weights_path(const char *io, dk_error *err) {
    static const char suffix[] = ".io.safetensors";
    size_t n = strlen(io), ls = sizeof suffix - 1;
    if (n < ls || strcmp(io + n - ls, suffix) != 0) {
        dk_error_set(err, DK_EINVAL,
                     "%s: an HDiT golden file must be named NAME.io.safetensors (its weights are NAME.weights.safetensors "
                     "beside it): pass the io file",
                     io);
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

/* Appends "s" to a bounded list text. */
static void add_item(char *buf, size_t cap, const char *s) {
    size_t u = strlen(buf);
    if (u < cap - 1) snprintf(buf + u, cap - u, "%s%s", u ? ", " : "", s);
}

/* Copies every parameter from the weights file (converted to the store's dtype). */
static dk_status hdit_load(dk_params *p, const dk_st_file *wf, const char *wpath, dk_error *err) {
    char missing[768] = "", extra[768] = "", shape[768] = "";
    size_t nm = 0, ne = 0, ns = 0;
    for (size_t i = 0; i < dk_params_count(p); i++) {
        dk_param *q = dk_params_at(p, i);
        if (!dk_st_has(wf, q->var.name)) {
            add_item(missing, sizeof missing, q->var.name);
            nm++;
            continue;
        }
        dk_tensor *t = dk_st_get_as(wf, q->var.name, dk_params_dtype(p), err);
        if (!t) return dk_error_prefix(err, "%s", wpath);
        if (!dk_tensor_same_shape(t, q->var.value)) {
            char a[64], b[64], item[256];
            snprintf(item, sizeof item, "%s is %s in the file, %s in the model", q->var.name, dk_shape_str(t, a, sizeof a),
                     dk_shape_str(q->var.value, b, sizeof b));
            add_item(shape, sizeof shape, item);
            ns++;
        } else {
            dk_tensor_copy(q->var.value, t, err);
        }
        dk_tensor_free(t);
    }
    for (size_t i = 0; i < dk_st_count(wf); i++)
        if (!dk_params_find(p, dk_st_name(wf, i))) {
            add_item(extra, sizeof extra, dk_st_name(wf, i));
            ne++;
        }
    if (nm || ne || ns)
        return dk_error_set(err, DK_EFORMAT,
                            "%s does not fit the model built from the metadata: %zu missing [%s], %zu extra [%s], %zu "
                            "misshapen [%s]",
                            wpath, nm, missing, ne, extra, ns, shape);
    return DK_OK;
}

/* Options of the hdit plugin from the io file's cfg.* metadata. */
static dk_options *hdit_options(dk_verify *v, const dk_plugin *p, dk_error *err) {
    long long n = 0, mcd = 0;
    if (dk_verify_meta_int(v, "cfg.n_levels", &n, err) != DK_OK) return NULL;
    if (n < 1 || n > 8) {
        dk_error_set(err, DK_EFORMAT, "%s: cfg.n_levels = %lld", v->path, n);
        return NULL;
    }
    if (dk_st_meta(v->file, "cfg.mapping_cond_dim") && dk_verify_meta_int(v, "cfg.mapping_cond_dim", &mcd, err) == DK_OK &&
        mcd != 0) {
        dk_error_set(err, DK_EUNSUPPORTED, "%s: cfg.mapping_cond_dim = %lld: the hdit plugin has no mapping_cond input",
                     v->path, mcd);
        return NULL;
    }
    static const char *const lkeys[] = {"width", "depth", "d_ff", "d_head", "kernel_size", "window_size", "attn"};
    static const char *const opts[] = {"widths", "depths", "d_ffs", "d_head", "kernel", "window", "attn"};
    char lists[7][512];
    for (int k = 0; k < 7; k++) {
        strcpy(lists[k], "[");
        for (long long i = 0; i < n; i++) {
            char key[96];
            snprintf(key, sizeof key, "cfg.levels.%lld.%s", i, lkeys[k]);
            const char *val = dk_st_meta(v->file, key);
            if (!val) {
                if (k <= 3 || k == 6) {
                    dk_error_set(err, DK_ENOTFOUND, "%s: metadata key '%s' is missing", v->path, key);
                    return NULL;
                }
                val = k == 4 ? "7" : "8"; /* unused by the level's attention type */
            }
            size_t u = strlen(lists[k]);
            snprintf(lists[k] + u, sizeof lists[k] - u, "%s%s", i ? "," : "", val);
        }
        strcat(lists[k], "]");
    }
    dk_options *o = dk_options_new(p);
    if (!o) {
        dk_error_set(err, DK_ENOMEM, "out of memory");
        return NULL;
    }
    dk_status st = DK_OK;
    for (int k = 0; k < 7 && st == DK_OK; k++) st = dk_options_set(o, opts[k], lists[k], err);
    static const char *const direct[][2] = {
        {"cfg.mapping.width", "mapping_width"}, {"cfg.mapping.depth", "mapping_depth"},
        {"cfg.mapping.d_ff", "mapping_d_ff"},   {"cfg.in_channels", "in_channels"},
        {"cfg.out_channels", "out_channels"},   {"cfg.patch_size", "patch"},
        {"cfg.num_classes", "num_classes"},     {"cfg.dropout", "dropout"},
    };
    for (size_t k = 0; k < sizeof direct / sizeof direct[0] && st == DK_OK; k++) {
        const char *val = dk_st_meta(v->file, direct[k][0]);
        if (!val) {
            if (k >= 6) continue; /* num_classes 0, dropout 0 by default */
            st = dk_error_set(err, DK_ENOTFOUND, "%s: metadata key '%s' is missing", v->path, direct[k][0]);
            break;
        }
        st = dk_options_set(o, direct[k][1], val, err);
    }
    if (st == DK_OK) st = dk_options_set(o, "null_class", "false", err);
    if (st != DK_OK) {
        dk_error_prefix(err, "%s", v->path);
        dk_options_free(o);
        return NULL;
    }
    return o;
}

/* One forward pass in dtype dt; returns the output tensor (retained) or NULL. */
static dk_tensor *hdit_run(dk_verify *v, const dk_plugin *p, const dk_st_file *wf, const char *wpath, dk_dtype dt,
                           dk_error *err) {
    dk_options *o = hdit_options(v, p, err);
    if (!o) return NULL;
    dk_instance *inst = NULL;
    dk_status st = dk_instance_create(p, o, dt, 0, &inst, err);
    dk_options_free(o);
    if (st != DK_OK) {
        dk_error_prefix(err, "%s", v->path);
        return NULL;
    }
    dk_tensor *x = NULL, *sigma = NULL, *cls = NULL, *aug = NULL, *cn = NULL, *out = NULL;
    dk_graph *g = NULL;
    if (hdit_load(inst->params, wf, wpath, err) != DK_OK) goto done;
    if (!(x = dk_verify_get(v, "x", dt, err)) || !(sigma = dk_verify_get(v, "sigma", dt, err))) goto done;
    if (dk_st_has(v->file, "class_cond") && !(cls = dk_verify_get(v, "class_cond", DK_I64, err))) goto done;
    if (dk_st_has(v->file, "aug_cond") && !(aug = dk_verify_get(v, "aug_cond", dt, err))) goto done;
    int64_t B = x->shape[0];
    if (!(cn = dk_tensor_new(dt, 1, &B, err))) goto done;
    for (int64_t b = 0; b < B; b++) {
        /* c_noise = ln(sigma)/4 in the run's precision (k-diffusion: torch.log(sigma) / 4) */
        if (dt == DK_F32) dk_f32(cn)[b] = logf(dk_f32(sigma)[b]) / 4.0f;
        else dk_f64(cn)[b] = log(dk_f64(sigma)[b]) / 4.0;
    }
    if (!(g = dk_graph_new())) {
        dk_error_set(err, DK_ENOMEM, "out of memory");
        goto done;
    }
    dk_graph_set_grad(g, 0);
    dk_model_input in = {dk_graph_input(g, x, 0), dk_graph_input(g, cn, 0), cls ? dk_i64(cls) : NULL,
                         aug ? dk_graph_input(g, aug, 0) : NULL};
    dk_var *y = dk_model_vt(inst)->forward(inst->self, g, &in);
    if (!y || dk_graph_status(g, err) != DK_OK) {
        dk_error_prefix(err, "%s: hdit forward (%s)", v->path, dk_dtype_name(dt));
        goto done;
    }
    out = y->value;
    dk_tensor_retain(out);
done:
    dk_graph_free(g);
    dk_tensor_free(x);
    dk_tensor_free(sigma);
    dk_tensor_free(cls);
    dk_tensor_free(aug);
    dk_tensor_free(cn);
    dk_instance_free(inst);
    return out;
}

static dk_status verify_hdit(dk_verify *v, dk_error *err) {
    char *wpath = hdit_weights_path(v->path, err);
    if (!wpath) return err->code;
    dk_st_file *wf = dk_st_open(wpath, err);
    if (!wf) {
        free(wpath);
        return dk_error_prefix(err, "%s: its weights file", v->path);
    }
    dk_status st = DK_OK;
    const dk_plugin *p = vc_find(v, DK_KIND_MODEL, "hdit", err);
    if (!p) {
        st = err->code;
        goto done;
    }
    static const struct {
        dk_dtype dt;
        const char *want;
        double tol;
    } runs[2] = {{DK_F32, "out", 1e-4}, {DK_F64, "out_f64", 1e-10}};
    for (int r = 0; r < 2; r++) {
        if (!dk_st_has(v->file, runs[r].want)) continue;
        dk_tensor *got = hdit_run(v, p, wf, wpath, runs[r].dt, err);
        if (!got) {
            st = err->code;
            goto done;
        }
        dk_tensor *want = dk_verify_get(v, runs[r].want, runs[r].dt, err);
        if (!want) {
            dk_tensor_free(got);
            st = err->code;
            goto done;
        }
        dk_verify_compare(v, runs[r].want, got, want, runs[r].tol, runs[r].tol);
        dk_tensor_free(got);
        dk_tensor_free(want);
    }
done:
    dk_st_close(wf);
    free(wpath);
    return st;
}

DK_VERIFY_SECTION("hdit", verify_hdit)
