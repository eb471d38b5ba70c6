/* k_reduce.cu: row sums and the losses (MSE, Gaussian KL, discretized
 * Gaussian log-likelihood) on the GPU (CPU twins in
 * backend/cpu/k_elementwise.inc). Row sums go through the deterministic
 * dk_reduce (double accumulators, as the CPU); the rest is one thread per
 * element with the CPU's formulas. */
#include "cuda_kutil.cuh"

/* Everything but the table entries has internal linkage (kernels and
 * functors of other files may share names). */
namespace {

/* ---- sum_rows: out (M) = mul * sum_r x (M, R) ---- */

template <typename T>
struct RowTerm {
    const T *x;
    size_t R;
    __device__ double operator()(size_t m, size_t r) const { return (double)x[m * R + r]; }
};

template <typename T>
__global__ void sum_rows_bwd_kernel(T *dx, const T *dout, size_t R, size_t n, double mul) {
    DK_GRID_STRIDE(i, n) dx[i] += (T)(dout[i / R] * mul);
}

template <typename T>
static void sum_rows_forward(T *out, const T *x, size_t M, size_t R, double mul) {
    dk_reduce<T>(out, M, R, RowTerm<T>{x, R}, mul, 1.0, 0, "sum_rows_forward");
}
template <typename T>
static void sum_rows_backward(T *dx, const T *dout, size_t M, size_t R, double mul) {
    if (dx) DK_LAUNCH_1D("sum_rows_backward", M * R, sum_rows_bwd_kernel<T>, dx, dout, R, M * R, mul);
}

/* ---- mse: a, b (B, R) -> out (B) = mean of squared differences ---- */

template <typename T>
struct SqDiff {
    const T *a, *b;
    size_t R;
    __device__ double operator()(size_t i, size_t r) const {
        double e = (double)a[i * R + r] - b[i * R + r];
        return e * e;
    }
};

template <typename T>
__global__ void mse_bwd_kernel(T *da, T *db, const T *dout, const T *a, const T *b, size_t R, size_t n) {
    DK_GRID_STRIDE(j, n) {
        T c = (T)(2.0 * dout[j / R] / (double)R);
        T g = c * (a[j] - b[j]);
        if (da) da[j] += g;
        if (db) db[j] -= g;
    }
}

template <typename T>
static void mse_forward(T *out, const T *a, const T *b, size_t B, size_t R) {
    dk_reduce<T>(out, B, R, SqDiff<T>{a, b, R}, 1.0, (double)R, 0, "mse_forward");
}
template <typename T>
static void mse_backward(T *da, T *db, const T *dout, const T *a, const T *b, size_t B, size_t R) {
    if (da || db) DK_LAUNCH_1D("mse_backward", B * R, mse_bwd_kernel<T>, da, db, dout, a, b, R, B * R);
}

/* ---- KL(N(m1, e^lv1) || N(m2, e^lv2)) ---- */

template <typename T>
__global__ void normal_kl_fwd_kernel(T *out, const T *m1, const T *lv1, const T *m2, const T *lv2, size_t n) {
    DK_GRID_STRIDE(i, n) {
        T dm = m1[i] - m2[i];
        out[i] = (T)0.5 * ((T)-1 + lv2[i] - lv1[i] + dk_exp(lv1[i] - lv2[i]) + dm * dm * dk_exp(-lv2[i]));
    }
}
template <typename T>
__global__ void normal_kl_bwd_kernel(T *dm1, T *dlv1, T *dm2, T *dlv2, const T *dout, const T *m1, const T *lv1,
                                     const T *m2, const T *lv2, size_t n) {
    DK_GRID_STRIDE(i, n) {
        T g = dout[i], dm = m1[i] - m2[i], e12 = dk_exp(lv1[i] - lv2[i]), ei2 = dk_exp(-lv2[i]);
        if (dm1) dm1[i] += g * dm * ei2;
        if (dm2) dm2[i] -= g * dm * ei2;
        if (dlv1) dlv1[i] += g * (T)0.5 * (e12 - (T)1);
        if (dlv2) dlv2[i] += g * (T)0.5 * ((T)1 - e12 - dm * dm * ei2);
    }
}
template <typename T>
static void normal_kl_forward(T *out, const T *m1, const T *lv1, const T *m2, const T *lv2, size_t n) {
    DK_LAUNCH_1D("normal_kl_forward", n, normal_kl_fwd_kernel<T>, out, m1, lv1, m2, lv2, n);
}
template <typename T>
static void normal_kl_backward(T *dm1, T *dlv1, T *dm2, T *dlv2, const T *dout, const T *m1, const T *lv1,
                               const T *m2, const T *lv2, size_t n) {
    if (dm1 || dlv1 || dm2 || dlv2)
        DK_LAUNCH_1D("normal_kl_backward", n, normal_kl_bwd_kernel<T>, dm1, dlv1, dm2, dlv2, dout, m1, lv1, m2, lv2,
                     n);
}

/* ---- discretized Gaussian log-likelihood (guided-diffusion) ---- */

#define GELU_C ((T)0.79788456080286535588) /* sqrt(2/pi) */

/* approx_standard_normal_cdf and its derivative */
template <typename T>
static __device__ __forceinline__ T approx_cdf(T z, T *dcdf) {
    T t = dk_tanh(GELU_C * (z + (T)0.044715 * z * z * z));
    *dcdf = (T)0.5 * ((T)1 - t * t) * GELU_C * ((T)1 + (T)(3 * 0.044715) * z * z);
    return (T)0.5 * ((T)1 + t);
}

template <typename T>
__global__ void dgll_fwd_kernel(T *out, const T *x, const T *means, const T *log_scales, size_t n) {
    DK_GRID_STRIDE(i, n) {
        T c = x[i] - means[i], inv = dk_exp(-log_scales[i]), d1, d2;
        T cdf_plus = approx_cdf(inv * (c + (T)(1.0 / 255.0)), &d1);
        T cdf_min = approx_cdf(inv * (c - (T)(1.0 / 255.0)), &d2);
        T r;
        if (x[i] < (T)-0.999)
            r = dk_log(dk_fmax(cdf_plus, (T)1e-12));
        else if (x[i] > (T)0.999)
            r = dk_log(dk_fmax((T)1 - cdf_min, (T)1e-12));
        else
            r = dk_log(dk_fmax(cdf_plus - cdf_min, (T)1e-12));
        out[i] = r;
    }
}
template <typename T>
__global__ void dgll_bwd_kernel(T *dmeans, T *dls, const T *dout, const T *x, const T *means, const T *log_scales,
                                size_t n) {
    DK_GRID_STRIDE(i, n) {
        T c = x[i] - means[i], inv = dk_exp(-log_scales[i]), ap, am;
        T pin = inv * (c + (T)(1.0 / 255.0)), min_in = inv * (c - (T)(1.0 / 255.0));
        T cdf_plus = approx_cdf(pin, &ap), cdf_min = approx_cdf(min_in, &am);
        /* d(in)/d(mean) = -inv, d(in)/d(log_scale) = -in */
        T gm = 0, gs = 0;
        if (x[i] < (T)-0.999) {
            if (cdf_plus > (T)1e-12) {
                gm = ap * -inv / cdf_plus;
                gs = ap * -pin / cdf_plus;
            }
        } else if (x[i] > (T)0.999) {
            T v = (T)1 - cdf_min;
            if (v > (T)1e-12) {
                gm = am * inv / v;
                gs = am * min_in / v;
            }
        } else {
            T v = cdf_plus - cdf_min;
            if (v > (T)1e-12) {
                gm = (ap - am) * -inv / v;
                gs = (-ap * pin + am * min_in) / v;
            }
        }
        if (dmeans) dmeans[i] += dout[i] * gm;
        if (dls) dls[i] += dout[i] * gs;
    }
}
template <typename T>
static void dgll_forward(T *out, const T *x, const T *means, const T *log_scales, size_t n) {
    DK_LAUNCH_1D("dgll_forward", n, dgll_fwd_kernel<T>, out, x, means, log_scales, n);
}
template <typename T>
static void dgll_backward(T *dmeans, T *dls, const T *dout, const T *x, const T *means, const T *log_scales,
                          size_t n) {
    if (dmeans || dls) DK_LAUNCH_1D("dgll_backward", n, dgll_bwd_kernel<T>, dmeans, dls, dout, x, means, log_scales, n);
}

}  // namespace

#define P_SR_F(T) (T * out, const T *x, size_t M, size_t R, double mul)
#define P_SR_B(T) (T * dx, const T *dout, size_t M, size_t R, double mul)
#define P_MSE_F(T) (T * out, const T *a, const T *b, size_t B, size_t R)
#define P_MSE_B(T) (T * da, T * db, const T *dout, const T *a, const T *b, size_t B, size_t R)
#define P_KL_F(T) (T * out, const T *m1, const T *lv1, const T *m2, const T *lv2, size_t n)
#define P_KL_B(T)                                                                                                \
    (T * dm1, T * dlv1, T * dm2, T * dlv2, const T *dout, const T *m1, const T *lv1, const T *m2, const T *lv2, \
     size_t n)
#define P_DG_F(T) (T * out, const T *x, const T *means, const T *log_scales, size_t n)
#define P_DG_B(T) (T * dmeans, T * dlog_scales, const T *dout, const T *x, const T *means, const T *log_scales, size_t n)

DK_CUDA_BOTH(void, dk_k_sum_rows_forward, sum_rows_forward, P_SR_F, (out, x, M, R, mul))
DK_CUDA_BOTH(void, dk_k_sum_rows_backward, sum_rows_backward, P_SR_B, (dx, dout, M, R, mul))
DK_CUDA_BOTH(void, dk_k_mse_forward, mse_forward, P_MSE_F, (out, a, b, B, R))
DK_CUDA_BOTH(void, dk_k_mse_backward, mse_backward, P_MSE_B, (da, db, dout, a, b, B, R))
DK_CUDA_BOTH(void, dk_k_normal_kl_forward, normal_kl_forward, P_KL_F, (out, m1, lv1, m2, lv2, n))
DK_CUDA_BOTH(void, dk_k_normal_kl_backward, normal_kl_backward, P_KL_B,
             (dm1, dlv1, dm2, dlv2, dout, m1, lv1, m2, lv2, n))
DK_CUDA_BOTH(void, dk_k_dgll_forward, dgll_forward, P_DG_F, (out, x, means, log_scales, n))
DK_CUDA_BOTH(void, dk_k_dgll_backward, dgll_backward, P_DG_B, (dmeans, dlog_scales, dout, x, means, log_scales, n))
