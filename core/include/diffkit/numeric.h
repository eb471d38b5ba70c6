/* numeric.h: small numerical helpers shared by the core and the plugins.
 *
 *  - dk_lin / dk_lin_f32: torch.linspace reproduced bit for bit (torch 1.13 CPU
 *    kernel, AVX2 build; golden/README.md section 0). Schedules, DDPM tables
 *    and dpm_fast build their grids with it, so they match k-diffusion to the
 *    last bit, including an exact end point where it matters.
 *  - dk_erfinv: the inverse error function in double (Giles 2010 initial
 *    guess refined by Halley steps on erf), relative error ~1e-15.
 *  - sigmoid, logit, lerp, float32 rounding helpers. */
#ifndef DIFFKIT_NUMERIC_H
#define DIFFKIT_NUMERIC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* out[0..n-1] = torch.linspace(a, b, n) in float64 (n >= 1; n == 1 gives [a]).
 * step = (b - a)/(n - 1); entries below n/2 are a + step*i, the others
 * b - step*(n-1-i); vector blocks of 4 lanes start at such a value and add
 * j*step (tests/data/golden/FORMAT.md section 0). For n < 8 the last entry is exactly b. */
void dk_lin(double a, double b, int64_t n, double *out);
/* The same in float32 (8 lanes per vector; float arithmetic throughout):
 * what k-diffusion's schedules compute with torch's default dtype. */
void dk_lin_f32(float a, float b, int64_t n, float *out);

/* Inverse of erf on (-1, 1): erfinv(+-1) = +-inf, NaN outside [-1, 1].
 * Giles, "Approximating the erfinv function" (GPU Gems 4, 2010), single-
 * precision polynomial as the start, then Halley steps on erf(x) = y
 * (two suffice in the centre; a few more far in the tails), with the
 * residual taken through erfc near |y| = 1. Relative error ~1e-15. */
double dk_erfinv(double y);
/* Standard normal quantile: Phi^-1(p) = sqrt(2) erfinv(2p - 1). */
double dk_ndtri(double p);

/* 1/(1 + exp(-x)), computed without overflow. */
double dk_sigmoid(double x);
/* log(p/(1-p)). */
double dk_logit(double p);
/* torch.lerp: a + w*(b - a) for |w| < 0.5, else b - (b - a)*(1 - w). */
double dk_lerp(double a, double b, double w);
/* (double)(float)x: the value x has once stored as float32. */
double dk_round_f32(double x);
/* Index of the largest element <= v in an ascending array xs[0..n-1]; -1 if
 * none (v below xs[0] or NaN). */
int64_t dk_search_le(const double *xs, int64_t n, double v);

#ifdef __cplusplus
}
#endif
#endif
