/* test_noise_brownian.c: the seeded Brownian-tree noise source (noise.c):
 * determinism, consistency across refinements (increments over a fine grid
 * sum to the coarse increment), unit variance of the normalised draws and
 * independence of disjoint increments (statistically), batch independence
 * (a sample's noise depends on its seed only), query-order independence,
 * and the range / zero-length errors. */
#include "dktest.h"
#include <stdlib.h>
#include <string.h>

/* W(t1) - W(t0) for every element: the normalised draw times sqrt(|t1 - t0|). */
static void increment(dk_noise *n, double t0, double t1, dk_tensor *out, double *inc) {
    DK_CHECK_OK(dk_noise_draw(n, t0, t1, out, &dk_test_err));
    double s = sqrt(fabs(t1 - t0));
    for (size_t i = 0; i < out->numel; i++) inc[i] = dk_f64(out)[i] * s;
}

static void test_determinism_and_refinement(void) {
    uint64_t seeds[3] = {1, 2, 3};
    int64_t shape[4] = {3, 2, 4, 4};
    dk_tensor *out = dk_tensor_new(DK_F64, 4, shape, &dk_test_err);
    dk_noise *a = dk_noise_brownian(seeds, 3, 0.01, 10.0, &dk_test_err);
    dk_noise *b = dk_noise_brownian(seeds, 3, 0.01, 10.0, &dk_test_err);
    DK_CHECK(a && b && out);
    if (!a || !b || !out) return;
    DK_CHECK(strcmp(a->kind, "brownian") == 0);
    size_t n = out->numel;
    double *coarse = malloc(n * sizeof(double)), *fine = calloc(n, sizeof(double)), *tmp = malloc(n * sizeof(double));
    /* the same seeds give the same draws */
    increment(a, 10.0, 0.01, out, coarse);
    increment(b, 10.0, 0.01, out, tmp);
    double maxd = 0;
    for (size_t i = 0; i < n; i++) maxd = fmax(maxd, fabs(coarse[i] - tmp[i]));
    DK_CHECK(maxd == 0.0);
    /* a Karras-like grid of 40 steps from 10 to 0.01, then a finer one of 97 */
    for (int grid = 40; grid <= 97; grid += 57) {
        for (size_t i = 0; i < n; i++) fine[i] = 0.0;
        double prev = 10.0;
        for (int k = 1; k <= grid; k++) {
            double r = (double)k / grid;
            double sg = k == grid ? 0.01 : pow(pow(10.0, 1 / 7.0) + r * (pow(0.01, 1 / 7.0) - pow(10.0, 1 / 7.0)), 7.0);
            increment(a, prev, sg, out, tmp);
            for (size_t i = 0; i < n; i++) fine[i] += tmp[i];
            prev = sg;
        }
        maxd = 0;
        for (size_t i = 0; i < n; i++) maxd = fmax(maxd, fabs(fine[i] - coarse[i]));
        DK_CHECK(maxd < 1e-12);
    }
    /* the direction of a draw flips its sign */
    increment(a, 0.5, 2.0, out, tmp);
    increment(a, 2.0, 0.5, out, fine);
    maxd = 0;
    for (size_t i = 0; i < n; i++) maxd = fmax(maxd, fabs(tmp[i] + fine[i]));
    DK_CHECK(maxd < 1e-14);
    DK_CHECK(a->draws == 1 + 40 + 97 + 2);
    free(coarse);
    free(fine);
    free(tmp);
    dk_noise_free(a);
    dk_noise_free(b);
    dk_tensor_free(out);
}

static void test_statistics(void) {
    /* one sample of 20000 values: each value is its own Brownian path */
    uint64_t seed = 12345;
    int64_t shape[2] = {1, 20000};
    dk_tensor *o1 = dk_tensor_new(DK_F64, 2, shape, &dk_test_err);
    dk_tensor *o2 = dk_tensor_new(DK_F64, 2, shape, &dk_test_err);
    dk_noise *n = dk_noise_brownian(&seed, 1, 0.002, 80.0, &dk_test_err);
    if (!n || !o1 || !o2) {
        DK_CHECK(0);
        return;
    }
    /* several interval lengths, including ones far below the root width */
    const double iv[][2] = {{80.0, 0.002}, {3.1, 2.9}, {0.0123, 0.0101}, {40.0, 39.999}};
    for (int c = 0; c < 4; c++) {
        DK_CHECK_OK(dk_noise_draw(n, iv[c][0], iv[c][1], o1, &dk_test_err));
        double m = 0, v = 0;
        for (size_t i = 0; i < o1->numel; i++) m += dk_f64(o1)[i];
        m /= (double)o1->numel;
        for (size_t i = 0; i < o1->numel; i++) v += (dk_f64(o1)[i] - m) * (dk_f64(o1)[i] - m);
        v /= (double)(o1->numel - 1);
        /* N = 20000: sd(mean) = 0.007, sd(var) = 0.01; allow 5 sd */
        DK_CHECK(fabs(m) < 0.035);
        DK_CHECK(fabs(v - 1.0) < 0.05);
    }
    /* disjoint increments are uncorrelated; W(t) has variance t */
    DK_CHECK_OK(dk_noise_draw(n, 2.0, 1.0, o1, &dk_test_err));
    DK_CHECK_OK(dk_noise_draw(n, 1.0, 0.5, o2, &dk_test_err));
    double cov = 0;
    for (size_t i = 0; i < o1->numel; i++) cov += dk_f64(o1)[i] * dk_f64(o2)[i];
    cov /= (double)o1->numel;
    DK_CHECK(fabs(cov) < 0.035);
    dk_noise_free(n);
    dk_tensor_free(o1);
    dk_tensor_free(o2);
}

static void test_batch_independence_and_order(void) {
    uint64_t two[2] = {7, 11}, one[1] = {11};
    int64_t s2[4] = {2, 1, 3, 3}, s1[4] = {1, 1, 3, 3};
    dk_tensor *o2 = dk_tensor_new(DK_F64, 4, s2, &dk_test_err);
    dk_tensor *o1 = dk_tensor_new(DK_F64, 4, s1, &dk_test_err);
    dk_noise *n2 = dk_noise_brownian(two, 2, 0.01, 5.0, &dk_test_err);
    dk_noise *n1 = dk_noise_brownian(one, 1, 0.01, 5.0, &dk_test_err);
    if (!o1 || !o2 || !n1 || !n2) {
        DK_CHECK(0);
        return;
    }
    /* the sample with seed 11 draws the same in a batch of 2 and alone,
     * even when the queries come in another order (the cache must not matter) */
    const double q[][2] = {{5.0, 3.0}, {3.0, 1.0}, {1.0, 0.2}, {0.2, 0.01}};
    double alone[4][9];
    for (int k = 3; k >= 0; k--) {
        DK_CHECK_OK(dk_noise_draw(n1, q[k][0], q[k][1], o1, &dk_test_err));
        memcpy(alone[k], o1->data, 9 * sizeof(double));
    }
    for (int k = 0; k < 4; k++) {
        DK_CHECK_OK(dk_noise_draw(n2, q[k][0], q[k][1], o2, &dk_test_err));
        double d = 0, diff01 = 0;
        for (int i = 0; i < 9; i++) {
            d = fmax(d, fabs(dk_f64(o2)[9 + i] - alone[k][i]));
            diff01 += fabs(dk_f64(o2)[i] - dk_f64(o2)[9 + i]);
        }
        DK_CHECK(d == 0.0);
        DK_CHECK(diff01 > 0.0); /* different seeds, different paths */
    }
    /* F32 output gets the same values rounded */
    dk_tensor *f = dk_tensor_new(DK_F32, 4, s1, &dk_test_err);
    DK_CHECK_OK(dk_noise_draw(n1, 3.0, 1.0, f, &dk_test_err));
    for (int i = 0; i < 9; i++) DK_CHECK(dk_f32(f)[i] == (float)alone[1][i]);
    dk_tensor_free(f);
    dk_noise_free(n1);
    dk_noise_free(n2);
    dk_tensor_free(o1);
    dk_tensor_free(o2);
}

static void test_errors(void) {
    uint64_t seed = 3;
    int64_t s[2] = {1, 4}, bad[2] = {2, 4};
    dk_tensor *o = dk_tensor_new(DK_F64, 2, s, &dk_test_err);
    dk_tensor *ob = dk_tensor_new(DK_F64, 2, bad, &dk_test_err);
    dk_noise *n = dk_noise_brownian(&seed, 1, 0.1, 1.0, &dk_test_err);
    DK_CHECK(n != NULL);
    if (!n || !o || !ob) return;
    dk_error e;
    DK_CHECK(dk_noise_draw(n, 2.0, 0.5, o, &e) == DK_EINVAL);
    DK_CHECK(strstr(e.msg, "outside") != NULL);
    DK_CHECK(dk_noise_draw(n, 0.5, 0.5, o, &e) == DK_EINVAL);
    DK_CHECK(dk_noise_draw(n, 1.0, 0.5, ob, &e) == DK_ESHAPE);
    /* down to sigma 0 is fine (the tree is rooted at 0) */
    DK_CHECK_OK(dk_noise_draw(n, 0.5, 0.0, o, &dk_test_err));
    DK_CHECK(n->draws == 1);
    DK_CHECK(dk_noise_brownian(&seed, 1, 1.0, 0.5, &e) == NULL && e.code == DK_EINVAL);
    DK_CHECK(dk_noise_brownian(&seed, 0, 0.1, 0.5, &e) == NULL && e.code == DK_EINVAL);
    dk_noise_free(n);
    dk_tensor_free(o);
    dk_tensor_free(ob);
}

int main(void) {
    test_determinism_and_refinement();
    test_statistics();
    test_batch_independence_and_order();
    test_errors();
    return dk_test_finish();
}
