/* metrics.c: FID and KID on feature vectors (k-diffusion evaluation.py; see
 * metrics.h for the exact definitions) and the symmetric eigensolver and
 * matrix square root they need. Everything is computed in double. */
#include "diffkit/metrics.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers --------------------------------------------------------------- */

static dk_status check_feats(const dk_tensor *t, const char *what, dk_error *err) {
    if (!t) return dk_error_set(err, DK_EINVAL, "%s: no feature tensor given", what);
    if (t->device != DK_CPU || (t->dtype != DK_F32 && t->dtype != DK_F64) || t->ndim != 2)
        return dk_error_set(err, DK_ESHAPE, "%s: features must be a CPU F32/F64 tensor [n, d], got %s with %d dims",
                            what, dk_dtype_name(t->dtype), t->ndim);
    if (t->shape[0] < 2 || t->shape[1] < 1)
        return dk_error_set(err, DK_ESHAPE, "%s: need at least 2 feature vectors of dimension >= 1, got [%lld, %lld]",
                            what, (long long)t->shape[0], (long long)t->shape[1]);
    return DK_OK;
}

/* Rows [r0, r1) of t as a malloc'd double matrix. */
static double *rows_f64(const dk_tensor *t, int64_t r0, int64_t r1) {
    size_t d = (size_t)t->shape[1], n = (size_t)(r1 - r0);
    double *out = malloc(sizeof(double) * n * d + 1);
    if (!out) return NULL;
    if (t->dtype == DK_F64) memcpy(out, dk_f64(t) + (size_t)r0 * d, sizeof(double) * n * d);
    else
        for (size_t i = 0; i < n * d; i++) out[i] = dk_f32(t)[(size_t)r0 * d + i];
    return out;
}

/* ---- eigendecomposition ---------------------------------------------------- */

typedef struct eig_sort { double w; int64_t i; } eig_sort;
static int cmp_eig(const void *a, const void *b) {
    double x = ((const eig_sort *)a)->w, y = ((const eig_sort *)b)->w;
    return x < y ? -1 : x > y ? 1 : 0;
}

/* LAPACK's divide-and-conquer symmetric eigensolver, from the LAPACK that
 * OpenBLAS carries (Fortran calling convention: arguments by reference, the
 * lengths of the character arguments appended). */
extern void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w, double *work,
                    const int *lwork, int *iwork, const int *liwork, int *info, size_t jobz_len, size_t uplo_len);

/* The symmetric part (a + a^T) / 2 of an N x N matrix, in new memory (row-
 * and column-major alike) into *out, and its squared Frobenius norm; an
 * error when out of memory or an entry is not finite. */
static dk_status sym_copy(const double *a, size_t N, double **out, double *frob2, dk_error *err) {
    double *b = malloc(sizeof(double) * N * N), f = 0;
    *out = NULL;
    if (!b) return dk_error_set(err, DK_ENOMEM, "dk_sym_eig: out of memory for a %zu x %zu matrix", N, N);
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < N; j++) {
            double x = 0.5 * (a[i * N + j] + a[j * N + i]);
            if (!isfinite(x)) {
                free(b);
                return dk_error_set(err, DK_ENUMERIC, "dk_sym_eig: entry (%zu, %zu) is not finite", i, j);
            }
            b[i * N + j] = x;
            f += x * x;
        }
    if (frob2) *frob2 = f;
    *out = b;
    return DK_OK;
}

/* dk_sym_eig for n > DK_SYM_EIG_JACOBI_MAX: LAPACK dsyevd (O(n^3) once; the
 * cyclic Jacobi below needs O(n^3) per sweep, minutes at the 2048 features
 * of the FID Inception). Eigenvalues ascending, as Jacobi gives them. */
static dk_status sym_eig_lapack(const double *a, size_t N, double *w, double *v, dk_error *err) {
    if (N > 46340) return dk_error_set(err, DK_EINVAL, "dk_sym_eig: a %zu x %zu matrix is too large for LAPACK's int sizes", N, N);
    double *b;
    DK_TRY(sym_copy(a, N, &b, NULL, err));
    int n = (int)N, lwork = -1, liwork = -1, info = 0, iw = 0;
    double wq = 0;
    const char *jobz = v ? "V" : "N";
    dsyevd_(jobz, "L", &n, b, &n, w, &wq, &lwork, &iw, &liwork, &info, 1, 1); /* workspace query */
    lwork = (int)wq + 1;
    liwork = iw > 1 ? iw : 1;
    double *work = malloc(sizeof(double) * (size_t)lwork);
    int *iwork = malloc(sizeof(int) * (size_t)liwork);
    if (!work || !iwork) {
        free(b), free(work), free(iwork);
        return dk_error_set(err, DK_ENOMEM, "dk_sym_eig: out of memory for LAPACK's workspace (n = %zu)", N);
    }
    if (info == 0) dsyevd_(jobz, "L", &n, b, &n, w, work, &lwork, iwork, &liwork, &info, 1, 1);
    free(work), free(iwork);
    if (info != 0) {
        free(b);
        return dk_error_set(err, DK_ENUMERIC, "dk_sym_eig: LAPACK dsyevd failed (info %d, n = %zu)", info, N);
    }
    if (v) /* column j of the column-major result is eigenvector j: v[k][j] */
        for (size_t k = 0; k < N; k++)
            for (size_t j = 0; j < N; j++) v[k * N + j] = b[j * N + k];
    free(b);
    return DK_OK;
}

dk_status dk_sym_eig(const double *a, int64_t n, double *w, double *v, dk_error *err) {
    if (n < 1 || !a || !w) return dk_error_set(err, DK_EINVAL, "dk_sym_eig: need a matrix of size >= 1 (got %lld)", (long long)n);
    size_t N = (size_t)n;
    if (n > DK_SYM_EIG_JACOBI_MAX) return sym_eig_lapack(a, N, w, v, err);
    double frob = 0, *vv = v ? v : NULL, *b;
    DK_TRY(sym_copy(a, N, &b, &frob, err));
    if (vv) {
        memset(vv, 0, sizeof(double) * N * N);
        for (size_t i = 0; i < N; i++) vv[i * N + i] = 1;
    }
    /* Cyclic Jacobi (Golub & Van Loan §8.5): rotate each (p, q) so that the
     * new b[p][q] = 0, with theta = (b_qq - b_pp) / (2 b_pq), t = sign(theta) /
     * (|theta| + sqrt(theta^2 + 1)), c = 1/sqrt(t^2 + 1), s = t c; b <- J^T b J. */
    /* An off-diagonal entry below tol(p, q) = max(1e-15 sqrt|b_pp b_qq|,
     * 1e-18 |b|_F) cannot move the eigenvalues at double precision: it is
     * set to zero. Converged when a sweep needs no rotation. */
    double fnorm = sqrt(frob);
    int converged = 0;
    for (int sweep = 0; sweep < 100 && !converged; sweep++) {
        size_t rotations = 0;
        for (size_t p = 0; p < N; p++)
            for (size_t q = p + 1; q < N; q++) {
                double apq = b[p * N + q];
                double app = b[p * N + p], aqq = b[q * N + q];
                double tol = 1e-15 * sqrt(fabs(app * aqq));
                if (tol < 1e-18 * fnorm) tol = 1e-18 * fnorm;
                if (fabs(apq) <= tol || fabs(apq) < 1e-300) {
                    b[p * N + q] = b[q * N + p] = 0;
                    continue;
                }
                rotations++;
                double theta = (aqq - app) / (2 * apq);
                double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (size_t k = 0; k < N; k++) { /* columns p, q */
                    double bkp = b[k * N + p], bkq = b[k * N + q];
                    b[k * N + p] = c * bkp - s * bkq;
                    b[k * N + q] = s * bkp + c * bkq;
                }
                for (size_t k = 0; k < N; k++) { /* rows p, q */
                    double bpk = b[p * N + k], bqk = b[q * N + k];
                    b[p * N + k] = c * bpk - s * bqk;
                    b[q * N + k] = s * bpk + c * bqk;
                }
                b[p * N + q] = b[q * N + p] = 0;
                if (vv)
                    for (size_t k = 0; k < N; k++) {
                        double vkp = vv[k * N + p], vkq = vv[k * N + q];
                        vv[k * N + p] = c * vkp - s * vkq;
                        vv[k * N + q] = s * vkp + c * vkq;
                    }
            }
        if (rotations == 0) converged = 1;
    }
    if (!converged) {
        free(b);
        return dk_error_set(err, DK_ENUMERIC, "dk_sym_eig: Jacobi did not converge in 100 sweeps (n = %lld)", (long long)n);
    }
    /* ascending order, eigenvector columns permuted along */
    eig_sort *o = malloc(sizeof *o * N);
    double *tmp = v ? malloc(sizeof(double) * N * N) : NULL;
    if (!o || (v && !tmp)) {
        free(b), free(o), free(tmp);
        return dk_error_set(err, DK_ENOMEM, "dk_sym_eig: out of memory");
    }
    for (size_t i = 0; i < N; i++) o[i] = (eig_sort){b[i * N + i], (int64_t)i};
    qsort(o, N, sizeof *o, cmp_eig);
    for (size_t i = 0; i < N; i++) w[i] = o[i].w;
    if (v) {
        memcpy(tmp, v, sizeof(double) * N * N);
        for (size_t k = 0; k < N; k++)
            for (size_t j = 0; j < N; j++) v[k * N + j] = tmp[k * N + (size_t)o[j].i];
    }
    free(tmp);
    free(o);
    free(b);
    return DK_OK;
}

dk_status dk_sqrtm_sym(const double *a, int64_t n, double *out, dk_error *err) {
    size_t N = (size_t)n;
    double *w = malloc(sizeof(double) * N), *v = malloc(sizeof(double) * N * N), *vs = malloc(sizeof(double) * N * N);
    dk_status st = (w && v && vs) ? DK_OK : dk_error_set(err, DK_ENOMEM, "dk_sqrtm_sym: out of memory (n = %lld)", (long long)n);
    if (!st) st = dk_sym_eig(a, n, w, v, err);
    if (!st) {
        /* out = (V diag(sqrt|w|)) V^T */
        for (size_t k = 0; k < N; k++)
            for (size_t j = 0; j < N; j++) vs[k * N + j] = v[k * N + j] * sqrt(fabs(w[j]));
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)N, (int)N, (int)N, 1, vs, (int)N, v, (int)N, 0, out,
                    (int)N);
    }
    free(w), free(v), free(vs);
    return st;
}

/* ---- statistics and FID ---------------------------------------------------- */

dk_status dk_feature_stats_compute(const dk_tensor *feats, dk_feature_stats *st, dk_error *err) {
    memset(st, 0, sizeof *st);
    DK_TRY(check_feats(feats, "feature statistics", err));
    int64_t n = feats->shape[0], d = feats->shape[1];
    size_t N = (size_t)n, D = (size_t)d;
    double *x = rows_f64(feats, 0, n);
    st->mean = calloc(D, sizeof(double));
    st->cov = malloc(sizeof(double) * D * D);
    if (!x || !st->mean || !st->cov) {
        free(x);
        dk_feature_stats_free(st);
        return dk_error_set(err, DK_ENOMEM, "feature statistics: out of memory for [%lld, %lld]", (long long)n, (long long)d);
    }
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < D; j++) st->mean[j] += x[i * D + j];
    for (size_t j = 0; j < D; j++) st->mean[j] /= (double)n;
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < D; j++) {
            x[i * D + j] -= st->mean[j];
            if (!isfinite(x[i * D + j])) {
                free(x);
                dk_feature_stats_free(st);
                return dk_error_set(err, DK_ENUMERIC, "feature statistics: feature %zu of vector %zu is not finite", j, i);
            }
        }
    /* torch.cov: unbiased, (X - mu)^T (X - mu) / (n - 1) */
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)D, (int)D, (int)N, 1.0 / (double)(n - 1), x, (int)D, x,
                (int)D, 0, st->cov, (int)D);
    free(x);
    st->n = n;
    st->d = d;
    return DK_OK;
}

void dk_feature_stats_free(dk_feature_stats *st) {
    if (!st) return;
    free(st->mean);
    free(st->cov);
    st->mean = st->cov = NULL;
}

dk_status dk_fid_from_stats(const dk_feature_stats *x, const dk_feature_stats *y, double *fid, dk_error *err) {
    if (!x || !y || !x->mean || !y->mean || x->d != y->d)
        return dk_error_set(err, DK_ESHAPE, "fid: feature dimensions differ (%lld vs %lld): use one feature network for both sets",
                            x ? (long long)x->d : -1LL, y ? (long long)y->d : -1LL);
    size_t D = (size_t)x->d;
    double mean_term = 0, trace = 0;
    for (size_t j = 0; j < D; j++) mean_term += (x->mean[j] - y->mean[j]) * (x->mean[j] - y->mean[j]);
    double *sx = malloc(sizeof(double) * D * D), *sy = malloc(sizeof(double) * D * D);
    double *r = malloc(sizeof(double) * D * D), *t = malloc(sizeof(double) * D * D), *w = malloc(sizeof(double) * D);
    dk_status st = (sx && sy && r && t && w) ? DK_OK : dk_error_set(err, DK_ENOMEM, "fid: out of memory (d = %zu)", D);
    if (!st) {
        memcpy(sx, x->cov, sizeof(double) * D * D);
        memcpy(sy, y->cov, sizeof(double) * D * D);
        for (size_t j = 0; j < D; j++) {
            sx[j * D + j] += DK_FID_EPS;
            sy[j * D + j] += DK_FID_EPS;
            trace += sx[j * D + j] + sy[j * D + j];
        }
        st = dk_sqrtm_sym(sx, (int64_t)D, r, err); /* r = sqrtm(S_x) */
    }
    if (!st) {
        /* M = r S_y r (symmetric); tr sqrtm(M) = sum sqrt(|eig(M)|) */
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)D, (int)D, (int)D, 1, r, (int)D, sy, (int)D, 0, t, (int)D);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)D, (int)D, (int)D, 1, t, (int)D, r, (int)D, 0, sx, (int)D);
        st = dk_sym_eig(sx, (int64_t)D, w, NULL, err);
    }
    if (!st) {
        double tr_sqrt = 0;
        for (size_t j = 0; j < D; j++) tr_sqrt += sqrt(fabs(w[j]));
        *fid = mean_term + trace - 2 * tr_sqrt;
    }
    free(sx), free(sy), free(r), free(t), free(w);
    if (st) dk_error_prefix(err, "fid");
    return st;
}

dk_status dk_fid(const dk_tensor *x, const dk_tensor *y, double *fid, dk_error *err) {
    dk_feature_stats a, b;
    DK_TRY(check_feats(x, "fid (first set)", err));
    DK_TRY(check_feats(y, "fid (second set)", err));
    if (x->shape[1] != y->shape[1])
        return dk_error_set(err, DK_ESHAPE, "fid: feature dimensions differ (%lld vs %lld): use one feature network for both sets",
                            (long long)x->shape[1], (long long)y->shape[1]);
    DK_TRY(dk_feature_stats_compute(x, &a, err));
    dk_status st = dk_feature_stats_compute(y, &b, err);
    if (!st) st = dk_fid_from_stats(&a, &b, fid, err);
    dk_feature_stats_free(&a);
    dk_feature_stats_free(&b);
    return st;
}

/* ---- KID --------------------------------------------------------------------- */

#define MMD_BLOCK 256

/* sum_{i,j} k(a_i, b_j) (minus the diagonal when same != 0; a == b then). */
static double kernel_sum(const double *a, size_t na, const double *b, size_t nb, size_t d, int same, double *buf) {
    double total = 0;
    for (size_t i0 = 0; i0 < na; i0 += MMD_BLOCK) {
        size_t bi = na - i0 < MMD_BLOCK ? na - i0 : MMD_BLOCK;
        /* buf (bi, nb) = a[i0:i0+bi] b^T */
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)bi, (int)nb, (int)d, 1, a + i0 * d, (int)d, b, (int)d,
                    0, buf, (int)nb);
        for (size_t i = 0; i < bi; i++)
            for (size_t j = 0; j < nb; j++) {
                if (same && i0 + i == j) continue;
                double k = buf[i * nb + j] / (double)d + 1;
                total += k * k * k;
            }
    }
    return total;
}

dk_status dk_squared_mmd(const dk_tensor *x, int64_t x0, int64_t x1, const dk_tensor *y, int64_t y0, int64_t y1,
                         double *mmd, dk_error *err) {
    DK_TRY(check_feats(x, "kid (first set)", err));
    DK_TRY(check_feats(y, "kid (second set)", err));
    if (x->shape[1] != y->shape[1])
        return dk_error_set(err, DK_ESHAPE, "kid: feature dimensions differ (%lld vs %lld): use one feature network for both sets",
                            (long long)x->shape[1], (long long)y->shape[1]);
    if (x0 < 0 || x1 > x->shape[0] || x1 - x0 < 2 || y0 < 0 || y1 > y->shape[0] || y1 - y0 < 2)
        return dk_error_set(err, DK_EINVAL, "kid: row ranges [%lld, %lld) of %lld and [%lld, %lld) of %lld need >= 2 rows each",
                            (long long)x0, (long long)x1, (long long)x->shape[0], (long long)y0, (long long)y1,
                            (long long)y->shape[0]);
    size_t d = (size_t)x->shape[1], m = (size_t)(x1 - x0), n = (size_t)(y1 - y0);
    double *a = rows_f64(x, x0, x1), *b = rows_f64(y, y0, y1);
    size_t big = m > n ? m : n;
    double *buf = malloc(sizeof(double) * MMD_BLOCK * big);
    if (!a || !b || !buf) {
        free(a), free(b), free(buf);
        return dk_error_set(err, DK_ENOMEM, "kid: out of memory (%zu and %zu rows of %zu)", m, n, d);
    }
    double kxx = kernel_sum(a, m, a, m, d, 1, buf);
    double kyy = kernel_sum(b, n, b, n, d, 1, buf);
    double kxy = kernel_sum(a, m, b, n, d, 0, buf);
    free(a), free(b), free(buf);
    double md = (double)m, nd = (double)n;
    *mmd = kxx / md / (md - 1) + kyy / nd / (nd - 1) - kxy * 2 / md / nd;
    if (!isfinite(*mmd)) return dk_error_set(err, DK_ENUMERIC, "kid: MMD^2 is not finite (features contain NaN/Inf?)");
    return DK_OK;
}

dk_status dk_kid(const dk_tensor *x, const dk_tensor *y, int64_t max_size, double *kid, dk_error *err) {
    DK_TRY(check_feats(x, "kid (first set)", err));
    DK_TRY(check_feats(y, "kid (second set)", err));
    if (max_size < 2) return dk_error_set(err, DK_EINVAL, "kid: max_size = %lld, must be >= 2", (long long)max_size);
    int64_t nx = x->shape[0], ny = y->shape[0];
    /* n_partitions = ceil(max(nx / max_size, ny / max_size)) */
    double fx = (double)nx / (double)max_size, fy = (double)ny / (double)max_size;
    int64_t P = (int64_t)ceil(fx > fy ? fx : fy);
    if (P < 1) P = 1;
    double total = 0;
    for (int64_t i = 0; i < P; i++) {
        /* Python round() is half-to-even, as rint in the default rounding mode */
        int64_t x0 = (int64_t)rint((double)(i * nx) / (double)P), x1 = (int64_t)rint((double)((i + 1) * nx) / (double)P);
        int64_t y0 = (int64_t)rint((double)(i * ny) / (double)P), y1 = (int64_t)rint((double)((i + 1) * ny) / (double)P);
        double m;
        DK_TRY(dk_squared_mmd(x, x0, x1, y, y0, y1, &m, err));
        total += m;
    }
    *kid = total / (double)P;
    return DK_OK;
}
