/* gmm.h: the exact denoiser of an isotropic Gaussian mixture (tests/data/golden/FORMAT.md 4.1).
 *
 * Data x0 ~ sum_k w_k N(mu_k, s_k^2 I) in R^D. Noised in the VE frame,
 * x = x0 + sigma n, each component stays Gaussian with variance
 * v_k = s_k^2 + sigma^2, and the posterior mean (the ideal denoiser,
 * Karras et al. 2022 eq. 3 / Tweedie) is
 *     logp_k = log w_k - (D/2) log(2 pi v_k) - |x - mu_k|^2 / (2 v_k)
 *     r_k    = softmax_k(logp_k)                  (log-sum-exp, stable)
 *     D(x; sigma) = sum_k r_k (mu_k + (s_k^2 / v_k)(x - mu_k)).
 * Everything is float64; each batch element has its own sigma (sigma = 0 is
 * allowed: stds must be > 0). Weights need not sum to 1 (the softmax is
 * invariant to a common factor); a zero weight drops its component.
 * This kernel does not use the autograd graph; plugins/model/gmm wraps it. */
#ifndef DIFFKIT_GMM_H
#define DIFFKIT_GMM_H

#include <stdint.h>
#include "diffkit/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dk_gmm {
    int64_t k;        /* components */
    int64_t d;        /* dimension D = C*H*W */
    double *means;    /* (K, D) */
    double *stds;     /* (K) */
    double *log_w;    /* (K) log weights (-inf for a zero weight) */
} dk_gmm;

/* From raw arrays (copied): means (K, D), stds (K), weights (K). */
dk_gmm *dk_gmm_new(int64_t k, int64_t d, const double *means, const double *stds,
                   const double *weights, dk_error *err);
/* From tensors: means [K, ...] (D = product of the trailing dims), stds [K],
 * weights [K]; any numeric dtype. */
dk_gmm *dk_gmm_from_tensors(const dk_tensor *means, const dk_tensor *stds,
                            const dk_tensor *weights, dk_error *err);
void dk_gmm_free(dk_gmm *g);

/* out (B, D) = D(x; sigma[b]) for x (B, D), sigma (B). out may alias x. */
dk_status dk_gmm_denoise(const dk_gmm *g, int64_t batch, const double *x, const double *sigma,
                         double *out, dk_error *err);

/* A dk_denoise_fn (plugin.h) with ctx = the dk_gmm: x, denoised F64 [B, ...]. */
dk_status dk_gmm_denoise_fn(void *ctx, const dk_tensor *x, const double *sigma,
                            dk_tensor *denoised, dk_tensor *aux, dk_error *err);

#ifdef __cplusplus
}
#endif
#endif
