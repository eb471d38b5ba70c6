/* k_norm.cu: LayerNorm and RMSNorm on the GPU (CPU twins in
 * backend/cpu/k_norm.inc). Forward and dx: one block per row, the row
 * statistics summed in double (per-thread strided partial sums, then a fixed
 * shared-memory tree: deterministic). dw / db / dg: column sums over the rows
 * through dk_reduce (double, deterministic). The element formulas are the
 * CPU's, in the same types. */
#include "cuda_kutil.cuh"

/* Everything but the table entries has internal linkage (kernels and
 * functors of other files may share names). */
namespace {

#define NORM_THREADS 256

/* Sum of v over the block (NORM_THREADS threads), the same value returned to
 * every thread; sh holds NORM_THREADS doubles. */
static __device__ __forceinline__ double block_sum(double v, double *sh) {
    sh[threadIdx.x] = v;
    __syncthreads();
    for (int s = NORM_THREADS / 2; s > 0; s >>= 1) {
        if ((int)threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
        __syncthreads();
    }
    double r = sh[0];
    __syncthreads(); /* sh is reused by the next call */
    return r;
}

static unsigned row_blocks(size_t M) { return (unsigned)(M < (1u << 20) ? M : (1u << 20)); }

/* ---- LayerNorm: out = (x - mean) rstd w + b, biased variance ---- */

template <typename T>
__global__ void __launch_bounds__(NORM_THREADS)
    layernorm_fwd_kernel(T *out, T *mean, T *rstd, const T *x, const T *w, const T *b, size_t M, size_t D,
                         double eps) {
    __shared__ double sh[NORM_THREADS];
    for (size_t m = blockIdx.x; m < M; m += gridDim.x) {
        const T *xr = x + m * D;
        T *o = out + m * D;
        double s = 0;
        for (size_t j = threadIdx.x; j < D; j += NORM_THREADS) s += xr[j];
        double mu = block_sum(s, sh) / (double)D;
        double s2 = 0;
        for (size_t j = threadIdx.x; j < D; j += NORM_THREADS) {
            double c = xr[j] - mu;
            s2 += c * c;
        }
        double rs = 1.0 / sqrt(block_sum(s2, sh) / (double)D + eps);
        T tmu = (T)mu, trs = (T)rs;
        for (size_t j = threadIdx.x; j < D; j += NORM_THREADS) {
            T n = (xr[j] - tmu) * trs;
            o[j] = n * (w ? w[j] : (T)1) + (b ? b[j] : (T)0);
        }
        if (threadIdx.x == 0) {
            if (mean) mean[m] = tmu;
            if (rstd) rstd[m] = trs;
        }
    }
}

template <typename T>
__global__ void __launch_bounds__(NORM_THREADS)
    layernorm_dx_kernel(T *dx, const T *dout, const T *x, const T *mean, const T *rstd, const T *w, size_t M,
                        size_t D) {
    __shared__ double sh[NORM_THREADS];
    for (size_t m = blockIdx.x; m < M; m += gridDim.x) {
        const T *xr = x + m * D, *g = dout + m * D;
        T mu = mean[m], rs = rstd[m];
        double sd = 0, sdn = 0; /* mean(dnorm), mean(dnorm * norm) */
        for (size_t j = threadIdx.x; j < D; j += NORM_THREADS) {
            double dn = (double)g[j] * (w ? w[j] : (T)1);
            sd += dn;
            sdn += dn * ((xr[j] - mu) * rs);
        }
        sd = block_sum(sd, sh) / (double)D;
        sdn = block_sum(sdn, sh) / (double)D;
        T *d = dx + m * D;
        for (size_t j = threadIdx.x; j < D; j += NORM_THREADS) {
            double dn = (double)g[j] * (w ? w[j] : (T)1), n = (xr[j] - mu) * rs;
            d[j] += (T)(rs * (dn - sd - n * sdn));
        }
    }
}

/* dw[j] += sum_m dout[m, j] norm[m, j]; db[j] += sum_m dout[m, j] */
template <typename T>
struct LnParamTerm {
    const T *g, *x, *mean, *rstd; /* x NULL: the db term */
    size_t D;
    __device__ double operator()(size_t j, size_t m) const {
        size_t i = m * D + j;
        if (!x) return (double)g[i];
        return (double)g[i] * ((x[i] - mean[m]) * rstd[m]);
    }
};

template <typename T>
static void layernorm_forward(T *out, T *mean, T *rstd, const T *x, const T *w, const T *b, size_t M, size_t D,
                              double eps) {
    if (M == 0) return;
    layernorm_fwd_kernel<T><<<row_blocks(M), NORM_THREADS, 0, dk_cuda_stream()>>>(out, mean, rstd, x, w, b, M, D,
                                                                                   eps);
    DK_CUDA_LAUNCHED("layernorm_forward");
}

template <typename T>
static void layernorm_backward(T *dx, T *dw, T *db, const T *dout, const T *x, const T *mean, const T *rstd,
                               const T *w, size_t M, size_t D) {
    const char *where = "layernorm_backward";
    if (dx && M > 0) {
        layernorm_dx_kernel<T><<<row_blocks(M), NORM_THREADS, 0, dk_cuda_stream()>>>(dx, dout, x, mean, rstd, w, M,
                                                                                      D);
        DK_CUDA_LAUNCHED(where);
    }
    if (dw) dk_reduce<T>(dw, D, M, LnParamTerm<T>{dout, x, mean, rstd, D}, 1.0, 1.0, 1, where);
    if (db) dk_reduce<T>(db, D, M, LnParamTerm<T>{dout, NULL, mean, rstd, D}, 1.0, 1.0, 1, where);
}

/* ---- RMSNorm: out = x g rstd, rstd = 1 / sqrt(mean(x^2) + eps); row m uses gain row m / rps ---- */

template <typename T>
__global__ void __launch_bounds__(NORM_THREADS)
    rmsnorm_fwd_kernel(T *out, T *rstd, const T *x, const T *g, size_t M, size_t D, size_t rps, double eps) {
    __shared__ double sh[NORM_THREADS];
    for (size_t m = blockIdx.x; m < M; m += gridDim.x) {
        const T *xr = x + m * D, *gr = g ? g + (m / rps) * D : NULL;
        double s = 0;
        for (size_t j = threadIdx.x; j < D; j += NORM_THREADS) s += (double)xr[j] * xr[j];
        T rs = (T)(1.0 / sqrt(block_sum(s, sh) / (double)D + eps));
        T *o = out + m * D;
        for (size_t j = threadIdx.x; j < D; j += NORM_THREADS) o[j] = xr[j] * rs * (gr ? gr[j] : (T)1);
        if (rstd && threadIdx.x == 0) rstd[m] = rs;
    }
}

template <typename T>
__global__ void __launch_bounds__(NORM_THREADS)
    rmsnorm_dx_kernel(T *dx, const T *dout, const T *x, const T *rstd, const T *g, size_t M, size_t D, size_t rps) {
    __shared__ double sh[NORM_THREADS];
    for (size_t m = blockIdx.x; m < M; m += gridDim.x) {
        const T *xr = x + m * D, *gr = g ? g + (m / rps) * D : NULL, *dy = dout + m * D;
        T rs = rstd[m];
        double s = 0; /* sum_j dy_j g_j x_j */
        for (size_t j = threadIdx.x; j < D; j += NORM_THREADS) s += (double)dy[j] * (gr ? gr[j] : (T)1) * xr[j];
        s = block_sum(s, sh);
        T c = (T)(s * (double)rs * rs * rs / (double)D);
        T *d = dx + m * D;
        for (size_t j = threadIdx.x; j < D; j += NORM_THREADS) d[j] += rs * dy[j] * (gr ? gr[j] : (T)1) - xr[j] * c;
    }
}

/* dg[grp, j] += sum over the rows m of group grp (m = grp * rps + k < M) of dy x rstd */
template <typename T>
struct RmsGainTerm {
    const T *dy, *x, *rstd;
    size_t M, D, rps;
    __device__ double operator()(size_t e, size_t k) const {
        size_t grp = e / D, j = e % D, m = grp * rps + k;
        if (m >= M) return 0.0;
        return (double)dy[m * D + j] * x[m * D + j] * rstd[m];
    }
};

template <typename T>
static void rmsnorm_forward(T *out, T *rstd, const T *x, const T *g, size_t M, size_t D, size_t rps, double eps) {
    if (M == 0) return;
    if (rps == 0) rps = 1; /* only used with g */
    rmsnorm_fwd_kernel<T><<<row_blocks(M), NORM_THREADS, 0, dk_cuda_stream()>>>(out, rstd, x, g, M, D, rps, eps);
    DK_CUDA_LAUNCHED("rmsnorm_forward");
}

template <typename T>
static void rmsnorm_backward(T *dx, T *dg, const T *dout, const T *x, const T *rstd, const T *g, size_t M, size_t D,
                             size_t rps) {
    const char *where = "rmsnorm_backward";
    if (M == 0) return;
    if (rps == 0) rps = 1;
    if (dx) {
        rmsnorm_dx_kernel<T><<<row_blocks(M), NORM_THREADS, 0, dk_cuda_stream()>>>(dx, dout, x, rstd, g, M, D, rps);
        DK_CUDA_LAUNCHED(where);
    }
    if (dg) {
        size_t G = (M + rps - 1) / rps;
        dk_reduce<T>(dg, G * D, rps, RmsGainTerm<T>{dout, x, rstd, M, D, rps}, 1.0, 1.0, 1, where);
    }
}

}  // namespace

#define P_LN_F(T) \
    (T * out, T * mean, T * rstd, const T *x, const T *w, const T *b, size_t M, size_t D, double eps)
#define P_LN_B(T)                                                                                          \
    (T * dx, T * dw, T * db, const T *dout, const T *x, const T *mean, const T *rstd, const T *w, size_t M, \
     size_t D)
#define P_RMS_F(T) (T * out, T * rstd, const T *x, const T *g, size_t M, size_t D, size_t rps, double eps)
#define P_RMS_B(T) (T * dx, T * dg, const T *dout, const T *x, const T *rstd, const T *g, size_t M, size_t D, size_t rps)

DK_CUDA_BOTH(void, dk_k_layernorm_forward, layernorm_forward, P_LN_F, (out, mean, rstd, x, w, b, M, D, eps))
DK_CUDA_BOTH(void, dk_k_layernorm_backward, layernorm_backward, P_LN_B, (dx, dw, db, dout, x, mean, rstd, w, M, D))
DK_CUDA_BOTH(void, dk_k_rmsnorm_forward, rmsnorm_forward, P_RMS_F, (out, rstd, x, g, M, D, rps, eps))
DK_CUDA_BOTH(void, dk_k_rmsnorm_backward, rmsnorm_backward, P_RMS_B, (dx, dg, dout, x, rstd, g, M, D, rps))
