/* test_samplers_gmm.c: the exact Gaussian-mixture denoiser (core gmm.c)
 * against closed forms: one component (D = mu + s^2/(s^2 + sigma^2)(x - mu)),
 * two symmetric components at the midpoint, sigma = 0, far-away points
 * (log-sum-exp stability), per-sample sigmas, and bad parameters. */
#include "dktest.h"
#include "diffkit/gmm.h"

static void test_single_component(void) {
    double mu[3] = {1.0, -2.0, 0.5}, s = 0.7, w = 1.0;
    dk_gmm *g = dk_gmm_new(1, 3, mu, &s, &w, &dk_test_err);
    DK_CHECK(g != NULL);
    if (!g) return;
    double x[6] = {3.0, 0.0, -1.0, 100.0, -50.0, 7.0}, sg[2] = {1.3, 0.0}, out[6];
    DK_CHECK_OK(dk_gmm_denoise(g, 2, x, sg, out, &dk_test_err));
    for (int j = 0; j < 3; j++) {
        double c = s * s / (s * s + sg[0] * sg[0]);
        DK_CHECK_NEAR(out[j], mu[j] + c * (x[j] - mu[j]), 1e-15, 1e-14);
        DK_CHECK_NEAR(out[3 + j], x[3 + j], 0, 1e-15); /* sigma = 0: D(x) = x */
    }
    /* in place */
    DK_CHECK_OK(dk_gmm_denoise(g, 2, x, sg, x, &dk_test_err));
    DK_CHECK(x[0] == out[0] && x[5] == out[5]);
    dk_gmm_free(g);
}

static void test_two_components(void) {
    /* +-m with equal weights and stds: at x = 0 the posterior is 50/50, D = 0;
     * far on the + side D -> the + component's posterior mean */
    double mu[4] = {2.0, 2.0, -2.0, -2.0}, s[2] = {0.5, 0.5}, w[2] = {0.3, 0.3};
    dk_gmm *g = dk_gmm_new(2, 2, mu, s, w, &dk_test_err);
    if (!g) {
        DK_CHECK(0);
        return;
    }
    double x[6] = {0.0, 0.0, 1e6, 1e6, 3.0, -1.0}, sg[3] = {1.0, 2.0, 0.8}, out[6];
    DK_CHECK_OK(dk_gmm_denoise(g, 3, x, sg, out, &dk_test_err));
    DK_CHECK_NEAR(out[0], 0.0, 1e-15, 0);
    DK_CHECK_NEAR(out[1], 0.0, 1e-15, 0);
    double c = 0.25 / (0.25 + 4.0);
    DK_CHECK_NEAR(out[2], 2.0 + c * (1e6 - 2.0), 0, 1e-14);
    DK_CHECK(isfinite(out[2]) && isfinite(out[3]));
    /* the general formula by hand for sample 2 */
    double v = 0.25 + 0.64, lp[2], r0;
    for (int k = 0; k < 2; k++) {
        double d2 = (3.0 - mu[2 * k]) * (3.0 - mu[2 * k]) + (-1.0 - mu[2 * k + 1]) * (-1.0 - mu[2 * k + 1]);
        lp[k] = log(0.3) - log(2 * M_PI * v) - d2 / (2 * v);
    }
    r0 = 1.0 / (1.0 + exp(lp[1] - lp[0]));
    for (int j = 0; j < 2; j++) {
        double want = r0 * (mu[j] + 0.25 / v * (x[4 + j] - mu[j])) + (1 - r0) * (mu[2 + j] + 0.25 / v * (x[4 + j] - mu[2 + j]));
        DK_CHECK_NEAR(out[4 + j], want, 1e-14, 1e-13);
    }
    dk_gmm_free(g);
}

static void test_bad(void) {
    double mu[2] = {0, 0}, s0 = 0.0, s1 = 1.0, wz = 0.0, w1 = 1.0;
    dk_error e;
    DK_CHECK(dk_gmm_new(1, 2, mu, &s0, &w1, &e) == NULL && e.code == DK_EINVAL);
    DK_CHECK(dk_gmm_new(1, 2, mu, &s1, &wz, &e) == NULL && e.code == DK_EINVAL);
    dk_gmm *g = dk_gmm_new(1, 2, mu, &s1, &w1, &dk_test_err);
    double x[2] = {1, 1}, sg = -1.0, out[2];
    DK_CHECK(g && dk_gmm_denoise(g, 1, x, &sg, out, &e) == DK_EINVAL);
    dk_gmm_free(g);
}

int main(void) {
    test_single_component();
    test_two_components();
    test_bad();
    return dk_test_finish();
}
