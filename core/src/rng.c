/* rng.c: Philox-4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel random numbers:
 * as easy as 1, 2, 3", SC'11) and the draws built on it: 32/64-bit words,
 * uniforms in (0, 1), unbiased integers, Box-Muller Gaussians, permutations.
 *
 * Everything is a pure function of (seed, stream, counter), so a draw is the
 * same on every machine, thread count and device. */
#include "diffkit/rng.h"
#include <math.h>

/* Philox constants (SC'11, table 2; Random123 philox.h). */
#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u /* golden ratio */
#define PHILOX_W1 0xBB67AE85u /* sqrt(3) - 1 */

static inline void mulhilo32(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *lo) {
    uint64_t p = (uint64_t)a * b;
    *hi = (uint32_t)(p >> 32);
    *lo = (uint32_t)p;
}

void dk_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int r = 0; r < 10; r++) {
        uint32_t hi0, lo0, hi1, lo1;
        if (r) { /* the key schedule: a Weyl sequence, bumped before rounds 2..10 */
            k0 += PHILOX_W0;
            k1 += PHILOX_W1;
        }
        mulhilo32(PHILOX_M0, c0, &hi0, &lo0);
        mulhilo32(PHILOX_M1, c2, &hi1, &lo1);
        uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
        c0 = n0;
        c1 = n1;
        c2 = n2;
        c3 = n3;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

void dk_rng_init(dk_rng *r, uint64_t seed, uint64_t stream) {
    r->seed = seed;
    r->stream = stream;
    r->counter = 0;
    r->buf[0] = r->buf[1] = r->buf[2] = r->buf[3] = 0;
    r->used = 4;
}

void dk_rng_seek(dk_rng *r, uint64_t counter) {
    r->counter = counter;
    r->used = 4;
}

static void refill(dk_rng *r) {
    const uint32_t ctr[4] = {(uint32_t)r->counter, (uint32_t)(r->counter >> 32), (uint32_t)r->stream,
                             (uint32_t)(r->stream >> 32)};
    const uint32_t key[2] = {(uint32_t)r->seed, (uint32_t)(r->seed >> 32)};
    dk_philox4x32_10(ctr, key, r->buf);
    r->counter++;
    r->used = 0;
}

uint32_t dk_rng_u32(dk_rng *r) {
    if (r->used >= 4) refill(r);
    return r->buf[r->used++];
}

uint64_t dk_rng_u64(dk_rng *r) {
    uint64_t lo = dk_rng_u32(r);
    uint64_t hi = dk_rng_u32(r);
    return lo | (hi << 32);
}

double dk_rng_uniform(dk_rng *r) {
    /* the top 53 bits: k / 2^53, k in [1, 2^53) (exact, so never 1); k = 0
     * becomes 2^-54 so the result is never 0 and every draw takes two words */
    uint64_t k = dk_rng_u64(r) >> 11;
    return k ? (double)k * 0x1p-53 : 0x1p-54;
}

uint64_t dk_rng_below(dk_rng *r, uint64_t n) {
    if (n <= 1) return 0;
    /* reject the lowest (2^64 mod n) values so every residue is equally likely */
    uint64_t threshold = (0 - n) % n;
    for (;;) {
        uint64_t x = dk_rng_u64(r);
        if (x >= threshold) return x % n;
    }
}

/* Box-Muller (Box & Muller 1958): two uniforms in (0, 1) -> two N(0, 1). */
static void normal_pair(dk_rng *r, double *z0, double *z1) {
    double u1 = dk_rng_uniform(r);
    double u2 = dk_rng_uniform(r);
    double rad = sqrt(-2.0 * log(u1));
    double th = 6.283185307179586 * u2;
    *z0 = rad * cos(th);
    *z1 = rad * sin(th);
}

double dk_rng_normal(dk_rng *r) {
    double z0, z1;
    normal_pair(r, &z0, &z1);
    return z0; /* the second of the pair is dropped: no hidden state */
}

void dk_rng_fill_uniform_f64(dk_rng *r, double *out, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = dk_rng_uniform(r);
}

void dk_rng_fill_normal_f64(dk_rng *r, double *out, size_t n) {
    size_t i = 0;
    for (; i + 1 < n; i += 2) normal_pair(r, &out[i], &out[i + 1]);
    if (i < n) out[i] = dk_rng_normal(r);
}

void dk_rng_fill_normal_f32(dk_rng *r, float *out, size_t n) {
    double z0, z1;
    size_t i = 0;
    for (; i + 1 < n; i += 2) {
        normal_pair(r, &z0, &z1);
        out[i] = (float)z0;
        out[i + 1] = (float)z1;
    }
    if (i < n) out[i] = (float)dk_rng_normal(r);
}

/* Every normal_pair takes four words (two uniforms of two words), and a
 * lone last value a whole pair: n values take 4 * ceil(n / 2) words. */
void dk_rng_skip_normals(dk_rng *r, uint64_t n) {
    uint64_t words = 4 * ((n + 1) / 2), avail = (uint64_t)(4 - r->used);
    if (words <= avail) {
        r->used += (int)words;
        return;
    }
    words -= avail;
    r->counter += words / 4;
    r->used = 4;
    if (words % 4) {
        refill(r);
        r->used = (int)(words % 4);
    }
}

void dk_rng_permutation(dk_rng *r, int64_t *out, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = (int64_t)i;
    for (size_t i = n; i > 1; i--) { /* Fisher-Yates (Knuth, TAOCP vol. 2, algorithm P) */
        size_t j = (size_t)dk_rng_below(r, i);
        int64_t t = out[i - 1];
        out[i - 1] = out[j];
        out[j] = t;
    }
}
