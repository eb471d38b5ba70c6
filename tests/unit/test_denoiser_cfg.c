/* test_denoiser_cfg.c: classifier-free guidance in the host's denoise callback
 * (core/src/denoiser.c): D = D_u + w (D_c - D_u) (Ho & Salimans 2022, in
 * k-diffusion's convention), the conditional and unconditional halves run as
 * one batch of 2B.
 *
 * Model: a tiny class-conditional DiT (3 classes + the null label, 4x4x1
 * images, patch 2, width 8, one block) in F64 with every parameter set to
 * deterministic pseudo-random values (the adaLN-Zero init would make the
 * output ignore the label), behind the `edm` preconditioner, so c_skip,
 * c_out and c_in all matter. Three samples with different sigmas and labels.
 *
 * Checks:
 *  - the label changes the output (else the rest could not fail);
 *  - D_c of the batch equals each sample's conditional pass alone (B = 1):
 *    no mixing between batch rows;
 *  - labels = NULL equals labels = num_classes (the null label) for D_u;
 *  - w = 1 is the plain conditional pass; w = 1 + 1e-7 (the batched path)
 *    is within 1e-6 of it, so the batched conditional half is D_c;
 *  - w = 0 equals the unconditional pass, w = 3 and w = -0.5 equal the
 *    formula from the two separate passes, at 1e-12;
 *  - the model runs once per denoise call (dk_denoiser_calls), guided or not;
 *  - bad input: NaN scale, guidance or labels on an unconditional model, a
 *    label out of range, a label count that differs from the batch, guidance
 *    on a model built without a null-label row. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "dktest.h"
#include "diffkit/denoiser.h"

#define B 3
#define P 16 /* 1 x 4 x 4 */

static dk_host *host;

static dk_instance *make(dk_plugin_kind kind, const char *name, const char *const *kv) {
    const dk_plugin *p = dk_host_find(host, kind, name, &dk_test_err);
    dk_instance *inst = NULL;
    if (!p) return NULL;
    dk_options *o = dk_options_new(p);
    for (; kv && *kv; kv += 2) DK_CHECK_OK(dk_options_set(o, kv[0], kv[1], &dk_test_err));
    DK_CHECK_OK(dk_options_finish(o, &dk_test_err));
    DK_CHECK_OK(dk_instance_create(p, o, DK_F64, 0, &inst, &dk_test_err));
    dk_options_free(o);
    return inst;
}

static dk_instance *tiny_dit(const char *num_classes, const char *dropout) {
    const char *kv[] = {"input_size", "4", "patch_size", "2", "in_channels", "1", "hidden_size", "8", "depth", "1",
                        "num_heads", "2", "num_classes", num_classes, "learn_sigma", "false",
                        "class_dropout_prob", dropout, NULL};
    dk_instance *m = make(DK_KIND_MODEL, "dit", kv);
    if (!m) return NULL;
    /* every parameter pseudo-random in about [-0.5, 0.5] (sin of a scrambled index) */
    size_t n = dk_params_numel(m->params, 0), i;
    double *v = dk_params_data(m->params);
    DK_CHECK(dk_params_dtype(m->params) == DK_F64);
    for (i = 0; i < n; i++) v[i] = 0.5 * sin(12.9898 * (double)i + 78.233 * (double)(i % 7));
    return m;
}

/* One denoise call; returns the number of model passes it made. */
static uint64_t call(dk_denoiser *dn, const dk_tensor *x, const double *sigma, dk_tensor *out) {
    uint64_t before = dk_denoiser_calls(dn);
    DK_CHECK_OK(dk_denoiser_denoise(dn, x, sigma, out, NULL, &dk_test_err));
    return dk_denoiser_calls(dn) - before;
}

static double max_diff(const dk_tensor *a, const dk_tensor *b) {
    double m = 0;
    for (size_t i = 0; i < a->numel; i++) m = fmax(m, fabs(dk_f64(a)[i] - dk_f64(b)[i]));
    return m;
}

int main(void) {
    if (!(host = dk_host_new(&dk_test_err))) return 1;
    const char *edm_kv[] = {"sigma_data", "0.5", NULL};
    dk_instance *m = tiny_dit("3", "0.1"), *pc = make(DK_KIND_PRECOND, "edm", edm_kv);
    DK_CHECK(m && pc);
    if (!m || !pc) return dk_test_finish();

    int64_t shape[4] = {B, 1, 4, 4}, one_shape[4] = {1, 1, 4, 4};
    dk_tensor *x = dk_tensor_new(DK_F64, 4, shape, &dk_test_err);
    dk_tensor *dc = dk_tensor_new(DK_F64, 4, shape, &dk_test_err), *du = dk_tensor_new(DK_F64, 4, shape, &dk_test_err);
    dk_tensor *got = dk_tensor_new(DK_F64, 4, shape, &dk_test_err);
    dk_tensor *x1 = dk_tensor_new(DK_F64, 4, one_shape, &dk_test_err), *d1 = dk_tensor_new(DK_F64, 4, one_shape, &dk_test_err);
    for (size_t i = 0; i < x->numel; i++) dk_f64(x)[i] = 1.7 * sin(0.37 * (double)i + 0.5);
    const double sigma[B] = {0.3, 2.0, 25.0};
    const int64_t labels[B] = {0, 2, 1}, nulls[B] = {3, 3, 3};

    dk_denoiser *dn = dk_denoiser_new(m, pc, &dk_test_err);
    DK_CHECK(dn != NULL);
    if (!dn) return dk_test_finish();

    /* the two plain passes */
    DK_CHECK_OK(dk_denoiser_set_labels(dn, labels, B, &dk_test_err));
    DK_CHECK(call(dn, x, sigma, dc) == 1);
    DK_CHECK_OK(dk_denoiser_set_labels(dn, NULL, 0, &dk_test_err));
    DK_CHECK(call(dn, x, sigma, du) == 1);
    DK_CHECK(max_diff(dc, du) > 1e-3); /* the label matters */
    DK_CHECK_OK(dk_denoiser_set_labels(dn, nulls, B, &dk_test_err));
    DK_CHECK(call(dn, x, sigma, got) == 1);
    DK_CHECK_NEAR(max_diff(got, du), 0, 1e-14, 0); /* NULL labels = the null label */

    /* no mixing between rows: each sample alone gives its row of D_c */
    for (int b = 0; b < B; b++) {
        memcpy(dk_f64(x1), dk_f64(x) + (size_t)b * P, P * sizeof(double));
        DK_CHECK_OK(dk_denoiser_set_labels(dn, &labels[b], 1, &dk_test_err));
        DK_CHECK(call(dn, x1, &sigma[b], d1) == 1);
        for (int i = 0; i < P; i++) DK_CHECK_NEAR(dk_f64(d1)[i], dk_f64(dc)[(size_t)b * P + i], 1e-12, 1e-12);
    }

    /* guidance */
    DK_CHECK_OK(dk_denoiser_set_labels(dn, labels, B, &dk_test_err));
    DK_CHECK_OK(dk_denoiser_set_cfg(dn, 1.0, &dk_test_err));
    DK_CHECK(call(dn, x, sigma, got) == 1);
    DK_CHECK_NEAR(max_diff(got, dc), 0, 1e-14, 0);
    DK_CHECK_OK(dk_denoiser_set_cfg(dn, 1.0 + 1e-7, &dk_test_err));
    DK_CHECK(call(dn, x, sigma, got) == 1);
    DK_CHECK_NEAR(max_diff(got, dc), 0, 1e-6, 0);
    const double ws[] = {0.0, 3.0, -0.5, 7.5};
    for (size_t k = 0; k < sizeof ws / sizeof ws[0]; k++) {
        double w = ws[k];
        DK_CHECK_OK(dk_denoiser_set_cfg(dn, w, &dk_test_err));
        DK_CHECK(call(dn, x, sigma, got) == 1); /* cond + uncond in one batch of 2B */
        for (size_t i = 0; i < x->numel; i++) {
            double want = dk_f64(du)[i] + w * (dk_f64(dc)[i] - dk_f64(du)[i]);
            DK_CHECK_NEAR(dk_f64(got)[i], want, 1e-12, 1e-12);
        }
    }
    /* guidance with no labels: both halves unconditional, so D = D_u */
    DK_CHECK_OK(dk_denoiser_set_labels(dn, NULL, 0, &dk_test_err));
    DK_CHECK_OK(dk_denoiser_set_cfg(dn, 3.0, &dk_test_err));
    DK_CHECK(call(dn, x, sigma, got) == 1);
    DK_CHECK_NEAR(max_diff(got, du), 0, 1e-12, 0);
    DK_CHECK(dk_denoiser_calls(dn) == 4 + B + 6);

    /* bad input */
    DK_CHECK_STATUS(dk_denoiser_set_cfg(dn, NAN, &dk_test_err), DK_EINVAL);
    DK_CHECK(strstr(dk_test_err.msg, "NaN") != NULL);
    const int64_t bad[B] = {0, 4, 1};
    DK_CHECK_STATUS(dk_denoiser_set_labels(dn, bad, B, &dk_test_err), DK_EINVAL);
    DK_CHECK(strstr(dk_test_err.msg, "class label 4 at 1 is outside [0, 3]") != NULL);
    const int64_t neg[1] = {-1};
    DK_CHECK_STATUS(dk_denoiser_set_labels(dn, neg, 1, &dk_test_err), DK_EINVAL);
    DK_CHECK_OK(dk_denoiser_set_labels(dn, labels, 2, &dk_test_err));
    DK_CHECK_STATUS(dk_denoiser_denoise(dn, x, sigma, got, NULL, &dk_test_err), DK_ESHAPE);
    DK_CHECK(strstr(dk_test_err.msg, "2 class labels set for a batch of 3") != NULL);
    dk_denoiser_free(dn);

    /* an unconditional model refuses labels and guidance */
    dk_instance *mu = tiny_dit("0", "0.1");
    if (mu) {
        dk_denoiser *du0 = dk_denoiser_new(mu, pc, &dk_test_err);
        DK_CHECK_STATUS(dk_denoiser_set_cfg(du0, 2.0, &dk_test_err), DK_EINVAL);
        DK_CHECK(strstr(dk_test_err.msg, "needs a class-conditional model") != NULL);
        DK_CHECK_STATUS(dk_denoiser_set_labels(du0, labels, B, &dk_test_err), DK_EINVAL);
        DK_CHECK(strstr(dk_test_err.msg, "unconditional") != NULL);
        DK_CHECK_OK(dk_denoiser_set_cfg(du0, 1.0, &dk_test_err));
        DK_CHECK(call(du0, x, sigma, got) == 1);
        dk_denoiser_free(du0);
        dk_instance_free(mu);
    }

    /* guidance on a model without a null-label row (class_dropout_prob 0): the
     * model's error comes back through the denoiser, naming both */
    dk_instance *mn = tiny_dit("3", "0");
    if (mn) {
        dk_denoiser *dn0 = dk_denoiser_new(mn, pc, &dk_test_err);
        DK_CHECK_OK(dk_denoiser_set_labels(dn0, labels, B, &dk_test_err));
        DK_CHECK_OK(dk_denoiser_set_cfg(dn0, 3.0, &dk_test_err));
        DK_CHECK(dk_denoiser_denoise(dn0, x, sigma, got, NULL, &dk_test_err) != DK_OK);
        DK_CHECK(strstr(dk_test_err.msg, "denoiser: model 'dit' forward") != NULL);
        DK_CHECK(strstr(dk_test_err.msg, "no null label") != NULL);
        dk_denoiser_free(dn0);
        dk_instance_free(mn);
    }

    dk_tensor_free(x);
    dk_tensor_free(dc);
    dk_tensor_free(du);
    dk_tensor_free(got);
    dk_tensor_free(x1);
    dk_tensor_free(d1);
    dk_instance_free(m);
    dk_instance_free(pc);
    dk_host_free(host);
    return dk_test_finish();
}
