/* test_train_optim.c: AdamW and SGD against values computed by hand from the
 * torch.optim formulas (see the Python lines beside each constant), the
 * weight-decay mask and lr scale of parameter groups, frozen parameters,
 * gradient clipping and accumulation, k-diffusion LR schedules, and the
 * optimizer state round trip through safetensors; on a large tensor (the
 * parallel, chunked paths) AdamW, the gradient norm, clipping and the
 * finite check against plain serial loops, at 1, 2 and 3 threads. */
#include "dktest.h"
#include "diffkit/optim.h"
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* Store with four scalars: w (decayed), b (NO_DECAY), s (lr_scale 1/3), f (FROZEN),
 * and one 2x2 matrix "mat". */
static dk_params *make_store(dk_dtype dt) {
    dk_params *p = dk_params_new(dt);
    int64_t one[1] = {1}, two[2] = {2, 2};
    DK_CHECK(dk_params_add(p, "w", 1, one, DK_INIT_CONST, 1.0, 0, &dk_test_err) != NULL);
    DK_CHECK(dk_params_add(p, "b", 1, one, DK_INIT_CONST, 1.0, DK_PARAM_NO_DECAY, &dk_test_err) != NULL);
    DK_CHECK(dk_params_add(p, "s", 1, one, DK_INIT_CONST, -2.0, DK_PARAM_MAPPING, &dk_test_err) != NULL);
    DK_CHECK(dk_params_add(p, "f", 1, one, DK_INIT_CONST, 7.0, DK_PARAM_FROZEN, &dk_test_err) != NULL);
    DK_CHECK(dk_params_add(p, "mat", 2, two, DK_INIT_CONST, 0.5, 0, &dk_test_err) != NULL);
    DK_CHECK_OK(dk_params_finalize(p, 0, &dk_test_err));
    dk_params_set_lr_scale(dk_params_find(p, "s"), 1.0 / 3.0);
    return p;
}

static double val(dk_params *p, const char *name, size_t i) {
    return dk_tensor_get(dk_params_find(p, name)->var.value, i);
}

static void set_grad(dk_params *p, const char *name, size_t i, double g) {
    dk_tensor_set(dk_params_find(p, name)->var.grad, i, g);
}

static const double gw[3] = {0.5, -0.25, 1.0};
static const double gs[3] = {2.0, 2.0, -3.0};

/* Python reference (torch.optim.AdamW, single-tensor path):
 *   p *= 1 - lr*wd; m += (1-b1)*(g-m); v = v*b2 + (1-b2)*g*g
 *   p += -(lr/(1-b1**t)) * m / (sqrt(v)/sqrt(1-b2**t) + eps)
 * lr 0.1, wd 0.01, betas (0.9, 0.999), eps 1e-8. */
static const double adam_w[3] = {0.899000002, 0.8714672987058463, 0.804784672376384};
static const double adam_b[3] = {0.900000002, 0.8733662987078463, 0.8075551396770898}; /* wd 0 */
static const double adam_mat0[3] = {0.39950000199999997, 0.37246679870584637, 0.306283172876384}; /* p0 0.5 */
static const double adam_s[3] = {-2.0326666665, -2.0653224441111666, -2.066803859777444}; /* lr 0.1/3 */

static void test_adamw(dk_dtype dt, double rtol) {
    dk_params *p = make_store(dt);
    dk_optim_config c = dk_optim_config_default(DK_OPTIM_ADAMW);
    c.lr = 0.1;
    c.weight_decay = 0.01;
    dk_optim *o = dk_optim_new(p, &c, &dk_test_err);
    DK_CHECK(o != NULL);
    DK_CHECK(dk_optim_group_count(o) == 3); /* (wd, 1), (0, 1), (wd, 1/3) */
    dk_optim_group_info gi;
    DK_CHECK_OK(dk_optim_group(o, 0, &gi, &dk_test_err));
    DK_CHECK(gi.n_params == 2 && gi.numel == 5 && gi.weight_decay == 0.01); /* w and mat */
    for (int t = 0; t < 3; t++) {
        dk_params_zero_grad(p);
        set_grad(p, "w", 0, gw[t]);
        set_grad(p, "b", 0, gw[t]);
        set_grad(p, "s", 0, gs[t]);
        set_grad(p, "f", 0, 123.0);
        for (size_t i = 0; i < 4; i++) set_grad(p, "mat", i, i == 0 ? gw[t] : 0.0);
        DK_CHECK_OK(dk_optim_step(o, &dk_test_err));
        DK_CHECK_NEAR(val(p, "w", 0), adam_w[t], 0, rtol);
        DK_CHECK_NEAR(val(p, "b", 0), adam_b[t], 0, rtol);
        DK_CHECK_NEAR(val(p, "s", 0), adam_s[t], 0, rtol);
        DK_CHECK(val(p, "f", 0) == 7.0); /* frozen: untouched */
        DK_CHECK_NEAR(val(p, "mat", 0), adam_mat0[t], 0, rtol);
    }
    /* mat[1..3] had zero gradients: only weight decay acts: 0.5 * 0.999^3 */
    DK_CHECK_NEAR(val(p, "mat", 1), 0.5 * 0.999 * 0.999 * 0.999, 0, rtol);
    DK_CHECK(dk_optim_steps(o) == 3);
    dk_optim_free(o);
    dk_params_free(p);
}

/* torch.optim.SGD: d = g + wd*p; buf = d | buf*mom + (1-damp)*d; d = d + mom*buf (nesterov) | buf; p -= lr*d */
static void test_sgd(dk_dtype dt, double rtol) {
    static const double nest_w[3] = {0.886, 0.868066, 0.6309061460000001};   /* lr .1 wd .1 mom .9 */
    static const double nest_b[3] = {0.905, 0.912, 0.7058};                  /* wd 0 (NO_DECAY) */
    static const double damp_w[3] = {0.94, 0.8937999999999999, 0.7977509999999999}; /* dampening .5 */
    for (int variant = 0; variant < 2; variant++) {
        dk_params *p = make_store(dt);
        dk_optim_config c = dk_optim_config_default(DK_OPTIM_SGD);
        c.lr = 0.1;
        c.weight_decay = 0.1;
        c.momentum = 0.9;
        c.nesterov = variant == 0;
        c.dampening = variant == 0 ? 0.0 : 0.5;
        dk_optim *o = dk_optim_new(p, &c, &dk_test_err);
        DK_CHECK(o != NULL);
        for (int t = 0; t < 3; t++) {
            dk_params_zero_grad(p);
            set_grad(p, "w", 0, gw[t]);
            set_grad(p, "b", 0, gw[t]);
            DK_CHECK_OK(dk_optim_step(o, &dk_test_err));
            DK_CHECK_NEAR(val(p, "w", 0), variant == 0 ? nest_w[t] : damp_w[t], 0, rtol);
            if (variant == 0) DK_CHECK_NEAR(val(p, "b", 0), nest_b[t], 0, rtol);
            DK_CHECK(val(p, "f", 0) == 7.0);
        }
        dk_optim_free(o);
        dk_params_free(p);
    }
    /* nesterov without momentum is rejected */
    dk_params *p = make_store(dt);
    dk_optim_config c = dk_optim_config_default(DK_OPTIM_SGD);
    c.nesterov = 1;
    DK_CHECK(dk_optim_new(p, &c, &dk_test_err) == NULL && dk_test_err.code == DK_EINVAL);
    dk_params_free(p);
}

static void test_clip_accum(dk_dtype dt) {
    dk_params *p = make_store(dt);
    dk_params_zero_grad(p);
    set_grad(p, "w", 0, 3.0);
    set_grad(p, "mat", 3, 4.0);
    set_grad(p, "f", 0, 100.0); /* frozen: not part of the norm */
    DK_CHECK_NEAR(dk_grad_norm(p), 5.0, 0, 1e-15);
    double n = dk_grad_clip(p, 10.0); /* below the limit: unchanged */
    DK_CHECK_NEAR(n, 5.0, 0, 1e-15);
    DK_CHECK(dk_tensor_get(dk_params_find(p, "w")->var.grad, 0) == 3.0);
    n = dk_grad_clip(p, 1.0);
    DK_CHECK_NEAR(n, 5.0, 0, 1e-15);
    double coef = 1.0 / (5.0 + 1e-6);
    double tol = dt == DK_F32 ? 1e-6 : 1e-15;
    DK_CHECK_NEAR(dk_tensor_get(dk_params_find(p, "w")->var.grad, 0), 3.0 * coef, 0, tol);
    DK_CHECK_NEAR(dk_tensor_get(dk_params_find(p, "mat")->var.grad, 3), 4.0 * coef, 0, tol);
    DK_CHECK_NEAR(dk_grad_norm(p), 5.0 * coef, 0, tol);
    DK_CHECK(dk_tensor_get(dk_params_find(p, "f")->var.grad, 0) == 100.0);
    /* accumulation: 4 micro-batches summed, then divided by 4 */
    dk_params_zero_grad(p);
    for (int k = 0; k < 4; k++) {
        dk_tensor *g = dk_params_find(p, "w")->var.grad;
        dk_tensor_set(g, 0, dk_tensor_get(g, 0) + (double)(k + 1));
    }
    dk_grad_accum_finish(p, 4);
    DK_CHECK_NEAR(dk_tensor_get(dk_params_find(p, "w")->var.grad, 0), 2.5, 0, 0);
    /* NaN: clip leaves grads alone and returns NaN; step refuses, naming the parameter */
    set_grad(p, "b", 0, NAN);
    DK_CHECK(isnan(dk_grad_clip(p, 1.0)));
    const char *bad = NULL;
    DK_CHECK(!dk_grad_all_finite(p, &bad) && bad && strcmp(bad, "b") == 0);
    dk_optim_config c = dk_optim_config_default(DK_OPTIM_ADAMW);
    dk_optim *o = dk_optim_new(p, &c, &dk_test_err);
    double w0 = val(p, "w", 0);
    DK_CHECK_STATUS(dk_optim_step(o, &dk_test_err), DK_ENUMERIC);
    DK_CHECK(strstr(dk_test_err.msg, "'b'") != NULL);
    DK_CHECK(val(p, "w", 0) == w0 && dk_optim_steps(o) == 0);
    dk_optim_free(o);
    dk_params_free(p);
}

static void test_schedules(void) {
    dk_lr_sched s = dk_lr_sched_default(DK_LR_CONSTANT);
    DK_CHECK(dk_lr_sched_value(&s, 0.5, 0) == 0.5);
    s.warmup = 0.99; /* warm(s) = 1 - 0.99^(s+1) */
    DK_CHECK_NEAR(dk_lr_sched_value(&s, 1.0, 0), 0.01, 0, 1e-12);
    DK_CHECK_NEAR(dk_lr_sched_value(&s, 1.0, 9), 1.0 - pow(0.99, 10), 0, 1e-15);
    DK_CHECK_NEAR(dk_lr_sched_value(&s, 1.0, 99), 0.6339676587267709, 0, 1e-14); /* 1 - .99**100 */
    s = dk_lr_sched_default(DK_LR_INVERSE);
    s.inv_gamma = 10;
    s.power = 0.5;
    DK_CHECK(dk_lr_sched_value(&s, 2.0, 0) == 2.0);
    DK_CHECK_NEAR(dk_lr_sched_value(&s, 2.0, 30), 1.0, 0, 1e-15); /* 2 * (1 + 3)^-0.5 */
    s.min_lr = 0.5;
    DK_CHECK_NEAR(dk_lr_sched_value(&s, 2.0, 1000000), 0.5, 0, 0);
    s.warmup = 0.9;
    DK_CHECK_NEAR(dk_lr_sched_value(&s, 2.0, 0), 0.2, 0, 1e-15);
    s = dk_lr_sched_default(DK_LR_EXPONENTIAL);
    DK_CHECK_STATUS(dk_lr_sched_check(&s, &dk_test_err), DK_EINVAL); /* num_steps unset */
    s.num_steps = 100;
    s.decay = 0.5;
    DK_CHECK_OK(dk_lr_sched_check(&s, &dk_test_err));
    DK_CHECK_NEAR(dk_lr_sched_value(&s, 1.0, 100), 0.5, 0, 1e-14);
    DK_CHECK_NEAR(dk_lr_sched_value(&s, 1.0, 250), pow(0.5, 2.5), 0, 1e-14);
    s.warmup = 1.0;
    DK_CHECK_STATUS(dk_lr_sched_check(&s, &dk_test_err), DK_EINVAL);
    dk_lr_kind k;
    DK_CHECK(dk_lr_kind_from_name("inverse", &k) == 0 && k == DK_LR_INVERSE);
    DK_CHECK(dk_lr_kind_from_name("cosine", &k) != 0);

    /* an optimizer with a schedule uses warm(step) * lr * lr_scale */
    dk_params *p = make_store(DK_F64);
    dk_optim_config c = dk_optim_config_default(DK_OPTIM_SGD);
    c.lr = 1.0;
    dk_optim *o = dk_optim_new(p, &c, &dk_test_err);
    dk_lr_sched w = dk_lr_sched_default(DK_LR_CONSTANT);
    w.warmup = 0.5;
    DK_CHECK_OK(dk_optim_set_schedule(o, &w, &dk_test_err));
    DK_CHECK_NEAR(dk_optim_current_lr(o), 0.5, 0, 0);
    dk_params_zero_grad(p);
    set_grad(p, "w", 0, 1.0);
    set_grad(p, "s", 0, 1.0);
    DK_CHECK_OK(dk_optim_step(o, &dk_test_err)); /* lr 0.5 */
    DK_CHECK_OK(dk_optim_step(o, &dk_test_err)); /* lr 0.75 */
    DK_CHECK_NEAR(val(p, "w", 0), 1.0 - 0.5 - 0.75, 0, 1e-15);
    DK_CHECK_NEAR(val(p, "s", 0), -2.0 - (0.5 + 0.75) / 3.0, 0, 1e-15);
    DK_CHECK_NEAR(dk_optim_current_lr(o), 0.875, 0, 1e-15);
    dk_optim_free(o);
    dk_params_free(p);
}

/* Save after 2 steps, load into a fresh optimizer and store, step both: bit-identical. */
static void test_state_roundtrip(dk_dtype dt) {
    const char *dir = dk_test_tmpdir(dt == DK_F32 ? "train_optim_f32" : "train_optim_f64");
    char path[4200];
    snprintf(path, sizeof path, "%s/optim.safetensors", dir);
    dk_params *p = make_store(dt), *q = make_store(dt);
    dk_optim_config c = dk_optim_config_default(DK_OPTIM_ADAMW);
    c.lr = 0.01;
    dk_optim *o = dk_optim_new(p, &c, &dk_test_err);
    for (int t = 0; t < 2; t++) {
        dk_params_zero_grad(p);
        set_grad(p, "w", 0, gw[t]);
        set_grad(p, "mat", 2, gs[t]);
        DK_CHECK_OK(dk_optim_step(o, &dk_test_err));
    }
    dk_st_writer *w = dk_st_writer_new();
    DK_CHECK_OK(dk_optim_save(o, w, &dk_test_err));
    DK_CHECK_OK(dk_st_writer_save(w, path, &dk_test_err));
    dk_st_writer_free(w);
    dk_st_file *f = dk_st_open(path, &dk_test_err);
    DK_CHECK(f != NULL);
    if (!f) return;
    DK_CHECK(dk_st_has(f, "optim.m.w") && dk_st_has(f, "optim.v.mat") && !dk_st_has(f, "optim.m.f"));
    memcpy(dk_params_data(q), dk_params_data(p), dk_params_numel(p, 0) * dk_dtype_size(dt));
    dk_optim *o2 = dk_optim_new(q, &c, &dk_test_err);
    DK_CHECK_OK(dk_optim_load(o2, f, &dk_test_err));
    DK_CHECK(dk_optim_steps(o2) == 2);
    /* a SGD optimizer refuses AdamW state */
    dk_optim_config sc = dk_optim_config_default(DK_OPTIM_SGD);
    sc.momentum = 0.9;
    dk_optim *o3 = dk_optim_new(q, &sc, &dk_test_err);
    DK_CHECK_STATUS(dk_optim_load(o3, f, &dk_test_err), DK_EINVAL);
    dk_optim_free(o3);
    dk_st_close(f);
    for (dk_params *x = p; x; x = (x == p ? q : NULL)) {
        dk_params_zero_grad(x);
        set_grad(x, "w", 0, gw[2]);
        set_grad(x, "mat", 2, gs[2]);
    }
    DK_CHECK_OK(dk_optim_step(o, &dk_test_err));
    DK_CHECK_OK(dk_optim_step(o2, &dk_test_err));
    DK_CHECK(memcmp(dk_params_data(p), dk_params_data(q), dk_params_numel(p, 0) * dk_dtype_size(dt)) == 0);
    dk_optim_free(o);
    dk_optim_free(o2);
    dk_params_free(p);
    dk_params_free(q);
}

/* n = 200,003 elements: above the parallel threshold, 13 norm chunks with a
 * ragged last one. AdamW (2 steps, F32) against a serial loop of the same
 * formula; the norm against a serial long-double sum; every thread count
 * must give the same bits. */
static void test_large(void) {
    enum { N = 200003 };
    float *ref_p = malloc(N * sizeof *ref_p);
    double norms[3] = {0};
    long double s = 0;
    for (size_t i = 0; i < N; i++) {
        double g = sin(0.37 * (double)i) * (1 + (double)(i % 7));
        s += (long double)((float)g) * (float)g;
    }
    for (int th = 1; th <= 3; th++) {
        omp_set_num_threads(th);
        dk_params *p = dk_params_new(DK_F32);
        int64_t shape[1] = {N};
        DK_CHECK(dk_params_add(p, "big", 1, shape, DK_INIT_CONST, 0.25, 0, &dk_test_err) != NULL);
        DK_CHECK_OK(dk_params_finalize(p, 0, &dk_test_err));
        dk_optim_config c = dk_optim_config_default(DK_OPTIM_ADAMW);
        c.lr = 0.01;
        c.weight_decay = 0.1;
        c.beta2 = 0.95;
        dk_optim *o = dk_optim_new(p, &c, &dk_test_err);
        DK_CHECK(o != NULL);
        dk_tensor *g = dk_params_find(p, "big")->var.grad, *v = dk_params_find(p, "big")->var.value;
        float *gd = g->data, *pd = v->data;
        float *m = calloc(N, sizeof *m), *vv = calloc(N, sizeof *vv), *pr = malloc(N * sizeof *pr);
        for (size_t i = 0; i < N; i++) pr[i] = 0.25f;
        for (int t = 1; t <= 2; t++) {
            for (size_t i = 0; i < N; i++) gd[i] = (float)(sin(0.37 * (double)i) * (1 + (double)(i % 7))) * (float)t;
            if (t == 1) {
                norms[th - 1] = dk_grad_norm(p);
                DK_CHECK_NEAR(norms[th - 1], sqrt((double)s), 0, 1e-13);
                DK_CHECK(dk_grad_all_finite(p, NULL));
            }
            DK_CHECK_OK(dk_optim_step(o, &dk_test_err));
            double bc1 = 1 - pow(0.9, t), bc2 = 1 - pow(0.95, t);
            for (size_t i = 0; i < N; i++) { /* torch.optim.AdamW, as in optim.c */
                float gi = gd[i];
                float pi = pr[i] * (float)(1.0 - 0.01 * 0.1);
                m[i] = m[i] + (float)(1.0 - 0.9) * (gi - m[i]);
                vv[i] = vv[i] * 0.95f + (float)(1.0 - 0.95) * gi * gi;
                float denom = sqrtf(vv[i]) / (float)sqrt(bc2) + (float)1e-8;
                pr[i] = pi + (float)(-(0.01 / bc1)) * m[i] / denom;
            }
        }
        double maxd = 0;
        for (size_t i = 0; i < N; i++) maxd = fmax(maxd, fabs((double)pd[i] - pr[i]));
        DK_CHECK(maxd <= 1e-6);
        if (th == 1) memcpy(ref_p, pd, N * sizeof *pd);
        else DK_CHECK(memcmp(ref_p, pd, N * sizeof *pd) == 0 && norms[th - 1] == norms[0]);
        gd[N - 5] = NAN; /* the finite check sees one bad element in the last chunk */
        DK_CHECK(!dk_grad_all_finite(p, NULL));
        free(m);
        free(vv);
        free(pr);
        dk_optim_free(o);
        dk_params_free(p);
    }
    free(ref_p);
}

int main(void) {
    test_adamw(DK_F64, 1e-14);
    test_adamw(DK_F32, 2e-6);
    test_sgd(DK_F64, 1e-14);
    test_sgd(DK_F32, 2e-6);
    test_clip_accum(DK_F64);
    test_clip_accum(DK_F32);
    test_schedules();
    test_state_roundtrip(DK_F64);
    test_state_roundtrip(DK_F32);
    test_large();
    return dk_test_finish();
}
