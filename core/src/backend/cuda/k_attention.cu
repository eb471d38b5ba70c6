/* k_attention.cu: the CUDA attention kernels of backend/cpu/kernels_list.inc
 * (twins of backend/cpu/k_attention.inc and the head / cosine-sim / RoPE
 * kernels of k_misc.inc), F32 and F64, queued on dk_cuda_stream().
 *
 * Global attention: per chunk of (batch*head, query rows), S = scale Q K^T
 * and O = P V are cuBLAS strided-batched GEMMs around a row-softmax kernel
 * that saves the log-sum-exp; the backward recomputes P = exp(S - lse) and
 * runs the CPU's GEMMs (dV += P^T dO, dP = dO V^T, dS = P (dP - rowsum(dO O)),
 * dQ += s dS K, dK += s dS^T Q). The score scratch (from dk_cuda_scratch) is
 * bounded by DK_ATTN_SCRATCH bytes (256 MiB; the environment variable
 * DK_CUDA_ATTN_SCRATCH, in bytes, overrides it, which the tests use to force
 * several chunks). Not a fused (flash) kernel yet.
 *
 * Local attention: one warp per query (forward, dQ) or per key (dK, dV),
 * each visiting its window directly with the CPU's key sets (NATTEN clamped
 * neighbourhood; Swin window in the grid rolled by +shift with the region
 * mask). Every output element is written by one warp in a fixed order: no
 * atomics, the results do not change from run to run.
 *
 * Simple, correctness-first kernels (docs/cuda.md); not yet run on a GPU at
 * the time of writing. */
#include <math.h>
#include <stdlib.h>
#include "cuda_common.cuh"
#include "cuda_gemm_rm.cuh"

#define DK_ATTN_SCRATCH ((size_t)256 << 20)

namespace { /* kernel names stay private to this file (no clash with other .cu templates) */

/* the score-scratch bound in bytes (DK_CUDA_ATTN_SCRATCH overrides) */
static size_t attn_scratch_limit(void) {
    const char *e = getenv("DK_CUDA_ATTN_SCRATCH");
    if (e && *e) {
        char *end = NULL;
        unsigned long long v = strtoull(e, &end, 10);
        if (end != e && v > 0) return (size_t)v;
    }
    return DK_ATTN_SCRATCH;
}

/* Chunk sizes: cb heads of qb query rows each, nbuf score blocks of
 * cb*qb*Nk elements in at most the limit (at least one row). */
static void attn_chunks(size_t BH, size_t Nq, size_t Nk, size_t esize, size_t nbuf, size_t *cb, size_t *qb) {
    size_t row = nbuf * Nk * esize, fit = attn_scratch_limit() / (row ? row : 1);
    if (fit < 1) fit = 1;
    if (fit >= Nq) {
        *qb = Nq;
        *cb = fit / Nq < BH ? fit / Nq : BH;
    } else {
        *qb = fit;
        *cb = 1;
    }
}

/* ---- global attention ------------------------------------------------- */

/* rows (cb*qb of length n, row r = head r/qb, query r%qb of the chunk):
 * S = softmax(S); lse[(r/qb)*Nq + r%qb] = max + log(sum) when lse */
template <typename T>
__global__ void attn_softmax_rows(T *S, T *lse, size_t rows, size_t n, size_t qb, size_t Nq) {
    DK_WARP_STRIDE(r, rows, lane) {
        T *s = S + r * n;
        T mx = -INFINITY;
        for (size_t j = lane; j < n; j += 32) mx = s[j] > mx ? s[j] : mx;
        mx = dk_warp_max(mx);
        double l = 0;
        for (size_t j = lane; j < n; j += 32) {
            T e = dk_exp(s[j] - mx);
            s[j] = e;
            l += e;
        }
        l = dk_warp_sum(l);
        T inv = (T)(1.0 / l);
        for (size_t j = lane; j < n; j += 32) s[j] *= inv;
        if (lse && lane == 0) lse[(r / qb) * Nq + r % qb] = mx + (T)log(l);
    }
}

/* P = exp(S - lse) on the chunk's rows (elementwise) */
template <typename T>
__global__ void attn_exp_lse(T *S, const T *lse, size_t rows, size_t n, size_t qb, size_t Nq) {
    DK_GRID_STRIDE(i, rows * n) {
        size_t r = i / n;
        S[i] = dk_exp(S[i] - lse[(r / qb) * Nq + r % qb]);
    }
}

/* dS = P (dP - D), D = rowsum(dO * O) of the row's query (one warp a row) */
template <typename T>
__global__ void attn_ds_rows(T *dP, const T *P, const T *dout, const T *out, size_t rows, size_t n, size_t E,
                             size_t qb, size_t Nq) {
    DK_WARP_STRIDE(r, rows, lane) {
        size_t qrow = (r / qb) * Nq + r % qb;
        const T *g = dout + qrow * E, *o = out + qrow * E;
        double D = 0;
        for (size_t c = lane; c < E; c += 32) D += (double)g[c] * o[c];
        T tD = (T)dk_warp_sum(D);
        T *dp = dP + r * n;
        const T *p = P + r * n;
        for (size_t j = lane; j < n; j += 32) dp[j] = p[j] * (dp[j] - tD);
    }
}

template <typename T>
static int attention_forward(T *out, T *lse, const T *q, const T *k, const T *v, size_t BH, size_t Nq, size_t Nk,
                             size_t d, size_t E, double scale) {
    const char *where = "attention_forward";
    if (BH == 0 || Nq == 0 || E == 0) return 0;
    size_t cb, qb;
    attn_chunks(BH, Nq, Nk, sizeof(T), 1, &cb, &qb);
    T *S = (T *)dk_cuda_scratch(cb * qb * Nk * sizeof(T), where);
    if (!S) return -1;
    cudaStream_t st = dk_cuda_stream();
    for (size_t bh0 = 0; bh0 < BH; bh0 += cb) {
        size_t nb = BH - bh0 < cb ? BH - bh0 : cb;
        for (size_t i0 = 0; i0 < Nq; i0 += qb) {
            size_t nq = Nq - i0 < qb ? Nq - i0 : qb, rows = nb * nq;
            const T *Q = q + bh0 * Nq * d + i0 * d, *K = k + bh0 * Nk * d, *V = v + bh0 * Nk * E;
            /* S (nq, Nk) = scale Q K^T, per head */
            dk_gemm_rm(where, 0, 1, nq, Nk, d, scale, Q, d, (long long)(Nq * d), K, d, (long long)(Nk * d), 0.0, S,
                       Nk, (long long)(nq * Nk), nb);
            attn_softmax_rows<T><<<dk_cuda_blocks(rows * 32), DK_CUDA_THREADS, 0, st>>>(
                S, lse ? lse + bh0 * Nq + i0 : NULL, rows, Nk, nq, Nq);
            DK_CUDA_LAUNCHED(where);
            /* O (nq, E) = P V */
            dk_gemm_rm(where, 0, 0, nq, E, Nk, 1.0, S, Nk, (long long)(nq * Nk), V, E, (long long)(Nk * E), 0.0,
                       out + bh0 * Nq * E + i0 * E, E, (long long)(Nq * E), nb);
        }
    }
    dk_cuda_scratch_release(S);
    return 0;
}

template <typename T>
static int attention_backward(T *dq, T *dk, T *dv, const T *dout, const T *out, const T *lse, const T *q,
                              const T *k, const T *v, size_t BH, size_t Nq, size_t Nk, size_t d, size_t E,
                              double scale) {
    const char *where = "attention_backward";
    if (BH == 0 || Nq == 0 || Nk == 0 || (!dq && !dk && !dv)) return 0;
    size_t cb, qb;
    attn_chunks(BH, Nq, Nk, sizeof(T), 2, &cb, &qb);
    size_t blk = cb * qb * Nk;
    T *P = (T *)dk_cuda_scratch(2 * blk * sizeof(T), where);
    if (!P) return -1;
    T *dP = P + blk;
    cudaStream_t st = dk_cuda_stream();
    for (size_t bh0 = 0; bh0 < BH; bh0 += cb) {
        size_t nb = BH - bh0 < cb ? BH - bh0 : cb;
        for (size_t i0 = 0; i0 < Nq; i0 += qb) {
            size_t nq = Nq - i0 < qb ? Nq - i0 : qb, rows = nb * nq;
            long long sQ = (long long)(Nq * d), sK = (long long)(Nk * d), sV = (long long)(Nk * E),
                      sO = (long long)(Nq * E), sP = (long long)(nq * Nk);
            const T *Q = q + bh0 * Nq * d + i0 * d, *K = k + bh0 * Nk * d, *V = v + bh0 * Nk * E;
            const T *dO = dout + bh0 * Nq * E + i0 * E;
            /* P = exp(scale Q K^T - lse) */
            dk_gemm_rm(where, 0, 1, nq, Nk, d, scale, Q, d, sQ, K, d, sK, 0.0, P, Nk, sP, nb);
            attn_exp_lse<T><<<dk_cuda_blocks(rows * Nk), DK_CUDA_THREADS, 0, st>>>(P, lse + bh0 * Nq + i0, rows, Nk,
                                                                                   nq, Nq);
            DK_CUDA_LAUNCHED(where);
            /* dV (Nk, E) += P^T dO */
            if (dv)
                dk_gemm_rm(where, 1, 0, Nk, E, nq, 1.0, P, Nk, sP, dO, E, sO, 1.0, dv + bh0 * Nk * E, E, sV, nb);
            if (!dq && !dk) continue;
            /* dP (nq, Nk) = dO V^T; dS = P (dP - D) */
            dk_gemm_rm(where, 0, 1, nq, Nk, E, 1.0, dO, E, sO, V, E, sV, 0.0, dP, Nk, sP, nb);
            attn_ds_rows<T><<<dk_cuda_blocks(rows * 32), DK_CUDA_THREADS, 0, st>>>(
                dP, P, dout + bh0 * Nq * E + i0 * E, out + bh0 * Nq * E + i0 * E, rows, Nk, E, nq, Nq);
            DK_CUDA_LAUNCHED(where);
            /* dQ (nq, d) += scale dS K; dK (Nk, d) += scale dS^T Q */
            if (dq)
                dk_gemm_rm(where, 0, 0, nq, d, Nk, scale, dP, Nk, sP, K, d, sK, 1.0, dq + bh0 * Nq * d + i0 * d, d, sQ,
                           nb);
            if (dk) dk_gemm_rm(where, 1, 0, Nk, d, nq, scale, dP, Nk, sP, Q, d, sQ, 1.0, dk + bh0 * Nk * d, d, sK, nb);
        }
    }
    dk_cuda_scratch_release(P);
    return 0;
}

/* ---- local attention -------------------------------------------------- */

/* NATTEN window start: clamp(x - P/2, 0, n - P) (n >= P) */
static __device__ __forceinline__ size_t natten_start(size_t x, size_t n, size_t P) {
    size_t s0 = x < P / 2 ? 0 : x - P / 2;
    return s0 > n - P ? n - P : s0;
}

/* Slot (i, j) of the P x P window of query (r, c): true, and the key's token
 * index in *key, when that slot is one of the query's keys. Visiting i, j in
 * order gives the CPU's local_keys order. kind 0: NATTEN (every slot). kind
 * 1: the Swin window of the query in the grid rolled by +S; with S > 0 the
 * first window row / column holds two regions (wrapped and not) that do not
 * see each other. The kind-1 relation is symmetric (same window and region),
 * so the keys of a token are also the queries that see it. */
static __device__ __forceinline__ bool local_slot(size_t r, size_t c, size_t h, size_t w, int kind, size_t P,
                                                  size_t S, size_t i, size_t j, size_t *key) {
    if (kind == 0) {
        *key = (natten_start(r, h, P) + i) * w + natten_start(c, w, P) + j;
        return true;
    }
    size_t rr = (r + S) % h, cr = (c + S) % w; /* rolled coordinates */
    size_t wr = rr / P, wc = cr / P;
    int reg_r = S > 0 && wr == 0 ? rr < S : 0, reg_c = S > 0 && wc == 0 ? cr < S : 0;
    size_t r2 = wr * P + i, c2 = wc * P + j;
    if ((S > 0 && wr == 0 ? (int)(r2 < S) : 0) != reg_r) return false;
    if ((S > 0 && wc == 0 ? (int)(c2 < S) : 0) != reg_c) return false;
    *key = ((r2 + h - S) % h) * w + (c2 + w - S) % w;
    return true;
}

/* NATTEN: whether query (r, c) sees key (r2, c2) */
static __device__ __forceinline__ bool natten_sees(size_t r, size_t c, size_t r2, size_t c2, size_t h, size_t w,
                                                   size_t P) {
    size_t sr = natten_start(r, h, P), sc = natten_start(c, w, P);
    return r2 >= sr && r2 < sr + P && c2 >= sc && c2 < sc + P;
}

/* dot of two length-n rows over the warp (T arithmetic, like the CPU's K(dot)) */
template <typename T>
static __device__ __forceinline__ T warp_dot(const T *a, const T *b, size_t n, unsigned lane) {
    T s = 0;
    for (size_t c = lane; c < n; c += 32) s += a[c] * b[c];
    return dk_warp_sum(s);
}

/* one warp per query: out = softmax(scale q K_win^T) V_win, lse */
template <typename T>
__global__ void local_fwd(T *out, T *lse, const T *q, const T *k, const T *v, size_t BH, size_t h, size_t w,
                          size_t d, int kind, size_t P, size_t S, T scale) {
    size_t N = h * w;
    DK_WARP_STRIDE(gi, BH * N, lane) {
        size_t bh = gi / N, i = gi % N, r = i / w, c = i % w, key;
        const T *qi = q + gi * d, *kb = k + bh * N * d, *vb = v + bh * N * d;
        T *o = out + gi * d;
        T mx = -INFINITY;
        for (size_t a = 0; a < P; a++)
            for (size_t b = 0; b < P; b++)
                if (local_slot(r, c, h, w, kind, P, S, a, b, &key)) {
                    T s = warp_dot(qi, kb + key * d, d, lane) * scale;
                    mx = s > mx ? s : mx;
                }
        for (size_t ch = lane; ch < d; ch += 32) o[ch] = 0;
        double l = 0;
        for (size_t a = 0; a < P; a++)
            for (size_t b = 0; b < P; b++)
                if (local_slot(r, c, h, w, kind, P, S, a, b, &key)) {
                    T e = dk_exp(warp_dot(qi, kb + key * d, d, lane) * scale - mx);
                    l += e;
                    const T *vj = vb + key * d;
                    for (size_t ch = lane; ch < d; ch += 32) o[ch] += e * vj[ch];
                }
        T inv = (T)(1.0 / l);
        for (size_t ch = lane; ch < d; ch += 32) o[ch] *= inv;
        if (lse && lane == 0) lse[gi] = mx + (T)log(l);
    }
}

/* one warp per query: dq += sum_j ds_j k_j over the query's keys */
template <typename T>
__global__ void local_bwd_q(T *dq, const T *dout, const T *out, const T *lse, const T *q, const T *k, const T *v,
                            size_t BH, size_t h, size_t w, size_t d, int kind, size_t P, size_t S, T scale) {
    size_t N = h * w;
    DK_WARP_STRIDE(gi, BH * N, lane) {
        size_t bh = gi / N, i = gi % N, r = i / w, c = i % w, key;
        const T *qi = q + gi * d, *g = dout + gi * d, *kb = k + bh * N * d, *vb = v + bh * N * d;
        T L = lse[gi], D = warp_dot(g, out + gi * d, d, lane);
        T *dqi = dq + gi * d;
        for (size_t a = 0; a < P; a++)
            for (size_t b = 0; b < P; b++)
                if (local_slot(r, c, h, w, kind, P, S, a, b, &key)) {
                    const T *kj = kb + key * d;
                    T p = dk_exp(warp_dot(qi, kj, d, lane) * scale - L);
                    T ds = p * (warp_dot(g, vb + key * d, d, lane) - D) * scale;
                    for (size_t ch = lane; ch < d; ch += 32) dqi[ch] += ds * kj[ch];
                }
    }
}

/* contribution of query i (token index in the head) to key t's dk / dv */
template <typename T>
static __device__ __forceinline__ void local_key_contrib(T *dkt, T *dvt, const T *kt, const T *vt, size_t bhN,
                                                         size_t i, const T *dout, const T *out, const T *lse,
                                                         const T *q, size_t d, T scale, unsigned lane) {
    size_t qo = (bhN + i) * d;
    const T *qi = q + qo, *g = dout + qo;
    T p = dk_exp(warp_dot(qi, kt, d, lane) * scale - lse[bhN + i]);
    if (dvt)
        for (size_t ch = lane; ch < d; ch += 32) dvt[ch] += p * g[ch];
    if (dkt) {
        T D = warp_dot(g, out + qo, d, lane);
        T ds = p * (warp_dot(g, vt, d, lane) - D) * scale;
        for (size_t ch = lane; ch < d; ch += 32) dkt[ch] += ds * qi[ch];
    }
}

/* one warp per key: dk, dv from the queries whose window holds the key
 * (kind 0: rows / columns within P - 1 of the key, tested; kind 1: the
 * key's own window set, by symmetry), queries in a fixed order */
template <typename T>
__global__ void local_bwd_kv(T *dk, T *dv, const T *dout, const T *out, const T *lse, const T *q, const T *k,
                             const T *v, size_t BH, size_t h, size_t w, size_t d, int kind, size_t P, size_t S,
                             T scale) {
    size_t N = h * w;
    DK_WARP_STRIDE(gt, BH * N, lane) {
        size_t bh = gt / N, t = gt % N, r2 = t / w, c2 = t % w;
        const T *kt = k + gt * d, *vt = v + gt * d;
        T *dkt = dk ? dk + gt * d : NULL, *dvt = dv ? dv + gt * d : NULL;
        if (kind == 0) {
            size_t r0 = r2 + 1 >= P ? r2 + 1 - P : 0, r1 = r2 + P - 1 < h - 1 ? r2 + P - 1 : h - 1;
            size_t c0 = c2 + 1 >= P ? c2 + 1 - P : 0, c1 = c2 + P - 1 < w - 1 ? c2 + P - 1 : w - 1;
            for (size_t r = r0; r <= r1; r++)
                for (size_t c = c0; c <= c1; c++)
                    if (natten_sees(r, c, r2, c2, h, w, P))
                        local_key_contrib(dkt, dvt, kt, vt, bh * N, r * w + c, dout, out, lse, q, d, scale, lane);
        } else {
            size_t i;
            for (size_t a = 0; a < P; a++)
                for (size_t b = 0; b < P; b++)
                    if (local_slot(r2, c2, h, w, kind, P, S, a, b, &i))
                        local_key_contrib(dkt, dvt, kt, vt, bh * N, i, dout, out, lse, q, d, scale, lane);
        }
    }
}

template <typename T>
static void local_attn_forward(T *out, T *lse, const T *q, const T *k, const T *v, size_t BH, size_t h, size_t w,
                               size_t d, int kind, int p, int shift, double scale) {
    size_t n = BH * h * w;
    if (n == 0) return;
    local_fwd<T><<<dk_cuda_blocks(n * 32), DK_CUDA_THREADS, 0, dk_cuda_stream()>>>(
        out, lse, q, k, v, BH, h, w, d, kind, (size_t)p, (size_t)shift, (T)scale);
    DK_CUDA_LAUNCHED("local_attn_forward");
}

template <typename T>
static void local_attn_backward(T *dq, T *dk, T *dv, const T *dout, const T *out, const T *lse, const T *q,
                                const T *k, const T *v, size_t BH, size_t h, size_t w, size_t d, int kind, int p,
                                int shift, double scale) {
    size_t n = BH * h * w;
    if (n == 0) return;
    cudaStream_t st = dk_cuda_stream();
    if (dq) {
        local_bwd_q<T><<<dk_cuda_blocks(n * 32), DK_CUDA_THREADS, 0, st>>>(
            dq, dout, out, lse, q, k, v, BH, h, w, d, kind, (size_t)p, (size_t)shift, (T)scale);
        DK_CUDA_LAUNCHED("local_attn_backward (dq)");
    }
    if (dk || dv) {
        local_bwd_kv<T><<<dk_cuda_blocks(n * 32), DK_CUDA_THREADS, 0, st>>>(
            dk, dv, dout, out, lse, q, k, v, BH, h, w, d, kind, (size_t)p, (size_t)shift, (T)scale);
        DK_CUDA_LAUNCHED("local_attn_backward (dk, dv)");
    }
}

/* ---- heads, cosine-sim, RoPE ---------------------------------------- */

/* x (B, N, G*H*d) group `which` <-> heads (B, H, N, d), one thread an element */
template <typename T>
__global__ void heads_split_k(T *heads, T *x, size_t B, size_t N, size_t G, size_t H, size_t d, size_t which,
                              int to_heads, int accumulate) {
    DK_GRID_STRIDE(e, B * H * N * d) {
        size_t c = e % d, n = (e / d) % N, hh = (e / (d * N)) % H, b = e / (d * N * H);
        size_t xi = (b * N + n) * G * H * d + which * H * d + hh * d + c;
        T *dst = to_heads ? heads + e : x + xi;
        T src = to_heads ? x[xi] : heads[e];
        if (accumulate)
            *dst += src;
        else
            *dst = src;
    }
}

template <typename T>
static void heads_split(T *heads, T *x, size_t B, size_t N, size_t G, size_t H, size_t d, size_t which, int to_heads,
                        int accumulate) {
    size_t n = B * H * N * d;
    if (n == 0) return;
    heads_split_k<T><<<dk_cuda_blocks(n), DK_CUDA_THREADS, 0, dk_cuda_stream()>>>(heads, x, B, N, G, H, d, which,
                                                                                  to_heads, accumulate);
    DK_CUDA_LAUNCHED("heads_split");
}

/* one warp a row: out = x sqrt(scale_h) / sqrt(sum x^2 + eps) */
template <typename T>
__global__ void cosine_fwd(T *out, T *rnorm, const T *x, const T *scale, size_t rows, size_t H, size_t N, size_t d,
                           double eps) {
    DK_WARP_STRIDE(row, rows, lane) {
        size_t hh = (row / N) % H;
        const T *xr = x + row * d;
        double ss = 0;
        for (size_t c = lane; c < d; c += 32) ss += (double)xr[c] * xr[c];
        ss = dk_warp_sum(ss);
        T rn = (T)(1.0 / sqrt(ss + eps)), a = dk_sqrt(scale[hh]) * rn;
        for (size_t c = lane; c < d; c += 32) out[row * d + c] = xr[c] * a;
        if (rnorm && lane == 0) rnorm[row] = rn;
    }
}

template <typename T>
__global__ void cosine_bwd_dx(T *dx, const T *dout, const T *x, const T *rnorm, const T *scale, size_t rows,
                              size_t H, size_t N, size_t d) {
    DK_WARP_STRIDE(row, rows, lane) {
        size_t hh = (row / N) % H;
        const T *xr = x + row * d, *g = dout + row * d;
        T rn = rnorm[row], a = dk_sqrt(scale[hh]);
        double gx = 0;
        for (size_t c = lane; c < d; c += 32) gx += (double)g[c] * xr[c];
        gx = dk_warp_sum(gx);
        T t = (T)gx * rn * rn;
        for (size_t c = lane; c < d; c += 32) dx[row * d + c] += a * rn * (g[c] - xr[c] * t);
    }
}

/* one block a head: dscale[h] += 0.5 / sqrt(scale_h) sum_rows rnorm (dout . x),
 * a fixed-shape tree reduction (deterministic) */
#define COS_RED_THREADS 256
template <typename T>
__global__ void cosine_bwd_dscale(T *dscale, const T *dout, const T *x, const T *rnorm, const T *scale, size_t B,
                                  size_t H, size_t N, size_t d) {
    __shared__ double red[COS_RED_THREADS];
    size_t hh = blockIdx.x;
    double s = 0;
    for (size_t idx = threadIdx.x; idx < B * N; idx += COS_RED_THREADS) {
        size_t row = ((idx / N) * H + hh) * N + idx % N;
        double gx = 0;
        for (size_t c = 0; c < d; c++) gx += (double)dout[row * d + c] * x[row * d + c];
        s += gx * rnorm[row];
    }
    red[threadIdx.x] = s;
    __syncthreads();
    for (unsigned o = COS_RED_THREADS / 2; o > 0; o >>= 1) {
        if (threadIdx.x < o) red[threadIdx.x] += red[threadIdx.x + o];
        __syncthreads();
    }
    if (threadIdx.x == 0) dscale[hh] += (T)(red[0] * 0.5 / sqrt((double)scale[hh]));
}

template <typename T>
static void cosine_sim_forward(T *out, T *rnorm, const T *x, const T *scale, size_t B, size_t H, size_t N, size_t d,
                               double eps) {
    size_t rows = B * H * N;
    if (rows == 0) return;
    cosine_fwd<T><<<dk_cuda_blocks(rows * 32), DK_CUDA_THREADS, 0, dk_cuda_stream()>>>(out, rnorm, x, scale, rows, H,
                                                                                       N, d, eps);
    DK_CUDA_LAUNCHED("cosine_sim_forward");
}

template <typename T>
static void cosine_sim_backward(T *dx, T *dscale, const T *dout, const T *x, const T *rnorm, const T *scale,
                                size_t B, size_t H, size_t N, size_t d) {
    size_t rows = B * H * N;
    if (rows == 0) return;
    if (dx) {
        cosine_bwd_dx<T><<<dk_cuda_blocks(rows * 32), DK_CUDA_THREADS, 0, dk_cuda_stream()>>>(dx, dout, x, rnorm,
                                                                                              scale, rows, H, N, d);
        DK_CUDA_LAUNCHED("cosine_sim_backward (dx)");
    }
    if (dscale) {
        cosine_bwd_dscale<T><<<(unsigned)H, COS_RED_THREADS, 0, dk_cuda_stream()>>>(dscale, dout, x, rnorm, scale, B,
                                                                                   H, N, d);
        DK_CUDA_LAUNCHED("cosine_sim_backward (dscale)");
    }
}

/* axial RoPE: one thread per channel c of a row; c < 2F rotates the pair
 * (c, c + 2F) (read both, then write both: out may be x), 2F <= c < 4F is
 * done by its partner, c >= 4F is copied */
template <typename T>
__global__ void rope_k(T *out, const T *x, const double *pos, const double *freqs, size_t rows, size_t H, size_t N,
                       size_t d, size_t F, int sign, int accumulate) {
    DK_GRID_STRIDE(e, rows * d) {
        size_t row = e / d, j = e % d, n = row % N, hh = (row / N) % H;
        const T *xr = x + row * d;
        T *o = out + row * d;
        if (j < 2 * F) {
            T th = (T)(j < F ? pos[n * 2] * freqs[hh * F + j] : pos[n * 2 + 1] * freqs[hh * F + j - F]);
            T cs = dk_cos(th), sn = sign > 0 ? dk_sin(th) : -dk_sin(th);
            T a = xr[j], b = xr[j + 2 * F];
            T ra = a * cs - b * sn, rb = b * cs + a * sn;
            if (accumulate) {
                o[j] += ra;
                o[j + 2 * F] += rb;
            } else {
                o[j] = ra;
                o[j + 2 * F] = rb;
            }
        } else if (j >= 4 * F) {
            if (accumulate)
                o[j] += xr[j];
            else
                o[j] = xr[j];
        }
    }
}

template <typename T>
static void rope(T *out, const T *x, const double *pos, const double *freqs, size_t B, size_t H, size_t N, size_t d,
                 size_t F, int sign, int accumulate) {
    size_t rows = B * H * N;
    if (rows * d == 0) return;
    rope_k<T><<<dk_cuda_blocks(rows * d), DK_CUDA_THREADS, 0, dk_cuda_stream()>>>(out, x, pos, freqs, rows, H, N, d,
                                                                                  F, sign, accumulate);
    DK_CUDA_LAUNCHED("rope");
}

} // namespace

/* ---- the table entries (cuda_common.cuh prototypes) ------------------- */

#define DK_ATTN_ENTRIES(T, S)                                                                                      \
    int dk_k_attention_forward_cuda_##S(T *out, T *lse, const T *q, const T *k, const T *v, size_t BH, size_t Nq,  \
                                        size_t Nk, size_t d, size_t E, double scale) {                             \
        return attention_forward<T>(out, lse, q, k, v, BH, Nq, Nk, d, E, scale);                                   \
    }                                                                                                              \
    int dk_k_attention_backward_cuda_##S(T *dq, T *dk, T *dv, const T *dout, const T *out, const T *lse,           \
                                         const T *q, const T *k, const T *v, size_t BH, size_t Nq, size_t Nk,      \
                                         size_t d, size_t E, double scale) {                                       \
        return attention_backward<T>(dq, dk, dv, dout, out, lse, q, k, v, BH, Nq, Nk, d, E, scale);                \
    }                                                                                                              \
    void dk_k_local_attn_forward_cuda_##S(T *out, T *lse, const T *q, const T *k, const T *v, size_t BH, size_t h, \
                                          size_t w, size_t d, int kind, int p, int shift, double scale) {          \
        local_attn_forward<T>(out, lse, q, k, v, BH, h, w, d, kind, p, shift, scale);                              \
    }                                                                                                              \
    void dk_k_local_attn_backward_cuda_##S(T *dq, T *dk, T *dv, const T *dout, const T *out, const T *lse,         \
                                           const T *q, const T *k, const T *v, size_t BH, size_t h, size_t w,      \
                                           size_t d, int kind, int p, int shift, double scale) {                   \
        local_attn_backward<T>(dq, dk, dv, dout, out, lse, q, k, v, BH, h, w, d, kind, p, shift, scale);           \
    }                                                                                                              \
    void dk_k_heads_split_cuda_##S(T *heads, T *x, size_t B, size_t N, size_t G, size_t H, size_t d, size_t which, \
                                   int to_heads, int accumulate) {                                                 \
        heads_split<T>(heads, x, B, N, G, H, d, which, to_heads, accumulate);                                      \
    }                                                                                                              \
    void dk_k_cosine_sim_forward_cuda_##S(T *out, T *rnorm, const T *x, const T *scale, size_t B, size_t H,        \
                                          size_t N, size_t d, double eps) {                                        \
        cosine_sim_forward<T>(out, rnorm, x, scale, B, H, N, d, eps);                                              \
    }                                                                                                              \
    void dk_k_cosine_sim_backward_cuda_##S(T *dx, T *dscale, const T *dout, const T *x, const T *rnorm,            \
                                           const T *scale, size_t B, size_t H, size_t N, size_t d) {               \
        cosine_sim_backward<T>(dx, dscale, dout, x, rnorm, scale, B, H, N, d);                                     \
    }                                                                                                              \
    void dk_k_rope_cuda_##S(T *out, const T *x, const double *pos, const double *freqs, size_t B, size_t H,        \
                            size_t N, size_t d, size_t F, int sign, int accumulate) {                              \
        rope<T>(out, x, pos, freqs, B, H, N, d, F, sign, accumulate);                                              \
    }

DK_ATTN_ENTRIES(float, f32)
DK_ATTN_ENTRIES(double, f64)
