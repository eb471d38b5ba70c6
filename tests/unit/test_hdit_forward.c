/* test_hdit_forward.c: every switch of the hdit plugin runs forward and
 * backward in F64, and the gradients of the whole model (through every op it
 * composes) match central finite differences. Parameters are randomised
 * first (the zero-inits of k-diffusion would leave most paths unexercised).
 * Also: the zero-init output of a fresh model is exactly 0 (patch_out is
 * zero-initialised as in k-diffusion). */
#include <stdlib.h>
#include <string.h>
#include "dktest.h"
#include "diffkit/ops.h"

static const dk_plugin *plug;

static dk_instance *make(const char *const *kv) {
    dk_options *o = dk_options_new(plug);
    dk_instance *inst = NULL;
    dk_status st = DK_OK;
    for (; kv && kv[0] && st == DK_OK; kv += 2) st = dk_options_set(o, kv[0], kv[1], &dk_test_err);
    if (st == DK_OK) st = dk_instance_create(plug, o, DK_F64, 7, &inst, &dk_test_err);
    dk_options_free(o);
    DK_CHECK_OK(st);
    return inst;
}

static double urand(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(*s >> 11) / 9007199254740992.0;
}

/* loss = sum(out * r) for fixed inputs; returns loss and, if grads, runs backward. */
static double run(dk_instance *inst, const dk_tensor *x, const dk_tensor *cn, const int64_t *labels,
                  const dk_tensor *r, int grads) {
    dk_graph *g = dk_graph_new();
    dk_graph_set_grad(g, grads);
    dk_model_input in = {dk_graph_input(g, (dk_tensor *)x, 0), dk_graph_input(g, (dk_tensor *)cn, 0), labels, NULL};
    dk_var *y = dk_model_vt(inst)->forward(inst->self, g, &in);
    double loss = NAN;
    if (y && dk_graph_status(g, &dk_test_err) == DK_OK) {
        DK_CHECK(y->value->ndim == 4 && y->value->shape[0] == x->shape[0] && y->value->shape[1] == x->shape[1] &&
                 y->value->shape[2] == x->shape[2] && y->value->shape[3] == x->shape[3]);
        dk_var *l = dk_sum_all(g, dk_mul(g, y, dk_graph_input(g, (dk_tensor *)r, 0)));
        if (l) {
            loss = dk_f64(l->value)[0];
            if (grads) {
                dk_params_zero_grad(inst->params);
                DK_CHECK_OK(dk_graph_backward(g, l, &dk_test_err));
            }
        }
    }
    if (!y) {
        dk_graph_status(g, &dk_test_err);
        dk_test_fail(__FILE__, __LINE__, "forward failed: %s", dk_test_err.msg);
    }
    dk_graph_free(g);
    return loss;
}

static void check_config(const char *label, const char *const *kv) {
    dk_instance *inst = make(kv);
    if (!inst) return;
    int64_t xs[4] = {2, 3, 16, 16}, bs[1] = {2};
    dk_tensor *x = dk_tensor_new(DK_F64, 4, xs, &dk_test_err), *r = dk_tensor_new(DK_F64, 4, xs, &dk_test_err);
    dk_tensor *cn = dk_tensor_new(DK_F64, 1, bs, &dk_test_err);
    uint64_t s = 12345;
    for (size_t i = 0; i < x->numel; i++) {
        dk_f64(x)[i] = 2 * urand(&s) - 1;
        dk_f64(r)[i] = 2 * urand(&s) - 1;
    }
    dk_f64(cn)[0] = log(0.3) / 4;
    dk_f64(cn)[1] = log(7.0) / 4;
    int64_t labels[2] = {3, 10}; /* 10 = the null row */

    /* fresh model: patch_out is zero-init, so the output is exactly zero */
    DK_CHECK(run(inst, x, cn, labels, r, 0) == 0.0);

    /* randomise every trainable parameter */
    for (size_t i = 0; i < dk_params_count(inst->params); i++) {
        dk_param *q = dk_params_at(inst->params, i);
        if (q->tags & DK_PARAM_FROZEN) continue;
        for (size_t j = 0; j < q->var.value->numel; j++) dk_f64(q->var.value)[j] += 0.3 * (2 * urand(&s) - 1);
    }
    run(inst, x, cn, labels, r, 1);
    /* finite differences on a few entries of every 3rd parameter */
    int checked = 0, bad = 0;
    for (size_t i = 0; i < dk_params_count(inst->params); i += 3) {
        dk_param *q = dk_params_at(inst->params, i);
        if (q->tags & DK_PARAM_FROZEN) continue;
        for (int t = 0; t < 2; t++) {
            size_t j = (size_t)(urand(&s) * (double)q->var.value->numel);
            double *w = &dk_f64(q->var.value)[j], w0 = *w, h = 1e-5;
            double gan = dk_f64(q->var.grad)[j];
            *w = w0 + h;
            double lp = run(inst, x, cn, labels, r, 0);
            *w = w0 - h;
            double lm = run(inst, x, cn, labels, r, 0);
            *w = w0;
            double gfd = (lp - lm) / (2 * h);
            checked++;
            if (!(fabs(gan - gfd) <= 1e-5 + 1e-4 * fabs(gfd))) {
                if (bad++ < 5)
                    dk_test_fail(__FILE__, __LINE__, "%s: d loss / d %s[%zu] = %.10g, finite difference %.10g", label,
                                 q->var.name, j, gan, gfd);
            }
        }
    }
    printf("%-14s %zu params, %d gradients checked, %d bad\n", label, dk_params_numel(inst->params, 1), checked, bad);
    DK_CHECK(bad == 0 && checked > 10);
    dk_tensor_free(x);
    dk_tensor_free(r);
    dk_tensor_free(cn);
    dk_instance_free(inst);
}

#define BASE "widths", "[16,32]", "depths", "[2,1]", "d_head", "8", "mapping_width", "16", "mapping_depth", "1", \
             "patch", "2", "num_classes", "10", "kernel", "3", "window", "4"

int main(void) {
    dk_host *host = dk_host_new(&dk_test_err);
    plug = host ? dk_host_find(host, DK_KIND_MODEL, "hdit", &dk_test_err) : NULL;
    if (!plug) {
        fprintf(stderr, "hdit plugin not found: %s\n", dk_test_err.msg);
        return 1;
    }
    const char *e[] = {BASE, NULL}; /* neighborhood + global, geglu, rope, lerp, adarmsnorm (row E) */
    check_config("E", e);
    const char *a[] = {BASE, "attn", "global", "ffn", "gelu", "pos", "additive", "image_size", "16", NULL};
    check_config("A", a);
    const char *b1[] = {BASE, "attn", "[shifted-window,global]", "ffn", "gelu", "pos", "additive", "image_size", "16", NULL};
    check_config("B1", b1);
    const char *f1[] = {BASE, "skip", "concat", NULL};
    check_config("F1 concat", f1);
    const char *f2[] = {BASE, "skip", "add", "pos", "none", NULL};
    check_config("F2 add", f2);
    const char *g[] = {BASE, "norm", "adaln", NULL};
    check_config("G adaln", g);
    const char *h[] = {BASE, "norm", "adaln", "out_gate", "true", "ffn", "gelu", "mapping_ffn", "gelu", NULL};
    check_config("H gate", h);
    const char *none[] = {BASE, "attn", "[none,shifted-window,global]", "window", "2", "widths", "[16,32,32]", "depths", "[1,1,1]", NULL};
    check_config("3 lv, none", none);
    dk_host_free(host);
    return dk_test_finish();
}
