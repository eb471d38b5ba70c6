/* metrics.h: sample-quality metrics on feature vectors, as k-diffusion's
 * evaluation.py computes them (k-diffusion, `evaluation.py`).
 *
 *   FID (Heusel et al. 2017), in double:
 *     |mu_x - mu_y|^2 + tr(S_x + S_y - 2 sqrtm(sqrtm(S_x) S_y sqrtm(S_x)))
 *   with S the unbiased covariance (n - 1, torch.cov) plus 1e-8 I, and every
 *   sqrtm through a symmetric eigendecomposition with sqrt(|lambda|)
 *   (k-diffusion's sqrtm_eig). The eigensolver is a cyclic Jacobi method
 *   written here (no LAPACKE header is available on the target systems).
 *
 *   KID (Binkowski et al. 2018): the unbiased MMD^2 with the cubic
 *   polynomial kernel k(a, b) = (a.b / d + 1)^3, the diagonals of Kxx and Kyy
 *   excluded, averaged over ceil(max(n_x, n_y) / 5000) partitions; partition
 *   i of x is rows [round(i n_x / P), round((i + 1) n_x / P)) with Python's
 *   round (half to even), exactly as k-diffusion slices.
 *
 * Features are dk_tensors [n, d] (F32 or F64); all arithmetic is double. */
#ifndef DIFFKIT_METRICS_H
#define DIFFKIT_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include "diffkit/error.h"
#include "diffkit/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DK_FID_EPS 1e-8      /* added to the covariance diagonals */
#define DK_KID_MAX_SIZE 5000 /* rows per KID partition (k-diffusion max_size) */

/* Mean [d] and unbiased covariance [d, d] (row-major) of n feature vectors. */
typedef struct dk_feature_stats {
    int64_t n, d;
    double *mean;
    double *cov;
} dk_feature_stats;

/* feats [n, d], n >= 2. Fills st (free with dk_feature_stats_free). */
dk_status dk_feature_stats_compute(const dk_tensor *feats, dk_feature_stats *st, dk_error *err);
void dk_feature_stats_free(dk_feature_stats *st);

/* FID from two sets of statistics of the same dimension. */
dk_status dk_fid_from_stats(const dk_feature_stats *x, const dk_feature_stats *y, double *fid, dk_error *err);
/* FID of two feature sets [n_x, d], [n_y, d]. */
dk_status dk_fid(const dk_tensor *x, const dk_tensor *y, double *fid, dk_error *err);

/* Unbiased MMD^2 with the cubic polynomial kernel between rows [x0, x1) of x
 * and rows [y0, y1) of y (each range >= 2 rows). */
dk_status dk_squared_mmd(const dk_tensor *x, int64_t x0, int64_t x1, const dk_tensor *y, int64_t y0,
                         int64_t y1, double *mmd, dk_error *err);
/* KID: the partition average of dk_squared_mmd (max_size rows per partition;
 * pass DK_KID_MAX_SIZE for k-diffusion's value). */
dk_status dk_kid(const dk_tensor *x, const dk_tensor *y, int64_t max_size, double *kid, dk_error *err);

/* Symmetric eigendecomposition: a [n, n] (row-major, only its symmetric part
 * is used; left unchanged) -> w [n] eigenvalues (ascending) and, if v is
 * non-NULL, v [n, n] whose COLUMNS are the eigenvectors (a = v diag(w) v^T).
 * n <= DK_SYM_EIG_JACOBI_MAX: cyclic Jacobi rotations (high relative
 * accuracy, no BLAS: the same bits on every CPU and thread count); larger n
 * (e.g. the 2048 FID Inception features): LAPACK dsyevd from OpenBLAS (one
 * O(n^3) pass instead of one per Jacobi sweep; its BLAS calls round
 * differently across CPUs at the 1e-13 level). DK_ENUMERIC if it does not
 * converge or a is not finite. */
#define DK_SYM_EIG_JACOBI_MAX 256
dk_status dk_sym_eig(const double *a, int64_t n, double *w, double *v, dk_error *err);
/* Matrix square root of a symmetric matrix as k-diffusion's sqrtm_eig:
 * out = V diag(sqrt(|lambda|)) V^T. out may not alias a. */
dk_status dk_sqrtm_sym(const double *a, int64_t n, double *out, dk_error *err);

#ifdef __cplusplus
}
#endif
#endif
