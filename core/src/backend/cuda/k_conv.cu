/* k_conv.cu: the CUDA kernels of the feature network (twins of
 * backend/cpu/conv_kernels.c), F32 and F64, queued on dk_cuda_stream().
 *
 * conv2d: im2col of x into cols (B, C*KH*KW, HO*WO), which the op saves for
 * the backward, then out_b (O, P) = w (O, CK) cols_b (CK, P) [+ b] as one
 * cuBLAS strided-batched GEMM (w shared: stride 0). Backward: db by a
 * per-channel reduction, dw += dout_b cols_b^T one GEMM per image in image
 * order, dx += col2im(w^T dout_b) with the column block in dk_cuda_scratch
 * (images in chunks of at most DK_CONV_SCRATCH bytes; col2im gathers, so no
 * atomics). pool 2x2 (max: the first maximum in row-major order gets the
 * gradient, as on the CPU), ReLU, softmax cross-entropy (labels int64 in
 * device memory). Every gradient is accumulated (+=); deterministic.
 *
 * Correctness-first kernels; not yet run on a GPU at the time of writing. */
#include <math.h>
#include "cuda_common.cuh"
#include "cuda_gemm_rm.cuh"

#define DK_CONV_SCRATCH ((size_t)256 << 20)
#define RED_THREADS 256

namespace { /* kernel names stay private to this file */

/* cols (B, CK, P): row (c, i, j), column (oh, ow) = x[b, c, oh*s + i - pad, ow*s + j - pad] or 0 */
template <typename T>
__global__ void im2col_k(T *cols, const T *x, dk_conv_dims d) {
    size_t P = d.HO * d.WO, CK = d.C * d.KH * d.KW;
    DK_GRID_STRIDE(e, d.B * CK * P) {
        size_t p = e % P, r = (e / P) % CK, b = e / (P * CK);
        size_t oh = p / d.WO, ow = p % d.WO, c = r / (d.KH * d.KW), i = (r / d.KW) % d.KH, j = r % d.KW;
        long long ih = (long long)(oh * (size_t)d.stride + i) - d.pad;
        long long iw = (long long)(ow * (size_t)d.stride + j) - d.pad;
        cols[e] = ih >= 0 && iw >= 0 && ih < (long long)d.H && iw < (long long)d.W
                      ? x[((b * d.C + c) * d.H + (size_t)ih) * d.W + (size_t)iw]
                      : (T)0;
    }
}

/* out (B, O, P) = b[o] */
template <typename T>
__global__ void bias_fill_k(T *out, const T *bias, size_t n, size_t O, size_t P) {
    DK_GRID_STRIDE(e, n) out[e] = bias[(e / P) % O];
}

/* one block a channel: db[o] += sum_{b, p} dout[b, o, p] (double, fixed tree) */
template <typename T>
__global__ void conv_db_k(T *db, const T *dout, size_t B, size_t O, size_t P) {
    __shared__ double red[RED_THREADS];
    size_t o = blockIdx.x;
    double s = 0;
    for (size_t idx = threadIdx.x; idx < B * P; idx += RED_THREADS) s += dout[((idx / P) * O + o) * P + idx % P];
    red[threadIdx.x] = s;
    __syncthreads();
    for (unsigned k = RED_THREADS / 2; k > 0; k >>= 1) {
        if (threadIdx.x < k) red[threadIdx.x] += red[threadIdx.x + k];
        __syncthreads();
    }
    if (threadIdx.x == 0) db[o] += (T)red[0];
}

/* dx[b0 + b] += col2im(dcols[b]) for the nb images of the chunk: each dx
 * element gathers the column entries that read it */
template <typename T>
__global__ void col2im_add_k(T *dx, const T *dcols, size_t nb, dk_conv_dims d) {
    size_t P = d.HO * d.WO, CK = d.C * d.KH * d.KW, S = (size_t)d.stride;
    DK_GRID_STRIDE(e, nb * d.C * d.H * d.W) {
        size_t iw = e % d.W, ih = (e / d.W) % d.H, c = (e / (d.W * d.H)) % d.C, b = e / (d.W * d.H * d.C);
        T s = 0;
        for (size_t i = 0; i < d.KH; i++) {
            long long th = (long long)ih + d.pad - (long long)i; /* oh * stride */
            if (th < 0 || th % (long long)S) continue;
            size_t oh = (size_t)th / S;
            if (oh >= d.HO) continue;
            for (size_t j = 0; j < d.KW; j++) {
                long long tw = (long long)iw + d.pad - (long long)j;
                if (tw < 0 || tw % (long long)S) continue;
                size_t ow = (size_t)tw / S;
                if (ow >= d.WO) continue;
                s += dcols[(b * CK + (c * d.KH + i) * d.KW + j) * P + oh * d.WO + ow];
            }
        }
        dx[e] += s;
    }
}

template <typename T>
static void conv2d_forward(T *out, T *cols, const T *x, const T *w, const T *b, const dk_conv_dims *dp) {
    const char *where = "conv2d_forward";
    dk_conv_dims d = *dp;
    size_t P = d.HO * d.WO, CK = d.C * d.KH * d.KW;
    if (d.B == 0 || d.O == 0 || P == 0) return;
    cudaStream_t st = dk_cuda_stream();
    if (CK) {
        im2col_k<T><<<dk_cuda_blocks(d.B * CK * P), DK_CUDA_THREADS, 0, st>>>(cols, x, d);
        DK_CUDA_LAUNCHED(where);
    }
    if (b) {
        bias_fill_k<T><<<dk_cuda_blocks(d.B * d.O * P), DK_CUDA_THREADS, 0, st>>>(out, b, d.B * d.O * P, d.O, P);
        DK_CUDA_LAUNCHED(where);
    }
    /* out_b (O, P) = w (O, CK) cols_b (CK, P) [+ out_b] */
    dk_gemm_rm(where, 0, 0, d.O, P, CK, 1.0, w, CK, 0, cols, P, (long long)(CK * P), b ? 1.0 : 0.0, out, P,
               (long long)(d.O * P), d.B);
}

template <typename T>
static void conv2d_backward(T *dx, T *dw, T *db, const T *dout, const T *cols, const T *w, const dk_conv_dims *dp) {
    const char *where = "conv2d_backward";
    dk_conv_dims d = *dp;
    size_t P = d.HO * d.WO, CK = d.C * d.KH * d.KW, O = d.O;
    if (d.B == 0 || O == 0 || P == 0) return;
    cudaStream_t st = dk_cuda_stream();
    if (db) {
        conv_db_k<T><<<(unsigned)O, RED_THREADS, 0, st>>>(db, dout, d.B, O, P);
        DK_CUDA_LAUNCHED(where);
    }
    if (dw)
        for (size_t bi = 0; bi < d.B; bi++) /* dw (O, CK) += dout_b (O, P) cols_b^T, images in order */
            dk_gemm_rm(where, 0, 1, O, CK, P, 1.0, dout + bi * O * P, P, 0, cols + bi * CK * P, P, 0, 1.0, dw, CK, 0,
                       1);
    if (dx && CK) {
        size_t per = CK * P * sizeof(T), nb = DK_CONV_SCRATCH / per;
        if (nb < 1) nb = 1;
        if (nb > d.B) nb = d.B;
        T *dcols = (T *)dk_cuda_scratch(nb * CK * P * sizeof(T), where);
        if (!dcols) return; /* error recorded; dx unchanged (as the CPU kernel) */
        size_t img = d.C * d.H * d.W;
        for (size_t b0 = 0; b0 < d.B; b0 += nb) {
            size_t n = d.B - b0 < nb ? d.B - b0 : nb;
            /* dcols_b (CK, P) = w^T (CK, O) dout_b (O, P) */
            dk_gemm_rm(where, 1, 0, CK, P, O, 1.0, w, CK, 0, dout + b0 * O * P, P, (long long)(O * P), 0.0, dcols, P,
                       (long long)(CK * P), n);
            if (n * img > 0) {
                col2im_add_k<T><<<dk_cuda_blocks(n * img), DK_CUDA_THREADS, 0, st>>>(dx + b0 * img, dcols, n, d);
                DK_CUDA_LAUNCHED(where);
            }
        }
        dk_cuda_scratch_release(dcols);
    }
}

/* pool 2x2: one thread an output; max keeps the first maximum (a, b, c, e order) */
template <typename T>
__global__ void pool_fwd_k(T *out, const T *x, size_t M, size_t H, size_t W, int kind) {
    size_t Ho = H / 2, Wo = W / 2;
    DK_GRID_STRIDE(e, M * Ho * Wo) {
        size_t j = e % Wo, i = (e / Wo) % Ho, m = e / (Wo * Ho);
        const T *p = x + (m * H + 2 * i) * W + 2 * j;
        T a = p[0], b = p[1], c = p[W], f = p[W + 1], r;
        if (kind == 0) {
            r = a;
            if (b > r) r = b;
            if (c > r) r = c;
            if (f > r) r = f;
        } else {
            r = (T)0.25 * (a + b + c + f);
        }
        out[e] = r;
    }
}

/* the four inputs of an output are that output's alone: no write conflicts */
template <typename T>
__global__ void pool_bwd_k(T *dx, const T *dout, const T *x, size_t M, size_t H, size_t W, int kind) {
    size_t Ho = H / 2, Wo = W / 2;
    DK_GRID_STRIDE(e, M * Ho * Wo) {
        size_t j = e % Wo, i = (e / Wo) % Ho, m = e / (Wo * Ho);
        size_t base = (m * H + 2 * i) * W + 2 * j;
        size_t idx[4] = {base, base + 1, base + W, base + W + 1};
        T g = dout[e];
        if (kind == 0) {
            int best = 0; /* first maximum in row-major order */
            for (int k = 1; k < 4; k++)
                if (x[idx[k]] > x[idx[best]]) best = k;
            dx[idx[best]] += g;
        } else {
            for (int k = 0; k < 4; k++) dx[idx[k]] += (T)0.25 * g;
        }
    }
}

template <typename T>
__global__ void relu_fwd_k(T *out, const T *x, size_t n) {
    DK_GRID_STRIDE(i, n) out[i] = x[i] > 0 ? x[i] : (T)0;
}

template <typename T>
__global__ void relu_bwd_k(T *dx, const T *dout, const T *x, size_t n) {
    DK_GRID_STRIDE(i, n) if (x[i] > 0) dx[i] += dout[i];
}

/* one thread a row, in double like the CPU */
template <typename T>
__global__ void xent_fwd_k(T *loss, T *probs, const T *logits, const int64_t *labels, size_t B, size_t K) {
    DK_GRID_STRIDE(b, B) {
        const T *z = logits + b * K;
        double mx = z[0], s = 0;
        for (size_t k = 1; k < K; k++) mx = z[k] > mx ? z[k] : mx;
        for (size_t k = 0; k < K; k++) s += exp((double)z[k] - mx);
        double lse = mx + log(s);
        for (size_t k = 0; k < K; k++) probs[b * K + k] = (T)exp((double)z[k] - lse);
        loss[b] = (T)(lse - (double)z[labels[b]]);
    }
}

template <typename T>
__global__ void xent_bwd_k(T *dlogits, const T *dloss, const T *probs, const int64_t *labels, size_t B, size_t K) {
    DK_GRID_STRIDE(e, B * K) {
        size_t b = e / K, k = e % K;
        dlogits[e] += dloss[b] * (probs[e] - (T)((int64_t)k == labels[b]));
    }
}

template <typename T>
static void pool2x2_forward(T *out, const T *x, size_t M, size_t H, size_t W, int kind) {
    size_t n = M * (H / 2) * (W / 2);
    if (n == 0) return;
    pool_fwd_k<T><<<dk_cuda_blocks(n), DK_CUDA_THREADS, 0, dk_cuda_stream()>>>(out, x, M, H, W, kind);
    DK_CUDA_LAUNCHED("pool2x2_forward");
}

template <typename T>
static void pool2x2_backward(T *dx, const T *dout, const T *x, size_t M, size_t H, size_t W, int kind) {
    size_t n = M * (H / 2) * (W / 2);
    if (n == 0 || !dx) return;
    pool_bwd_k<T><<<dk_cuda_blocks(n), DK_CUDA_THREADS, 0, dk_cuda_stream()>>>(dx, dout, x, M, H, W, kind);
    DK_CUDA_LAUNCHED("pool2x2_backward");
}

template <typename T>
static void relu_forward(T *out, const T *x, size_t n) {
    if (n == 0) return;
    relu_fwd_k<T><<<dk_cuda_blocks(n), DK_CUDA_THREADS, 0, dk_cuda_stream()>>>(out, x, n);
    DK_CUDA_LAUNCHED("relu_forward");
}

template <typename T>
static void relu_backward(T *dx, const T *dout, const T *x, size_t n) {
    if (n == 0 || !dx) return;
    relu_bwd_k<T><<<dk_cuda_blocks(n), DK_CUDA_THREADS, 0, dk_cuda_stream()>>>(dx, dout, x, n);
    DK_CUDA_LAUNCHED("relu_backward");
}

template <typename T>
static void xent_forward(T *loss, T *probs, const T *logits, const int64_t *labels, size_t B, size_t K) {
    if (B == 0 || K == 0) return;
    xent_fwd_k<T><<<dk_cuda_blocks(B), DK_CUDA_THREADS, 0, dk_cuda_stream()>>>(loss, probs, logits, labels, B, K);
    DK_CUDA_LAUNCHED("xent_forward");
}

template <typename T>
static void xent_backward(T *dlogits, const T *dloss, const T *probs, const int64_t *labels, size_t B, size_t K) {
    if (B == 0 || K == 0 || !dlogits) return;
    xent_bwd_k<T><<<dk_cuda_blocks(B * K), DK_CUDA_THREADS, 0, dk_cuda_stream()>>>(dlogits, dloss, probs, labels, B,
                                                                                   K);
    DK_CUDA_LAUNCHED("xent_backward");
}

} // namespace

/* ---- the table entries (cuda_common.cuh prototypes) ------------------- */

#define DK_CONV_ENTRIES(T, S)                                                                                      \
    void dk_k_conv2d_forward_cuda_##S(T *out, T *cols, const T *x, const T *w, const T *b, const dk_conv_dims *d) { \
        conv2d_forward<T>(out, cols, x, w, b, d);                                                                  \
    }                                                                                                              \
    void dk_k_conv2d_backward_cuda_##S(T *dx, T *dw, T *db, const T *dout, const T *cols, const T *w,              \
                                       const dk_conv_dims *d) {                                                    \
        conv2d_backward<T>(dx, dw, db, dout, cols, w, d);                                                          \
    }                                                                                                              \
    void dk_k_pool2x2_forward_cuda_##S(T *out, const T *x, size_t M, size_t H, size_t W, int kind) {               \
        pool2x2_forward<T>(out, x, M, H, W, kind);                                                                 \
    }                                                                                                              \
    void dk_k_pool2x2_backward_cuda_##S(T *dx, const T *dout, const T *x, size_t M, size_t H, size_t W, int kind) { \
        pool2x2_backward<T>(dx, dout, x, M, H, W, kind);                                                           \
    }                                                                                                              \
    void dk_k_relu_forward_cuda_##S(T *out, const T *x, size_t n) { relu_forward<T>(out, x, n); }                 \
    void dk_k_relu_backward_cuda_##S(T *dx, const T *dout, const T *x, size_t n) { relu_backward<T>(dx, dout, x, n); } \
    void dk_k_xent_forward_cuda_##S(T *loss, T *probs, const T *logits, const int64_t *labels, size_t B, size_t K) { \
        xent_forward<T>(loss, probs, logits, labels, B, K);                                                        \
    }                                                                                                              \
    void dk_k_xent_backward_cuda_##S(T *dlogits, const T *dloss, const T *probs, const int64_t *labels, size_t B,  \
                                     size_t K) {                                                                   \
        xent_backward<T>(dlogits, dloss, probs, labels, B, K);                                                     \
    }

DK_CONV_ENTRIES(float, f32)
DK_CONV_ENTRIES(double, f64)
