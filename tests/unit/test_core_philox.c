/* test_core_philox.c: Philox-4x32-10 against the Random123 known-answer
 * vectors (kat_vectors, philox4x32 with 10 rounds), and the draws on top:
 * uniform range and mean, normal moments, determinism per (seed, stream,
 * counter), seek, unbiased integers and permutations. */
#include "dktest.h"
#include <stdlib.h>
#include <string.h>

static void test_kat(void) {
    static const struct {
        uint32_t ctr[4], key[2], out[4];
    } kat[] = {
        {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
        {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff}, {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
        {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0}, {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
    };
    for (size_t k = 0; k < sizeof kat / sizeof *kat; k++) {
        uint32_t out[4];
        dk_philox4x32_10(kat[k].ctr, kat[k].key, out);
        for (int i = 0; i < 4; i++) {
            dk_test_checks++;
            if (out[i] != kat[k].out[i])
                dk_test_fail(__FILE__, __LINE__, "kat %zu word %d: got %08x, expected %08x", k, i, out[i], kat[k].out[i]);
        }
    }
}

static void test_layout(void) {
    /* key = seed (low word first), counter block = {ctr_lo, ctr_hi, stream_lo, stream_hi} */
    dk_rng r;
    uint64_t seed = 0x0123456789abcdefull, stream = 0xfedcba9876543210ull;
    dk_rng_init(&r, seed, stream);
    dk_rng_seek(&r, 0x100000005ull);
    uint32_t ctr[4] = {5, 1, 0x76543210, 0xfedcba98}, key[2] = {0x89abcdef, 0x01234567}, out[4];
    dk_philox4x32_10(ctr, key, out);
    for (int i = 0; i < 4; i++) DK_CHECK(dk_rng_u32(&r) == out[i]);
    DK_CHECK(r.counter == 0x100000006ull);
    ctr[0] = 6;
    dk_philox4x32_10(ctr, key, out);
    DK_CHECK(dk_rng_u64(&r) == ((uint64_t)out[1] << 32 | out[0]));
}

static void test_determinism(void) {
    dk_rng a, b, c;
    double x[64], y[64], z[64];
    dk_rng_init(&a, 42, 3);
    dk_rng_init(&b, 42, 3);
    dk_rng_init(&c, 42, 4);
    dk_rng_fill_normal_f64(&a, x, 64);
    dk_rng_fill_normal_f64(&b, y, 64);
    dk_rng_fill_normal_f64(&c, z, 64);
    DK_CHECK(memcmp(x, y, sizeof x) == 0);
    int same = 0;
    for (int i = 0; i < 64; i++) same += x[i] == z[i];
    DK_CHECK(same == 0); /* another stream gives other numbers */
    dk_rng_init(&c, 43, 3);
    dk_rng_fill_normal_f64(&c, z, 64);
    same = 0;
    for (int i = 0; i < 64; i++) same += x[i] == z[i];
    DK_CHECK(same == 0); /* another seed too */

    /* each normal pair uses exactly one block: 64 draws = 32 blocks */
    DK_CHECK(a.counter == 32);
    /* seek to block 10 reproduces draws 20.. of the sequence */
    dk_rng_seek(&b, 10);
    dk_rng_fill_normal_f64(&b, y, 4);
    DK_CHECK(memcmp(x + 20, y, 4 * sizeof *y) == 0);
    /* f32 fill = f64 fill rounded */
    float f[5];
    dk_rng_seek(&b, 0);
    dk_rng_fill_normal_f32(&b, f, 5);
    for (int i = 0; i < 5; i++) DK_CHECK(f[i] == (float)x[i]);
    /* an odd fill ends on a dropped partner: the next fill starts on a fresh block */
    DK_CHECK(b.counter == 3 && b.used == 4);
    /* dk_rng_normal = first of a pair */
    dk_rng_seek(&b, 1);
    DK_CHECK(dk_rng_normal(&b) == x[2]);
    /* uniform fill = uniform calls */
    double u[3];
    dk_rng_init(&a, 7, 0);
    dk_rng_fill_uniform_f64(&a, u, 3);
    dk_rng_init(&b, 7, 0);
    for (int i = 0; i < 3; i++) DK_CHECK(u[i] == dk_rng_uniform(&b));
}

static void test_uniform(void) {
    dk_rng r;
    dk_rng_init(&r, 1, 0);
    const size_t n = 1000000;
    double s = 0, mn = 1, mx = 0;
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        double u = dk_rng_uniform(&r);
        bad += !(u > 0.0 && u < 1.0);
        s += u;
        if (u < mn) mn = u;
        if (u > mx) mx = u;
    }
    DK_CHECK(bad == 0);
    DK_CHECK_NEAR(s / n, 0.5, 5 * 0.2887 / 1000, 0);
    DK_CHECK(mn < 1e-5 && mx > 1 - 1e-5);
    /* 53-bit resolution: every uniform is a multiple of 2^-53 (or 2^-54 for k = 0) */
    dk_rng_init(&r, 1, 5);
    int grid = 1;
    for (int i = 0; i < 1000; i++) {
        double u = dk_rng_uniform(&r) * 0x1p53;
        grid &= u == floor(u);
    }
    DK_CHECK(grid);
    /* the same draw from the raw words */
    dk_rng_init(&r, 1, 5);
    uint64_t w = dk_rng_u64(&r);
    dk_rng_init(&r, 1, 5);
    DK_CHECK(dk_rng_uniform(&r) == (double)(w >> 11) * 0x1p-53);
}

static void test_normal(void) {
    dk_rng r;
    dk_rng_init(&r, 12345, 1);
    const size_t n = 1000000;
    double *x = malloc(n * sizeof *x);
    dk_rng_fill_normal_f64(&r, x, n);
    double m1 = 0, m2 = 0, m3 = 0, m4 = 0;
    size_t tail = 0;
    for (size_t i = 0; i < n; i++) m1 += x[i];
    m1 /= n;
    for (size_t i = 0; i < n; i++) {
        double d = x[i] - m1;
        m2 += d * d;
        m3 += d * d * d;
        m4 += d * d * d * d;
        tail += fabs(x[i]) > 1.959963984540054;
    }
    m2 /= n;
    m3 /= n;
    m4 /= n;
    /* standard errors on 1e6 draws: mean 1e-3, var 1.4e-3, skew 2.4e-3, kurt 4.9e-3 */
    DK_CHECK_NEAR(m1, 0.0, 0.005, 0);
    DK_CHECK_NEAR(m2, 1.0, 0.007, 0);
    DK_CHECK_NEAR(m3 / pow(m2, 1.5), 0.0, 0.012, 0);
    DK_CHECK_NEAR(m4 / (m2 * m2), 3.0, 0.025, 0);
    DK_CHECK_NEAR((double)tail / n, 0.05, 0.0011, 0); /* P(|z| > 1.96) */
    free(x);
}

static void test_below_and_perm(void) {
    dk_rng r;
    dk_rng_init(&r, 9, 2);
    size_t counts[10] = {0};
    for (int i = 0; i < 100000; i++) {
        uint64_t k = dk_rng_below(&r, 10);
        DK_CHECK(k < 10);
        if (k < 10) counts[k]++;
    }
    double chi2 = 0;
    for (int k = 0; k < 10; k++) chi2 += (counts[k] - 10000.0) * (counts[k] - 10000.0) / 10000.0;
    DK_CHECK(chi2 < 27.9); /* chi-square, 9 dof, p = 0.001 */
    DK_CHECK(dk_rng_below(&r, 1) == 0 && dk_rng_below(&r, 0) == 0);
    uint64_t big = (1ull << 63) + 12345;
    for (int i = 0; i < 100; i++) DK_CHECK(dk_rng_below(&r, big) < big);

    enum { N = 1000 };
    int64_t p[N], q[N];
    int seen[N] = {0};
    dk_rng_permutation(&r, p, N);
    int fixed = 0;
    for (int i = 0; i < N; i++) {
        DK_CHECK(p[i] >= 0 && p[i] < N);
        if (p[i] >= 0 && p[i] < N) seen[p[i]]++;
        fixed += p[i] == i;
    }
    int all_once = 1;
    for (int i = 0; i < N; i++) all_once &= seen[i] == 1;
    DK_CHECK(all_once);
    DK_CHECK(fixed < 10); /* expected 1 fixed point */
    dk_rng_permutation(&r, q, N);
    DK_CHECK(memcmp(p, q, sizeof p) != 0);
    /* position of element 0 over many 3-permutations is uniform */
    size_t pos0[3] = {0};
    for (int i = 0; i < 30000; i++) {
        int64_t t[3];
        dk_rng_permutation(&r, t, 3);
        for (int k = 0; k < 3; k++)
            if (t[k] == 0) pos0[k]++;
    }
    for (int k = 0; k < 3; k++) DK_CHECK_NEAR((double)pos0[k], 10000.0, 400.0, 0);
    int64_t one[1];
    dk_rng_permutation(&r, one, 1);
    DK_CHECK(one[0] == 0);
}

int main(void) {
    test_kat();
    test_layout();
    test_determinism();
    test_uniform();
    test_normal();
    test_below_and_perm();
    return dk_test_finish();
}
