/* test_cuda_ops_attn.c: the CUDA attention and feature-network kernels
 * (backend/cuda/k_attention.cu, k_conv.cu) against the CPU's, in the style
 * of ggml's test-backend-ops: for each kernel, F32 and F64, and shape
 * classes that matter (attention with Nq != Nk, E != d, d = 16/32/64, the
 * head dimension split into several scratch chunks and query rows split
 * too; neighbourhood attention with kernel 3/7/9 on grids with borders, odd
 * grids, both CPU paths; shifted windows with shift 0 and > 0; convolution
 * with stride 1/2 and padding; pooling with ties; ...), the same random
 * inputs (dk_rng) go to the CPU table (dk_backend_cpu()) and to the CUDA
 * table on copies in device memory (the CUDA backend's alloc / from_host /
 * to_host). Every output and every gradient is compared; gradients are
 * pre-filled with random values, so the kernels' += is checked too, and a
 * few cases pass NULL gradients. Error: max |cuda - cpu| over the array,
 * relative to max |cpu|; F64 must agree to 1e-11, F32 to 2e-5 (cuBLAS TF32
 * off, the default). One line per comparison: kernel, dtype, shape, array,
 * max abs and relative error; a failure names the kernel.
 *
 * Without the CUDA backend (CPU-only build, no GPU or driver) it prints why
 * and exits 77 (CTest: skipped). */
#ifndef DK_OPS_ATTN_TEMPLATE
#define DK_OPS_ATTN_TEMPLATE
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dktest.h"
#include "diffkit/rng.h"
#include "backend/backend.h"

static const dk_backend *cpu, *cu;
static dk_rng rng;

/* device copy of n bytes of host memory (NULL when n is 0) */
static void *dev_copy(const void *h, size_t bytes) {
    if (!bytes) return NULL;
    void *d = cu->alloc(bytes, &dk_test_err);
    DK_CHECK(d != NULL);
    if (d) DK_CHECK_OK(cu->from_host(d, h, bytes, &dk_test_err));
    return d;
}

static int64_t *rand_labels(size_t B, size_t K) {
    int64_t *l = malloc(B * sizeof *l);
    for (size_t b = 0; b < B; b++) l[b] = (int64_t)dk_rng_below(&rng, K);
    return l;
}

#define T float
#define S(name) name##_f32
#define TBL f32
#define DT "f32"
#define TOL 2e-5
#include "test_cuda_ops_attn.c"
#undef T
#undef S
#undef TBL
#undef DT
#undef TOL

#define T double
#define S(name) name##_f64
#define TBL f64
#define DT "f64"
#define TOL 1e-11
#include "test_cuda_ops_attn.c"
#undef T
#undef S
#undef TBL
#undef DT
#undef TOL

int main(void) {
    dk_error err = {0};
    cpu = dk_backend_cpu();
    cu = dk_backend_get(DK_CUDA, &err);
    if (!cu) {
        printf("skipping: no CUDA backend here: %s\n", err.msg);
        return 77;
    }
    DK_CHECK(cu->f32 != NULL && cu->f64 != NULL);
    if (!cu->f32 || !cu->f64) return dk_test_finish();
    dk_rng_init(&rng, 20261204, 7);
    run_all_f32();
    run_all_f64();
    return dk_test_finish();
}

#else /* ---- the template body: T, S(name), TBL, DT, TOL ---------------- */

/* An array in both worlds: h (host, the CPU kernel's copy) and d (device,
 * the CUDA kernel's copy), equal at creation. */
typedef struct {
    size_t n;
    T *h, *d;
} S(buf);

/* fill: 0 zeros, 1 standard normal, 2 uniform (0.5, 2), 3 small integers
 * -2..2 (ties for max pooling, zeros for ReLU) */
static S(buf) S(mk)(size_t n, int fill) {
    S(buf) b = {n, calloc(n ? n : 1, sizeof(T)), NULL};
    for (size_t i = 0; i < n; i++) {
        double v = fill == 1   ? dk_rng_normal(&rng)
                   : fill == 2 ? 0.5 + 1.5 * dk_rng_uniform(&rng)
                   : fill == 3 ? (double)dk_rng_below(&rng, 5) - 2.0
                               : 0.0;
        b.h[i] = (T)v;
    }
    b.d = dev_copy(b.h, n * sizeof(T));
    return b;
}

static void S(drop)(S(buf) *b) {
    free(b->h);
    if (b->d) cu->free(b->d);
    b->h = b->d = NULL;
}

/* copy the host values onto the device (both sides start equal again) */
static void S(sync_to_dev)(S(buf) *b) {
    if (b->n) DK_CHECK_OK(cu->from_host(b->d, b->h, b->n * sizeof(T), &dk_test_err));
}

/* compares the CUDA result (b.d) with the CPU's (b.h) */
static void S(cmp)(const char *kernel, const char *shape, const char *what, S(buf) b) {
    T *got = malloc((b.n ? b.n : 1) * sizeof(T));
    dk_status st = cu->to_host(got, b.d, b.n * sizeof(T), &dk_test_err);
    DK_CHECK_OK(st);
    double mabs = 0, mref = 0;
    int bad = 0;
    for (size_t i = 0; i < b.n; i++) {
        double r = b.h[i], g = got[i], e = fabs(g - r);
        if (isnan(g) != isnan(r)) bad = 1;
        if (e > mabs || e != e) mabs = e;
        if (fabs(r) > mref) mref = fabs(r);
    }
    double rel = mabs / (mref > 0 ? mref : 1e-300);
    int ok = st == DK_OK && !bad && rel <= TOL;
    printf("%-26s %s %-44s %-12s max abs %.3e rel %.3e%s\n", kernel, DT, shape, what, mabs, rel, ok ? "" : "  FAIL");
    dk_test_checks++;
    if (!ok)
        dk_test_fail(__FILE__, __LINE__, "%s %s %s %s: CUDA differs from CPU (max abs %.3e, rel %.3e > %.1e)",
                     kernel, DT, shape, what, mabs, rel, TOL);
    free(got);
}

/* waits for the queued kernels; reports an asynchronous error */
static void S(done)(const char *kernel) {
    dk_status st = cu->sync(&dk_test_err);
    if (st != DK_OK) dk_test_fail(__FILE__, __LINE__, "%s %s: %s", kernel, DT, dk_test_err.msg);
    dk_test_checks++;
}

/* ---- global attention ---- */

static void S(t_attention)(size_t BH, size_t Nq, size_t Nk, size_t d, size_t E, const char *scratch) {
    char shp[128];
    snprintf(shp, sizeof shp, "BH%zu Nq%zu Nk%zu d%zu E%zu%s%s", BH, Nq, Nk, d, E, scratch ? " scratch=" : "",
             scratch ? scratch : "");
    if (scratch) setenv("DK_CUDA_ATTN_SCRATCH", scratch, 1);
    double scale = 1.0 / sqrt((double)d);
    S(buf) q = S(mk)(BH * Nq * d, 1), k = S(mk)(BH * Nk * d, 1), v = S(mk)(BH * Nk * E, 1);
    S(buf) out = S(mk)(BH * Nq * E, 1), lse = S(mk)(BH * Nq, 1);
    int rc = cpu->TBL->dk_k_attention_forward(out.h, lse.h, q.h, k.h, v.h, BH, Nq, Nk, d, E, scale);
    int rg = cu->TBL->dk_k_attention_forward(out.d, lse.d, q.d, k.d, v.d, BH, Nq, Nk, d, E, scale);
    DK_CHECK(rc == 0 && rg == 0);
    S(done)("attention_forward");
    S(cmp)("attention_forward", shp, "out", out);
    S(cmp)("attention_forward", shp, "lse", lse);
    /* without lse (inference) */
    S(buf) out2 = S(mk)(BH * Nq * E, 1);
    rc = cpu->TBL->dk_k_attention_forward(out2.h, NULL, q.h, k.h, v.h, BH, Nq, Nk, d, E, scale);
    rg = cu->TBL->dk_k_attention_forward(out2.d, NULL, q.d, k.d, v.d, BH, Nq, Nk, d, E, scale);
    DK_CHECK(rc == 0 && rg == 0);
    S(done)("attention_forward");
    S(cmp)("attention_forward", shp, "out/lse=NULL", out2);
    S(drop)(&out2);
    /* the backward from the same saved out / lse on both sides */
    S(sync_to_dev)(&out);
    S(sync_to_dev)(&lse);
    S(buf) dout = S(mk)(BH * Nq * E, 1), dq = S(mk)(BH * Nq * d, 1), dk = S(mk)(BH * Nk * d, 1),
           dv = S(mk)(BH * Nk * E, 1);
    rc = cpu->TBL->dk_k_attention_backward(dq.h, dk.h, dv.h, dout.h, out.h, lse.h, q.h, k.h, v.h, BH, Nq, Nk, d, E,
                                          scale);
    rg = cu->TBL->dk_k_attention_backward(dq.d, dk.d, dv.d, dout.d, out.d, lse.d, q.d, k.d, v.d, BH, Nq, Nk, d, E,
                                         scale);
    DK_CHECK(rc == 0 && rg == 0);
    S(done)("attention_backward");
    S(cmp)("attention_backward", shp, "dq", dq);
    S(cmp)("attention_backward", shp, "dk", dk);
    S(cmp)("attention_backward", shp, "dv", dv);
    /* only dv (dq, dk NULL) */
    rc = cpu->TBL->dk_k_attention_backward(NULL, NULL, dv.h, dout.h, out.h, lse.h, q.h, k.h, v.h, BH, Nq, Nk, d, E,
                                          scale);
    rg = cu->TBL->dk_k_attention_backward(NULL, NULL, dv.d, dout.d, out.d, lse.d, q.d, k.d, v.d, BH, Nq, Nk, d, E,
                                         scale);
    DK_CHECK(rc == 0 && rg == 0);
    S(done)("attention_backward");
    S(cmp)("attention_backward", shp, "dv+dv", dv);
    if (scratch) unsetenv("DK_CUDA_ATTN_SCRATCH");
    S(buf) *all[] = {&q, &k, &v, &out, &lse, &dout, &dq, &dk, &dv};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) S(drop)(all[i]);
}

/* ---- local attention ---- */

static void S(t_local)(size_t BH, size_t h, size_t w, size_t d, int kind, int p, int shift, int null_grad) {
    char shp[128];
    size_t N = h * w;
    snprintf(shp, sizeof shp, "%s BH%zu %zux%zu d%zu p%d shift%d%s", kind ? "swin" : "natten", BH, h, w, d, p, shift,
             null_grad == 1 ? " dq=NULL" : null_grad == 2 ? " dk=NULL" : null_grad == 3 ? " dv=NULL" : "");
    double scale = 1.0 / sqrt((double)d);
    S(buf) q = S(mk)(BH * N * d, 1), k = S(mk)(BH * N * d, 1), v = S(mk)(BH * N * d, 1);
    S(buf) out = S(mk)(BH * N * d, 1), lse = S(mk)(BH * N, 1);
    cpu->TBL->dk_k_local_attn_forward(out.h, lse.h, q.h, k.h, v.h, BH, h, w, d, kind, p, shift, scale);
    cu->TBL->dk_k_local_attn_forward(out.d, lse.d, q.d, k.d, v.d, BH, h, w, d, kind, p, shift, scale);
    S(done)("local_attn_forward");
    S(cmp)("local_attn_forward", shp, "out", out);
    S(cmp)("local_attn_forward", shp, "lse", lse);
    S(buf) out2 = S(mk)(BH * N * d, 1);
    cpu->TBL->dk_k_local_attn_forward(out2.h, NULL, q.h, k.h, v.h, BH, h, w, d, kind, p, shift, scale);
    cu->TBL->dk_k_local_attn_forward(out2.d, NULL, q.d, k.d, v.d, BH, h, w, d, kind, p, shift, scale);
    S(done)("local_attn_forward");
    S(cmp)("local_attn_forward", shp, "out/lse=NULL", out2);
    S(drop)(&out2);
    S(sync_to_dev)(&out);
    S(sync_to_dev)(&lse);
    S(buf) dout = S(mk)(BH * N * d, 1), dq = S(mk)(BH * N * d, 1), dk = S(mk)(BH * N * d, 1),
           dv = S(mk)(BH * N * d, 1);
    T *hq = null_grad == 1 ? NULL : dq.h, *hk = null_grad == 2 ? NULL : dk.h, *hv = null_grad == 3 ? NULL : dv.h;
    T *gq = null_grad == 1 ? NULL : dq.d, *gk = null_grad == 2 ? NULL : dk.d, *gv = null_grad == 3 ? NULL : dv.d;
    cpu->TBL->dk_k_local_attn_backward(hq, hk, hv, dout.h, out.h, lse.h, q.h, k.h, v.h, BH, h, w, d, kind, p, shift,
                                       scale);
    cu->TBL->dk_k_local_attn_backward(gq, gk, gv, dout.d, out.d, lse.d, q.d, k.d, v.d, BH, h, w, d, kind, p, shift,
                                      scale);
    S(done)("local_attn_backward");
    S(cmp)("local_attn_backward", shp, "dq", dq);
    S(cmp)("local_attn_backward", shp, "dk", dk);
    S(cmp)("local_attn_backward", shp, "dv", dv);
    S(buf) *all[] = {&q, &k, &v, &out, &lse, &dout, &dq, &dk, &dv};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) S(drop)(all[i]);
}

/* ---- heads, cosine-sim, RoPE ---- */

static void S(t_heads)(size_t B, size_t N, size_t G, size_t H, size_t d, size_t which) {
    char shp[128];
    for (int to_heads = 0; to_heads <= 1; to_heads++)
        for (int acc = 0; acc <= 1; acc++) {
            snprintf(shp, sizeof shp, "B%zu N%zu G%zu H%zu d%zu which%zu to_heads%d acc%d", B, N, G, H, d, which,
                     to_heads, acc);
            S(buf) heads = S(mk)(B * H * N * d, 1), x = S(mk)(B * N * G * H * d, 1);
            cpu->TBL->dk_k_heads_split(heads.h, x.h, B, N, G, H, d, which, to_heads, acc);
            cu->TBL->dk_k_heads_split(heads.d, x.d, B, N, G, H, d, which, to_heads, acc);
            S(done)("heads_split");
            S(cmp)("heads_split", shp, "heads", heads);
            S(cmp)("heads_split", shp, "x", x);
            S(drop)(&heads);
            S(drop)(&x);
        }
}

static void S(t_cosine)(size_t B, size_t H, size_t N, size_t d) {
    char shp[128];
    snprintf(shp, sizeof shp, "B%zu H%zu N%zu d%zu", B, H, N, d);
    size_t n = B * H * N * d;
    S(buf) x = S(mk)(n, 1), scale = S(mk)(H, 2), out = S(mk)(n, 1), rnorm = S(mk)(B * H * N, 1);
    cpu->TBL->dk_k_cosine_sim_forward(out.h, rnorm.h, x.h, scale.h, B, H, N, d, 1e-6);
    cu->TBL->dk_k_cosine_sim_forward(out.d, rnorm.d, x.d, scale.d, B, H, N, d, 1e-6);
    S(done)("cosine_sim_forward");
    S(cmp)("cosine_sim_forward", shp, "out", out);
    S(cmp)("cosine_sim_forward", shp, "rnorm", rnorm);
    S(sync_to_dev)(&rnorm);
    S(buf) dout = S(mk)(n, 1), dx = S(mk)(n, 1), dscale = S(mk)(H, 1);
    cpu->TBL->dk_k_cosine_sim_backward(dx.h, dscale.h, dout.h, x.h, rnorm.h, scale.h, B, H, N, d);
    cu->TBL->dk_k_cosine_sim_backward(dx.d, dscale.d, dout.d, x.d, rnorm.d, scale.d, B, H, N, d);
    S(done)("cosine_sim_backward");
    S(cmp)("cosine_sim_backward", shp, "dx", dx);
    S(cmp)("cosine_sim_backward", shp, "dscale", dscale);
    S(buf) *all[] = {&x, &scale, &out, &rnorm, &dout, &dx, &dscale};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) S(drop)(all[i]);
}

static void S(t_rope)(size_t B, size_t H, size_t N, size_t d, size_t F) {
    char shp[128];
    double *pos = malloc(N * 2 * sizeof *pos), *freqs = malloc(H * F * sizeof *freqs);
    for (size_t i = 0; i < N * 2; i++) pos[i] = 4 * dk_rng_uniform(&rng) - 2;
    for (size_t i = 0; i < H * F; i++) freqs[i] = 3.14159265358979 * exp(2 * dk_rng_uniform(&rng));
    double *dpos = dev_copy(pos, N * 2 * sizeof *pos), *dfreqs = dev_copy(freqs, H * F * sizeof *freqs);
    size_t n = B * H * N * d;
    for (int sign = -1; sign <= 1; sign += 2)
        for (int acc = 0; acc <= 1; acc++) {
            snprintf(shp, sizeof shp, "B%zu H%zu N%zu d%zu F%zu sign%+d acc%d", B, H, N, d, F, sign, acc);
            S(buf) x = S(mk)(n, 1), out = S(mk)(n, 1);
            cpu->TBL->dk_k_rope(out.h, x.h, pos, freqs, B, H, N, d, F, sign, acc);
            cu->TBL->dk_k_rope(out.d, x.d, dpos, dfreqs, B, H, N, d, F, sign, acc);
            S(done)("rope");
            S(cmp)("rope", shp, "out", out);
            S(drop)(&x);
            S(drop)(&out);
        }
    cu->free(dpos);
    cu->free(dfreqs);
    free(pos);
    free(freqs);
}

/* ---- convolution, pooling, ReLU, cross-entropy ---- */

static void S(t_conv)(size_t B, size_t C, size_t H, size_t W, size_t O, size_t KH, size_t KW, int stride, int pad,
                      int bias) {
    char shp[128];
    dk_conv_dims cd = {B, C, H, W, O, KH, KW, (H + 2 * (size_t)pad - KH) / (size_t)stride + 1,
                       (W + 2 * (size_t)pad - KW) / (size_t)stride + 1, stride, pad};
    snprintf(shp, sizeof shp, "B%zu C%zu %zux%zu O%zu k%zux%zu s%d p%d%s", B, C, H, W, O, KH, KW, stride, pad,
             bias ? "" : " nobias");
    size_t P = cd.HO * cd.WO, CK = C * KH * KW;
    S(buf) x = S(mk)(B * C * H * W, 1), w = S(mk)(O * CK, 1), b = S(mk)(O, 1), out = S(mk)(B * O * P, 1),
           cols = S(mk)(B * CK * P, 1);
    cpu->TBL->dk_k_conv2d_forward(out.h, cols.h, x.h, w.h, bias ? b.h : NULL, &cd);
    cu->TBL->dk_k_conv2d_forward(out.d, cols.d, x.d, w.d, bias ? b.d : NULL, &cd);
    S(done)("conv2d_forward");
    S(cmp)("conv2d_forward", shp, "out", out);
    S(cmp)("conv2d_forward", shp, "cols", cols);
    S(sync_to_dev)(&cols);
    S(buf) dout = S(mk)(B * O * P, 1), dx = S(mk)(B * C * H * W, 1), dw = S(mk)(O * CK, 1), db = S(mk)(O, 1);
    cpu->TBL->dk_k_conv2d_backward(dx.h, dw.h, bias ? db.h : NULL, dout.h, cols.h, w.h, &cd);
    cu->TBL->dk_k_conv2d_backward(dx.d, dw.d, bias ? db.d : NULL, dout.d, cols.d, w.d, &cd);
    S(done)("conv2d_backward");
    S(cmp)("conv2d_backward", shp, "dx", dx);
    S(cmp)("conv2d_backward", shp, "dw", dw);
    S(cmp)("conv2d_backward", shp, "db", db);
    S(buf) *all[] = {&x, &w, &b, &out, &cols, &dout, &dx, &dw, &db};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) S(drop)(all[i]);
}

static void S(t_pool)(size_t M, size_t H, size_t W, int kind) {
    char shp[128];
    snprintf(shp, sizeof shp, "M%zu %zux%zu %s (ties)", M, H, W, kind ? "avg" : "max");
    size_t no = M * (H / 2) * (W / 2);
    S(buf) x = S(mk)(M * H * W, 3), out = S(mk)(no, 1), dout = S(mk)(no, 1), dx = S(mk)(M * H * W, 1);
    cpu->TBL->dk_k_pool2x2_forward(out.h, x.h, M, H, W, kind);
    cu->TBL->dk_k_pool2x2_forward(out.d, x.d, M, H, W, kind);
    S(done)("pool2x2_forward");
    S(cmp)("pool2x2_forward", shp, "out", out);
    cpu->TBL->dk_k_pool2x2_backward(dx.h, dout.h, x.h, M, H, W, kind);
    cu->TBL->dk_k_pool2x2_backward(dx.d, dout.d, x.d, M, H, W, kind);
    S(done)("pool2x2_backward");
    S(cmp)("pool2x2_backward", shp, "dx", dx);
    S(buf) *all[] = {&x, &out, &dout, &dx};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) S(drop)(all[i]);
}

static void S(t_relu)(size_t n) {
    char shp[64];
    snprintf(shp, sizeof shp, "n%zu (zeros)", n);
    S(buf) x = S(mk)(n, 3), out = S(mk)(n, 1), dout = S(mk)(n, 1), dx = S(mk)(n, 1);
    for (size_t i = 0; i < n; i += 2) x.h[i] = (T)dk_rng_normal(&rng); /* mixed: integers (zeros) and normals */
    S(sync_to_dev)(&x);
    cpu->TBL->dk_k_relu_forward(out.h, x.h, n);
    cu->TBL->dk_k_relu_forward(out.d, x.d, n);
    S(done)("relu_forward");
    S(cmp)("relu_forward", shp, "out", out);
    cpu->TBL->dk_k_relu_backward(dx.h, dout.h, x.h, n);
    cu->TBL->dk_k_relu_backward(dx.d, dout.d, x.d, n);
    S(done)("relu_backward");
    S(cmp)("relu_backward", shp, "dx", dx);
    S(buf) *all[] = {&x, &out, &dout, &dx};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) S(drop)(all[i]);
}

static void S(t_xent)(size_t B, size_t K) {
    char shp[64];
    snprintf(shp, sizeof shp, "B%zu K%zu", B, K);
    int64_t *lab = rand_labels(B, K);
    int64_t *dlab = dev_copy(lab, B * sizeof *lab);
    S(buf) logits = S(mk)(B * K, 1), loss = S(mk)(B, 1), probs = S(mk)(B * K, 1);
    for (size_t i = 0; i < B * K; i++) logits.h[i] *= 3;
    S(sync_to_dev)(&logits);
    cpu->TBL->dk_k_xent_forward(loss.h, probs.h, logits.h, lab, B, K);
    cu->TBL->dk_k_xent_forward(loss.d, probs.d, logits.d, dlab, B, K);
    S(done)("xent_forward");
    S(cmp)("xent_forward", shp, "loss", loss);
    S(cmp)("xent_forward", shp, "probs", probs);
    S(sync_to_dev)(&probs);
    S(buf) dloss = S(mk)(B, 1), dlogits = S(mk)(B * K, 1);
    cpu->TBL->dk_k_xent_backward(dlogits.h, dloss.h, probs.h, lab, B, K);
    cu->TBL->dk_k_xent_backward(dlogits.d, dloss.d, probs.d, dlab, B, K);
    S(done)("xent_backward");
    S(cmp)("xent_backward", shp, "dlogits", dlogits);
    S(buf) *all[] = {&logits, &loss, &probs, &dloss, &dlogits};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) S(drop)(all[i]);
    cu->free(dlab);
    free(lab);
}

static void S(run_all)(void) {
    char lim[64];
    /* global attention */
    S(t_attention)(3, 37, 53, 16, 24, NULL);
    S(t_attention)(2, 64, 64, 32, 32, NULL);
    S(t_attention)(4, 100, 77, 64, 48, NULL);
    S(t_attention)(1, 1, 5, 16, 16, NULL);
    /* forced chunks: backward 2 heads a chunk (forward 4), then query rows in blocks of 7 (forward 14) */
    snprintf(lim, sizeof lim, "%zu", 2 * 2 * (size_t)50 * 50 * sizeof(T));
    S(t_attention)(5, 50, 50, 16, 16, lim);
    snprintf(lim, sizeof lim, "%zu", 7 * 2 * (size_t)60 * sizeof(T));
    S(t_attention)(3, 50, 60, 32, 16, lim);
    /* the default 256 MiB bound: 65 heads of 1024 x 1024 F32 scores are 260 MiB (2 chunks; 3 in the backward) */
    if (sizeof(T) == 4) S(t_attention)(65, 1024, 1024, 32, 32, NULL);
    /* neighbourhood (kind 0): CPU GEMM path (w <= 6p) and gather path (w > 6p) */
    S(t_local)(2, 9, 11, 16, 0, 3, 0, 0);
    S(t_local)(2, 8, 8, 32, 0, 7, 0, 0);
    S(t_local)(1, 12, 10, 64, 0, 9, 0, 0);
    S(t_local)(2, 5, 24, 16, 0, 3, 0, 0);
    S(t_local)(1, 7, 40, 8, 0, 5, 0, 1);
    S(t_local)(3, 9, 9, 40, 0, 9, 0, 2);
    /* shifted window (kind 1) */
    S(t_local)(2, 8, 8, 16, 1, 4, 0, 0);
    S(t_local)(2, 8, 12, 32, 1, 4, 2, 0);
    S(t_local)(1, 16, 16, 64, 1, 8, 3, 0);
    S(t_local)(2, 9, 6, 24, 1, 3, 1, 3);
    S(t_local)(1, 8, 8, 16, 1, 8, 5, 0);
    /* heads, cosine-sim, RoPE */
    S(t_heads)(2, 5, 3, 4, 8, 1);
    S(t_heads)(1, 7, 1, 2, 33, 0);
    S(t_cosine)(2, 3, 7, 40);
    S(t_cosine)(1, 2, 300, 16);
    S(t_rope)(2, 3, 10, 40, 8);
    S(t_rope)(1, 2, 9, 32, 8);
    /* convolution */
    S(t_conv)(2, 3, 9, 11, 4, 3, 3, 1, 1, 1);
    S(t_conv)(2, 3, 9, 11, 5, 3, 3, 2, 1, 1);
    S(t_conv)(3, 4, 8, 8, 6, 5, 5, 2, 0, 0);
    S(t_conv)(1, 6, 7, 5, 3, 1, 1, 1, 0, 1);
    S(t_conv)(2, 2, 6, 6, 3, 4, 2, 3, 2, 1);
    /* pooling, ReLU, cross-entropy */
    S(t_pool)(6, 8, 10, 0);
    S(t_pool)(4, 7, 9, 0);
    S(t_pool)(4, 7, 9, 1);
    S(t_relu)(1001);
    S(t_xent)(7, 10);
    S(t_xent)(3, 1000);
}

#endif
