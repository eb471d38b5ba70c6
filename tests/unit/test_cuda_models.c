/* test_cuda_models.c: whole models through the backend seam: the `dit` and
 * `hdit` plugins, unchanged, run forward and backward on CUDA tensors and
 * give the CPU's output, input gradient and every parameter gradient.
 *
 * Each case builds the model twice with the same options and seed, fills
 * the trainable parameters with N(0, 0.05) draws added (so zero-initialised adaLN and
 * output layers do not hide anything), moves the second copy's parameters to
 * the GPU (dk_params_to_device), and runs loss = sum(out * r) with the input
 * requiring a gradient on both. F64 on both devices must agree to 1e-9 of the
 * largest magnitude (the kernels differ only in summation order); F32 (TF32
 * off) to 2e-4. Exits 77 (skipped) without a GPU. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dktest.h"
#include "diffkit/cuda.h"
#include "diffkit/ops.h"
#include "diffkit/rng.h"

static dk_host *host;
/* DK_TEST_MODELS_ON_CPU=1 runs the "device" copy on the CPU: a check of this
 * harness itself (every error must then be 0) on machines without a GPU. */
static dk_device dev = DK_CUDA;

static dk_instance *make(const char *plugin, const char *const *kv, dk_dtype dt) {
    const dk_plugin *p = dk_host_find(host, DK_KIND_MODEL, plugin, &dk_test_err);
    if (!p) return NULL;
    dk_options *o = dk_options_new(p);
    for (; kv && kv[0]; kv += 2)
        if (dk_options_set(o, kv[0], kv[1], &dk_test_err) != DK_OK) {
            dk_options_free(o);
            return NULL;
        }
    dk_instance *m = NULL;
    if (dk_options_finish(o, &dk_test_err) == DK_OK) dk_instance_create(p, o, dt, 7, &m, &dk_test_err);
    dk_options_free(o);
    if (!m) return NULL;
    dk_rng r;
    dk_rng_init(&r, 11, 3);
    for (size_t i = 0; i < dk_params_count(m->params); i++) { /* trainable ones += N(0, 0.05) */
        dk_param *q = dk_params_at(m->params, i);
        if (q->tags & DK_PARAM_FROZEN) continue;
        for (size_t j = 0; j < q->var.value->numel; j++)
            dk_tensor_set(q->var.value, j, dk_tensor_get(q->var.value, j) + 0.05 * dk_rng_normal(&r));
    }
    return m;
}

static dk_tensor *rnd(dk_dtype dt, int nd, const int64_t *shp, uint64_t seed, double scale) {
    dk_tensor *t = dk_tensor_new(dt, nd, shp, &dk_test_err);
    dk_rng r;
    dk_rng_init(&r, seed, 1);
    for (size_t i = 0; i < t->numel; i++) dk_tensor_set(t, i, scale * dk_rng_normal(&r));
    return t;
}

/* max |a - b| / max(|b|) over the elements (b on the CPU) */
static double rel_err(const dk_tensor *a_any, const dk_tensor *b) {
    dk_tensor *a = dk_tensor_to_device(a_any, DK_CPU, &dk_test_err);
    if (!a) return INFINITY;
    double md = 0, mb = 0;
    for (size_t i = 0; i < b->numel; i++) {
        double d = fabs(dk_tensor_get(a, i) - dk_tensor_get(b, i));
        if (!(d <= md)) md = d; /* NaN propagates */
        if (fabs(dk_tensor_get(b, i)) > mb) mb = fabs(dk_tensor_get(b, i));
    }
    dk_tensor_free(a);
    return mb > 0 ? md / mb : md;
}

typedef struct run_out {
    dk_tensor *out, *dx; /* on the device they ran on */
} run_out;

static int run(dk_instance *m, dk_device dev, dk_tensor *x, dk_tensor *t, dk_tensor *r, const int64_t *labels,
               run_out *o) {
    dk_graph *g = dk_graph_new();
    dk_tensor *xd = dk_tensor_to_device(x, dev, &dk_test_err), *td = dk_tensor_to_device(t, dev, &dk_test_err);
    dk_tensor *rd = dk_tensor_to_device(r, dev, &dk_test_err);
    int ok = 0;
    if (xd && td && rd) {
        dk_model_input in = {0};
        dk_var *xv = dk_graph_input(g, xd, 1);
        in.x = xv;
        in.c_noise = dk_graph_input(g, td, 0);
        in.class_labels = labels;
        dk_var *out = dk_model_vt(m)->forward(m->self, g, &in);
        dk_var *loss = dk_sum_all(g, dk_mul(g, out, dk_graph_input(g, rd, 0)));
        dk_params_zero_grad(m->params);
        if (dk_graph_status(g, &dk_test_err) == DK_OK && dk_graph_backward(g, loss, &dk_test_err) == DK_OK) {
            o->out = dk_tensor_to_device(out->value, DK_CPU, &dk_test_err);
            o->dx = xv->grad ? dk_tensor_to_device(xv->grad, DK_CPU, &dk_test_err) : NULL;
            ok = o->out && o->dx;
        }
    }
    if (!ok) dk_test_fail(__FILE__, __LINE__, "%s run failed: %s", dk_device_name(dev), dk_test_err.msg);
    dk_tensor_free(xd);
    dk_tensor_free(td);
    dk_tensor_free(rd);
    dk_graph_free(g);
    return ok;
}

static void check_model(const char *name, const char *plugin, const char *const *kv, dk_dtype dt, int64_t C,
                        int64_t H, double tol) {
    dk_instance *a = make(plugin, kv, dt), *b = make(plugin, kv, dt);
    DK_CHECK(a && b);
    if (!a || !b) {
        printf("%s: %s\n", name, dk_test_err.msg);
        dk_instance_free(a);
        dk_instance_free(b);
        return;
    }
    DK_CHECK_OK(dk_params_to_device(b->params, dev, &dk_test_err));
    DK_CHECK(dk_params_device(b->params) == dev);
    int64_t B = 3;
    dk_tensor *x = rnd(dt, 4, (int64_t[]){B, C, H, H}, 1, 1.0), *t = rnd(dt, 1, &B, 2, 0.5);
    dk_model_info info;
    dk_model_vt(a)->describe(a->self, &info);
    dk_tensor *r = rnd(dt, 4, (int64_t[]){B, info.out_channels, H, H}, 3, 1.0);
    int64_t labels[3] = {0, 4, 9 % (info.num_classes ? info.num_classes : 1)};
    run_out ca = {0}, gb = {0};
    if (run(a, DK_CPU, x, t, r, info.num_classes ? labels : NULL, &ca) &&
        run(b, dev, x, t, r, info.num_classes ? labels : NULL, &gb)) {
        double eo = rel_err(gb.out, ca.out), ex = rel_err(gb.dx, ca.dx), ew = 0;
        const char *worst = "";
        for (size_t i = 0; i < dk_params_count(a->params); i++) {
            dk_param *pa = dk_params_at(a->params, i), *pb = dk_params_at(b->params, i);
            if (pa->tags & DK_PARAM_FROZEN) continue;
            DK_CHECK(pb->var.value->device == dev);
            double e = rel_err(pb->var.grad, pa->var.grad);
            if (!(e <= ew)) ew = e, worst = pa->var.name;
        }
        printf("%-24s %s: out %.3g, dx %.3g, worst param grad %.3g (%s), tolerance %.0e\n", name,
               dk_dtype_name(dt), eo, ex, ew, worst, tol);
        DK_CHECK(eo <= tol);
        DK_CHECK(ex <= tol);
        DK_CHECK(ew <= tol);
    }
    dk_tensor *ts[] = {ca.out, ca.dx, gb.out, gb.dx, x, t, r};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) dk_tensor_free(ts[i]);
    dk_instance_free(a);
    dk_instance_free(b);
}

int main(void) {
    char why[512];
    if (getenv("DK_TEST_MODELS_ON_CPU") && atoi(getenv("DK_TEST_MODELS_ON_CPU"))) {
        dev = DK_CPU;
        snprintf(why, sizeof why, "DK_TEST_MODELS_ON_CPU: the second copy runs on the CPU too");
    } else if (dk_cuda_describe(why, sizeof why) != DK_OK) {
        printf("skipping: %s\n", why);
        return 77;
    }
    printf("%s\n", why);
    if (!(host = dk_host_new(&dk_test_err))) return 1;
    const char *dit[] = {"input_size", "8", "patch_size", "2", "in_channels", "3", "hidden_size", "32", "depth", "2",
                         "num_heads", "2", "num_classes", "10", "learn_sigma", "true", NULL};
#define HBASE "widths", "[16,32]", "depths", "[2,1]", "d_head", "8", "mapping_width", "16", "mapping_depth", "1", \
              "patch", "2", "num_classes", "10", "kernel", "3", "window", "4", "in_channels", "3"
    const char *hdit_e[] = {HBASE, NULL}; /* neighborhood + global, GEGLU, RoPE, AdaRMSNorm, lerp skips */
    const char *hdit_b1[] = {HBASE, "attn", "[shifted-window,global]", "ffn", "gelu", "pos", "additive", "image_size",
                             "16", NULL};
    const char *hdit_f1[] = {HBASE, "skip", "concat", "norm", "adaln", NULL};
    for (int k = 0; k < 2; k++) {
        dk_dtype dt = k ? DK_F32 : DK_F64;
        double tol = k ? 2e-4 : 1e-9;
        check_model("dit", "dit", dit, dt, 3, 8, tol);
        check_model("hdit (E-like)", "hdit", hdit_e, dt, 3, 16, tol);
        check_model("hdit (B1: shifted window)", "hdit", hdit_b1, dt, 3, 16, tol);
        check_model("hdit (concat, adaln)", "hdit", hdit_f1, dt, 3, 16, tol);
    }
    dk_host_free(host);
    return dk_test_finish();
}
