/* conv_kernels.c: CPU kernels of diffkit/ops_conv.h: 2-D convolution by
 * im2col + one BLAS GEMM per image, 2x2 pooling, ReLU and softmax
 * cross-entropy, each with a plain-loop _naive reference for the tests.
 *
 * The body below is compiled twice (T = float / double) by including this
 * file into itself. Threading follows docs/autograd.md: OpenMP over images
 * (or fixed blocks of output channels for the weight gradient), each BLAS
 * call single-threaded; every reduction runs in a fixed order, so results do
 * not depend on the number of threads. */
#ifndef DK_CONV_TEMPLATE
#define DK_CONV_TEMPLATE
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "kernels.h"

#define T float
#define S(name) name##_f32
#define GEMM cblas_sgemm
#include "conv_kernels.c"
#undef T
#undef S
#undef GEMM

#define T double
#define S(name) name##_f64
#define GEMM cblas_dgemm
#include "conv_kernels.c"
#undef T
#undef S
#undef GEMM

#else /* ---- the template body, T = element type ---------------------------- */

#ifndef DK_CONV_OW_RANGE
#define DK_CONV_OW_RANGE
/* output columns [*lo, *hi) whose input column ow*stride + j - pad lies in [0, W) */
static void conv_ow_range(const dk_conv_dims *d, size_t j, size_t *lo, size_t *hi) {
    long long s = d->stride, off = (long long)j - d->pad, W = (long long)d->W, WO = (long long)d->WO;
    long long l = off >= 0 ? 0 : (-off + s - 1) / s;             /* first ow with ow*s + off >= 0 */
    long long h = W - 1 - off < 0 ? 0 : (W - 1 - off) / s + 1;   /* one past the last with ow*s + off <= W-1 */
    if (h > WO) h = WO;
    if (l > h) l = h;
    *lo = (size_t)l, *hi = (size_t)h;
}
#endif

/* columns of one image x (C, H, W) in cols: row r = (c, i, j) of C*KH*KW at
 * cols + r * ld, HO*WO values */
static void S(im2col)(T *cols, size_t ld, const T *x, const dk_conv_dims *d) {
    size_t P = ld;
    for (size_t c = 0; c < d->C; c++)
        for (size_t i = 0; i < d->KH; i++)
            for (size_t j = 0; j < d->KW; j++) {
                T *row = cols + ((c * d->KH + i) * d->KW + j) * P;
                size_t lo, hi;
                conv_ow_range(d, j, &lo, &hi);
                long long off = (long long)j - d->pad;
                for (size_t oh = 0; oh < d->HO; oh++) {
                    long long ih = (long long)(oh * (size_t)d->stride + i) - d->pad;
                    T *r = row + oh * d->WO;
                    if (ih < 0 || ih >= (long long)d->H) {
                        memset(r, 0, sizeof(T) * d->WO);
                        continue;
                    }
                    const T *xr = x + (c * d->H + (size_t)ih) * d->W;
                    for (size_t ow = 0; ow < lo; ow++) r[ow] = 0;
                    if (d->stride == 1) {
                        if (hi > lo) memcpy(r + lo, xr + (long long)lo + off, sizeof(T) * (hi - lo));
                    } else {
                        for (size_t ow = lo; ow < hi; ow++) r[ow] = xr[(long long)ow * d->stride + off];
                    }
                    for (size_t ow = hi; ow < d->WO; ow++) r[ow] = 0;
                }
            }
}

/* dx (C, H, W) += col2im(dcols), dcols rows at stride ld as in im2col */
static void S(col2im_add)(T *dx, const T *dcols, size_t ld, const dk_conv_dims *d) {
    size_t P = ld;
    for (size_t c = 0; c < d->C; c++)
        for (size_t i = 0; i < d->KH; i++)
            for (size_t j = 0; j < d->KW; j++) {
                const T *row = dcols + ((c * d->KH + i) * d->KW + j) * P;
                size_t lo, hi;
                conv_ow_range(d, j, &lo, &hi);
                long long off = (long long)j - d->pad;
                for (size_t oh = 0; oh < d->HO; oh++) {
                    long long ih = (long long)(oh * (size_t)d->stride + i) - d->pad;
                    if (ih < 0 || ih >= (long long)d->H) continue;
                    T *xr = dx + (c * d->H + (size_t)ih) * d->W;
                    const T *rr = row + oh * d->WO;
                    if (d->stride == 1) {
                        T *xo = xr + (long long)lo + off;
                        for (size_t ow = lo; ow < hi; ow++) xo[ow - lo] += rr[ow];
                    } else {
                        for (size_t ow = lo; ow < hi; ow++) xr[(long long)ow * d->stride + off] += rr[ow];
                    }
                }
            }
}

void S(dk_k_conv2d_forward)(T *out, T *cols, const T *x, const T *w, const T *b, const dk_conv_dims *d) {
    size_t P = d->HO * d->WO, CK = d->C * d->KH * d->KW;
#pragma omp parallel for schedule(static) if (d->B > 1)
    for (long long bi = 0; bi < (long long)d->B; bi++) {
        T *cb = cols + (size_t)bi * CK * P, *ob = out + (size_t)bi * d->O * P;
        S(im2col)(cb, P, x + (size_t)bi * d->C * d->H * d->W, d);
        if (b)
            for (size_t o = 0; o < d->O; o++)
                for (size_t p = 0; p < P; p++) ob[o * P + p] = b[o];
        /* out_b (O, P) = w (O, CK) cols_b (CK, P) [+ bias] */
        GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)d->O, (int)P, (int)CK, 1, w, (int)CK, cb, (int)P,
             b ? 1 : 0, ob, (int)P);
    }
}

void S(dk_k_conv2d_backward)(T *dx, T *dw, T *db, const T *dout, const T *cols, const T *w, const dk_conv_dims *d) {
    size_t P = d->HO * d->WO, CK = d->C * d->KH * d->KW, O = d->O;
    if (db) {
#pragma omp parallel for schedule(static)
        for (long long o = 0; o < (long long)O; o++) {
            double s = 0;
            for (size_t bi = 0; bi < d->B; bi++)
                for (size_t p = 0; p < P; p++) s += dout[(bi * O + (size_t)o) * P + p];
            db[o] += (T)s;
        }
    }
    if (dw) {
        /* dw (O, CK) += sum_b dout_b (O, P) cols_b^T; fixed blocks of output
         * channels, each summing the images in order */
        size_t nb = O >= 16 ? O / 8 : 1, bs;
        if (nb > 8) nb = 8;
        bs = (O + nb - 1) / nb;
#pragma omp parallel for schedule(static) if (nb > 1)
        for (long long blk = 0; blk < (long long)nb; blk++) {
            size_t o0 = (size_t)blk * bs, o1 = o0 + bs < O ? o0 + bs : O;
            if (o0 >= o1) continue;
            for (size_t bi = 0; bi < d->B; bi++)
                GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(o1 - o0), (int)CK, (int)P, 1,
                     dout + (bi * O + o0) * P, (int)P, cols + bi * CK * P, (int)P, 1, dw + o0 * CK, (int)CK);
        }
    }
    if (dx) {
#pragma omp parallel
        {
            T *dcols = malloc(sizeof(T) * CK * P);
#pragma omp for schedule(static)
            for (long long bi = 0; bi < (long long)d->B; bi++) {
                if (!dcols) continue; /* cannot happen in practice; leaves dx unchanged */
                /* dcols (CK, P) = w^T (CK, O) dout_b (O, P) */
                GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, (int)CK, (int)P, (int)O, 1, w, (int)CK,
                     dout + (size_t)bi * O * P, (int)P, 0, dcols, (int)P);
                S(col2im_add)(dx + (size_t)bi * d->C * d->H * d->W, dcols, P, d);
            }
            free(dcols);
        }
    }
}

/* x value at (b, c, ih, iw) of the padded input, 0 outside */
static T S(xat)(const T *x, const dk_conv_dims *d, size_t b, size_t c, long long ih, long long iw) {
    if (ih < 0 || iw < 0 || ih >= (long long)d->H || iw >= (long long)d->W) return 0;
    return x[((b * d->C + c) * d->H + (size_t)ih) * d->W + (size_t)iw];
}

void S(dk_k_conv2d_forward_naive)(T *out, const T *x, const T *w, const T *b, const dk_conv_dims *d) {
    for (size_t bi = 0; bi < d->B; bi++)
        for (size_t o = 0; o < d->O; o++)
            for (size_t oh = 0; oh < d->HO; oh++)
                for (size_t ow = 0; ow < d->WO; ow++) {
                    double s = b ? b[o] : 0;
                    for (size_t c = 0; c < d->C; c++)
                        for (size_t i = 0; i < d->KH; i++)
                            for (size_t j = 0; j < d->KW; j++)
                                s += (double)w[((o * d->C + c) * d->KH + i) * d->KW + j] *
                                     S(xat)(x, d, bi, c, (long long)(oh * (size_t)d->stride + i) - d->pad,
                                            (long long)(ow * (size_t)d->stride + j) - d->pad);
                    out[((bi * d->O + o) * d->HO + oh) * d->WO + ow] = (T)s;
                }
}

void S(dk_k_conv2d_backward_naive)(T *dx, T *dw, T *db, const T *dout, const T *x, const T *w,
                                   const dk_conv_dims *d) {
    for (size_t bi = 0; bi < d->B; bi++)
        for (size_t o = 0; o < d->O; o++)
            for (size_t oh = 0; oh < d->HO; oh++)
                for (size_t ow = 0; ow < d->WO; ow++) {
                    T g = dout[((bi * d->O + o) * d->HO + oh) * d->WO + ow];
                    if (db) db[o] += g;
                    for (size_t c = 0; c < d->C; c++)
                        for (size_t i = 0; i < d->KH; i++)
                            for (size_t j = 0; j < d->KW; j++) {
                                long long ih = (long long)(oh * (size_t)d->stride + i) - d->pad;
                                long long iw = (long long)(ow * (size_t)d->stride + j) - d->pad;
                                size_t wi = ((o * d->C + c) * d->KH + i) * d->KW + j;
                                if (dw) dw[wi] += g * S(xat)(x, d, bi, c, ih, iw);
                                if (dx && ih >= 0 && iw >= 0 && ih < (long long)d->H && iw < (long long)d->W)
                                    dx[((bi * d->C + c) * d->H + (size_t)ih) * d->W + (size_t)iw] += g * w[wi];
                            }
                }
}

void S(dk_k_pool2x2_forward)(T *out, const T *x, size_t M, size_t H, size_t W, int kind) {
    size_t Ho = H / 2, Wo = W / 2;
#pragma omp parallel for schedule(static) if (M * H * W > 65536)
    for (long long m = 0; m < (long long)M; m++)
        for (size_t i = 0; i < Ho; i++)
            for (size_t j = 0; j < Wo; j++) {
                const T *p = x + ((size_t)m * H + 2 * i) * W + 2 * j;
                T a = p[0], b = p[1], c = p[W], e = p[W + 1], r;
                if (kind == 0) {
                    r = a;
                    if (b > r) r = b;
                    if (c > r) r = c;
                    if (e > r) r = e;
                } else {
                    r = (T)0.25 * (a + b + c + e);
                }
                out[((size_t)m * Ho + i) * Wo + j] = r;
            }
}

void S(dk_k_pool2x2_backward)(T *dx, const T *dout, const T *x, size_t M, size_t H, size_t W, int kind) {
    size_t Ho = H / 2, Wo = W / 2;
#pragma omp parallel for schedule(static) if (M * H * W > 65536)
    for (long long m = 0; m < (long long)M; m++)
        for (size_t i = 0; i < Ho; i++)
            for (size_t j = 0; j < Wo; j++) {
                size_t base = ((size_t)m * H + 2 * i) * W + 2 * j;
                size_t idx[4] = {base, base + 1, base + W, base + W + 1};
                T g = dout[((size_t)m * Ho + i) * Wo + j];
                if (kind == 0) {
                    size_t best = 0; /* first maximum in row-major order */
                    for (size_t k = 1; k < 4; k++)
                        if (x[idx[k]] > x[idx[best]]) best = k;
                    dx[idx[best]] += g;
                } else {
                    for (size_t k = 0; k < 4; k++) dx[idx[k]] += (T)0.25 * g;
                }
            }
}

void S(dk_k_relu_forward)(T *out, const T *x, size_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (long long i = 0; i < (long long)n; i++) out[i] = x[i] > 0 ? x[i] : (T)0;
}

void S(dk_k_relu_backward)(T *dx, const T *dout, const T *x, size_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (long long i = 0; i < (long long)n; i++)
        if (x[i] > 0) dx[i] += dout[i];
}

void S(dk_k_xent_forward)(T *loss, T *probs, const T *logits, const int64_t *labels, size_t B, size_t K) {
    for (size_t b = 0; b < B; b++) {
        const T *z = logits + b * K;
        double mx = z[0], s = 0;
        for (size_t k = 1; k < K; k++) mx = z[k] > mx ? z[k] : mx;
        for (size_t k = 0; k < K; k++) s += exp((double)z[k] - mx);
        double lse = mx + log(s);
        for (size_t k = 0; k < K; k++) probs[b * K + k] = (T)exp((double)z[k] - lse);
        loss[b] = (T)(lse - (double)z[labels[b]]);
    }
}

void S(dk_k_xent_backward)(T *dlogits, const T *dloss, const T *probs, const int64_t *labels, size_t B, size_t K) {
    for (size_t b = 0; b < B; b++)
        for (size_t k = 0; k < K; k++)
            dlogits[b * K + k] += dloss[b] * (probs[b * K + k] - (T)((int64_t)k == labels[b]));
}

#endif
