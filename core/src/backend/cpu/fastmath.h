/* fastmath.h: branch-free F32 exp / sigmoid / erfc used by the F32 kernels
 * (activations, softmax), written so GCC vectorizes the loops that call them
 * (no libm calls, no errno, selects instead of branches). F64 kernels keep
 * libm. Accuracy (tests/unit/test_perf_fastmath.c measures it against libm
 * in double, |x| <= 3): exp 0.9 ulp, SiLU 2.8 ulp, GELU-erf 5.4 ulp,
 * GELU-tanh 13 ulp (most of it the float rounding of the cubic argument
 * u = c(x + 0.044715 x^3), which any F32 evaluation carries); derivatives
 * within 6e-6 of max(|d|, 0.01). NaN in gives NaN out, overflow gives inf.
 *
 * exp: x = n ln2 + r with |r| <= ln2/2 (Cody & Waite reduction, ln2 split in
 * a hi part exact in float and a lo part), exp(r) by its degree-6 Taylor /
 * minimax polynomial (Cephes expf coefficients), 2^n built from exponent
 * bits in two halves so the result underflows gradually to denormals. */
#ifndef DK_FASTMATH_H
#define DK_FASTMATH_H

#include <stdint.h>
#include <string.h>

static inline float dk_fm_bits2f(int32_t i) {
    float f;
    memcpy(&f, &i, sizeof f);
    return f;
}
static inline int32_t dk_fm_f2bits(float f) {
    int32_t i;
    memcpy(&i, &f, sizeof i);
    return i;
}

/* exp(hi + lo), hi + lo carried in two floats (lo holds bits hi cannot). */
static inline float dk_expf_hl(float hi, float lo) {
    /* renormalize so |lo| <= ulp(hi)/2 (Knuth's TwoSum, exact) */
    float s = hi + lo, bb = s - hi;
    lo = (hi - (s - bb)) + (lo - bb);
    hi = s;
    /* clamp: below -104 the result is 0 in float, above 89 it is inf; a NaN
     * fails both comparisons and stays NaN */
    hi = hi < -104.0f ? -104.0f : hi;
    hi = hi > 89.0f ? 89.0f : hi;
    const float shifter = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    float t = hi * 1.44269504088896341f + shifter;
    float n = t - shifter;
    /* n as an integer from the bits of t (unsigned: no overflow even for NaN) */
    int32_t ni = (int32_t)((uint32_t)dk_fm_f2bits(t) - (uint32_t)dk_fm_f2bits(shifter));
    float r = __builtin_fmaf(n, -0.693359375f, hi); /* ln2 hi: 9 significant bits, n*hi exact */
    r = __builtin_fmaf(n, 2.12194440e-4f, r);      /* ln2 lo */
    r = r + lo;
    float p = 1.9875691500e-4f;
    p = __builtin_fmaf(p, r, 1.3981999507e-3f);
    p = __builtin_fmaf(p, r, 8.3334519073e-3f);
    p = __builtin_fmaf(p, r, 4.1665795894e-2f);
    p = __builtin_fmaf(p, r, 1.6666665459e-1f);
    p = __builtin_fmaf(p, r, 5.0000001201e-1f);
    p = __builtin_fmaf(p, r * r, r) + 1.0f;
    /* 2^n = 2^n1 * 2^n2, n1 = floor(n/2): both factors normal for n in [-150, 128] */
    int32_t n1 = ni >> 1, n2 = ni - n1;
    float s1 = dk_fm_bits2f((int32_t)((uint32_t)(n1 + 127) << 23));
    float s2 = dk_fm_bits2f((int32_t)((uint32_t)(n2 + 127) << 23));
    return p * s1 * s2;
}

static inline float dk_expf_fast(float x) { return dk_expf_hl(x, 0.0f); }

/* sigmoid(z) = 1/(1+e^-z) and 1 - sigmoid(z), both with e = exp(-|z|) so
 * neither cancels nor overflows. */
static inline float dk_sigmoidf_fast(float z, float *one_minus) {
    float az = z < 0 ? -z : z;
    float e = dk_expf_fast(-az);
    float inv = 1.0f / (1.0f + e);
    float s_pos = inv, s_neg = e * inv;
    if (one_minus) *one_minus = z < 0 ? s_pos : s_neg;
    return z < 0 ? s_neg : s_pos;
}

/* erfc(|x|/sqrt2) (Numerical Recipes' Chebyshev fit, Press et al. 2007
 * sec. 6.2.2: erfc(a) = t exp(-a^2 - 1.26551223 + t P(t)), t = 1/(1 + a/2),
 * fractional error < 1.2e-7). a^2 = x^2/2 is formed exactly (FMA split) so
 * the large exponent loses no bits. */
static inline float dk_erfcf_scaled(float x) {
    float a = (x < 0 ? -x : x) * 0.70710678118654752f;
    float t = 1.0f / (1.0f + 0.5f * a);
    float p = 0.17087277f;
    p = __builtin_fmaf(p, t, -0.82215223f);
    p = __builtin_fmaf(p, t, 1.48851587f);
    p = __builtin_fmaf(p, t, -1.13520398f);
    p = __builtin_fmaf(p, t, 0.27886807f);
    p = __builtin_fmaf(p, t, -0.18628806f);
    p = __builtin_fmaf(p, t, 0.09678418f);
    p = __builtin_fmaf(p, t, 0.37409196f);
    p = __builtin_fmaf(p, t, 1.00002368f);
    p = __builtin_fmaf(p, t, -1.26551223f);
    float x2 = x * x;
    float x2lo = __builtin_fmaf(x, x, -x2); /* x*x - x2 exactly */
    return t * dk_expf_hl(-0.5f * x2, p - 0.5f * x2lo);
}

/* Phi(x) = P(N(0,1) <= x) = erfc(-x/sqrt2)/2, and 1 - Phi(x), each without
 * cancellation. */
static inline float dk_phif_fast(float x, float *one_minus) {
    float h = 0.5f * dk_erfcf_scaled(x); /* the tail: Phi(-|x|) */
    float c = 1.0f - h;
    if (one_minus) *one_minus = x < 0 ? c : h;
    return x < 0 ? h : c;
}

#endif
