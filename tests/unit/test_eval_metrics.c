/* test_eval_metrics.c: FID, KID, feature statistics and the Jacobi
 * eigensolver against values computed independently (closed forms, hand
 * calculations, naive loops). */
#include "dktest.h"
#include "diffkit/metrics.h"
#include "diffkit/rng.h"
#include <stdlib.h>
#include <string.h>

static dk_tensor *mat(int64_t n, int64_t d, const double *v) {
    dk_tensor *t = dk_tensor_new(DK_F64, 2, (int64_t[]){n, d}, NULL);
    if (v) memcpy(t->data, v, sizeof(double) * (size_t)(n * d));
    return t;
}

static dk_tensor *randn(int64_t n, int64_t d, uint64_t seed, double shift, double scale) {
    dk_tensor *t = mat(n, d, NULL);
    dk_rng r;
    dk_rng_init(&r, seed, 7);
    dk_rng_fill_normal_f64(&r, dk_f64(t), t->numel);
    for (size_t i = 0; i < t->numel; i++) dk_f64(t)[i] = dk_f64(t)[i] * scale + shift;
    return t;
}

/* both paths of dk_sym_eig: Jacobi (n <= DK_SYM_EIG_JACOBI_MAX) and LAPACK
 * dsyevd (larger n): A v = v diag(w), V orthogonal, w ascending, sum w = tr A;
 * eigenvalues only (v = NULL) equal those with vectors */
static void check_eig_n(int N, uint64_t seed) {
    double *a = malloc(sizeof(double) * (size_t)(N * N)), *v = malloc(sizeof(double) * (size_t)(N * N));
    double *w = malloc(sizeof(double) * (size_t)N), *w2 = malloc(sizeof(double) * (size_t)N);
    dk_rng r;
    dk_rng_init(&r, seed, 1);
    for (int i = 0; i < N; i++)
        for (int j = 0; j <= i; j++) a[i * N + j] = a[j * N + i] = dk_rng_normal(&r);
    DK_CHECK_OK(dk_sym_eig(a, N, w, v, &dk_test_err));
    DK_CHECK_OK(dk_sym_eig(a, N, w2, NULL, &dk_test_err));
    double worst = 0, orth = 0, wd = 0, tr = 0, sw = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            double av = 0, vv = 0;
            for (int k = 0; k < N; k++) {
                av += a[i * N + k] * v[k * N + j];
                vv += v[k * N + i] * v[k * N + j];
            }
            worst = fmax(worst, fabs(av - v[i * N + j] * w[j]));
            orth = fmax(orth, fabs(vv - (i == j)));
        }
    for (int i = 0; i < N; i++) tr += a[i * N + i], sw += w[i], wd = fmax(wd, fabs(w[i] - w2[i]));
    printf("eig n = %d (%s): |Av - vw| %.2g, |V'V - I| %.2g, |w - w(no vectors)| %.2g\n", N,
           N > DK_SYM_EIG_JACOBI_MAX ? "LAPACK" : "Jacobi", worst, orth, wd);
    DK_CHECK(worst < 1e-12 * sqrt((double)N));
    DK_CHECK(orth < 1e-12 * sqrt((double)N));
    DK_CHECK(wd < 1e-12 * sqrt((double)N));
    for (int i = 1; i < N; i++)
        if (!(w[i - 1] <= w[i])) { DK_CHECK(w[i - 1] <= w[i]); break; }
    DK_CHECK_NEAR(sw, tr, 1e-10, 1e-12);
    free(a), free(v), free(w), free(w2);
}

static void test_eig(void) {
    check_eig_n(DK_SYM_EIG_JACOBI_MAX + 44, 5); /* the LAPACK path */
    check_eig_n(DK_SYM_EIG_JACOBI_MAX, 6);      /* the largest Jacobi */
    enum { N = 24 };
    double a[N * N], w[N], v[N * N];
    dk_rng r;
    dk_rng_init(&r, 3, 1);
    for (int i = 0; i < N; i++)
        for (int j = 0; j <= i; j++) a[i * N + j] = a[j * N + i] = dk_rng_normal(&r);
    DK_CHECK_OK(dk_sym_eig(a, N, w, v, &dk_test_err));
    double worst = 0, orth = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            double av = 0, vv = 0;
            for (int k = 0; k < N; k++) {
                av += a[i * N + k] * v[k * N + j];
                vv += v[k * N + i] * v[k * N + j];
            }
            worst = fmax(worst, fabs(av - v[i * N + j] * w[j]));
            orth = fmax(orth, fabs(vv - (i == j)));
        }
    DK_CHECK(worst < 1e-12);
    DK_CHECK(orth < 1e-12);
    for (int i = 1; i < N; i++) DK_CHECK(w[i - 1] <= w[i]);
    double tr = 0, sw = 0;
    for (int i = 0; i < N; i++) tr += a[i * N + i], sw += w[i];
    DK_CHECK_NEAR(sw, tr, 1e-12, 1e-12);
    /* a diagonal matrix: eigenvalues are its entries, sorted */
    double d3[9] = {3, 0, 0, 0, -1, 0, 0, 0, 2}, w3[3];
    DK_CHECK_OK(dk_sym_eig(d3, 3, w3, NULL, &dk_test_err));
    DK_CHECK_NEAR(w3[0], -1, 0, 0);
    DK_CHECK_NEAR(w3[1], 2, 0, 0);
    DK_CHECK_NEAR(w3[2], 3, 0, 0);
    /* [[2, 1], [1, 2]]: eigenvalues 1 and 3 */
    double m2[4] = {2, 1, 1, 2}, w2[2];
    DK_CHECK_OK(dk_sym_eig(m2, 2, w2, NULL, &dk_test_err));
    DK_CHECK_NEAR(w2[0], 1, 1e-15, 0);
    DK_CHECK_NEAR(w2[1], 3, 1e-15, 0);
    double bad[1] = {NAN};
    DK_CHECK_STATUS(dk_sym_eig(bad, 1, w2, NULL, &dk_test_err), DK_ENUMERIC);
}

static void test_sqrtm(void) {
    enum { N = 12 };
    double g[N * N], a[N * N], s[N * N];
    dk_rng r;
    dk_rng_init(&r, 5, 1);
    for (int i = 0; i < N * N; i++) g[i] = dk_rng_normal(&r);
    for (int i = 0; i < N; i++) /* a = g g^T + I: SPD */
        for (int j = 0; j < N; j++) {
            double x = i == j;
            for (int k = 0; k < N; k++) x += g[i * N + k] * g[j * N + k];
            a[i * N + j] = x;
        }
    DK_CHECK_OK(dk_sqrtm_sym(a, N, s, &dk_test_err));
    double worst = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            double x = 0;
            for (int k = 0; k < N; k++) x += s[i * N + k] * s[k * N + j];
            worst = fmax(worst, fabs(x - a[i * N + j]) / (1 + fabs(a[i * N + j])));
            DK_CHECK_NEAR(s[i * N + j], s[j * N + i], 1e-12, 0);
        }
    DK_CHECK(worst < 1e-11);
    /* sqrt(|lambda|): diag(4, -9) -> diag(2, 3), as k-diffusion's sqrtm_eig */
    double d[4] = {4, 0, 0, -9}, o[4];
    DK_CHECK_OK(dk_sqrtm_sym(d, 2, o, &dk_test_err));
    DK_CHECK_NEAR(o[0], 2, 1e-15, 0);
    DK_CHECK_NEAR(o[3], 3, 1e-15, 0);
    DK_CHECK_NEAR(o[1], 0, 1e-15, 0);
}

static void test_stats(void) {
    double x[6] = {1, 2, 3, 4, 5, 0};
    dk_tensor *t = mat(3, 2, x);
    dk_feature_stats st;
    DK_CHECK_OK(dk_feature_stats_compute(t, &st, &dk_test_err));
    DK_CHECK_NEAR(st.mean[0], 3, 1e-15, 0);
    DK_CHECK_NEAR(st.mean[1], 2, 1e-15, 0);
    DK_CHECK_NEAR(st.cov[0], 4, 1e-14, 0);  /* (4 + 0 + 4) / 2 */
    DK_CHECK_NEAR(st.cov[3], 4, 1e-14, 0);  /* (0 + 4 + 4) / 2 */
    DK_CHECK_NEAR(st.cov[1], -2, 1e-14, 0); /* (0 + 0 - 4) / 2 */
    DK_CHECK_NEAR(st.cov[2], -2, 1e-14, 0);
    dk_feature_stats_free(&st);
    /* F32 input gives the same statistics */
    dk_tensor *f = dk_tensor_to(t, DK_F32, NULL);
    DK_CHECK_OK(dk_feature_stats_compute(f, &st, &dk_test_err));
    DK_CHECK_NEAR(st.cov[1], -2, 1e-6, 0);
    dk_feature_stats_free(&st);
    dk_tensor *one = mat(1, 2, x);
    DK_CHECK_STATUS(dk_feature_stats_compute(one, &st, &dk_test_err), DK_ESHAPE);
    dk_tensor_free(one);
    dk_tensor_free(f);
    dk_tensor_free(t);
}

static void set_stats(dk_feature_stats *s, int64_t d, const double *mu, const double *cov) {
    s->n = 100;
    s->d = d;
    s->mean = malloc(sizeof(double) * (size_t)d);
    s->cov = malloc(sizeof(double) * (size_t)(d * d));
    memcpy(s->mean, mu, sizeof(double) * (size_t)d);
    memcpy(s->cov, cov, sizeof(double) * (size_t)(d * d));
}

static void test_fid(void) {
    /* identical sets: 0 */
    dk_tensor *x = randn(300, 16, 1, 0, 1);
    double f = -1;
    DK_CHECK_OK(dk_fid(x, x, &f, &dk_test_err));
    DK_CHECK_NEAR(f, 0, 1e-9, 0);

    /* diagonal covariances: |dmu|^2 + sum (sqrt(a + eps) - sqrt(b + eps))^2 */
    enum { D = 5 };
    double mx[D] = {0, 1, 2, 3, 4}, my[D] = {1, 1, 0, 3, 4.5}, a[D] = {1, 2, 0.5, 4, 0}, b[D] = {4, 2, 1, 0.25, 9};
    double cx[D * D] = {0}, cy[D * D] = {0}, want = 0;
    for (int i = 0; i < D; i++) {
        cx[i * D + i] = a[i];
        cy[i * D + i] = b[i];
        double s = sqrt(a[i] + 1e-8) - sqrt(b[i] + 1e-8);
        want += (mx[i] - my[i]) * (mx[i] - my[i]) + s * s;
    }
    dk_feature_stats sx, sy;
    set_stats(&sx, D, mx, cx);
    set_stats(&sy, D, my, cy);
    DK_CHECK_OK(dk_fid_from_stats(&sx, &sy, &f, &dk_test_err));
    DK_CHECK_NEAR(f, want, 1e-10, 1e-12);
    dk_feature_stats_free(&sx);
    dk_feature_stats_free(&sy);

    /* non-commuting 2 x 2: for SPD 2 x 2 M, tr sqrtm(M) = sqrt(tr M + 2 sqrt(det M)),
     * and tr(Sx Sy) = tr(Sx^1/2 Sy Sx^1/2), det = det Sx det Sy */
    double px[4] = {2, 0.7, 0.7, 1}, py[4] = {0.5, -0.2, -0.2, 3}, m0[2] = {0.3, -1}, m1[2] = {-0.2, 0.4};
    double ex[4], ey[4];
    memcpy(ex, px, sizeof ex);
    memcpy(ey, py, sizeof ey);
    ex[0] += 1e-8, ex[3] += 1e-8, ey[0] += 1e-8, ey[3] += 1e-8;
    double trxy = ex[0] * ey[0] + ex[1] * ey[2] + ex[2] * ey[1] + ex[3] * ey[3];
    double det = (ex[0] * ex[3] - ex[1] * ex[2]) * (ey[0] * ey[3] - ey[1] * ey[2]);
    double want2 = (m0[0] - m1[0]) * (m0[0] - m1[0]) + (m0[1] - m1[1]) * (m0[1] - m1[1]) + ex[0] + ex[3] + ey[0] +
                   ey[3] - 2 * sqrt(trxy + 2 * sqrt(det));
    set_stats(&sx, 2, m0, px);
    set_stats(&sy, 2, m1, py);
    DK_CHECK_OK(dk_fid_from_stats(&sx, &sy, &f, &dk_test_err));
    DK_CHECK_NEAR(f, want2, 1e-12, 1e-12);
    double g = 0; /* symmetric in its arguments */
    DK_CHECK_OK(dk_fid_from_stats(&sy, &sx, &g, &dk_test_err));
    DK_CHECK_NEAR(g, want2, 1e-12, 1e-12);
    dk_feature_stats_free(&sx);
    dk_feature_stats_free(&sy);

    /* samples: FID between two sets of one Gaussian is small, and a mean shift
     * of 1 in each of 16 dims adds about 16 */
    dk_tensor *y = randn(300, 16, 2, 0, 1), *z = randn(300, 16, 3, 1, 1);
    double fxy, fxz;
    DK_CHECK_OK(dk_fid(x, y, &fxy, &dk_test_err));
    DK_CHECK_OK(dk_fid(x, z, &fxz, &dk_test_err));
    DK_CHECK(fxy > 0 && fxy < 3);
    DK_CHECK(fxz > 14 && fxz < 20);
    dk_tensor *w = randn(30, 8, 3, 0, 1);
    DK_CHECK_STATUS(dk_fid(x, w, &f, &dk_test_err), DK_ESHAPE);
    dk_tensor_free(w);
    dk_tensor_free(x);
    dk_tensor_free(y);
    dk_tensor_free(z);
}

/* naive unbiased MMD^2, cubic kernel, explicit loops */
static double naive_mmd(const dk_tensor *x, int64_t x0, int64_t x1, const dk_tensor *y, int64_t y0, int64_t y1) {
    int64_t d = x->shape[1];
    const double *a = dk_f64(x), *b = dk_f64(y);
#define KER(p, q) pow((p) / (double)d + 1, 3)
    double sxx = 0, syy = 0, sxy = 0;
    for (int64_t i = x0; i < x1; i++)
        for (int64_t j = x0; j < x1; j++) {
            if (i == j) continue;
            double dot = 0;
            for (int64_t k = 0; k < d; k++) dot += a[i * d + k] * a[j * d + k];
            sxx += KER(dot, 0);
        }
    for (int64_t i = y0; i < y1; i++)
        for (int64_t j = y0; j < y1; j++) {
            if (i == j) continue;
            double dot = 0;
            for (int64_t k = 0; k < d; k++) dot += b[i * d + k] * b[j * d + k];
            syy += KER(dot, 0);
        }
    for (int64_t i = x0; i < x1; i++)
        for (int64_t j = y0; j < y1; j++) {
            double dot = 0;
            for (int64_t k = 0; k < d; k++) dot += a[i * d + k] * b[j * d + k];
            sxy += KER(dot, 0);
        }
#undef KER
    double m = (double)(x1 - x0), n = (double)(y1 - y0);
    return sxx / m / (m - 1) + syy / n / (n - 1) - 2 * sxy / m / n;
}

static void test_kid(void) {
    /* by hand, d = 1, x = {0, 1}, y = {1, 2}, k(a, b) = (ab + 1)^3:
     * Kxx off-diagonal 1 + 1 -> 2 / 2 = 1; Kyy 27 + 27 -> 27;
     * Kxy 1 + 1 + 8 + 27 = 37 -> 2 * 37 / 4 = 18.5; MMD^2 = 1 + 27 - 18.5 = 9.5 */
    double xv[2] = {0, 1}, yv[2] = {1, 2};
    dk_tensor *x = mat(2, 1, xv), *y = mat(2, 1, yv);
    double k = 0;
    DK_CHECK_OK(dk_kid(x, y, DK_KID_MAX_SIZE, &k, &dk_test_err));
    DK_CHECK_NEAR(k, 9.5, 1e-13, 0);
    dk_tensor_free(x);
    dk_tensor_free(y);

    /* against naive loops (several blocks of rows) */
    dk_tensor *a = randn(300, 7, 11, 0, 1), *b = randn(270, 7, 12, 0.3, 1.2);
    DK_CHECK_OK(dk_kid(a, b, DK_KID_MAX_SIZE, &k, &dk_test_err));
    DK_CHECK_NEAR(k, naive_mmd(a, 0, 300, b, 0, 270), 1e-10, 1e-10);

    /* partitions: 5 rows with max_size 3 -> ceil(5/3) = 2 partitions split at
     * round(2.5) = 2 (Python rounds half to even), then [2, 5) */
    DK_CHECK_OK(dk_kid(a, b, 150, &k, &dk_test_err)); /* 300/150 = 2, 270/150 -> 2: [0,150) [150,300), [0,135) [135,270) */
    DK_CHECK_NEAR(k, 0.5 * (naive_mmd(a, 0, 150, b, 0, 135) + naive_mmd(a, 150, 300, b, 135, 270)), 1e-10, 1e-10);
    dk_tensor *a5 = randn(5, 3, 13, 0, 1), *b5 = randn(5, 3, 14, 0, 1);
    DK_CHECK_OK(dk_kid(a5, b5, 3, &k, &dk_test_err));
    DK_CHECK_NEAR(k, 0.5 * (naive_mmd(a5, 0, 2, b5, 0, 2) + naive_mmd(a5, 2, 5, b5, 2, 5)), 1e-12, 1e-12);
    /* 10001 rows: ceil(2.0002) = 3 partitions, bounds round(3333.67) = 3334, round(6667.33) = 6667 */
    dk_tensor *big = randn(10001, 2, 15, 0, 1), *big2 = randn(10001, 2, 16, 0, 1);
    DK_CHECK_OK(dk_kid(big, big2, DK_KID_MAX_SIZE, &k, &dk_test_err));
    double m0, m1, m2;
    DK_CHECK_OK(dk_squared_mmd(big, 0, 3334, big2, 0, 3334, &m0, &dk_test_err));
    DK_CHECK_OK(dk_squared_mmd(big, 3334, 6667, big2, 3334, 6667, &m1, &dk_test_err));
    DK_CHECK_OK(dk_squared_mmd(big, 6667, 10001, big2, 6667, 10001, &m2, &dk_test_err));
    DK_CHECK_NEAR(k, (m0 + m1 + m2) / 3, 1e-14, 1e-12);
    /* same distribution: KID near 0; shifted: clearly positive */
    printf("kid same distribution (10001 x 2): %.3g\n", k);
    DK_CHECK(fabs(k) < 0.01);
    dk_tensor *c = randn(300, 7, 17, 0, 1), *s = randn(300, 7, 18, 1, 1);
    double kc, ks;
    DK_CHECK_OK(dk_kid(a, c, DK_KID_MAX_SIZE, &kc, &dk_test_err));
    DK_CHECK_OK(dk_kid(a, s, DK_KID_MAX_SIZE, &ks, &dk_test_err));
    DK_CHECK(fabs(kc) < 0.05);
    DK_CHECK(ks > 0.5);
    /* identical sets: the unbiased estimate is close to 0 (not exactly: the diagonal is excluded) */
    DK_CHECK_OK(dk_kid(a, a, DK_KID_MAX_SIZE, &k, &dk_test_err));
    printf("kid identical (300 x 7): %.3g, independent %.3g, shifted %.3g\n", k, kc, ks);
    DK_CHECK(fabs(k) < 0.1); /* O(1/m): 2 (mean off-diagonal - mean diagonal kernel) / m */
    DK_CHECK_STATUS(dk_kid(a, b, 1, &k, &dk_test_err), DK_EINVAL);
    dk_tensor_free(a5), dk_tensor_free(b5), dk_tensor_free(big), dk_tensor_free(big2);
    dk_tensor_free(a), dk_tensor_free(b), dk_tensor_free(c), dk_tensor_free(s);
}

int main(void) {
    test_eig();
    test_sqrtm();
    test_stats();
    test_fid();
    test_kid();
    return dk_test_finish();
}
