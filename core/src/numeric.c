/* numeric.c: torch.linspace bit for bit, erfinv, and small scalar helpers
 * (see numeric.h). Compiled with -std=c11, so no FMA contraction: every
 * product and sum is rounded as torch rounds it. */
#include "diffkit/numeric.h"

#include <math.h>

/* torch 1.13 linspace kernel (aten/src/ATen/native/cpu/RangeFactoriesKernel.cpp
 * semantics, restated in golden/README.md section 0): entries below n/2 count
 * up from a, the rest count down from b; the vectorised loop handles blocks
 * of 2V entries, each vector of V lanes starting at the rule value of its
 * first index and adding j*step. */
void dk_lin(double a, double b, int64_t n, double *out) {
    const int64_t V = 4;
    if (n <= 0) return;
    if (n == 1) {
        out[0] = a;
        return;
    }
    const double step = (b - a) / (double)(n - 1);
    const int64_t half = n / 2;
    const int64_t nv = (n / (2 * V)) * (2 * V);
    for (int64_t c = 0; c < nv; c += V) {
        double base = c < half ? a + step * (double)c : b - step * (double)(n - 1 - c);
        out[c] = base;
        for (int64_t j = 1; j < V; j++) out[c + j] = base + (double)j * step;
    }
    for (int64_t i = nv; i < n; i++)
        out[i] = i < half ? a + step * (double)i : b - step * (double)(n - 1 - i);
}

void dk_lin_f32(float a, float b, int64_t n, float *out) {
    const int64_t V = 8;
    if (n <= 0) return;
    if (n == 1) {
        out[0] = a;
        return;
    }
    const float step = (b - a) / (float)(n - 1);
    const int64_t half = n / 2;
    const int64_t nv = (n / (2 * V)) * (2 * V);
    for (int64_t c = 0; c < nv; c += V) {
        float base = c < half ? a + step * (float)c : b - step * (float)(n - 1 - c);
        out[c] = base;
        for (int64_t j = 1; j < V; j++) out[c + j] = base + (float)j * step;
    }
    for (int64_t i = nv; i < n; i++)
        out[i] = i < half ? a + step * (float)i : b - step * (float)(n - 1 - i);
}

/* Giles (2010), "Approximating the erfinv function", GPU Gems 4: a
 * polynomial in w = -log(1 - y^2) good to ~1e-7 for |y| < 1 - 1e-7 (it
 * is extrapolated beyond), then Halley steps on erf(x) = y. */
double dk_erfinv(double y) {
    if (isnan(y) || y < -1.0 || y > 1.0) return NAN;
    if (y == 1.0) return INFINITY;
    if (y == -1.0) return -INFINITY;
    if (y == 0.0) return y; /* keeps the sign of -0 */
    double w = -log((1.0 - y) * (1.0 + y));
    double p;
    if (w < 5.0) {
        w -= 2.5;
        p = 2.81022636e-08;
        p = 3.43273939e-07 + p * w;
        p = -3.5233877e-06 + p * w;
        p = -4.39150654e-06 + p * w;
        p = 0.00021858087 + p * w;
        p = -0.00125372503 + p * w;
        p = -0.00417768164 + p * w;
        p = 0.246640727 + p * w;
        p = 1.50140941 + p * w;
    } else {
        w = sqrt(w) - 3.0;
        p = -0.000200214257;
        p = 0.000100950558 + p * w;
        p = 0.00134934322 + p * w;
        p = -0.00367342844 + p * w;
        p = 0.00573950773 + p * w;
        p = -0.0076224613 + p * w;
        p = 0.00943887047 + p * w;
        p = 1.00167406 + p * w;
        p = 2.83297682 + p * w;
    }
    double x = p * y;
    /* Halley steps (Newton with the curvature erf'' = -2x erf'): two from
     * the central guess reach full precision; far in the tails, where the
     * single-precision polynomial is extrapolated, a few more are taken. */
    const double two_over_sqrt_pi = 1.1283791670955125739; /* 2/sqrt(pi) */
    for (int k = 0; k < 12; k++) {
        double d = two_over_sqrt_pi * exp(-x * x);
        if (d == 0.0) break;
        /* r = erf(x) - y; near |y| = 1 through erfc, since 1 -+ y is exact
         * there (Sterbenz) while erf(x) has lost the low digits. */
        double r;
        if (y > 0.5) r = (1.0 - y) - erfc(x);
        else if (y < -0.5) r = erfc(-x) - (1.0 + y);
        else r = erf(x) - y;
        double step = r / d;
        step /= 1.0 + x * step;
        x -= step;
        if (k >= 1 && fabs(step) <= 1e-16 * fabs(x)) break;
    }
    return x;
}

double dk_ndtri(double p) { return 1.4142135623730950488 * dk_erfinv(2.0 * p - 1.0); }

double dk_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

double dk_logit(double p) { return log(p / (1.0 - p)); }

double dk_lerp(double a, double b, double w) {
    return fabs(w) < 0.5 ? a + w * (b - a) : b - (b - a) * (1.0 - w);
}

double dk_round_f32(double x) { return (double)(float)x; }

int64_t dk_search_le(const double *xs, int64_t n, double v) {
    if (n <= 0 || !(v >= xs[0])) return -1;
    int64_t lo = 0, hi = n - 1; /* invariant: xs[lo] <= v */
    while (lo < hi) {
        int64_t mid = lo + (hi - lo + 1) / 2;
        if (xs[mid] <= v) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}
