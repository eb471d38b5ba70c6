/* k_layout.cu: permute, column copies, patch <-> token and token-merge copies
 * on the GPU (CPU twins in backend/cpu/k_misc.inc). One thread per element of
 * the copy; every copy is a bijection between the touched elements of the two
 * sides, so `accumulate` (dst += src instead of dst = src) never races. */
#include "cuda_kutil.cuh"

/* Everything but the table entries has internal linkage (kernels and
 * functors of other files may share names). */
namespace {

#define PUT(dst, val)              \
    do {                           \
        if (accumulate)            \
            (dst) += (val);        \
        else                       \
            (dst) = (val);         \
    } while (0)

/* ---- permute: dst.shape[i] = src_shape[perm[i]]; inverse: dst has src's
 * layout and src the permuted one. The host arrays become this struct, passed
 * by value. ---- */

#define PERM_MAX_DIMS 8 /* DK_KMAX_DIMS of the CPU kernel */

struct PermPlan {
    int nd;
    size_t pshape[PERM_MAX_DIMS], pstride[PERM_MAX_DIMS];
};

template <typename T>
__global__ void permute_kernel(T *dst, const T *src, PermPlan pl, size_t n, int inverse, int accumulate) {
    DK_GRID_STRIDE(j, n) {
        size_t r = j, off = 0;
        for (int i = pl.nd - 1; i >= 0; i--) {
            off += (r % pl.pshape[i]) * pl.pstride[i];
            r /= pl.pshape[i];
        }
        if (!inverse)
            PUT(dst[j], src[off]);
        else
            PUT(dst[off], src[j]);
    }
}

template <typename T>
static void permute(T *dst, const T *src, int nd, const int64_t *src_shape, const int *perm, int inverse,
                    int accumulate) {
    if (nd < 0 || nd > PERM_MAX_DIMS) {
        dk_cuda_record_error("permute (more than 8 dimensions)", cudaErrorInvalidValue);
        return;
    }
    PermPlan pl;
    size_t sstride[PERM_MAX_DIMS], n = 1;
    pl.nd = nd;
    for (int i = nd - 1; i >= 0; i--) {
        sstride[i] = n;
        n *= (size_t)src_shape[i];
    }
    for (int i = 0; i < nd; i++) {
        pl.pshape[i] = (size_t)src_shape[perm[i]];
        pl.pstride[i] = sstride[perm[i]];
    }
    DK_LAUNCH_1D("permute", n, permute_kernel<T>, dst, src, pl, n, inverse, accumulate);
}

/* ---- copy_cols: dst[m, doff + j] (=|+=) src[m, soff + j], j < len, m < M ---- */

template <typename T>
__global__ void copy_cols_kernel(T *dst, size_t dld, size_t doff, const T *src, size_t sld, size_t soff, size_t M,
                                 size_t len, int accumulate) {
    DK_GRID_STRIDE(e, M * len) {
        size_t m = e / len, j = e % len;
        PUT(dst[m * dld + doff + j], src[m * sld + soff + j]);
    }
}
template <typename T>
static void copy_cols(T *dst, size_t dld, size_t doff, const T *src, size_t sld, size_t soff, size_t M, size_t len,
                      int accumulate) {
    DK_LAUNCH_1D("copy_cols", M * len, copy_cols_kernel<T>, dst, dld, doff, src, sld, soff, M, len, accumulate);
}

/* ---- patch_copy: img (B, C, H, W) <-> tok (B, (H/p)(W/p), p*p*C); token
 * features (c, i, j) for layout 0, (i, j, c) for layout 1 ---- */

template <typename T>
__global__ void patch_copy_kernel(T *img, T *tok, size_t B, size_t C, size_t H, size_t W, size_t p, int layout,
                                  int to_tokens, int accumulate) {
    size_t Wp = W / p, Tn = (H / p) * Wp, F = p * p * C;
    DK_GRID_STRIDE(e, B * Tn * F) {
        size_t bt = e / F, f = e % F, b = bt / Tn, t = bt % Tn, r = t / Wp, q = t % Wp, c, i, j;
        if (layout == 0) { /* f = (c p + i) p + j */
            c = f / (p * p);
            i = (f / p) % p;
            j = f % p;
        } else { /* f = (i p + j) C + c */
            c = f % C;
            j = (f / C) % p;
            i = f / (C * p);
        }
        size_t pi = ((b * C + c) * H + r * p + i) * W + q * p + j;
        if (to_tokens)
            PUT(tok[e], img[pi]);
        else
            PUT(img[pi], tok[e]);
    }
}
template <typename T>
static void patch_copy(T *img, T *tok, size_t B, size_t C, size_t H, size_t W, size_t p, int layout, int to_tokens,
                       int accumulate) {
    if (p == 0) return;
    size_t n = B * ((H / p) * (W / p)) * (p * p * C);
    DK_LAUNCH_1D("patch_copy", n, patch_copy_kernel<T>, img, tok, B, C, H, W, p, layout, to_tokens, accumulate);
}

/* ---- token_merge_copy: fine (B, h, w, C) <-> coarse (B, h/p0, w/p1, p0*p1*C),
 * features (i, j, c) ---- */

template <typename T>
__global__ void token_merge_kernel(T *fine, T *coarse, size_t B, size_t h, size_t w, size_t C, size_t p0, size_t p1,
                                   int to_coarse, int accumulate) {
    size_t hc = h / p0, wc = w / p1, F = p0 * p1 * C;
    DK_GRID_STRIDE(e, B * hc * wc * F) {
        size_t bt = e / F, f = e % F, b = bt / (hc * wc), t = bt % (hc * wc), r = t / wc, q = t % wc;
        size_t c = f % C, j = (f / C) % p1, i = f / (C * p1);
        size_t fi = ((b * h + r * p0 + i) * w + q * p1 + j) * C + c;
        if (to_coarse)
            PUT(coarse[e], fine[fi]);
        else
            PUT(fine[fi], coarse[e]);
    }
}
template <typename T>
static void token_merge_copy(T *fine, T *coarse, size_t B, size_t h, size_t w, size_t C, size_t p0, size_t p1,
                             int to_coarse, int accumulate) {
    if (p0 == 0 || p1 == 0) return;
    size_t n = B * (h / p0) * (w / p1) * (p0 * p1 * C);
    DK_LAUNCH_1D("token_merge_copy", n, token_merge_kernel<T>, fine, coarse, B, h, w, C, p0, p1, to_coarse,
                 accumulate);
}

}  // namespace

#define P_PERM(T) (T * dst, const T *src, int nd, const int64_t *src_shape, const int *perm, int inverse, int accumulate)
#define P_CC(T) \
    (T * dst, size_t dld, size_t doff, const T *src, size_t sld, size_t soff, size_t M, size_t len, int accumulate)
#define P_PC(T) \
    (T * img, T * tok, size_t B, size_t C, size_t H, size_t W, size_t p, int layout, int to_tokens, int accumulate)
#define P_TM(T)                                                                                                  \
    (T * fine, T * coarse, size_t B, size_t h, size_t w, size_t C, size_t p0, size_t p1, int to_coarse, \
     int accumulate)

DK_CUDA_BOTH(void, dk_k_permute, permute, P_PERM, (dst, src, nd, src_shape, perm, inverse, accumulate))
DK_CUDA_BOTH(void, dk_k_copy_cols, copy_cols, P_CC, (dst, dld, doff, src, sld, soff, M, len, accumulate))
DK_CUDA_BOTH(void, dk_k_patch_copy, patch_copy, P_PC, (img, tok, B, C, H, W, p, layout, to_tokens, accumulate))
DK_CUDA_BOTH(void, dk_k_token_merge_copy, token_merge_copy, P_TM, (fine, coarse, B, h, w, C, p0, p1, to_coarse,
                                                                   accumulate))
