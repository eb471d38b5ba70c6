/* k_elementwise.cu: broadcasting binary ops, activations, affine, add_into,
 * GEGLU, adaLN modulate, gated residual and lerp on the GPU (CPU twins in
 * backend/cpu/k_elementwise.inc). One thread per element (grid-stride); every
 * sum over elements (db of a broadcast b, dshift / dscale / dgate over the
 * tokens, dfac) goes through the deterministic dk_reduce, in double.
 *
 * The activations use the CPU's libm forms (erfc / exp, no cancellation in the
 * negative tail) for both types; the CPU's F32 path uses the fastmath.h
 * approximations instead, a few ulp away. */
#include "cuda_kutil.cuh"

/* Everything but the table entries has internal linkage (kernels and
 * functors of other files may share names). */
namespace {

/* ---- broadcasting binary ---- */

/* dk_bcast_boff (k_elementwise.c) on the device */
static __device__ __forceinline__ size_t bcast_boff(const dk_bcast &bc, size_t r) {
    size_t off = 0;
    for (int i = bc.nd - 1; i >= 0; i--) {
        off += (r % bc.size[i]) * bc.bstride[i];
        r /= bc.size[i];
    }
    return off;
}

template <typename T>
__global__ void binary_fwd_kernel(T *out, const T *a, const T *b, dk_bcast bc, int op) {
    size_t L = bc.L, s = bc.s_in;
    DK_GRID_STRIDE(i, bc.rows * L) {
        size_t r = i / L, j = i % L;
        T bv = b[bcast_boff(bc, r) + j * s];
        if (op == DK_BIN_ADD)
            out[i] = a[i] + bv;
        else if (op == DK_BIN_SUB)
            out[i] = a[i] - bv;
        else
            out[i] = a[i] * bv;
    }
}

template <typename T>
__global__ void binary_da_kernel(T *da, const T *dout, const T *b, dk_bcast bc, int op) {
    size_t L = bc.L, s = bc.s_in;
    DK_GRID_STRIDE(i, bc.rows * L) {
        if (op == DK_BIN_MUL) {
            size_t r = i / L, j = i % L;
            da[i] += dout[i] * b[bcast_boff(bc, r) + j * s];
        } else {
            da[i] += dout[i];
        }
    }
}

/* Term k of b's element e: b is contiguous over the kept dims (bstride != 0,
 * and L when s_in = 1), e their row-major index; k runs over the broadcast
 * dims (bstride == 0, and L when s_in = 0), last dim fastest, i.e. in the
 * CPU's (row, j) order. */
template <typename T>
struct BinDb {
    dk_bcast bc;
    const T *dout, *a;
    int op;
    __device__ double operator()(size_t e, size_t k) const {
        size_t L = bc.L, j;
        if (bc.s_in) {
            j = e % L;
            e /= L;
        } else {
            j = k % L;
            k /= L;
        }
        size_t r = 0, place = 1;
        for (int i = bc.nd - 1; i >= 0; i--) {
            size_t sz = bc.size[i], ri;
            if (bc.bstride[i]) {
                ri = e % sz;
                e /= sz;
            } else {
                ri = k % sz;
                k /= sz;
            }
            r += ri * place;
            place *= sz;
        }
        size_t ai = r * L + j;
        T g = dout[ai];
        T v = op == DK_BIN_MUL ? g * a[ai] : op == DK_BIN_SUB ? -g : g;
        return (double)v;
    }
};

template <typename T>
static void binary_forward(T *out, const T *a, const T *b, const dk_bcast *bcp, int op) {
    dk_bcast bc = *bcp; /* host struct, passed to the kernel by value */
    DK_LAUNCH_1D("binary_forward", bc.rows * bc.L, binary_fwd_kernel<T>, out, a, b, bc, op);
}

template <typename T>
static void binary_backward(T *da, T *db, const T *dout, const T *a, const T *b, const dk_bcast *bcp, int op) {
    const char *where = "binary_backward";
    dk_bcast bc = *bcp;
    if (da) DK_LAUNCH_1D(where, bc.rows * bc.L, binary_da_kernel<T>, da, dout, b, bc, op);
    if (db) {
        size_t E = bc.s_in ? bc.L : 1, K = bc.s_in ? 1 : bc.L;
        for (int i = 0; i < bc.nd; i++) {
            if (bc.bstride[i])
                E *= bc.size[i];
            else
                K *= bc.size[i];
        }
        dk_reduce<T>(db, E, K, BinDb<T>{bc, dout, a, op}, 1.0, 1.0, 1, where);
    }
}

/* ---- activations ---- */

#define GELU_C ((T)0.79788456080286535588) /* sqrt(2/pi) */
#define GELU_A ((T)0.044715)

template <typename T>
static __device__ __forceinline__ T gelu_erf(T x) {
    return (T)0.5 * x * dk_erfc(-x * (T)0.70710678118654752440);
}
template <typename T>
static __device__ __forceinline__ T gelu_erf_grad(T x) {
    return (T)0.5 * dk_erfc(-x * (T)0.70710678118654752440) + x * dk_exp((T)-0.5 * x * x) * (T)0.39894228040143267794;
}
template <typename T>
static __device__ __forceinline__ T gelu_tanh(T x) {
    return x / ((T)1 + dk_exp((T)-2 * GELU_C * (x + GELU_A * x * x * x)));
}
template <typename T>
static __device__ __forceinline__ T gelu_tanh_grad(T x) {
    T u = GELU_C * (x + GELU_A * x * x * x), s = (T)1 / ((T)1 + dk_exp((T)-2 * u)),
      sc = (T)1 / ((T)1 + dk_exp((T)2 * u));
    return s + (T)2 * x * s * sc * GELU_C * ((T)1 + (T)3 * GELU_A * x * x);
}
template <typename T>
static __device__ __forceinline__ T silu(T x) {
    return x / ((T)1 + dk_exp(-x));
}
template <typename T>
static __device__ __forceinline__ T silu_grad(T x) {
    T s = (T)1 / ((T)1 + dk_exp(-x));
    return s * ((T)1 + x * ((T)1 - s));
}

template <typename T>
static __device__ __forceinline__ T unary_f(T v, int kind) {
    switch (kind) {
    case DK_UN_GELU_ERF: return gelu_erf(v);
    case DK_UN_GELU_TANH: return gelu_tanh(v);
    case DK_UN_SILU: return silu(v);
    case DK_UN_SQUARE: return v * v;
    default: return dk_exp(v);
    }
}
template <typename T>
static __device__ __forceinline__ T unary_grad(T v, int kind) {
    switch (kind) {
    case DK_UN_GELU_ERF: return gelu_erf_grad(v);
    case DK_UN_GELU_TANH: return gelu_tanh_grad(v);
    case DK_UN_SILU: return silu_grad(v);
    case DK_UN_SQUARE: return (T)2 * v;
    default: return dk_exp(v);
    }
}

template <typename T>
__global__ void unary_fwd_kernel(T *out, const T *x, size_t n, int kind) {
    DK_GRID_STRIDE(i, n) out[i] = unary_f(x[i], kind);
}
template <typename T>
__global__ void unary_bwd_kernel(T *dx, const T *dout, const T *x, size_t n, int kind) {
    DK_GRID_STRIDE(i, n) dx[i] += dout[i] * unary_grad(x[i], kind);
}

template <typename T>
static void unary_forward(T *out, const T *x, size_t n, int kind) {
    DK_LAUNCH_1D("unary_forward", n, unary_fwd_kernel<T>, out, x, n, kind);
}
template <typename T>
static void unary_backward(T *dx, const T *dout, const T *x, size_t n, int kind) {
    if (dx) DK_LAUNCH_1D("unary_backward", n, unary_bwd_kernel<T>, dx, dout, x, n, kind);
}

/* ---- affine, add_into ---- */

template <typename T>
__global__ void affine_kernel(T *out, const T *x, size_t n, T s, T c) {
    DK_GRID_STRIDE(i, n) out[i] = s * x[i] + c;
}
template <typename T>
__global__ void add_into_kernel(T *dst, const T *src, size_t n, T s) {
    DK_GRID_STRIDE(i, n) dst[i] += s * src[i];
}
template <typename T>
static void affine_forward(T *out, const T *x, size_t n, double s, double c) {
    DK_LAUNCH_1D("affine_forward", n, affine_kernel<T>, out, x, n, (T)s, (T)c);
}
template <typename T>
static void add_into(T *dst, const T *src, size_t n, double s) {
    if (dst) DK_LAUNCH_1D("add_into", n, add_into_kernel<T>, dst, src, n, (T)s);
}

/* ---- GEGLU: x (M, 2F) = [a | b] -> out (M, F) = a gelu_erf(b) ---- */

template <typename T>
__global__ void geglu_fwd_kernel(T *out, const T *x, size_t M, size_t F) {
    DK_GRID_STRIDE(i, M * F) {
        size_t m = i / F, j = i % F;
        const T *a = x + m * 2 * F;
        out[i] = a[j] * gelu_erf(a[F + j]);
    }
}
template <typename T>
__global__ void geglu_bwd_kernel(T *dx, const T *dout, const T *x, size_t M, size_t F) {
    DK_GRID_STRIDE(i, M * F) {
        size_t m = i / F, j = i % F;
        const T *a = x + m * 2 * F;
        T *da = dx + m * 2 * F, g = dout[i];
        da[j] += g * gelu_erf(a[F + j]);
        da[F + j] += g * a[j] * gelu_erf_grad(a[F + j]);
    }
}
template <typename T>
static void geglu_forward(T *out, const T *x, size_t M, size_t F) {
    DK_LAUNCH_1D("geglu_forward", M * F, geglu_fwd_kernel<T>, out, x, M, F);
}
template <typename T>
static void geglu_backward(T *dx, const T *dout, const T *x, size_t M, size_t F) {
    if (dx) DK_LAUNCH_1D("geglu_backward", M * F, geglu_bwd_kernel<T>, dx, dout, x, M, F);
}

/* ---- modulate: out = x (1 + scale) + shift; x (B, Tn, D), shift / scale (B, D) ---- */

template <typename T>
__global__ void modulate_fwd_kernel(T *out, const T *x, const T *shift, const T *scale, size_t Tn, size_t D,
                                    size_t n) {
    DK_GRID_STRIDE(i, n) {
        size_t b = i / (Tn * D), j = i % D;
        out[i] = x[i] * ((T)1 + scale[b * D + j]) + (shift ? shift[b * D + j] : (T)0);
    }
}
template <typename T>
__global__ void modulate_dx_kernel(T *dx, const T *dout, const T *scale, size_t Tn, size_t D, size_t n) {
    DK_GRID_STRIDE(i, n) {
        size_t b = i / (Tn * D), j = i % D;
        dx[i] += dout[i] * ((T)1 + scale[b * D + j]);
    }
}
/* term t of element e = (b, j) of a (B, D) gradient: dout[b, t, j] (* x[b, t, j]) */
template <typename T>
struct TokSum {
    const T *g, *x; /* x NULL: just g */
    size_t Tn, D;
    __device__ double operator()(size_t e, size_t t) const {
        size_t b = e / D, j = e % D, r = (b * Tn + t) * D + j;
        return x ? (double)(T)(g[r] * x[r]) : (double)g[r];
    }
};

template <typename T>
static void modulate_forward(T *out, const T *x, const T *shift, const T *scale, size_t B, size_t Tn, size_t D) {
    DK_LAUNCH_1D("modulate_forward", B * Tn * D, modulate_fwd_kernel<T>, out, x, shift, scale, Tn, D, B * Tn * D);
}
template <typename T>
static void modulate_backward(T *dx, T *dshift, T *dscale, const T *dout, const T *x, const T *scale, size_t B,
                              size_t Tn, size_t D) {
    const char *where = "modulate_backward";
    if (dx) DK_LAUNCH_1D(where, B * Tn * D, modulate_dx_kernel<T>, dx, dout, scale, Tn, D, B * Tn * D);
    if (dscale) dk_reduce<T>(dscale, B * D, Tn, TokSum<T>{dout, x, Tn, D}, 1.0, 1.0, 1, where);
    if (dshift) dk_reduce<T>(dshift, B * D, Tn, TokSum<T>{dout, NULL, Tn, D}, 1.0, 1.0, 1, where);
}

/* ---- gated residual: out = x + gate y; x, y (B, Tn, D), gate (B, D) ---- */

template <typename T>
__global__ void gres_fwd_kernel(T *out, const T *x, const T *gate, const T *y, size_t Tn, size_t D, size_t n) {
    DK_GRID_STRIDE(i, n) {
        size_t b = i / (Tn * D), j = i % D;
        out[i] = x[i] + gate[b * D + j] * y[i];
    }
}
/* dx += g, dy += g gate (one thread per element does both: dx and dy may be
 * the same buffer, as on the CPU) */
template <typename T>
__global__ void gres_bwd_kernel(T *dx, T *dy, const T *dout, const T *gate, size_t Tn, size_t D, size_t n) {
    DK_GRID_STRIDE(i, n) {
        size_t b = i / (Tn * D), j = i % D;
        T g = dout[i];
        if (dx) dx[i] += g;
        if (dy) dy[i] += g * gate[b * D + j];
    }
}
template <typename T>
static void gated_residual_forward(T *out, const T *x, const T *gate, const T *y, size_t B, size_t Tn, size_t D) {
    DK_LAUNCH_1D("gated_residual_forward", B * Tn * D, gres_fwd_kernel<T>, out, x, gate, y, Tn, D, B * Tn * D);
}
template <typename T>
static void gated_residual_backward(T *dx, T *dgate, T *dy, const T *dout, const T *gate, const T *y, size_t B,
                                    size_t Tn, size_t D) {
    const char *where = "gated_residual_backward";
    if (dx || dy) DK_LAUNCH_1D(where, B * Tn * D, gres_bwd_kernel<T>, dx, dy, dout, gate, Tn, D, B * Tn * D);
    if (dgate) dk_reduce<T>(dgate, B * D, Tn, TokSum<T>{dout, y, Tn, D}, 1.0, 1.0, 1, where);
}

/* ---- lerp: out = skip + fac (y - skip), fac a 1-element device tensor ---- */

template <typename T>
__global__ void lerp_fwd_kernel(T *out, const T *skip, const T *y, const T *fac, size_t n) {
    T f = fac[0];
    DK_GRID_STRIDE(i, n) out[i] = skip[i] + f * (y[i] - skip[i]);
}
template <typename T>
__global__ void lerp_bwd_kernel(T *dskip, T *dy, const T *dout, const T *fac, size_t n) {
    T f = fac[0];
    DK_GRID_STRIDE(i, n) {
        if (dskip) dskip[i] += dout[i] * ((T)1 - f);
        if (dy) dy[i] += dout[i] * f;
    }
}
template <typename T>
struct LerpFac {
    const T *dout, *skip, *y;
    __device__ double operator()(size_t e, size_t i) const {
        (void)e;
        return (double)dout[i] * (y[i] - skip[i]);
    }
};
template <typename T>
static void lerp_forward(T *out, const T *skip, const T *y, const T *fac, size_t n) {
    DK_LAUNCH_1D("lerp_forward", n, lerp_fwd_kernel<T>, out, skip, y, fac, n);
}
template <typename T>
static void lerp_backward(T *dskip, T *dy, T *dfac, const T *dout, const T *skip, const T *y, const T *fac,
                          size_t n) {
    const char *where = "lerp_backward";
    if (dskip || dy) DK_LAUNCH_1D(where, n, lerp_bwd_kernel<T>, dskip, dy, dout, fac, n);
    if (dfac) dk_reduce<T>(dfac, 1, n, LerpFac<T>{dout, skip, y}, 1.0, 1.0, 1, where);
}

}  // namespace

#define P_BIN_F(T) (T * out, const T *a, const T *b, const dk_bcast *bc, int op)
#define P_BIN_B(T) (T * da, T * db, const T *dout, const T *a, const T *b, const dk_bcast *bc, int op)
#define P_UN_F(T) (T * out, const T *x, size_t n, int kind)
#define P_UN_B(T) (T * dx, const T *dout, const T *x, size_t n, int kind)
#define P_AFF(T) (T * out, const T *x, size_t n, double s, double c)
#define P_ADD(T) (T * dst, const T *src, size_t n, double s)
#define P_GEG_F(T) (T * out, const T *x, size_t M, size_t F)
#define P_GEG_B(T) (T * dx, const T *dout, const T *x, size_t M, size_t F)
#define P_MOD_F(T) (T * out, const T *x, const T *shift, const T *scale, size_t B, size_t Tn, size_t D)
#define P_MOD_B(T) \
    (T * dx, T * dshift, T * dscale, const T *dout, const T *x, const T *scale, size_t B, size_t Tn, size_t D)
#define P_GR_F(T) (T * out, const T *x, const T *gate, const T *y, size_t B, size_t Tn, size_t D)
#define P_GR_B(T) \
    (T * dx, T * dgate, T * dy, const T *dout, const T *gate, const T *y, size_t B, size_t Tn, size_t D)
#define P_LERP_F(T) (T * out, const T *skip, const T *y, const T *fac, size_t n)
#define P_LERP_B(T) (T * dskip, T * dy, T * dfac, const T *dout, const T *skip, const T *y, const T *fac, size_t n)

DK_CUDA_BOTH(void, dk_k_binary_forward, binary_forward, P_BIN_F, (out, a, b, bc, op))
DK_CUDA_BOTH(void, dk_k_binary_backward, binary_backward, P_BIN_B, (da, db, dout, a, b, bc, op))
DK_CUDA_BOTH(void, dk_k_unary_forward, unary_forward, P_UN_F, (out, x, n, kind))
DK_CUDA_BOTH(void, dk_k_unary_backward, unary_backward, P_UN_B, (dx, dout, x, n, kind))
DK_CUDA_BOTH(void, dk_k_affine_forward, affine_forward, P_AFF, (out, x, n, s, c))
DK_CUDA_BOTH(void, dk_k_add_into, add_into, P_ADD, (dst, src, n, s))
DK_CUDA_BOTH(void, dk_k_geglu_forward, geglu_forward, P_GEG_F, (out, x, M, F))
DK_CUDA_BOTH(void, dk_k_geglu_backward, geglu_backward, P_GEG_B, (dx, dout, x, M, F))
DK_CUDA_BOTH(void, dk_k_modulate_forward, modulate_forward, P_MOD_F, (out, x, shift, scale, B, Tn, D))
DK_CUDA_BOTH(void, dk_k_modulate_backward, modulate_backward, P_MOD_B, (dx, dshift, dscale, dout, x, scale, B, Tn, D))
DK_CUDA_BOTH(void, dk_k_gated_residual_forward, gated_residual_forward, P_GR_F, (out, x, gate, y, B, Tn, D))
DK_CUDA_BOTH(void, dk_k_gated_residual_backward, gated_residual_backward, P_GR_B,
             (dx, dgate, dy, dout, gate, y, B, Tn, D))
DK_CUDA_BOTH(void, dk_k_lerp_forward, lerp_forward, P_LERP_F, (out, skip, y, fac, n))
DK_CUDA_BOTH(void, dk_k_lerp_backward, lerp_backward, P_LERP_B, (dskip, dy, dfac, dout, skip, y, fac, n))
