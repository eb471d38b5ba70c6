/* gmm.c: the exact Gaussian-mixture denoiser (see gmm.h; tests/data/golden/FORMAT.md 4.1).
 * Float64 throughout; the responsibilities use log-sum-exp so that far-away
 * points and sigma = 0 stay finite. */
#include "diffkit/gmm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

dk_gmm *dk_gmm_new(int64_t k, int64_t d, const double *means, const double *stds,
                   const double *weights, dk_error *err) {
    if (k < 1 || d < 1 || !means || !stds || !weights) {
        dk_error_set(err, DK_EINVAL, "gmm: needs K >= 1 components of dimension D >= 1 (got K = %lld, D = %lld)",
                     (long long)k, (long long)d);
        return NULL;
    }
    double wsum = 0.0;
    for (int64_t i = 0; i < k; i++) {
        if (!(stds[i] > 0.0) || !isfinite(stds[i])) {
            dk_error_set(err, DK_EINVAL, "gmm: stds[%lld] = %g must be finite and > 0", (long long)i, stds[i]);
            return NULL;
        }
        if (!(weights[i] >= 0.0) || !isfinite(weights[i])) {
            dk_error_set(err, DK_EINVAL, "gmm: weights[%lld] = %g must be finite and >= 0", (long long)i, weights[i]);
            return NULL;
        }
        wsum += weights[i];
    }
    if (!(wsum > 0.0)) {
        dk_error_set(err, DK_EINVAL, "gmm: the weights sum to %g: at least one must be > 0", wsum);
        return NULL;
    }
    for (size_t i = 0; i < (size_t)(k * d); i++) {
        if (!isfinite(means[i])) {
            dk_error_set(err, DK_EINVAL, "gmm: means[%zu] = %g is not finite", i, means[i]);
            return NULL;
        }
    }
    dk_gmm *g = calloc(1, sizeof *g);
    if (!g) goto oom;
    g->k = k;
    g->d = d;
    g->means = malloc((size_t)(k * d) * sizeof(double));
    g->stds = malloc((size_t)k * sizeof(double));
    g->log_w = malloc((size_t)k * sizeof(double));
    if (!g->means || !g->stds || !g->log_w) goto oom;
    memcpy(g->means, means, (size_t)(k * d) * sizeof(double));
    memcpy(g->stds, stds, (size_t)k * sizeof(double));
    for (int64_t i = 0; i < k; i++) g->log_w[i] = weights[i] > 0.0 ? log(weights[i]) : -INFINITY;
    return g;
oom:
    dk_gmm_free(g);
    dk_error_set(err, DK_ENOMEM, "gmm: out of memory for %lld components of dimension %lld", (long long)k,
                 (long long)d);
    return NULL;
}

dk_gmm *dk_gmm_from_tensors(const dk_tensor *means, const dk_tensor *stds, const dk_tensor *weights,
                            dk_error *err) {
    if (!means || !stds || !weights) {
        dk_error_set(err, DK_EINVAL, "gmm: means, stds and weights are all needed");
        return NULL;
    }
    if (means->ndim < 2 || stds->ndim != 1 || weights->ndim != 1 || stds->shape[0] != means->shape[0] ||
        weights->shape[0] != means->shape[0]) {
        char a[64], b[64], c[64];
        dk_error_set(err, DK_ESHAPE, "gmm: expected means [K, ...], stds [K], weights [K]; got %s, %s, %s",
                     dk_shape_str(means, a, sizeof a), dk_shape_str(stds, b, sizeof b),
                     dk_shape_str(weights, c, sizeof c));
        return NULL;
    }
    int64_t k = means->shape[0];
    int64_t d = k > 0 ? (int64_t)(means->numel / (size_t)k) : 0;
    double *m = malloc(means->numel * sizeof(double) + 1);
    double *s = malloc((size_t)k * sizeof(double) + 1);
    double *w = malloc((size_t)k * sizeof(double) + 1);
    dk_gmm *g = NULL;
    if (!m || !s || !w) {
        dk_error_set(err, DK_ENOMEM, "gmm: out of memory");
    } else {
        for (size_t i = 0; i < means->numel; i++) m[i] = dk_tensor_get(means, i);
        for (int64_t i = 0; i < k; i++) {
            s[i] = dk_tensor_get(stds, (size_t)i);
            w[i] = dk_tensor_get(weights, (size_t)i);
        }
        g = dk_gmm_new(k, d, m, s, w, err);
    }
    free(m);
    free(s);
    free(w);
    return g;
}

void dk_gmm_free(dk_gmm *g) {
    if (!g) return;
    free(g->means);
    free(g->stds);
    free(g->log_w);
    free(g);
}

dk_status dk_gmm_denoise(const dk_gmm *g, int64_t batch, const double *x, const double *sigma, double *out,
                         dk_error *err) {
    const int64_t K = g->k, D = g->d;
    double *lp = malloc((size_t)K * sizeof(double));
    double *row = malloc((size_t)D * sizeof(double));
    if (!lp || !row) {
        free(lp);
        free(row);
        return dk_error_set(err, DK_ENOMEM, "gmm: out of memory");
    }
    const double log2pi = log(2.0 * M_PI);
    for (int64_t b = 0; b < batch; b++) {
        const double *xb = x + (size_t)(b * D);
        double sg = sigma[b];
        if (!(sg >= 0.0) || !isfinite(sg)) {
            free(lp);
            free(row);
            return dk_error_set(err, DK_EINVAL, "gmm: sigma[%lld] = %g must be finite and >= 0", (long long)b, sg);
        }
        /* logp_k = log w_k - (D/2) log(2 pi v_k) - |x - mu_k|^2 / (2 v_k) */
        double mx = -INFINITY;
        for (int64_t k = 0; k < K; k++) {
            const double *mu = g->means + (size_t)(k * D);
            double v = g->stds[k] * g->stds[k] + sg * sg;
            double d2 = 0.0;
            for (int64_t j = 0; j < D; j++) {
                double e = xb[j] - mu[j];
                d2 += e * e;
            }
            lp[k] = g->log_w[k] - 0.5 * (double)D * (log2pi + log(v)) - d2 / (2.0 * v);
            if (lp[k] > mx) mx = lp[k];
        }
        /* r_k = softmax(logp)_k; D = sum_k r_k (mu_k + s_k^2/v_k (x - mu_k)) */
        double z = 0.0;
        for (int64_t k = 0; k < K; k++) {
            lp[k] = exp(lp[k] - mx);
            z += lp[k];
        }
        for (int64_t j = 0; j < D; j++) row[j] = 0.0;
        for (int64_t k = 0; k < K; k++) {
            double r = lp[k] / z;
            if (r == 0.0) continue;
            const double *mu = g->means + (size_t)(k * D);
            double s2 = g->stds[k] * g->stds[k];
            double c = s2 / (s2 + sg * sg);
            for (int64_t j = 0; j < D; j++) row[j] += r * (mu[j] + c * (xb[j] - mu[j]));
        }
        memcpy(out + (size_t)(b * D), row, (size_t)D * sizeof(double));
    }
    free(lp);
    free(row);
    return DK_OK;
}

dk_status dk_gmm_denoise_fn(void *ctx, const dk_tensor *x, const double *sigma, dk_tensor *denoised,
                            dk_tensor *aux, dk_error *err) {
    const dk_gmm *g = ctx;
    (void)aux;
    if (x->dtype != DK_F64 || denoised->dtype != DK_F64 || x->ndim < 1 || x->numel != denoised->numel ||
        x->shape[0] < 1 || x->numel != (size_t)(x->shape[0] * g->d)) {
        char a[64];
        return dk_error_set(err, DK_ESHAPE, "gmm: expected F64 x and denoised of [B, ...] with %lld values per sample, got %s",
                            (long long)g->d, dk_shape_str(x, a, sizeof a));
    }
    return dk_gmm_denoise(g, x->shape[0], dk_f64(x), sigma, dk_f64(denoised), err);
}
