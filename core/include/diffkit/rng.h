/* rng.h: Philox-4x32-10 counter-based generator (Salmon et al., SC'11,
 * "Parallel random numbers: as easy as 1, 2, 3") with its own uniform and
 * Gaussian draws, so (seed, stream, counter) gives the same numbers on every
 * machine, thread count and device.
 *
 * Layout: key = seed (two 32-bit words, low first); counter block =
 * {ctr_lo, ctr_hi, stream_lo, stream_hi}. Each call of the block function
 * yields four 32-bit words; a dk_rng consumes them in order and advances
 * `counter` by one per block. Training draws (data order, sigma, noise,
 * label dropout) each use their own stream. */
#ifndef DIFFKIT_RNG_H
#define DIFFKIT_RNG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dk_rng {
    uint64_t seed;
    uint64_t stream;
    uint64_t counter;   /* index of the next block */
    uint32_t buf[4];    /* words of the current block */
    int used;           /* words of buf already consumed (4 = none left) */
} dk_rng;

/* The raw block function: out = Philox4x32-10(ctr, key). */
void dk_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

void dk_rng_init(dk_rng *r, uint64_t seed, uint64_t stream);
/* Jump to a position: the next word is word 0 of block `counter`. */
void dk_rng_seek(dk_rng *r, uint64_t counter);
uint32_t dk_rng_u32(dk_rng *r);
uint64_t dk_rng_u64(dk_rng *r);
/* Uniform in (0, 1): never 0 or 1 (53-bit resolution for f64). */
double dk_rng_uniform(dk_rng *r);
/* Uniform integer in [0, n). Unbiased (rejection). */
uint64_t dk_rng_below(dk_rng *r, uint64_t n);
/* Standard normal draws (Box-Muller on pairs of uniforms; each call to the
 * fill functions starts on a fresh pair, so results depend only on the rng
 * position and n). */
double dk_rng_normal(dk_rng *r);
void dk_rng_fill_uniform_f64(dk_rng *r, double *out, size_t n);
void dk_rng_fill_normal_f64(dk_rng *r, double *out, size_t n);
void dk_rng_fill_normal_f32(dk_rng *r, float *out, size_t n);
/* Advance r exactly as dk_rng_fill_normal_f64/f32 of n values would, without
 * computing them (Philox is counter-based: a skip costs nothing). */
void dk_rng_skip_normals(dk_rng *r, uint64_t n);
/* Fisher-Yates permutation of 0..n-1. */
void dk_rng_permutation(dk_rng *r, int64_t *out, size_t n);

#ifdef __cplusplus
}
#endif
#endif
