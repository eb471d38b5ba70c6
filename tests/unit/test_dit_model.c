/* test_dit_model.c: the `dit` model plugin through the host.
 *  - parameter counts of DiT presets against DiT's `models.py` (pixel DiT-B/4 at
 *    128x128, C = 3, learn_sigma: 130,389,600 trainable + 786,432 frozen
 *    pos_embed; latent B/4 and S/2), declared without allocating;
 *  - MACs in the paper's convention against k-diffusion's `models/flops.py` (pixel DiT-B/4:
 *    106.46 G at 128^2, 657.6 G at 256^2; latent B/4 5.565 G, S/2 6.056 G,
 *    XL/2 118.62 G);
 *  - names, order and shapes equal the state_dict of dit_tiny.weights.safetensors;
 *  - DiT's init: pos_embed table (column in the first half, row in the second),
 *    adaLN and final layer zero, xavier bounds, N(0, 0.02) embedders;
 *  - a finite-difference gradient check of the whole forward in F64 on a tiny
 *    configuration (every parameter tensor and the input);
 *  - bad options give messages naming the option. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "dktest.h"
#include "diffkit/ops.h"

#define CHECK_MSG(substr) do { dk_test_checks++; if (!strstr(dk_test_err.msg, substr)) \
    dk_test_fail(__FILE__, __LINE__, "message '%s' lacks '%s'", dk_test_err.msg, substr); } while (0)

static dk_host *host;
static const dk_plugin *dit_plugin;

static dk_options *opts(const char *const *kv) {
    dk_options *o = dk_options_new(dit_plugin);
    for (; kv && kv[0]; kv += 2)
        if (dk_options_set(o, kv[0], kv[1], &dk_test_err) != DK_OK) {
            dk_test_fail(__FILE__, __LINE__, "option %s = %s: %s", kv[0], kv[1], dk_test_err.msg);
            dk_options_free(o);
            return NULL;
        }
    return o;
}

/* Declares the parameters only (no allocation): counts and MACs of big models. */
typedef struct declared {
    dk_params *params;
    void *self;
} declared;

static int declare(const char *const *kv, declared *d) {
    const dk_model_vtable *vt = dit_plugin->vtable;
    dk_options *o = opts(kv);
    d->params = dk_params_new(DK_F32);
    d->self = NULL;
    int ok = o && dk_options_finish(o, &dk_test_err) == DK_OK &&
             vt->create(o, d->params, &d->self, &dk_test_err) == DK_OK;
    dk_options_free(o);
    if (!ok) {
        dk_params_free(d->params);
        d->params = NULL;
    }
    return ok;
}

static void undeclare(declared *d) {
    if (d->self) ((const dk_model_vtable *)dit_plugin->vtable)->destroy(d->self);
    dk_params_free(d->params);
}

static double gmacs(declared *d, int64_t hw) {
    uint64_t m = 0;
    DK_CHECK_OK(((const dk_model_vtable *)dit_plugin->vtable)->macs(d->self, hw, hw, &m, &dk_test_err));
    return (double)m / 1e9;
}

static void test_counts_and_macs(void) {
    declared d;
    /* R1: pixel DiT-B/4, 128x128 RGB, learn_sigma, 1000 classes + null */
    const char *b4px[] = {"preset", "B/4", "input_size", "128", "in_channels", "3", NULL};
    DK_CHECK(declare(b4px, &d));
    if (d.params) {
        size_t all = dk_params_numel(d.params, 0), tr = dk_params_numel(d.params, 1);
        DK_CHECK(tr == 130389600u);
        DK_CHECK(all - tr == 786432u); /* pos_embed [1, 1024, 768] */
        DK_CHECK_NEAR(gmacs(&d, 128), 106.46, 0.005, 0);  /* paper Table 1: 106 */
        DK_CHECK_NEAR(gmacs(&d, 256), 657.6, 0.05, 0);    /* paper Table 1: 657 */
        DK_CHECK_STATUS(((const dk_model_vtable *)dit_plugin->vtable)->macs(d.self, 130, 130, &(uint64_t){0}, &dk_test_err),
                        DK_EINVAL);
        undeclare(&d);
    }
    /* latent DiT (32x32x4), DiT paper Table 4 Gflops: B/4 5.56, S/2 6.06, XL/2 118.6 */
    const char *b4[] = {"preset", "B/4", NULL};
    DK_CHECK(declare(b4, &d));
    if (d.params) {
        DK_CHECK(dk_params_numel(d.params, 1) == 130426496u);
        DK_CHECK_NEAR(gmacs(&d, 32), 5.565, 0.0005, 0);
        undeclare(&d);
    }
    const char *s2[] = {"preset", "S/2", NULL};
    DK_CHECK(declare(s2, &d));
    if (d.params) {
        DK_CHECK(dk_params_numel(d.params, 1) == 32865056u);
        DK_CHECK_NEAR(gmacs(&d, 32), 6.056, 0.0005, 0);
        undeclare(&d);
    }
    const char *xl2[] = {"preset", "DiT-XL/2", NULL};
    DK_CHECK(declare(xl2, &d));
    if (d.params) {
        DK_CHECK_NEAR(gmacs(&d, 32), 118.62, 0.005, 0);
        undeclare(&d);
    }
}

/* Names, order and shapes equal DiT's state_dict (the golden weights file). */
static void test_names_match_state_dict(void) {
    dk_st_file *f = dk_st_open(dk_test_data("golden/dit_tiny.weights.safetensors"), &dk_test_err);
    DK_CHECK(f != NULL);
    if (!f) return;
    const char *keys[] = {"input_size", "patch_size", "in_channels", "hidden_size", "depth", "num_heads",
                          "mlp_ratio", "class_dropout_prob", "num_classes", "learn_sigma"};
    const char *kv[2 * 10 + 1];
    char mk[10][64];
    for (int i = 0; i < 10; i++) {
        snprintf(mk[i], sizeof mk[i], "cfg.%s", keys[i]);
        kv[2 * i] = keys[i];
        kv[2 * i + 1] = dk_st_meta(f, mk[i]);
        DK_CHECK(kv[2 * i + 1] != NULL);
        if (!kv[2 * i + 1]) return;
    }
    kv[20] = NULL;
    declared d;
    DK_CHECK(declare(kv, &d));
    if (d.params) {
        DK_CHECK(dk_params_count(d.params) == dk_st_count(f));
        for (size_t i = 0; i < dk_params_count(d.params) && i < dk_st_count(f); i++) {
            dk_param *q = dk_params_at(d.params, i);
            const char *want = dk_st_name(f, i);
            dk_test_checks++;
            if (strcmp(q->var.name, want) != 0) dk_test_fail(__FILE__, __LINE__, "parameter %zu is '%s', state_dict has '%s'", i, q->var.name, want);
            dk_dtype dt;
            int nd;
            int64_t shp[DK_MAX_DIMS];
            DK_CHECK_OK(dk_st_info(f, q->var.name, &dt, &nd, shp, &dk_test_err));
            /* before finalize the declared shape is in var.grad (graph.c) */
            DK_CHECK(nd == q->var.grad->ndim && memcmp(shp, q->var.grad->shape, (size_t)nd * sizeof(int64_t)) == 0);
        }
        long long np = 0;
        DK_CHECK_OK(dk_st_meta_int(f, "n_params", &np, &dk_test_err));
        DK_CHECK(dk_params_numel(d.params, 0) == (size_t)np); /* n_params counts pos_embed too */
        undeclare(&d);
    }
    dk_st_close(f);
}

static dk_instance *create(const char *const *kv, dk_dtype dt, uint64_t seed) {
    dk_options *o = opts(kv);
    dk_instance *inst = NULL;
    if (o) dk_instance_create(dit_plugin, o, dt, seed, &inst, &dk_test_err);
    dk_options_free(o);
    return inst;
}

static dk_tensor *pval(dk_instance *m, const char *name) {
    dk_param *q = dk_params_find(m->params, name);
    return q ? q->var.value : NULL;
}

static void test_init(void) {
    const char *kv[] = {"input_size", "8", "patch_size", "2", "in_channels", "3", "hidden_size", "64", "depth", "2",
                        "num_heads", "4", "num_classes", "5", NULL};
    dk_instance *m = create(kv, DK_F64, 7);
    DK_CHECK(m != NULL);
    if (!m) return;
    /* pos_embed: G = 4, D = 64; token r*4 + c; channels [0,32) column, [32,64) row;
     * each half [sin(pos w_k) | cos(pos w_k)], w_k = 10000^(-k/16) */
    dk_tensor *pe = pval(m, "pos_embed");
    DK_CHECK(pe && pe->ndim == 3 && pe->shape[1] == 16 && pe->shape[2] == 64);
    DK_CHECK((dk_params_find(m->params, "pos_embed")->tags & DK_PARAM_FROZEN) != 0);
    if (pe) {
        const double *v = dk_f64(pe);
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 4; c++)
                for (int k = 0; k < 16; k++) {
                    double w = pow(10000.0, -k / 16.0);
                    const double *row = v + (size_t)(r * 4 + c) * 64;
                    DK_CHECK_NEAR(row[k], sin(c * w), 1e-12, 0);
                    DK_CHECK_NEAR(row[16 + k], cos(c * w), 1e-12, 0);
                    DK_CHECK_NEAR(row[32 + k], sin(r * w), 1e-12, 0);
                    DK_CHECK_NEAR(row[48 + k], cos(r * w), 1e-12, 0);
                }
    }
    const char *zero[] = {"blocks.0.adaLN_modulation.1.weight", "blocks.1.adaLN_modulation.1.bias",
                          "final_layer.linear.weight", "final_layer.linear.bias",
                          "final_layer.adaLN_modulation.1.weight", "blocks.0.attn.qkv.bias", "x_embedder.proj.bias"};
    for (size_t i = 0; i < sizeof zero / sizeof zero[0]; i++) {
        dk_tensor *t = pval(m, zero[i]);
        double mx = 0;
        for (size_t j = 0; t && j < t->numel; j++) mx = fmax(mx, fabs(dk_f64(t)[j]));
        DK_CHECK(t && mx == 0.0);
    }
    /* xavier: qkv [192, 64] bound sqrt(6/256); x_embedder [64, 3*2*2] bound sqrt(6/(12+64)) */
    struct { const char *n; double bound; } xv[] = {{"blocks.0.attn.qkv.weight", sqrt(6.0 / 256)},
                                                   {"x_embedder.proj.weight", sqrt(6.0 / 76)}};
    for (int i = 0; i < 2; i++) {
        dk_tensor *t = pval(m, xv[i].n);
        double mx = 0;
        for (size_t j = 0; t && j < t->numel; j++) mx = fmax(mx, fabs(dk_f64(t)[j]));
        DK_CHECK(t && mx <= xv[i].bound && mx > 0.9 * xv[i].bound);
    }
    /* N(0, 0.02) embedders: sample std within 10% */
    const char *nrm[] = {"t_embedder.mlp.0.weight", "y_embedder.embedding_table.weight"};
    for (int i = 0; i < 2; i++) {
        dk_tensor *t = pval(m, nrm[i]);
        double s2 = 0;
        for (size_t j = 0; t && j < t->numel; j++) s2 += dk_f64(t)[j] * dk_f64(t)[j];
        DK_CHECK(t && fabs(sqrt(s2 / (double)t->numel) - 0.02) < 0.002);
    }
    /* the null row exists: 5 classes + 1 */
    DK_CHECK(pval(m, "y_embedder.embedding_table.weight")->shape[0] == 6);
    dk_model_info info;
    ((const dk_model_vtable *)dit_plugin->vtable)->describe(m->self, &info);
    DK_CHECK(info.in_channels == 3 && info.out_channels == 6 && info.num_classes == 5 && info.image_size == 8);
    dk_instance_free(m);
}

/* ---- gradient check ------------------------------------------------------- */

typedef struct gc_case {
    dk_instance *m;
    dk_tensor *x, *t, *r; /* input, timesteps, output weights */
    int64_t labels[2];
} gc_case;

/* loss = sum(out * r); grads into params and x->grad when grad != 0 */
static double gc_loss(gc_case *c, dk_graph *g, int grad, dk_var **xv_out) {
    dk_graph_reset(g);
    dk_graph_set_grad(g, grad);
    dk_model_input in = {0};
    in.x = dk_graph_input(g, c->x, grad);
    in.c_noise = dk_graph_input(g, c->t, 0);
    in.class_labels = c->labels;
    dk_var *out = ((const dk_model_vtable *)dit_plugin->vtable)->forward(c->m->self, g, &in);
    dk_var *loss = dk_sum_all(g, dk_mul(g, out, dk_graph_input(g, c->r, 0)));
    if (dk_graph_status(g, &dk_test_err) != DK_OK || !loss) {
        dk_test_fail(__FILE__, __LINE__, "forward failed: %s", dk_test_err.msg);
        return NAN;
    }
    if (grad) {
        dk_params_zero_grad(c->m->params);
        DK_CHECK_OK(dk_graph_backward(g, loss, &dk_test_err));
        if (xv_out) *xv_out = in.x;
    }
    return dk_f64(loss->value)[0];
}

static void test_gradcheck(void) {
    const char *kv[] = {"input_size", "4", "patch_size", "2", "in_channels", "2", "hidden_size", "8", "depth", "2",
                        "num_heads", "2", "num_classes", "3", "mlp_ratio", "2.0", NULL};
    gc_case c = {0};
    c.m = create(kv, DK_F64, 3);
    DK_CHECK(c.m != NULL);
    if (!c.m) return;
    dk_rng r;
    dk_rng_init(&r, 1234, 0);
    /* random weights everywhere (the zero init would hide most paths) */
    for (size_t i = 0; i < dk_params_count(c.m->params); i++) {
        dk_param *q = dk_params_at(c.m->params, i);
        if (q->tags & DK_PARAM_FROZEN) continue;
        dk_rng_fill_normal_f64(&r, dk_f64(q->var.value), q->var.value->numel);
        for (size_t j = 0; j < q->var.value->numel; j++) dk_f64(q->var.value)[j] *= 0.4;
    }
    int64_t xs[4] = {2, 2, 4, 4}, ts[1] = {2}, rs[4] = {2, 4, 4, 4};
    c.x = dk_tensor_new(DK_F64, 4, xs, &dk_test_err);
    c.t = dk_tensor_new(DK_F64, 1, ts, &dk_test_err);
    c.r = dk_tensor_new(DK_F64, 4, rs, &dk_test_err);
    dk_rng_fill_normal_f64(&r, dk_f64(c.x), c.x->numel);
    dk_rng_fill_normal_f64(&r, dk_f64(c.r), c.r->numel);
    dk_f64(c.t)[0] = 3.0;
    dk_f64(c.t)[1] = 517.25;
    c.labels[0] = 1;
    c.labels[1] = 3; /* the null label */
    dk_graph *g = dk_graph_new();
    dk_var *xv = NULL;
    gc_loss(&c, g, 1, &xv);
    /* keep the analytic gradients before the probes reset the graph */
    size_t total = dk_params_numel(c.m->params, 0);
    double *an = malloc(total * sizeof *an);
    memcpy(an, dk_params_grad(c.m->params), total * sizeof *an);
    double *anx = malloc(c.x->numel * sizeof *anx);
    DK_CHECK(xv && xv->grad);
    if (xv && xv->grad) memcpy(anx, dk_f64(xv->grad), c.x->numel * sizeof *anx);
    const double h = 1e-6;
    int probes = 0;
    double worst = 0;
    for (size_t i = 0; i < dk_params_count(c.m->params); i++) {
        dk_param *q = dk_params_at(c.m->params, i);
        if (q->tags & DK_PARAM_FROZEN) continue;
        size_t n = q->var.value->numel;
        size_t idx[3] = {0, n / 2, n - 1};
        for (int k = 0; k < 3; k++) {
            double *w = dk_f64(q->var.value) + idx[k];
            double w0 = *w;
            *w = w0 + h;
            double lp = gc_loss(&c, g, 0, NULL);
            *w = w0 - h;
            double lm = gc_loss(&c, g, 0, NULL);
            *w = w0;
            double fd = (lp - lm) / (2 * h), a = an[q->offset + idx[k]];
            double e = fabs(fd - a) / (1e-6 + fabs(a));
            if (e > worst) worst = e;
            dk_test_checks++;
            if (!(fabs(fd - a) <= 1e-6 + 1e-5 * fabs(a)))
                dk_test_fail(__FILE__, __LINE__, "d loss / d %s[%zu]: analytic %.12g, finite difference %.12g", q->var.name, idx[k], a, fd);
            probes++;
        }
    }
    for (size_t k = 0; k < c.x->numel; k += 7) {
        double *w = dk_f64(c.x) + k, w0 = *w;
        *w = w0 + h;
        double lp = gc_loss(&c, g, 0, NULL);
        *w = w0 - h;
        double lm = gc_loss(&c, g, 0, NULL);
        *w = w0;
        double fd = (lp - lm) / (2 * h);
        DK_CHECK_NEAR(anx[k], fd, 1e-6, 1e-5);
        probes++;
    }
    printf("gradcheck: %d probes, worst relative error %.3g\n", probes, worst);
    free(an);
    free(anx);
    dk_graph_free(g);
    dk_tensor_free(c.x);
    dk_tensor_free(c.t);
    dk_tensor_free(c.r);
    dk_instance_free(c.m);
}

static void test_bad_options(void) {
    declared d;
    const char *bad_preset[] = {"preset", "M/4", NULL};
    DK_CHECK(!declare(bad_preset, &d));
    CHECK_MSG("preset");
    const char *no_width[] = {"depth", "2", "num_heads", "2", "patch_size", "2", NULL};
    DK_CHECK(!declare(no_width, &d));
    CHECK_MSG("hidden_size");
    const char *indivisible[] = {"preset", "B/4", "input_size", "30", NULL};
    DK_CHECK(!declare(indivisible, &d));
    CHECK_MSG("input_size");
    const char *heads[] = {"preset", "S/2", "num_heads", "5", NULL};
    DK_CHECK(!declare(heads, &d));
    CHECK_MSG("num_heads");
    /* no null row without dropout: running unconditionally is an error naming it */
    const char *kv[] = {"input_size", "4", "patch_size", "2", "in_channels", "1", "hidden_size", "8", "depth", "1",
                        "num_heads", "2", "num_classes", "3", "class_dropout_prob", "0", NULL};
    dk_instance *m = create(kv, DK_F32, 0);
    DK_CHECK(m != NULL);
    if (m) {
        int64_t xs[4] = {1, 1, 4, 4}, ts[1] = {1};
        dk_tensor *x = dk_tensor_new(DK_F32, 4, xs, NULL), *t = dk_tensor_new(DK_F32, 1, ts, NULL);
        dk_graph *g = dk_graph_new();
        dk_model_input in = {dk_graph_input(g, x, 0), dk_graph_input(g, t, 0), NULL, NULL};
        ((const dk_model_vtable *)dit_plugin->vtable)->forward(m->self, g, &in);
        DK_CHECK_STATUS(dk_graph_status(g, &dk_test_err), DK_EINVAL);
        CHECK_MSG("class_dropout_prob");
        dk_graph_free(g);
        dk_tensor_free(x);
        dk_tensor_free(t);
        dk_instance_free(m);
    }
}

int main(void) {
    if (!(host = dk_host_new(&dk_test_err)) || !(dit_plugin = dk_host_find(host, DK_KIND_MODEL, "dit", &dk_test_err))) {
        fprintf(stderr, "cannot find the dit plugin: %s\n", dk_test_err.msg);
        return 1;
    }
    test_counts_and_macs();
    test_names_match_state_dict();
    test_init();
    test_gradcheck();
    test_bad_options();
    dk_host_free(host);
    return dk_test_finish();
}
