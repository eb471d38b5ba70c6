/* k_embed.cu: embedding lookup, DiT timestep embedding and Fourier features
 * on the GPU (CPU twins in backend/cpu/k_misc.inc), with the CPU's formulas
 * in the same types.
 *
 * Embedding backward is deterministic without atomics: one thread per
 * feature column j walks the indices in order and adds dout[i, j] into
 * dtable[idx[i], j], exactly the CPU's order (bit-identical sums), so repeated
 * indices never race. Its parallelism is D (the embedding width), enough for
 * label embeddings (n = batch); a long index list is correct but slow. The
 * parameter gradients of the Fourier features and dt of the timestep
 * embedding are deterministic dk_reduce sums (double). Indices are not checked
 * against the table size (the op checks them on the host, as for the CPU). */
#include "cuda_kutil.cuh"

/* Everything but the table entries has internal linkage (kernels and
 * functors of other files may share names). */
namespace {

/* ---- embedding: out (n, D) = table[idx] ---- */

template <typename T>
__global__ void embedding_fwd_kernel(T *out, const T *table, const int64_t *idx, size_t n, size_t D) {
    DK_GRID_STRIDE(e, n * D) {
        size_t i = e / D, j = e % D;
        out[e] = table[(size_t)idx[i] * D + j];
    }
}
template <typename T>
__global__ void embedding_bwd_kernel(T *dtable, const T *dout, const int64_t *idx, size_t n, size_t D) {
    DK_GRID_STRIDE(j, D) {
        for (size_t i = 0; i < n; i++) dtable[(size_t)idx[i] * D + j] += dout[i * D + j];
    }
}
template <typename T>
static void embedding_forward(T *out, const T *table, const int64_t *idx, size_t n, size_t D) {
    DK_LAUNCH_1D("embedding_forward", n * D, embedding_fwd_kernel<T>, out, table, idx, n, D);
}
template <typename T>
static void embedding_backward(T *dtable, const T *dout, const int64_t *idx, size_t n, size_t D) {
    if (dtable && n) DK_LAUNCH_1D("embedding_backward", D, embedding_bwd_kernel<T>, dtable, dout, idx, n, D);
}

/* ---- timestep: t (B) -> out (B, dim) = [cos(t f) | sin(t f)] (| 0 if dim is odd),
 * f_k = exp(-ln(max_period) k / half) ---- */

template <typename T>
__global__ void timestep_fwd_kernel(T *out, const T *t, size_t B, size_t dim, T a) {
    size_t half = dim / 2;
    DK_GRID_STRIDE(e, B * dim) {
        size_t b = e / dim, c = e % dim;
        if (c >= 2 * half) {
            out[e] = (T)0;
        } else {
            size_t kk = c < half ? c : c - half;
            T f = dk_exp(a * (T)kk / (T)half), arg = t[b] * f;
            out[e] = c < half ? dk_cos(arg) : dk_sin(arg);
        }
    }
}
template <typename T>
struct TimestepTerm {
    const T *dout, *t;
    size_t dim;
    T a;
    __device__ double operator()(size_t b, size_t kk) const {
        size_t half = dim / 2;
        T f = dk_exp(a * (T)kk / (T)half), arg = t[b] * f;
        return (double)f * (-dk_sin(arg) * dout[b * dim + kk] + dk_cos(arg) * dout[b * dim + half + kk]);
    }
};
template <typename T>
static void timestep_forward(T *out, const T *t, size_t B, size_t dim, double max_period) {
    T a = (T)-log(max_period);
    DK_LAUNCH_1D("timestep_forward", B * dim, timestep_fwd_kernel<T>, out, t, B, dim, a);
}
template <typename T>
static void timestep_backward(T *dt, const T *dout, const T *t, size_t B, size_t dim, double max_period) {
    if (!dt) return;
    T a = (T)-log(max_period);
    dk_reduce<T>(dt, B, dim / 2, TimestepTerm<T>{dout, t, dim, a}, 1.0, 1.0, 1, "timestep_backward");
}

/* ---- Fourier features: p = (2 pi v) w^T; out (B, 2F) = [cos p | sin p] ---- */

#define TWO_PI ((T)(2.0 * 3.14159265358979323846))

template <typename T>
__global__ void fourier_fwd_kernel(T *out, const T *v, const T *w, size_t B, size_t NI, size_t F) {
    DK_GRID_STRIDE(e, B * F) {
        size_t b = e / F, f = e % F;
        T tp = TWO_PI, p = 0;
        for (size_t i = 0; i < NI; i++) p += (tp * v[b * NI + i]) * w[f * NI + i];
        out[b * 2 * F + f] = dk_cos(p);
        out[b * 2 * F + F + f] = dk_sin(p);
    }
}
/* dL/dp of (b, f): cos -> -sin, sin -> cos */
template <typename T>
static __device__ __forceinline__ T fourier_dp(const T *dout, const T *out, size_t b, size_t f, size_t F) {
    size_t o = b * 2 * F;
    return -out[o + F + f] * dout[o + f] + out[o + f] * dout[o + F + f];
}
/* dv[b, i] += sum_f 2 pi dp(b, f) w[f, i] */
template <typename T>
struct FourierDv {
    const T *dout, *out, *w;
    size_t NI, F;
    __device__ double operator()(size_t e, size_t f) const {
        size_t b = e / NI, i = e % NI;
        return (double)(TWO_PI * fourier_dp(dout, out, b, f, F) * w[f * NI + i]);
    }
};
/* dw[f, i] += sum_b dp(b, f) 2 pi v[b, i] */
template <typename T>
struct FourierDw {
    const T *dout, *out, *v;
    size_t NI, F;
    __device__ double operator()(size_t e, size_t b) const {
        size_t f = e / NI, i = e % NI;
        return (double)(fourier_dp(dout, out, b, f, F) * TWO_PI * v[b * NI + i]);
    }
};
template <typename T>
static void fourier_forward(T *out, const T *v, const T *w, size_t B, size_t NI, size_t F) {
    DK_LAUNCH_1D("fourier_forward", B * F, fourier_fwd_kernel<T>, out, v, w, B, NI, F);
}
template <typename T>
static void fourier_backward(T *dv, T *dw, const T *dout, const T *out, const T *v, const T *w, size_t B, size_t NI,
                             size_t F) {
    const char *where = "fourier_backward";
    if (dv) dk_reduce<T>(dv, B * NI, F, FourierDv<T>{dout, out, w, NI, F}, 1.0, 1.0, 1, where);
    if (dw) dk_reduce<T>(dw, F * NI, B, FourierDw<T>{dout, out, v, NI, F}, 1.0, 1.0, 1, where);
}

}  // namespace

#define P_EMB_F(T) (T * out, const T *table, const int64_t *idx, size_t n, size_t D)
#define P_EMB_B(T) (T * dtable, const T *dout, const int64_t *idx, size_t n, size_t D)
#define P_TS_F(T) (T * out, const T *t, size_t B, size_t dim, double max_period)
#define P_TS_B(T) (T * dt, const T *dout, const T *t, size_t B, size_t dim, double max_period)
#define P_FF_F(T) (T * out, const T *v, const T *w, size_t B, size_t NI, size_t F)
#define P_FF_B(T) (T * dv, T * dw, const T *dout, const T *out, const T *v, const T *w, size_t B, size_t NI, size_t F)

DK_CUDA_BOTH(void, dk_k_embedding_forward, embedding_forward, P_EMB_F, (out, table, idx, n, D))
DK_CUDA_BOTH(void, dk_k_embedding_backward, embedding_backward, P_EMB_B, (dtable, dout, idx, n, D))
DK_CUDA_BOTH(void, dk_k_timestep_forward, timestep_forward, P_TS_F, (out, t, B, dim, max_period))
DK_CUDA_BOTH(void, dk_k_timestep_backward, timestep_backward, P_TS_B, (dt, dout, t, B, dim, max_period))
DK_CUDA_BOTH(void, dk_k_fourier_forward, fourier_forward, P_FF_F, (out, v, w, B, NI, F))
DK_CUDA_BOTH(void, dk_k_fourier_backward, fourier_backward, P_FF_B, (dv, dw, dout, out, v, w, B, NI, F))
