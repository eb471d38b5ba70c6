/* test_cuda_ops_core.c: the CUDA kernels of the core ops against their CPU
 * twins, in the style of ggml's test-backend-ops: for each kernel (linear,
 * matmul, elementwise, reductions and losses, norms, embeddings, layout
 * copies, the training kernels) and for F32 and F64, a few shape classes (tiny, odd sizes, sizes
 * past one block of threads, broadcast patterns, NULL gradients), random
 * inputs from dk_rng, the same call through the CPU table and through the
 * CUDA table on copies in device memory (the backend's alloc / from_host /
 * to_host), and every output and every gradient compared. Outputs are
 * pre-filled with random garbage (an output must be overwritten) and
 * gradients with random values (a gradient must be accumulated, +=).
 *
 * Error per buffer: max |gpu - cpu| / max |cpu| (normwise, so sums that cancel
 * to near zero do not make false failures; for a gradient the max also runs
 * over the values it held before, which the += can cancel); limits 1e-5 for F32 (TF32 off:
 * cuBLAS and the CPU differ only in summation order, and the CPU's F32
 * activations use fastmath.h, a few ulp from CUDA's libm) and 1e-12 for F64.
 * Every check prints kernel, dtype, shape, buffer, max abs and rel error; a
 * failure names the kernel. Also: both CUDA kernel tables have no NULL entry.
 * Without a GPU (dk_backend_get(DK_CUDA) == NULL) it prints why and exits 77. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "dktest.h"
#include "diffkit/cuda.h"
#include "diffkit/rng.h"
#include "backend/backend.h"

static const dk_backend *cpu, *gpu;
static dk_rng rng;
static int n_cases;

enum { IN = 0, OUT, GRAD, NUL, IDX };
typedef struct buf {
    const char *name;
    int role;    /* IN: input; OUT: overwritten (compared); GRAD: accumulated (compared); NUL: NULL; IDX: int64 */
    size_t n;    /* elements */
    double lo, hi; /* uniform range (IDX: values in [0, hi)) */
    int edge;    /* 1: element 0 = lo, element 1 = hi (range ends, e.g. dgll's x = +-1) */
    int ref;     /* > 0: each value is buffer ref-1's value plus the uniform draw */
} buf;

typedef void (*call_fn)(const dk_backend *be, dk_dtype dt, void **p, const void *ctx);
#define MAXB 12

/* fn(be, dt, p, ctx) on the CPU and on the GPU with the same inputs; compare
 * the OUT and GRAD buffers. tol: 0 for the defaults. */
static void run_case(const char *kernel, const char *shape, const buf *bs, int nb, call_fn fn, const void *ctx,
                     double tol32, double tol64) {
    for (int di = 0; di < 2; di++) {
        dk_dtype dt = di == 0 ? DK_F32 : DK_F64;
        size_t es = dt == DK_F32 ? 4 : 8;
        double tol = dt == DK_F32 ? (tol32 > 0 ? tol32 : 1e-5) : (tol64 > 0 ? tol64 : 1e-12);
        void *hc[MAXB], *hg[MAXB], *dv[MAXB];
        double init_max[MAXB]; /* largest |initial value| of a gradient (the scale of its error) */
        size_t bytes[MAXB];
        int ok = 1;
        n_cases++;
        for (int i = 0; i < nb; i++) {
            hc[i] = hg[i] = dv[i] = NULL;
            bytes[i] = 0;
            init_max[i] = 0;
            if (bs[i].role == NUL) continue;
            size_t n = bs[i].n, b = n * (bs[i].role == IDX ? 8 : es);
            bytes[i] = b;
            hc[i] = malloc(b ? b : 1);
            hg[i] = malloc(b ? b : 1);
            for (size_t k = 0; k < n; k++) {
                if (bs[i].role == IDX) {
                    ((int64_t *)hc[i])[k] = (int64_t)dk_rng_below(&rng, (uint64_t)bs[i].hi);
                    continue;
                }
                double v = bs[i].lo + (bs[i].hi - bs[i].lo) * dk_rng_uniform(&rng);
                if (bs[i].edge && k == 0) v = bs[i].lo;
                if (bs[i].edge && k == 1) v = bs[i].hi;
                if (bs[i].ref > 0 && bs[i].ref - 1 < i && k < bs[bs[i].ref - 1].n)
                    v += dt == DK_F32 ? ((float *)hc[bs[i].ref - 1])[k] : ((double *)hc[bs[i].ref - 1])[k];
                if (dt == DK_F32)
                    ((float *)hc[i])[k] = (float)v;
                else
                    ((double *)hc[i])[k] = v;
                if (bs[i].role == GRAD && fabs(v) > init_max[i]) init_max[i] = fabs(v);
            }
            dv[i] = gpu->alloc(b, &dk_test_err);
            if (!dv[i]) {
                dk_test_fail(__FILE__, __LINE__, "%s: device alloc of %zu bytes: %s", kernel, b, dk_test_err.msg);
                ok = 0;
            } else if (gpu->from_host(dv[i], hc[i], b, &dk_test_err) != DK_OK) {
                dk_test_fail(__FILE__, __LINE__, "%s: from_host: %s", kernel, dk_test_err.msg);
                ok = 0;
            }
        }
        if (ok) {
            fn(cpu, dt, hc, ctx);
            fn(gpu, dt, dv, ctx);
            dk_status st = gpu->sync(&dk_test_err);
            dk_test_checks++;
            if (st != DK_OK) {
                dk_test_fail(__FILE__, __LINE__, "%s %s %s: the GPU reported: %s", kernel, dk_dtype_name(dt), shape,
                             dk_test_err.msg);
                ok = 0;
            }
        }
        for (int i = 0; ok && i < nb; i++) {
            if (bs[i].role != OUT && bs[i].role != GRAD) continue;
            if (gpu->to_host(hg[i], dv[i], bytes[i], &dk_test_err) != DK_OK) {
                dk_test_fail(__FILE__, __LINE__, "%s: to_host: %s", kernel, dk_test_err.msg);
                break;
            }
            double maxw = init_max[i], maxe = 0; /* a gradient's scale includes what it held before */
            size_t worst = 0;
            for (size_t k = 0; k < bs[i].n; k++) {
                double w = dt == DK_F32 ? ((float *)hc[i])[k] : ((double *)hc[i])[k];
                double g = dt == DK_F32 ? ((float *)hg[i])[k] : ((double *)hg[i])[k];
                double e = fabs(g - w);
                if (isnan(w) || isnan(g)) e = isnan(w) && isnan(g) ? 0 : INFINITY;
                if (isinf(w) || isinf(g)) e = w == g ? 0 : INFINITY;
                if (isfinite(w) && fabs(w) > maxw) maxw = fabs(w);
                if (!(e <= maxe)) {
                    maxe = e;
                    worst = k;
                }
            }
            double rel = maxe / (maxw > 0 ? maxw : 1e-300);
            if (maxe == 0) rel = 0;
            printf("%-26s %s %-30s %-7s max abs %.3g rel %.3g%s\n", kernel, dk_dtype_name(dt), shape, bs[i].name, maxe,
                   rel, rel <= tol ? "" : "  FAIL");
            dk_test_checks++;
            if (!(rel <= tol)) {
                double w = dt == DK_F32 ? ((float *)hc[i])[worst] : ((double *)hc[i])[worst];
                double g = dt == DK_F32 ? ((float *)hg[i])[worst] : ((double *)hg[i])[worst];
                dk_test_fail(__FILE__, __LINE__,
                             "%s %s %s: %s differs from the CPU: rel %.3g > %.1g (element %zu: gpu %.17g cpu %.17g)",
                             kernel, dk_dtype_name(dt), shape, bs[i].name, rel, tol, worst, g, w);
            }
        }
        for (int i = 0; i < nb; i++) {
            free(hc[i]);
            free(hg[i]);
            if (dv[i]) gpu->free(dv[i]);
        }
    }
}

#define CALL(fn, ...)                         \
    do {                                      \
        if (dt == DK_F32)                     \
            be->f32->fn(__VA_ARGS__);         \
        else                                  \
            be->f64->fn(__VA_ARGS__);         \
    } while (0)
/* B(name, role, n, lo, hi[, edge[, ref]]) */
#define B(...) B_(__VA_ARGS__, 0, 0, 0)
#define B_(nm, r, n, lo, hi, e, rf, ...) ((buf){nm, r, n, lo, hi, e, rf})

/* ---- linear / matmul ---- */

typedef struct { size_t M, IN, OUT; } lin_ctx;
static void c_linear_f(const dk_backend *be, dk_dtype dt, void **p, const void *vc) {
    const lin_ctx *c = vc;
    CALL(dk_k_linear_forward, p[0], p[1], p[2], p[3], c->M, c->IN, c->OUT);
}
static void c_linear_b(const dk_backend *be, dk_dtype dt, void **p, const void *vc) {
    const lin_ctx *c = vc;
    CALL(dk_k_linear_backward, p[0], p[1], p[2], p[3], p[4], p[5], c->M, c->IN, c->OUT);
}
static void t_linear(size_t M, size_t IN, size_t OUT, int bias, int null_dx) {
    lin_ctx c = {M, IN, OUT};
    char sh[96];
    snprintf(sh, sizeof sh, "M%zu IN%zu OUT%zu%s%s", M, IN, OUT, bias ? "" : " nobias", null_dx ? " dx=NULL" : "");
    buf f[] = {B("out", OUT, M * OUT, -9, 9), B("x", IN, M * IN, -1, 1), B("w", IN, OUT * IN, -1, 1),
               B("b", bias ? IN : NUL, OUT, -1, 1)};
    run_case("linear_forward", sh, f, 4, c_linear_f, &c, 0, 0);
    buf b[] = {B("dx", null_dx ? NUL : GRAD, M * IN, -1, 1), B("dw", GRAD, OUT * IN, -1, 1),
               B("db", bias ? GRAD : NUL, OUT, -1, 1), B("dout", IN, M * OUT, -1, 1), B("x", IN, M * IN, -1, 1),
               B("w", IN, OUT * IN, -1, 1)};
    run_case("linear_backward", sh, b, 6, c_linear_b, &c, 0, 0);
}

typedef struct { size_t batch, M, N, Kd; int shared, ta, tb; } mm_ctx;
static void c_mm_f(const dk_backend *be, dk_dtype dt, void **p, const void *vc) {
    const mm_ctx *c = vc;
    CALL(dk_k_matmul_forward, p[0], p[1], p[2], c->batch, c->shared, c->M, c->N, c->Kd, c->ta, c->tb);
}
static void c_mm_b(const dk_backend *be, dk_dtype dt, void **p, const void *vc) {
    const mm_ctx *c = vc;
    CALL(dk_k_matmul_backward, p[0], p[1], p[2], p[3], p[4], c->batch, c->shared, c->M, c->N, c->Kd, c->ta, c->tb);
}
static void t_matmul(size_t batch, size_t M, size_t N, size_t Kd, int shared, int ta, int tb) {
    mm_ctx c = {batch, M, N, Kd, shared, ta, tb};
    char sh[96];
    size_t nb = shared ? Kd * N : batch * Kd * N;
    snprintf(sh, sizeof sh, "b%zu M%zu N%zu K%zu%s%s%s", batch, M, N, Kd, shared ? " shared" : "", ta ? " ta" : "",
             tb ? " tb" : "");
    buf f[] = {B("c", OUT, batch * M * N, -9, 9), B("a", IN, batch * M * Kd, -1, 1), B("b", IN, nb, -1, 1)};
    run_case("matmul_forward", sh, f, 3, c_mm_f, &c, 0, 0);
    buf b[] = {B("da", GRAD, batch * M * Kd, -1, 1), B("db", GRAD, nb, -1, 1), B("dc", IN, batch * M * N, -1, 1),
               B("a", IN, batch * M * Kd, -1, 1), B("b", IN, nb, -1, 1)};
    run_case("matmul_backward", sh, b, 5, c_mm_b, &c, 0, 0);
}

/* ---- broadcast binary ---- */

typedef struct { dk_bcast bc; int op; } bin_ctx;
static void c_bin_f(const dk_backend *be, dk_dtype dt, void **p, const void *vc) {
    const bin_ctx *c = vc;
    CALL(dk_k_binary_forward, p[0], p[1], p[2], &c->bc, c->op);
}
static void c_bin_b(const dk_backend *be, dk_dtype dt, void **p, const void *vc) {
    const bin_ctx *c = vc;
    CALL(dk_k_binary_backward, p[0], p[1], p[2], p[3], p[4], &c->bc, c->op);
}
static void t_binary(int na, const int64_t *as, int nbd, const int64_t *bsh) {
    bin_ctx c;
    size_t bn, an = 1;
    char sh[96];
    int o = snprintf(sh, sizeof sh, "a[");
    for (int i = 0; i < na; i++) o += snprintf(sh + o, sizeof sh - (size_t)o, "%s%lld", i ? "," : "", (long long)as[i]);
    o += snprintf(sh + o, sizeof sh - (size_t)o, "] b[");
    for (int i = 0; i < nbd; i++)
        o += snprintf(sh + o, sizeof sh - (size_t)o, "%s%lld", i ? "," : "", (long long)bsh[i]);
    snprintf(sh + o, sizeof sh - (size_t)o, "]");
    bn = 1;
    for (int i = 0; i < nbd; i++) bn *= (size_t)bsh[i];
    if (dk_bcast_make(na, as, nbd, bsh, &c.bc)) {
        dk_test_fail(__FILE__, __LINE__, "test setup: %s does not broadcast", sh);
        return;
    }
    for (int i = 0; i < na; i++) an *= (size_t)as[i];
    static const char *names[3] = {"add", "sub", "mul"};
    for (int op = 0; op < 3; op++) {
        char s2[128];
        snprintf(s2, sizeof s2, "%s %s", names[op], sh);
        c.op = op;
        buf f[] = {B("out", OUT, an, -9, 9), B("a", IN, an, -1, 1), B("b", IN, bn, -1, 1)};
        run_case("binary_forward", s2, f, 3, c_bin_f, &c, 0, 0);
        buf b[] = {B("da", GRAD, an, -1, 1), B("db", GRAD, bn, -1, 1), B("dout", IN, an, -1, 1), B("a", IN, an, -1, 1),
                   B("b", IN, bn, -1, 1)};
        run_case("binary_backward", s2, b, 5, c_bin_b, &c, 0, 0);
        buf b2[] = {B("da", NUL, an, -1, 1), B("db", GRAD, bn, -1, 1), B("dout", IN, an, -1, 1),
                    B("a", IN, an, -1, 1), B("b", IN, bn, -1, 1)};
        if (op == 2) run_case("binary_backward da=NULL", s2, b2, 5, c_bin_b, &c, 0, 0);
    }
}

/* ---- unary, affine, add_into, geglu ---- */

typedef struct { size_t n, M, F; int kind; double s, c; } un_ctx;
static void c_un_f(const dk_backend *be, dk_dtype dt, void **p, const void *vc) {
    const un_ctx *c = vc;
    CALL(dk_k_unary_forward, p[0], p[1], c->n, c->kind);
}
static void c_un_b(const dk_backend *be, dk_dtype dt, void **p, const void *vc) {
    const un_ctx *c = vc;
    CALL(dk_k_unary_backward, p[0], p[1], p[2], c->n, c->kind);
}
static void c_affine(const dk_backend *be, dk_dtype dt, void **p, const void *vc) {
    const un_ctx *c = vc;
    CALL(dk_k_affine_forward, p[0], p[1], c->n, c->s, c->c);
}
static void c_add_into(const dk_backend *be, dk_dtype dt, void **p, const void *vc) {
    const un_ctx *c = vc;
    CALL(dk_k_add_into, p[0], p[1], c->n, c->s);
}
static void c_geglu_f(const dk_backend *be, dk_dtype dt, void **p, const void *vc) {
    const un_ctx *c = vc;
    CALL(dk_k_geglu_forward, p[0], p[1], c->M, c->F);
}
static void c_geglu_b(const dk_backend *be, dk_dtype dt, void **p, const void *vc) {
    const un_ctx *c = vc;
    CALL(dk_k_geglu_backward, p[0], p[1], p[2], c->M, c->F);
}
static void t_unary(size_t n) {
    static const char *kinds[5] = {"gelu_erf", "gelu_tanh", "silu", "square", "exp"};
    for (int k = 0; k < 5; k++) {
        un_ctx c = {n, 0, 0, k, 0, 0};
        char sh[96];
        snprintf(sh, sizeof sh, "%s n%zu", kinds[k], n);
        buf f[] = {B("out", OUT, n, -9, 9), B("x", IN, n, -3, 3)};
        run_case("unary_forward", sh, f, 2, c_un_f, &c, 0, 0);
        buf b[] = {B("dx", GRAD, n, -1, 1), B("dout", IN, n, -1, 1), B("x", IN, n, -3, 3)};
        run_case("unary_backward", sh, b, 3, c_un_b, &c, 0, 0);
    }
    un_ctx c = {n, 0, 0, 0, -1.75, 0.3};
    char sh[96];
    snprintf(sh, sizeof sh, "n%zu s-1.75 c0.3", n);
    buf a[] = {B("out", OUT, n, -9, 9), B("x", IN, n, -3, 3)};
    run_case("affine_forward", sh, a, 2, c_affine, &c, 0, 0);
    buf ai[] = {B("dst", GRAD, n, -1, 1), B("src", IN, n, -3, 3)};
    run_case("add_into", sh, ai, 2, c_add_into, &c, 0, 0);
}
static void t_geglu(size_t M, size_t F) {
    un_ctx c = {0, M, F, 0, 0, 0};
    char sh[96];
    snprintf(sh, sizeof sh, "M%zu F%zu", M, F);
    buf f[] = {B("out", OUT, M * F, -9, 9), B("x", IN, M * 2 * F, -3, 3)};
    run_case("geglu_forward", sh, f, 2, c_geglu_f, &c, 0, 0);
    buf b[] = {B("dx", GRAD, M * 2 * F, -1, 1), B("dout", IN, M * F, -1, 1), B("x", IN, M * 2 * F, -3, 3)};
    run_case("geglu_backward", sh, b, 3, c_geglu_b, &c, 0, 0);
}

/* ---- modulate, gated residual, lerp ---- */

typedef struct { size_t B, Tn, D, n; } btd_ctx;
static void c_mod_f(const dk_backend *be, dk_dtype dt, void **p, const void *vc) {
    const btd_ctx *c = vc;
    CALL(dk_k_modulate_forward, p[0], p[1], p[2], p[3], c->B, c->Tn, c->D);
}
static void c_mod_b(const dk_backend *be, dk_dtype dt, void **p, const void *vc) {
    const btd_ctx *c = vc;
    CALL(dk_k_modulate_backward, p[0], p[1], p[2], p[3], p[4], p[5], c->B, c->Tn, c->D);
}
static void c_gr_f(const dk_backend *be, dk_dtype dt, void **p, const void *vc) {
    const btd_ctx *c = vc;
    CALL(dk_k_gated_residual_forward, p[0], p[1], p[2], p[3], c->B, c->Tn, c->D);
}
static void c_gr_b(const dk_backend *be, dk_dtype dt, void **p, const void *vc) {
    const btd_ctx *c = vc;
    CALL(dk_k_gated_residual_backward, p[0], p[1], p[2], p[3], p[4], p[5], c->B, c->Tn, c->D);
}
static void c_lerp_f(const dk_backend *be, dk_dtype dt, void **p, const void *vc) {
    const btd_ctx *c = vc;
    CALL(dk_k_lerp_forward, p[0], p[1], p[2], p[3], c->n);
}
static void c_lerp_b(const dk_backend *be, dk_dtype dt, void **p, const void *vc) {
    const btd_ctx *c = vc;
    CALL(dk_k_lerp_backward, p[0], p[1], p[2], p[3], p[4], p[5], p[6], c->n);
}
static void t_btd(size_t Bn, size_t Tn, size_t D, int with_nulls) {
    btd_ctx c = {Bn, Tn, D, Bn * Tn * D};
    size_t n = Bn * Tn * D, g = Bn * D;
    char sh[96];
    snprintf(sh, sizeof sh, "B%zu T%zu D%zu%s", Bn, Tn, D, with_nulls ? " some NULL" : "");
    int shift_role = with_nulls ? NUL : IN;
    buf mf[] = {B("out", OUT, n, -9, 9), B("x", IN, n, -2, 2), B("shift", shift_role, g, -1, 1),
                B("scale", IN, g, -1, 1)};
    run_case("modulate_forward", sh, mf, 4, c_mod_f, &c, 0, 0);
    buf mb[] = {B("dx", with_nulls ? NUL : GRAD, n, -1, 1), B("dshift", with_nulls ? NUL : GRAD, g, -1, 1),
                B("dscale", GRAD, g, -1, 1), B("dout", IN, n, -1, 1), B("x", IN, n, -2, 2), B("scale", IN, g, -1, 1)};
    run_case("modulate_backward", sh, mb, 6, c_mod_b, &c, 0, 0);
    buf gf[] = {B("out", OUT, n, -9, 9), B("x", IN, n, -2, 2), B("gate", IN, g, -1, 1), B("y", IN, n, -2, 2)};
    run_case("gated_residual_forward", sh, gf, 4, c_gr_f, &c, 0, 0);
    buf gb[] = {B("dx", with_nulls ? NUL : GRAD, n, -1, 1), B("dgate", GRAD, g, -1, 1),
                B("dy", GRAD, n, -1, 1), B("dout", IN, n, -1, 1), B("gate", IN, g, -1, 1), B("y", IN, n, -2, 2)};
    run_case("gated_residual_backward", sh, gb, 6, c_gr_b, &c, 0, 0);
    buf lf[] = {B("out", OUT, n, -9, 9), B("skip", IN, n, -2, 2), B("y", IN, n, -2, 2), B("fac", IN, 1, 0, 1)};
    run_case("lerp_forward", sh, lf, 4, c_lerp_f, &c, 0, 0);
    buf lb[] = {B("dskip", with_nulls ? NUL : GRAD, n, -1, 1), B("dy", GRAD, n, -1, 1), B("dfac", GRAD, 1, -1, 1),
                B("dout", IN, n, -1, 1), B("skip", IN, n, -2, 2), B("y", IN, n, -2, 2), B("fac", IN, 1, 0, 1)};
    run_case("lerp_backward", sh, lb, 7, c_lerp_b, &c, 0, 0);
}

/* ---- reductions and losses ---- */

typedef struct { size_t M, R, n; double mul; } red_ctx;
static void c_sr_f(const dk_backend *be, dk_dtype dt, void **p, const void *vc) {
    const red_ctx *c = vc;
    CALL(dk_k_sum_rows_forward, p[0], p[1], c->M, c->R, c->mul);
}
static void c_sr_b(const dk_backend *be, dk_dtype dt, void **p, const void *vc) {
    const red_ctx *c = vc;
    CALL(dk_k_sum_rows_backward, p[0], p[1], c->M, c->R, c->mul);
}
static void c_mse_f(const dk_backend *be, dk_dtype dt, void **p, const void *vc) {
    const red_ctx *c = vc;
    CALL(dk_k_mse_forward, p[0], p[1], p[2], c->M, c->R);
}
static void c_mse_b(const dk_backend *be, dk_dtype dt, void **p, const void *vc) {
    const red_ctx *c = vc;
    CALL(dk_k_mse_backward, p[0], p[1], p[2], p[3], p[4], c->M, c->R);
}
static void c_kl_f(const dk_backend *be, dk_dtype dt, void **p, const void *vc) {
    const red_ctx *c = vc;
    CALL(dk_k_normal_kl_forward, p[0], p[1], p[2], p[3], p[4], c->n);
}
static void c_kl_b(const dk_backend *be, dk_dtype dt, void **p, const void *vc) {
    const red_ctx *c = vc;
    CALL(dk_k_normal_kl_backward, p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], c->n);
}
static void c_dg_f(const dk_backend *be, dk_dtype dt, void **p, const void *vc) {
    const red_ctx *c = vc;
    CALL(dk_k_dgll_forward, p[0], p[1], p[2], p[3], c->n);
}
static void c_dg_b(const dk_backend *be, dk_dtype dt, void **p, const void *vc) {
    const red_ctx *c = vc;
    CALL(dk_k_dgll_backward, p[0], p[1], p[2], p[3], p[4], p[5], c->n);
}
static void t_reduce(size_t M, size_t R) {
    red_ctx c = {M, R, M * R, 0.37};
    size_t n = M * R;
    char sh[96];
    snprintf(sh, sizeof sh, "M%zu R%zu", M, R);
    buf sf[] = {B("out", OUT, M, -9, 9), B("x", IN, n, -1, 1)};
    run_case("sum_rows_forward", sh, sf, 2, c_sr_f, &c, 0, 0);
    buf sb[] = {B("dx", GRAD, n, -1, 1), B("dout", IN, M, -1, 1)};
    run_case("sum_rows_backward", sh, sb, 2, c_sr_b, &c, 0, 0);
    buf mf[] = {B("out", OUT, M, -9, 9), B("a", IN, n, -1, 1), B("b", IN, n, -1, 1)};
    run_case("mse_forward", sh, mf, 3, c_mse_f, &c, 0, 0);
    buf mb[] = {B("da", GRAD, n, -1, 1), B("db", GRAD, n, -1, 1), B("dout", IN, M, -1, 1), B("a", IN, n, -1, 1),
                B("b", IN, n, -1, 1)};
    run_case("mse_backward", sh, mb, 5, c_mse_b, &c, 0, 0);
    buf mb2[] = {B("da", NUL, n, -1, 1), B("db", GRAD, n, -1, 1), B("dout", IN, M, -1, 1), B("a", IN, n, -1, 1),
                 B("b", IN, n, -1, 1)};
    run_case("mse_backward da=NULL", sh, mb2, 5, c_mse_b, &c, 0, 0);
    buf kf[] = {B("out", OUT, n, -9, 9), B("m1", IN, n, -1, 1), B("lv1", IN, n, -2, 2), B("m2", IN, n, -1, 1),
                B("lv2", IN, n, -2, 2)};
    run_case("normal_kl_forward", sh, kf, 5, c_kl_f, &c, 0, 0);
    buf kb[] = {B("dm1", GRAD, n, -1, 1), B("dlv1", GRAD, n, -1, 1), B("dm2", M > 1 ? GRAD : NUL, n, -1, 1),
                B("dlv2", GRAD, n, -1, 1), B("dout", IN, n, -1, 1), B("m1", IN, n, -1, 1), B("lv1", IN, n, -2, 2),
                B("m2", IN, n, -1, 1), B("lv2", IN, n, -2, 2)};
    run_case("normal_kl_backward", sh, kb, 9, c_kl_b, &c, 0, 0);
    /* dgll: x in [-1, 1] with both ends present (the edge branches), means
     * within 0.02 of x and log-scales in [-2, -1], so the CDFs do not saturate.
     * cdf_plus - cdf_min (and ap - am in the backward) still cancel: the
     * relative difference of the two tanh (1-2 ulp apart between libms) grows
     * ~100x, hence 1e-4 (F32) and 1e-10 (F64) here. */
    buf df[] = {B("out", OUT, n, -9, 9), B("x", IN, n, -1, 1, 1), B("means", IN, n, -0.02, 0.02, 0, 2),
                B("log_scales", IN, n, -2, -1)};
    run_case("dgll_forward", sh, df, 4, c_dg_f, &c, 1e-4, 1e-10);
    buf db[] = {B("dmeans", GRAD, n, -1, 1), B("dlog_scales", GRAD, n, -1, 1), B("dout", IN, n, -1, 1),
                B("x", IN, n, -1, 1, 1), B("means", IN, n, -0.02, 0.02, 0, 4), B("log_scales", IN, n, -2, -1)};
    run_case("dgll_backward", sh, db, 6, c_dg_b, &c, 1e-4, 1e-10);
}

/* ---- norms ---- */

typedef struct { size_t M, D, rps; double eps; } norm_ctx;
static void c_ln_f(const dk_backend *be, dk_dtype dt, void **p, const void *vc) {
    const norm_ctx *c = vc;
    CALL(dk_k_layernorm_forward, p[0], p[1], p[2], p[3], p[4], p[5], c->M, c->D, c->eps);
}
static void c_ln_b(const dk_backend *be, dk_dtype dt, void **p, const void *vc) {
    const norm_ctx *c = vc;
    CALL(dk_k_layernorm_backward, p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], c->M, c->D);
}
static void c_rms_f(const dk_backend *be, dk_dtype dt, void **p, const void *vc) {
    const norm_ctx *c = vc;
    CALL(dk_k_rmsnorm_forward, p[0], p[1], p[2], p[3], c->M, c->D, c->rps, c->eps);
}
static void c_rms_b(const dk_backend *be, dk_dtype dt, void **p, const void *vc) {
    const norm_ctx *c = vc;
    CALL(dk_k_rmsnorm_backward, p[0], p[1], p[2], p[3], p[4], p[5], c->M, c->D, c->rps);
}
/* mean / rstd for the backward: the CPU forward's, uploaded to both sides
 * as inputs (so the backward is compared on equal saved statistics) */
static void t_norm(size_t M, size_t D, size_t rps, int affine) {
    norm_ctx c = {M, D, rps, 1e-5};
    size_t n = M * D, G = (M + rps - 1) / rps;
    char sh[96];
    snprintf(sh, sizeof sh, "M%zu D%zu%s", M, D, affine ? "" : " no w/b");
    int pr = affine ? IN : NUL, gr = affine ? GRAD : NUL;
    buf lf[] = {B("out", OUT, n, -9, 9), B("mean", OUT, M, -9, 9), B("rstd", OUT, M, -9, 9), B("x", IN, n, -2, 3),
                B("w", pr, D, -1, 2), B("b", pr, D, -1, 1)};
    run_case("layernorm_forward", sh, lf, 6, c_ln_f, &c, 0, 0);
    buf lf2[] = {B("out", OUT, n, -9, 9), B("mean", NUL, M, -9, 9), B("rstd", NUL, M, -9, 9), B("x", IN, n, -2, 3),
                 B("w", pr, D, -1, 2), B("b", pr, D, -1, 1)};
    run_case("layernorm_forward no saved", sh, lf2, 6, c_ln_f, &c, 0, 0);
    /* mean in [0.2, 0.8] and rstd in [0.5, 2]: plausible statistics */
    buf lb[] = {B("dx", GRAD, n, -1, 1), B("dw", gr, D, -1, 1), B("db", gr, D, -1, 1), B("dout", IN, n, -1, 1),
                B("x", IN, n, -2, 3), B("mean", IN, M, 0.2, 0.8), B("rstd", IN, M, 0.5, 2), B("w", pr, D, -1, 2)};
    run_case("layernorm_backward", sh, lb, 8, c_ln_b, &c, 0, 0);
    char sh2[96];
    snprintf(sh2, sizeof sh2, "M%zu D%zu rps%zu%s", M, D, rps, affine ? "" : " no g");
    buf rf[] = {B("out", OUT, n, -9, 9), B("rstd", OUT, M, -9, 9), B("x", IN, n, -2, 3), B("g", pr, G * D, -1, 2)};
    run_case("rmsnorm_forward", sh2, rf, 4, c_rms_f, &c, 0, 0);
    buf rb[] = {B("dx", GRAD, n, -1, 1), B("dg", gr, G * D, -1, 1), B("dout", IN, n, -1, 1), B("x", IN, n, -2, 3),
                B("rstd", IN, M, 0.5, 2), B("g", pr, G * D, -1, 2)};
    run_case("rmsnorm_backward", sh2, rb, 6, c_rms_b, &c, 0, 0);
}

/* ---- embeddings ---- */

typedef struct { size_t n, D, B, dim, NI, F; double max_period; } emb_ctx;
static void c_emb_f(const dk_backend *be, dk_dtype dt, void **p, const void *vc) {
    const emb_ctx *c = vc;
    CALL(dk_k_embedding_forward, p[0], p[1], p[2], c->n, c->D);
}
static void c_emb_b(const dk_backend *be, dk_dtype dt, void **p, const void *vc) {
    const emb_ctx *c = vc;
    CALL(dk_k_embedding_backward, p[0], p[1], p[2], c->n, c->D);
}
static void c_ts_f(const dk_backend *be, dk_dtype dt, void **p, const void *vc) {
    const emb_ctx *c = vc;
    CALL(dk_k_timestep_forward, p[0], p[1], c->B, c->dim, c->max_period);
}
static void c_ts_b(const dk_backend *be, dk_dtype dt, void **p, const void *vc) {
    const emb_ctx *c = vc;
    CALL(dk_k_timestep_backward, p[0], p[1], p[2], c->B, c->dim, c->max_period);
}
static void c_ff_f(const dk_backend *be, dk_dtype dt, void **p, const void *vc) {
    const emb_ctx *c = vc;
    CALL(dk_k_fourier_forward, p[0], p[1], p[2], c->B, c->NI, c->F);
}
static void c_ff_b(const dk_backend *be, dk_dtype dt, void **p, const void *vc) {
    const emb_ctx *c = vc;
    CALL(dk_k_fourier_backward, p[0], p[1], p[2], p[3], p[4], p[5], c->B, c->NI, c->F);
}
static void t_embed(size_t V, size_t n, size_t D) {
    emb_ctx c = {n, D, 0, 0, 0, 0, 0};
    char sh[96];
    snprintf(sh, sizeof sh, "V%zu n%zu D%zu", V, n, D);
    buf f[] = {B("out", OUT, n * D, -9, 9), B("table", IN, V * D, -1, 1), B("idx", IDX, n, 0, (double)V)};
    run_case("embedding_forward", sh, f, 3, c_emb_f, &c, 0, 0);
    buf b[] = {B("dtable", GRAD, V * D, -1, 1), B("dout", IN, n * D, -1, 1), B("idx", IDX, n, 0, (double)V)};
    run_case("embedding_backward", sh, b, 3, c_emb_b, &c, 0, 0);
}
/* t in [0, 3]: F32 cos / sin of t f agree to ~1e-7 between libm and CUDA; at
 * t ~ 1000 one ulp of f alone moves the argument by ~6e-5 (on any two libms). */
static void t_timestep(size_t Bn, size_t dim) {
    emb_ctx c = {0, 0, Bn, dim, 0, 0, 10000};
    char sh[96];
    snprintf(sh, sizeof sh, "B%zu dim%zu", Bn, dim);
    buf f[] = {B("out", OUT, Bn * dim, -9, 9), B("t", IN, Bn, 0, 3)};
    run_case("timestep_forward", sh, f, 2, c_ts_f, &c, 0, 0);
    buf b[] = {B("dt", GRAD, Bn, -1, 1), B("dout", IN, Bn * dim, -1, 1), B("t", IN, Bn, 0, 3)};
    run_case("timestep_backward", sh, b, 3, c_ts_b, &c, 0, 0);
}
static void t_fourier(size_t Bn, size_t NI, size_t F, int null_dv) {
    emb_ctx c = {0, 0, Bn, 0, NI, F, 0};
    char sh[96];
    snprintf(sh, sizeof sh, "B%zu I%zu F%zu%s", Bn, NI, F, null_dv ? " dv=NULL" : "");
    buf f[] = {B("out", OUT, Bn * 2 * F, -9, 9), B("v", IN, Bn * NI, -0.5, 0.5), B("w", IN, F * NI, -0.5, 0.5)};
    run_case("fourier_forward", sh, f, 3, c_ff_f, &c, 0, 0);
    /* out is an input of the backward (saved cos / sin); any values do */
    buf b[] = {B("dv", null_dv ? NUL : GRAD, Bn * NI, -1, 1), B("dw", GRAD, F * NI, -1, 1),
               B("dout", IN, Bn * 2 * F, -1, 1), B("out", IN, Bn * 2 * F, -1, 1), B("v", IN, Bn * NI, -0.5, 0.5),
               B("w", IN, F * NI, -0.5, 0.5)};
    run_case("fourier_backward", sh, b, 6, c_ff_b, &c, 0, 0);
}

/* ---- layout ---- */

typedef struct {
    int nd, inverse, acc, layout, to;
    int64_t shape[8];
    int perm[8];
    size_t dld, doff, sld, soff, M, len;
    size_t B, C, H, W, p, h, w, p0, p1;
} lay_ctx;
static void c_perm(const dk_backend *be, dk_dtype dt, void **p, const void *vc) {
    const lay_ctx *c = vc;
    CALL(dk_k_permute, p[0], p[1], c->nd, c->shape, c->perm, c->inverse, c->acc);
}
static void c_cc(const dk_backend *be, dk_dtype dt, void **p, const void *vc) {
    const lay_ctx *c = vc;
    CALL(dk_k_copy_cols, p[0], c->dld, c->doff, p[1], c->sld, c->soff, c->M, c->len, c->acc);
}
static void c_pc(const dk_backend *be, dk_dtype dt, void **p, const void *vc) {
    const lay_ctx *c = vc;
    CALL(dk_k_patch_copy, p[0], p[1], c->B, c->C, c->H, c->W, c->p, c->layout, c->to, c->acc);
}
static void c_tm(const dk_backend *be, dk_dtype dt, void **p, const void *vc) {
    const lay_ctx *c = vc;
    CALL(dk_k_token_merge_copy, p[0], p[1], c->B, c->h, c->w, c->C, c->p0, c->p1, c->to, c->acc);
}
static void t_permute(int nd, const int64_t *shape, const int *perm) {
    lay_ctx c;
    memset(&c, 0, sizeof c);
    c.nd = nd;
    size_t n = 1;
    char sh[96];
    int o = snprintf(sh, sizeof sh, "[");
    for (int i = 0; i < nd; i++) {
        c.shape[i] = shape[i];
        c.perm[i] = perm[i];
        n *= (size_t)shape[i];
        o += snprintf(sh + o, sizeof sh - (size_t)o, "%s%lld", i ? "," : "", (long long)shape[i]);
    }
    o += snprintf(sh + o, sizeof sh - (size_t)o, "] perm");
    for (int i = 0; i < nd; i++) o += snprintf(sh + o, sizeof sh - (size_t)o, " %d", perm[i]);
    for (int inv = 0; inv < 2; inv++)
        for (int acc = 0; acc < 2; acc++) {
            char s2[128];
            snprintf(s2, sizeof s2, "%s%s%s", sh, inv ? " inv" : "", acc ? " acc" : "");
            c.inverse = inv;
            c.acc = acc;
            buf b[] = {B("dst", acc ? GRAD : OUT, n, -1, 1), B("src", IN, n, -1, 1)};
            run_case("permute", s2, b, 2, c_perm, &c, 0, 0);
        }
}
static void t_layout(void) {
    lay_ctx c;
    for (int acc = 0; acc < 2; acc++) {
        /* copy_cols: a slice of 5 columns of (37, 11) into columns 3.. of (37, 9) */
        memset(&c, 0, sizeof c);
        c.dld = 9, c.doff = 3, c.sld = 11, c.soff = 4, c.M = 37, c.len = 5, c.acc = acc;
        buf cc[] = {B("dst", acc ? GRAD : OUT, 37 * 9, -1, 1), B("src", IN, 37 * 11, -1, 1)};
        run_case("copy_cols", acc ? "M37 len5 dld9 sld11 acc" : "M37 len5 dld9 sld11", cc, 2, c_cc, &c, 0, 0);
        /* patch_copy: img (2, 3, 8, 12), p 2 and 4; tok (2, HW/p^2, p^2 C); odd image
         * (1, 5, 7, 9) p 3 leaves a border of img untouched */
        size_t pcs[3][5] = {{2, 3, 8, 12, 2}, {2, 3, 8, 12, 4}, {1, 5, 7, 9, 3}};
        for (int s = 0; s < 3; s++)
            for (int layout = 0; layout < 2; layout++)
                for (int to = 0; to < 2; to++) {
                    memset(&c, 0, sizeof c);
                    c.B = pcs[s][0], c.C = pcs[s][1], c.H = pcs[s][2], c.W = pcs[s][3], c.p = pcs[s][4];
                    c.layout = layout, c.to = to, c.acc = acc;
                    size_t ni = c.B * c.C * c.H * c.W, nt = c.B * (c.H / c.p) * (c.W / c.p) * c.p * c.p * c.C;
                    char sh[96];
                    snprintf(sh, sizeof sh, "B%zu C%zu H%zu W%zu p%zu L%d %s%s", c.B, c.C, c.H, c.W, c.p, layout,
                             to ? "to_tok" : "to_img", acc ? " acc" : "");
                    /* the destination is compared: written (acc 0) or accumulated (acc 1) */
                    int dr = acc ? GRAD : OUT;
                    buf pc[] = {B("img", to ? IN : dr, ni, -1, 1), B("tok", to ? dr : IN, nt, -1, 1)};
                    run_case("patch_copy", sh, pc, 2, c_pc, &c, 0, 0);
                }
        /* token_merge_copy: fine (2, 6, 8, 5) p0 2 p1 4; (1, 7, 5, 3) p0 3 p1 1 (odd: rows untouched) */
        size_t tms[2][6] = {{2, 6, 8, 5, 2, 4}, {1, 7, 5, 3, 3, 1}};
        for (int s = 0; s < 2; s++)
            for (int to = 0; to < 2; to++) {
                memset(&c, 0, sizeof c);
                c.B = tms[s][0], c.h = tms[s][1], c.w = tms[s][2], c.C = tms[s][3], c.p0 = tms[s][4],
                c.p1 = tms[s][5];
                c.to = to, c.acc = acc;
                size_t nf = c.B * c.h * c.w * c.C, nc = c.B * (c.h / c.p0) * (c.w / c.p1) * c.p0 * c.p1 * c.C;
                char sh[96];
                snprintf(sh, sizeof sh, "B%zu h%zu w%zu C%zu p%zux%zu %s%s", c.B, c.h, c.w, c.C, c.p0, c.p1,
                         to ? "to_coarse" : "to_fine", acc ? " acc" : "");
                int dr = acc ? GRAD : OUT;
                buf tm[] = {B("fine", to ? IN : dr, nf, -1, 1), B("coarse", to ? dr : IN, nc, -1, 1)};
                run_case("token_merge_copy", sh, tm, 2, c_tm, &c, 0, 0);
            }
    }
}

/* Both CUDA tables: no NULL entry (cuda_table.cu lists every kernel). */
static void t_tables(void) {
    int holes = 0, n = 0;
#define T float
#define DK_KERNEL(ret, name, args) \
    n++;                           \
    if (!gpu->f32->name) holes++, printf("CUDA F32 table: %s is NULL\n", #name);
#include "backend/cpu/kernels_list.inc"
#undef DK_KERNEL
#undef T
#define T double
#define DK_KERNEL(ret, name, args) \
    n++;                           \
    if (!gpu->f64 || !gpu->f64->name) holes++, printf("CUDA F64 table: %s is NULL\n", #name);
#include "backend/cpu/kernels_list.inc"
#undef DK_KERNEL
#undef T
    printf("CUDA kernel tables: %d entries, %d NULL\n", n, holes);
    DK_CHECK(holes == 0);
}

/* ---- training kernels (k_train: AdamW, SGD, scale, EMA; sumsq and the finite check return values) ---- */

typedef struct train_ctx {
    size_t n;
    int first, nesterov, momentum;
} train_ctx;
static void c_adamw(const dk_backend *be, dk_dtype dt, void **p, const void *vc) {
    const train_ctx *c = vc;
    CALL(dk_k_adamw, p[0], p[1], p[2], p[3], c->n, 1e-3, 1e-2, 0.9, 0.95, 1e-8, (int64_t)7);
}
static void c_sgd(const dk_backend *be, dk_dtype dt, void **p, const void *vc) {
    const train_ctx *c = vc;
    CALL(dk_k_sgd, p[0], p[1], c->momentum ? p[2] : NULL, c->n, 1e-2, 1e-3, 0.9, 0.1, c->nesterov, c->first);
}
static void c_scale(const dk_backend *be, dk_dtype dt, void **p, const void *vc) {
    const train_ctx *c = vc;
    CALL(dk_k_scale, p[0], c->n, 0.37);
}
static void c_ema(const dk_backend *be, dk_dtype dt, void **p, const void *vc) {
    const train_ctx *c = vc;
    CALL(dk_k_ema, p[0], p[1], c->n, 0.999);
}
static void t_train(size_t n) {
    char sh[64];
    snprintf(sh, sizeof sh, "n %zu", n);
    train_ctx c = {n, 0, 0, 1};
    buf ad[] = {B("p", GRAD, n, -1, 1), B("g", IN, n, -1, 1), B("m", GRAD, n, -0.1, 0.1), B("v", GRAD, n, 0, 0.01)};
    run_case("adamw", sh, ad, 4, c_adamw, &c, 0, 0);
    for (int k = 0; k < 3; k++) { /* momentum; the first step; nesterov */
        train_ctx d = {n, k == 1, k == 2, 1};
        buf sg[] = {B("p", GRAD, n, -1, 1), B("g", IN, n, -1, 1), B("buf", GRAD, n, -0.1, 0.1)};
        run_case("sgd", sh, sg, 3, c_sgd, &d, 0, 0);
    }
    train_ctx nm = {n, 0, 0, 0};
    buf sg0[] = {B("p", GRAD, n, -1, 1), B("g", IN, n, -1, 1), B("buf", NUL, n, 0, 0)};
    run_case("sgd (no momentum)", sh, sg0, 3, c_sgd, &nm, 0, 0);
    buf sc[] = {B("x", GRAD, n, -3, 3)};
    run_case("scale", sh, sc, 1, c_scale, &c, 0, 0);
    buf em[] = {B("avg", GRAD, n, -1, 1), B("x", IN, n, -1, 1)};
    run_case("ema", sh, em, 2, c_ema, &c, 0, 0);
    /* sumsq (running sum in double, chunks added in order) and the finite check */
    for (int di = 0; di < 2; di++) {
        dk_dtype dt = di ? DK_F64 : DK_F32;
        size_t es = di ? 8 : 4;
        void *h = malloc(n * es);
        for (size_t i = 0; i < n; i++) {
            double v = 4 * dk_rng_uniform(&rng) - 2;
            if (di) ((double *)h)[i] = v;
            else ((float *)h)[i] = (float)v;
        }
        dk_error e;
        void *d = gpu->alloc(n * es, &e);
        DK_CHECK(d != NULL);
        if (!d) {
            free(h);
            continue;
        }
        DK_CHECK_OK(gpu->from_host(d, h, n * es, &dk_test_err));
        double a = di ? cpu->f64->dk_k_sumsq(h, n, 0.5) : cpu->f32->dk_k_sumsq(h, n, 0.5);
        double b = di ? gpu->f64->dk_k_sumsq(d, n, 0.5) : gpu->f32->dk_k_sumsq(d, n, 0.5);
        printf("%-24s %s %-12s sum of squares: cpu %.17g cuda %.17g rel %.3g\n", "sumsq", dk_dtype_name(dt), sh, a, b,
               fabs(a - b) / a);
        DK_CHECK_NEAR(b, a, 0, 1e-12); /* double accumulation, another order */
        int fa = di ? gpu->f64->dk_k_all_finite(d, n) : gpu->f32->dk_k_all_finite(d, n);
        DK_CHECK(fa == 1);
        if (di) ((double *)h)[n / 2] = NAN;
        else ((float *)h)[n / 2] = INFINITY;
        DK_CHECK_OK(gpu->from_host(d, h, n * es, &dk_test_err));
        int fb = di ? gpu->f64->dk_k_all_finite(d, n) : gpu->f32->dk_k_all_finite(d, n);
        int fc = di ? cpu->f64->dk_k_all_finite(h, n) : cpu->f32->dk_k_all_finite(h, n);
        DK_CHECK(fb == 0 && fc == 0);
        DK_CHECK_OK(gpu->sync(&dk_test_err));
        gpu->free(d);
        free(h);
    }
}

int main(void) {
    dk_error why;
    memset(&why, 0, sizeof why);
    cpu = dk_backend_cpu();
    gpu = dk_backend_get(DK_CUDA, &why);
    if (!gpu) {
        printf("skipping the CUDA kernel checks: %s\n", why.msg);
        return 77;
    }
    char desc[512];
    dk_cuda_describe(desc, sizeof desc);
    printf("%s\n", desc);
    dk_cuda_set_tf32(0);
    dk_rng_init(&rng, 20261204, 7);
    t_tables();

    /* linear: tiny, odd, above one block, IN = 0 edge avoided (the ops never make it) */
    t_linear(1, 1, 1, 1, 0);
    t_linear(7, 13, 5, 1, 0);
    t_linear(300, 37, 65, 1, 0);
    t_linear(33, 129, 300, 0, 1);
    /* matmul: every transpose combination, shared b, batch 1 */
    size_t mms[3][4] = {{1, 1, 1, 1}, {3, 7, 5, 9}, {2, 65, 33, 130}};
    for (int s = 0; s < 3; s++)
        for (int shared = 0; shared < 2; shared++)
            for (int ta = 0; ta < 2; ta++)
                for (int tb = 0; tb < 2; tb++) t_matmul(mms[s][0], mms[s][1], mms[s][2], mms[s][3], shared, ta, tb);

    /* broadcast patterns (ops.h rules): same shape, bias over rows, scalar,
     * per-row column, middle dim broadcast, leading 1s, inner broadcast */
    {
        int64_t a1[2] = {7, 13}, b1[2] = {7, 13};
        t_binary(2, a1, 2, b1);
        int64_t a2[2] = {300, 37}, b2[1] = {37};
        t_binary(2, a2, 1, b2);
        int64_t a3[2] = {5, 301}, b3[1] = {1};
        t_binary(2, a3, 1, b3);
        int64_t a4[2] = {70, 9}, b4[2] = {70, 1};
        t_binary(2, a4, 2, b4);
        int64_t a5[3] = {4, 65, 6}, b5[3] = {4, 1, 6};
        t_binary(3, a5, 3, b5);
        int64_t a6[4] = {3, 5, 7, 2}, b6[4] = {1, 5, 1, 2};
        t_binary(4, a6, 4, b6);
        int64_t a7[3] = {1, 1, 1}, b7[1] = {1};
        t_binary(3, a7, 1, b7);
        int64_t a8[4] = {2, 3, 4, 5}, b8[4] = {2, 1, 4, 1};
        t_binary(4, a8, 4, b8);
    }
    t_unary(1);
    t_unary(1001);
    t_geglu(1, 1);
    t_geglu(37, 300);
    t_btd(1, 1, 1, 0);
    t_btd(2, 5, 7, 0);
    t_btd(3, 70, 301, 0);
    t_btd(2, 9, 33, 1);
    t_reduce(1, 1);
    t_reduce(1, 5000);
    t_reduce(13, 7);
    t_reduce(70, 301);
    t_norm(1, 1, 1, 1);
    t_norm(7, 13, 1, 1);
    t_norm(33, 517, 4, 1);
    t_norm(70, 1152, 7, 0);
    t_norm(300, 64, 300, 1);
    t_embed(1, 1, 1);
    t_embed(10, 37, 13);
    t_embed(5, 300, 300); /* many repeated rows */
    t_timestep(1, 2);
    t_timestep(7, 33);
    t_timestep(300, 256);
    t_fourier(1, 1, 1, 0);
    t_fourier(7, 3, 13, 0);
    t_fourier(300, 2, 128, 1);
    {
        int64_t s1[1] = {1};
        int p1[1] = {0};
        t_permute(1, s1, p1);
        int64_t s2[2] = {37, 300};
        int p2[2] = {1, 0};
        t_permute(2, s2, p2);
        int64_t s3[4] = {2, 3, 5, 7};
        int p3[4] = {0, 2, 3, 1};
        t_permute(4, s3, p3);
        int64_t s4[5] = {3, 1, 4, 5, 2};
        int p4[5] = {4, 2, 0, 3, 1};
        t_permute(5, s4, p4);
    }
    t_layout();
    t_train(1);
    t_train(1001);
    t_train(3 * 16384 + 77); /* several sumsq chunks */

    size_t used = 0, cached = 0;
    dk_cuda_memory_stats(&used, &cached);
    printf("%d cases; device memory after: %zu bytes in use, %zu cached\n", n_cases, used, cached);
    DK_CHECK(used == 0); /* every test buffer was freed back to the cache */
    return dk_test_finish();
}
