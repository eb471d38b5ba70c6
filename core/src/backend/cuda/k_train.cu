/* k_train.cu: the training kernels on CUDA (backend/cpu/kernels_list.inc,
 * "training"): AdamW and SGD updates, the gradient sum of squares, scaling,
 * the finite check and the EMA update, with the CPU kernels' formulas
 * (backend/cpu/k_train.inc). Element-wise kernels differ from the CPU only
 * where nvcc contracts a multiply and an add into one FMA. The sum of squares
 * is deterministic: one block per DK_NORM_CHUNK chunk sums it in double in a
 * fixed tree order, and the host adds the chunk sums in order, so the result
 * does not depend on scheduling (it differs from the CPU's sum in the last
 * bits: the order inside a chunk differs). sumsq and all_finite return a
 * value to the host, so they wait for the stream. */
#include "cuda_common.cuh"

namespace {

template <typename T>
__global__ void adamw_kernel(T *p, const T *g, T *m, T *v, size_t n, T decay_mul, T w1, T one_minus_w1, int small,
                             T b2, T omb2, T neg_step, T bc2_sqrt, T teps) {
    DK_GRID_STRIDE(i, n) {
        T pi = p[i] * decay_mul;
        T gi = g[i];
        T mi = m[i];
        mi = small ? mi + w1 * (gi - mi) : gi - (gi - mi) * one_minus_w1;
        T vi = v[i] * b2;
        vi = vi + omb2 * gi * gi;
        T denom = sqrt(vi) / bc2_sqrt + teps;
        p[i] = pi + neg_step * mi / denom;
        m[i] = mi;
        v[i] = vi;
    }
}

template <typename T>
__global__ void sgd_kernel(T *p, const T *g, T *buf, size_t n, T twd, int use_wd, T tmom, T tdamp, T nlr,
                           int nesterov, int first) {
    DK_GRID_STRIDE(i, n) {
        T d = g[i];
        if (use_wd) d = d + twd * p[i];
        if (buf) {
            T b = first ? d : buf[i] * tmom + tdamp * d;
            buf[i] = b;
            d = nesterov ? d + tmom * b : b;
        }
        p[i] = p[i] + nlr * d;
    }
}

/* part[c] = sum of squares of chunk c (DK_NORM_CHUNK elements), in double,
 * strided per thread then a fixed shared-memory tree. */
template <typename T>
__global__ void sumsq_kernel(double *part, const T *x, size_t n, size_t nch) {
    __shared__ double sh[DK_CUDA_THREADS];
    for (size_t c = blockIdx.x; c < nch; c += gridDim.x) { /* a block per chunk (grid-stride over chunks) */
        size_t lo = c * (size_t)DK_NORM_CHUNK, hi = lo + DK_NORM_CHUNK < n ? lo + DK_NORM_CHUNK : n;
        double acc = 0;
        for (size_t i = lo + threadIdx.x; i < hi; i += blockDim.x) acc += (double)x[i] * (double)x[i];
        sh[threadIdx.x] = acc;
        __syncthreads();
        for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
            if (threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
            __syncthreads();
        }
        if (threadIdx.x == 0) part[c] = sh[0];
        __syncthreads(); /* sh is reused by the next chunk */
    }
}

template <typename T>
__global__ void scale_kernel(T *x, size_t n, T s) {
    DK_GRID_STRIDE(i, n) x[i] *= s;
}

template <typename T>
__global__ void nonfinite_kernel(int *flag, const T *x, size_t n) {
    DK_GRID_STRIDE(i, n) if (!isfinite(x[i])) *flag = 1; /* every writer writes 1 */
}

template <typename T>
__global__ void ema_kernel(T *avg, const T *x, size_t n, T d, T w) {
    DK_GRID_STRIDE(i, n) avg[i] = avg[i] * d + w * x[i];
}

template <typename T>
void adamw(T *p, const T *g, T *m, T *v, size_t n, double lr, double wd, double beta1, double beta2, double eps,
           int64_t t) {
    if (!n) return;
    const double w1d = 1.0 - beta1;
    const double bc1 = 1.0 - pow(beta1, (double)t), bc2 = 1.0 - pow(beta2, (double)t);
    adamw_kernel<T><<<dk_cuda_blocks(n), DK_CUDA_THREADS, 0, dk_cuda_stream()>>>(
        p, g, m, v, n, (T)(1.0 - lr * wd), (T)w1d, (T)(1.0 - w1d), fabs(w1d) < 0.5, (T)beta2, (T)(1.0 - beta2),
        (T)(-(lr / bc1)), (T)sqrt(bc2), (T)eps);
    DK_CUDA_LAUNCHED("adamw");
}

template <typename T>
void sgd(T *p, const T *g, T *buf, size_t n, double lr, double wd, double momentum, double dampening, int nesterov,
         int first) {
    if (!n) return;
    sgd_kernel<T><<<dk_cuda_blocks(n), DK_CUDA_THREADS, 0, dk_cuda_stream()>>>(
        p, g, buf, n, (T)wd, wd != 0.0, (T)momentum, (T)(1.0 - dampening), (T)(-lr), nesterov, first);
    DK_CUDA_LAUNCHED("sgd");
}

template <typename T>
double sumsq(const T *x, size_t n, double acc) {
    if (!n) return acc;
    size_t nch = (n + DK_NORM_CHUNK - 1) / DK_NORM_CHUNK;
    double *part = (double *)dk_cuda_scratch(nch * sizeof(double), "sumsq");
    double *host = (double *)malloc(nch * sizeof(double));
    if (!part || !host) {
        free(host);
        if (part) dk_cuda_scratch_release(part);
        return NAN; /* the error is recorded; a NaN norm stops the step */
    }
    sumsq_kernel<T><<<(unsigned)(nch < 65535 ? nch : 65535), DK_CUDA_THREADS, 0, dk_cuda_stream()>>>(part, x, n, nch);
    DK_CUDA_LAUNCHED("sumsq");
    cudaError_t e = cudaMemcpyAsync(host, part, nch * sizeof(double), cudaMemcpyDeviceToHost, dk_cuda_stream());
    if (e == cudaSuccess) e = cudaStreamSynchronize(dk_cuda_stream());
    dk_cuda_scratch_release(part);
    if (e != cudaSuccess) {
        dk_cuda_record_error("sumsq (copy of the chunk sums)", e);
        free(host);
        return NAN;
    }
    for (size_t c = 0; c < nch; c++) acc += host[c];
    free(host);
    return acc;
}

template <typename T>
void scale(T *x, size_t n, double s) {
    if (!n) return;
    scale_kernel<T><<<dk_cuda_blocks(n), DK_CUDA_THREADS, 0, dk_cuda_stream()>>>(x, n, (T)s);
    DK_CUDA_LAUNCHED("scale");
}

template <typename T>
int all_finite(const T *x, size_t n) {
    if (!n) return 1;
    int *flag = (int *)dk_cuda_scratch(sizeof(int), "all_finite"), h = 1;
    if (!flag) return 0; /* the error is recorded; refusing the step is the safe answer */
    cudaError_t e = cudaMemsetAsync(flag, 0, sizeof(int), dk_cuda_stream());
    nonfinite_kernel<T><<<dk_cuda_blocks(n), DK_CUDA_THREADS, 0, dk_cuda_stream()>>>(flag, x, n);
    DK_CUDA_LAUNCHED("all_finite");
    if (e == cudaSuccess) e = cudaMemcpyAsync(&h, flag, sizeof(int), cudaMemcpyDeviceToHost, dk_cuda_stream());
    if (e == cudaSuccess) e = cudaStreamSynchronize(dk_cuda_stream());
    dk_cuda_scratch_release(flag);
    if (e != cudaSuccess) {
        dk_cuda_record_error("all_finite", e);
        return 0;
    }
    return !h;
}

template <typename T>
void ema(T *avg, const T *x, size_t n, double decay) {
    if (!n) return;
    ema_kernel<T><<<dk_cuda_blocks(n), DK_CUDA_THREADS, 0, dk_cuda_stream()>>>(avg, x, n, (T)decay,
                                                                               (T)(1.0 - decay));
    DK_CUDA_LAUNCHED("ema");
}

} // namespace

#define DK_TRAIN_INSTANCES(T, S)                                                                                  \
    void dk_k_adamw_cuda_##S(T *p, const T *g, T *m, T *v, size_t n, double lr, double wd, double beta1,         \
                             double beta2, double eps, int64_t t) {                                             \
        adamw<T>(p, g, m, v, n, lr, wd, beta1, beta2, eps, t);                                                   \
    }                                                                                                            \
    void dk_k_sgd_cuda_##S(T *p, const T *g, T *buf, size_t n, double lr, double wd, double momentum,            \
                           double dampening, int nesterov, int first) {                                         \
        sgd<T>(p, g, buf, n, lr, wd, momentum, dampening, nesterov, first);                                     \
    }                                                                                                            \
    double dk_k_sumsq_cuda_##S(const T *x, size_t n, double acc) { return sumsq<T>(x, n, acc); }                 \
    void dk_k_scale_cuda_##S(T *x, size_t n, double s) { scale<T>(x, n, s); }                                    \
    int dk_k_all_finite_cuda_##S(const T *x, size_t n) { return all_finite<T>(x, n); }                           \
    void dk_k_ema_cuda_##S(T *avg, const T *x, size_t n, double decay) { ema<T>(avg, x, n, decay); }

DK_TRAIN_INSTANCES(float, f32)
DK_TRAIN_INSTANCES(double, f64)
