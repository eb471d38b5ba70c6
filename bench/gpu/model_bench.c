/* model_bench.c: diffkit's side of bench/gpu/run: forward + backward of the
 * `dit` plugin on one device (loss = sum(out * r), input gradient off, every
 * parameter gradient on), F32, the configs of bench/gpu/torch_fwbw.py.
 * Prints "RESULT name device samples_per_s ms_per_step params".
 * Usage: model_bench CONFIG DEVICE [steps] [warmup]
 *   CONFIG: mini (width 256, depth 8, 4 heads, patch 4, 32x32x1, batch 64)
 *           b4   (DiT-B/4, 128x128x3, 1000 classes, batch 64)
 *   DEVICE: cpu | cuda
 * Not a test: timings are never asserted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "diffkit/cuda.h"
#include "diffkit/diffkit.h"
#include "diffkit/ops.h"
#include "diffkit/rng.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void die(const char *what, const dk_error *e) {
    fprintf(stderr, "model_bench: %s: %s\n", what, e->msg);
    exit(1);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: model_bench mini|b4 cpu|cuda [steps] [warmup]\n");
        return 2;
    }
    const char *cfg = argv[1];
    dk_device dev = strcmp(argv[2], "cuda") == 0 ? DK_CUDA : DK_CPU;
    int steps = argc > 3 ? atoi(argv[3]) : 20, warm = argc > 4 ? atoi(argv[4]) : 3;
    int mini = strcmp(cfg, "mini") == 0;
    const char *kv_mini[] = {"input_size", "32", "patch_size", "4", "in_channels", "1", "hidden_size", "256",
                             "depth", "8", "num_heads", "4", "num_classes", "10", "learn_sigma", "false", NULL};
    const char *kv_b4[] = {"preset", "B/4", "input_size", "128", "in_channels", "3", "num_classes", "1000",
                           "learn_sigma", "false", NULL};
    const char *const *kv = mini ? kv_mini : kv_b4;
    int64_t B = 64, C = mini ? 1 : 3, H = mini ? 32 : 128, K = mini ? 10 : 1000;
    dk_error e;
    dk_host *host = dk_host_new(&e);
    const dk_plugin *p = host ? dk_host_find(host, DK_KIND_MODEL, "dit", &e) : NULL;
    if (!p) die("dit plugin", &e);
    dk_options *o = dk_options_new(p);
    for (; kv[0]; kv += 2)
        if (dk_options_set(o, kv[0], kv[1], &e)) die(kv[0], &e);
    dk_instance *m = NULL;
    if (dk_options_finish(o, &e) || dk_instance_create(p, o, DK_F32, 0, &m, &e)) die("create", &e);
    if (dk_params_to_device(m->params, dev, &e)) die("params_to_device", &e);
    dk_tensor *x = dk_tensor_new(DK_F32, 4, (int64_t[]){B, C, H, H}, &e), *t = dk_tensor_new(DK_F32, 1, &B, &e);
    dk_tensor *r = dk_tensor_new(DK_F32, 4, (int64_t[]){B, C, H, H}, &e);
    dk_rng rg;
    dk_rng_init(&rg, 1, 1);
    dk_rng_fill_normal_f32(&rg, dk_f32(x), x->numel);
    dk_rng_fill_normal_f32(&rg, dk_f32(t), t->numel);
    dk_rng_fill_normal_f32(&rg, dk_f32(r), r->numel);
    int64_t *labels = malloc(sizeof *labels * (size_t)B);
    for (int64_t i = 0; i < B; i++) labels[i] = i % K;
    dk_tensor *xd = dk_tensor_to_device(x, dev, &e), *td = dk_tensor_to_device(t, dev, &e);
    dk_tensor *rd = dk_tensor_to_device(r, dev, &e);
    if (!xd || !td || !rd) die("inputs", &e);
    dk_graph *g = dk_graph_new();
    double t0 = 0;
    for (int s = 0; s < warm + steps; s++) {
        if (s == warm) t0 = now();
        dk_graph_reset(g);
        dk_model_input in = {0};
        in.x = dk_graph_input(g, xd, 0);
        in.c_noise = dk_graph_input(g, td, 0);
        in.class_labels = labels;
        dk_var *out = dk_model_vt(m)->forward(m->self, g, &in);
        dk_var *loss = dk_sum_all(g, dk_mul(g, out, dk_graph_input(g, rd, 0)));
        dk_params_zero_grad(m->params);
        if (dk_graph_status(g, &e) || dk_graph_backward(g, loss, &e)) die("step", &e);
        dk_tensor *l = dk_tensor_to_device(loss->value, DK_CPU, &e); /* waits for the step */
        if (!l) die("loss", &e);
        dk_tensor_free(l);
    }
    double dt = (now() - t0) / steps;
    printf("RESULT %s %s %.2f %.3f %zu\n", cfg, dk_device_name(dev), (double)B / dt, 1e3 * dt,
           dk_params_numel(m->params, 1));
    dk_graph_free(g);
    dk_tensor *ts[] = {x, t, r, xd, td, rd};
    for (int i = 0; i < 6; i++) dk_tensor_free(ts[i]);
    free(labels);
    dk_instance_free(m);
    dk_options_free(o);
    dk_host_free(host);
    return 0;
}
