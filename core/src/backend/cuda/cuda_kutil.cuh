/* cuda_kutil.cuh: helpers shared by the CUDA kernel files of the core ops
 * (k_linear, k_elementwise, k_reduce, k_norm, k_embed, k_layout): math
 * function overloads for float / double, a launch macro, and a deterministic
 * two-pass reduction.
 *
 * Reduction (dk_reduce): out[e] (+)= mul * sum_{k < K} f(e, k) / div for
 * e < E, summed in double. The K terms of each e are cut into NC chunks of CL
 * terms (NC and CL depend only on E and K); pass 1 sums each chunk in k order
 * into scratch, pass 2 adds the NC partial sums in chunk order. So the result
 * depends only on the sizes, never on the GPU, the launch or the timing (no
 * atomics), and every e is written by one thread (gradients may alias other
 * buffers that are handled by other launches). */
#ifndef DK_CUDA_KUTIL_CUH
#define DK_CUDA_KUTIL_CUH

#include "cuda_common.cuh"

/* ---- math overloads (the CPU kernels use tgmath.h; these pick the same precision) ---- */
static __device__ __forceinline__ float dk_exp(float x) { return expf(x); }
static __device__ __forceinline__ double dk_exp(double x) { return exp(x); }
static __device__ __forceinline__ float dk_log(float x) { return logf(x); }
static __device__ __forceinline__ double dk_log(double x) { return log(x); }
static __device__ __forceinline__ float dk_erfc(float x) { return erfcf(x); }
static __device__ __forceinline__ double dk_erfc(double x) { return erfc(x); }
static __device__ __forceinline__ float dk_tanh(float x) { return tanhf(x); }
static __device__ __forceinline__ double dk_tanh(double x) { return tanh(x); }
static __device__ __forceinline__ float dk_sin(float x) { return sinf(x); }
static __device__ __forceinline__ double dk_sin(double x) { return sin(x); }
static __device__ __forceinline__ float dk_cos(float x) { return cosf(x); }
static __device__ __forceinline__ double dk_cos(double x) { return cos(x); }
static __device__ __forceinline__ float dk_fmax(float a, float b) { return fmaxf(a, b); }
static __device__ __forceinline__ double dk_fmax(double a, double b) { return fmax(a, b); }

/* Launch of a 1-D grid-stride kernel over n items on the backend's stream,
 * the launch error recorded under `where`. Nothing is launched for n == 0. */
#define DK_LAUNCH_1D(where, n, kernel, ...)                                                      \
    do {                                                                                         \
        size_t dk__n = (n);                                                                      \
        if (dk__n) {                                                                             \
            kernel<<<dk_cuda_blocks(dk__n), DK_CUDA_THREADS, 0, dk_cuda_stream()>>>(__VA_ARGS__); \
            DK_CUDA_LAUNCHED(where);                                                             \
        }                                                                                        \
    } while (0)

/* ---- deterministic reduction ---- */

template <typename T>
static __device__ __forceinline__ void dk_red_store(T *out, size_t e, double s, double mul, double div, int acc) {
    double v = s * mul;
    if (div != 1.0) v = v / div;
    if (acc)
        out[e] += (T)v;
    else
        out[e] = (T)v;
}

template <typename T, typename F>
__global__ void dk_red_direct(T *out, size_t E, size_t K, F f, double mul, double div, int acc) {
    DK_GRID_STRIDE(e, E) {
        double s = 0;
        for (size_t k = 0; k < K; k++) s += f(e, k);
        dk_red_store(out, e, s, mul, div, acc);
    }
}

template <typename F>
__global__ void dk_red_pass1(double *part, size_t E, size_t K, size_t CL, size_t NC, F f) {
    DK_GRID_STRIDE(t, NC * E) {
        size_t c = t / E, e = t % E, k0 = c * CL, k1 = k0 + CL < K ? k0 + CL : K;
        double s = 0;
        for (size_t k = k0; k < k1; k++) s += f(e, k);
        part[t] = s;
    }
}

template <typename T>
__global__ void dk_red_pass2(T *out, const double *part, size_t E, size_t NC, double mul, double div, int acc) {
    DK_GRID_STRIDE(e, E) {
        double s = 0;
        for (size_t c = 0; c < NC; c++) s += part[c * E + e];
        dk_red_store(out, e, s, mul, div, acc);
    }
}

/* out[e] = (T)(mul * S_e / div) (acc 0) or out[e] += (T)(mul * S_e / div)
 * (acc 1), S_e = sum_{k<K} f(e, k) in double; f is a copyable functor with
 * `__device__ double operator()(size_t e, size_t k) const`. */
template <typename T, typename F>
static void dk_reduce(T *out, size_t E, size_t K, F f, double mul, double div, int acc, const char *where) {
    if (E == 0) return;
    /* chunks: about 2^16 threads in all, at least 32 terms per chunk */
    size_t want = E >= 65536 ? 1 : (65536 + E - 1) / E, most = (K + 31) / 32;
    if (want > most) want = most;
    if (want < 1) want = 1;
    size_t CL = (K + want - 1) / want;
    if (CL < 1) CL = 1;
    size_t NC = (K + CL - 1) / CL;
    cudaStream_t s = dk_cuda_stream();
    if (NC <= 1) {
        dk_red_direct<T, F><<<dk_cuda_blocks(E), DK_CUDA_THREADS, 0, s>>>(out, E, K, f, mul, div, acc);
        DK_CUDA_LAUNCHED(where);
        return;
    }
    double *part = (double *)dk_cuda_scratch(NC * E * sizeof(double), where);
    if (!part) return; /* the error is recorded; sync() reports it */
    dk_red_pass1<F><<<dk_cuda_blocks(NC * E), DK_CUDA_THREADS, 0, s>>>(part, E, K, CL, NC, f);
    DK_CUDA_LAUNCHED(where);
    dk_red_pass2<T><<<dk_cuda_blocks(E), DK_CUDA_THREADS, 0, s>>>(out, part, E, NC, mul, div, acc);
    DK_CUDA_LAUNCHED(where);
    dk_cuda_scratch_release(part); /* stream-ordered: reused only by later launches */
}

/* The two table entries of a kernel from its template: P is a macro that
 * gives the parameter list for a type, ARGS the argument names. A signature
 * that differs from kernels_list.inc fails at link time (the table's symbol
 * is missing). */
#define DK_CUDA_BOTH(ret, name, impl, P, ARGS)                     \
    ret name##_cuda_f32 P(float) { return impl<float> ARGS; }      \
    ret name##_cuda_f64 P(double) { return impl<double> ARGS; }

#endif
