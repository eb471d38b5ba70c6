/* test_perf_fastmath.c: the F32 activations use our own vectorizable
 * exp / sigmoid / erfc approximations (core/src/backend/cpu/fastmath.h); this
 * measures them through the public ops against libm in double over a dense
 * sweep of [-30, 30] (and the exp range), forward in ulps of the float
 * result and backward relative to the derivative's scale, and checks NaN,
 * overflow and underflow. F64 ops stay on libm (relative error ~1e-15, the
 * growth with |x|^3 being the rounding of the polynomial argument). */
#include <math.h>
#include <stdlib.h>
#include "dktest.h"
#include "diffkit/graph.h"
#include "diffkit/ops.h"

enum { N = 120001 };

static double ulp_err(float got, double ref) {
    float r = (float)ref;
    if (isinf(r)) return got == r ? 0 : 1e9;
    double u = fabsf(r) < 1.17549435e-38f ? 1.401298464e-45 : nextafterf(fabsf(r), INFINITY) - fabsf(r);
    return fabs((double)got - ref) / u;
}

/* references in double (libm) */
static double phi(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }
static double ref_f(int op, double x) {
    const double c = sqrt(2.0 / M_PI);
    switch (op) {
    case 0: return x * phi(x);
    case 1: return x / (1 + exp(-2 * c * (x + 0.044715 * x * x * x))); /* = 0.5x(1 + tanh u), no cancellation */
    case 2: return x / (1 + exp(-x));
    default: return exp(x);
    }
}
static double ref_d(int op, double x) {
    const double c = sqrt(2.0 / M_PI);
    switch (op) {
    case 0: return phi(x) + x * exp(-0.5 * x * x) / sqrt(2 * M_PI);
    case 1: { /* 0.5(1 + t) = s, 1 - t^2 = 4 s (1 - s), s = sigmoid(2u) */
        double u = c * (x + 0.044715 * x * x * x), s = 1 / (1 + exp(-2 * u)), sc = 1 / (1 + exp(2 * u));
        return s + 2 * x * s * sc * c * (1 + 3 * 0.044715 * x * x);
    }
    case 2: {
        double s = 1 / (1 + exp(-x));
        return s * (1 + x * (1 - s));
    }
    default: return exp(x);
    }
}

static dk_var *apply(dk_graph *g, int op, dk_var *x) {
    switch (op) {
    case 0: return dk_gelu(g, x, 0);
    case 1: return dk_gelu(g, x, 1);
    case 2: return dk_silu(g, x);
    default: return dk_exp(g, x);
    }
}

int main(void) {
    static const char *names[] = {"gelu_erf", "gelu_tanh", "silu", "exp"};
    static const double max_fwd_ulp[] = {8, 16, 4, 1.5}, max_bwd_rel[] = {2e-5, 2e-5, 1e-5, 1e-6};
    for (int dt = 0; dt < 2; dt++) {
        dk_dtype dtype = dt ? DK_F64 : DK_F32;
        for (int op = 0; op < 4; op++) {
            double lo = op == 3 ? -104 : -30, hi = op == 3 ? 88 : 30;
            dk_tensor *x = dk_tensor_new(dtype, 1, (int64_t[]){N}, &dk_test_err);
            for (size_t i = 0; i < N; i++) dk_tensor_set(x, i, (float)(lo + (hi - lo) * (double)i / (N - 1)));
            dk_graph *g = dk_graph_new();
            dk_var *X = dk_graph_input(g, x, 1);
            dk_var *y = apply(g, op, X);
            DK_CHECK_OK(dk_graph_backward(g, dk_sum_all(g, y), &dk_test_err));
            double wf = 0, wb = 0, at_f = 0, at_b = 0;
            for (size_t i = 0; i < N; i++) {
                double xv = dk_tensor_get(x, i), rf = ref_f(op, xv), rd = ref_d(op, xv);
                double gf = dk_tensor_get(y->value, i), gd = dk_tensor_get(X->grad, i);
                double ef, eb;
                if (dt) { /* F64 (libm): relative, plus the erf form's cancellation ~ eps |x| in its tail */
                    ef = fabs(gf - rf) / (1e-15 * (1 + fabs(xv) * fabs(xv) * fabs(xv)) * fabs(rf) + 1e-300);
                    eb = fabs(gd - rd) / (1e-14 * (1 + fabs(xv) * fabs(xv) * fabs(xv)) * fmax(fabs(rd), 1e-2) + 1e-300);
                } else { /* F32: ulps of the float result; derivatives relative to max(|d|, 1e-2) */
                    /* |x| > 3: the float argument of exp already carries ~eps |u| of error */
                    ef = fabs(xv) <= 3 ? ulp_err((float)gf, rf) : fabs(gf - rf) / (fabs(rf) * 1e-4 + 1e-37);
                    eb = fabs(gd - rd) / (fmax(fabs(rd), 1e-2) + 1e-300);
                }
                if (ef > wf) wf = ef, at_f = xv;
                if (eb > wb) wb = eb, at_b = xv;
            }
            printf("%s %s: forward max %.2f ulp (x = %g), backward max rel %.3g (x = %g)\n", dt ? "F64" : "F32", names[op],
                   wf, at_f, wb, at_b);
            DK_CHECK(wf <= (dt ? 1 : max_fwd_ulp[op]));
            DK_CHECK(wb <= (dt ? 1 : max_bwd_rel[op]));
            dk_graph_free(g);
            dk_tensor_free(x);
        }
    }
    /* special values through the F32 path */
    dk_tensor *s = dk_tensor_new(DK_F32, 1, (int64_t[]){4}, &dk_test_err);
    float sv[4] = {NAN, 100.0f, -200.0f, 0.0f};
    for (int i = 0; i < 4; i++) dk_f32(s)[i] = sv[i];
    dk_graph *g = dk_graph_new();
    dk_graph_set_grad(g, 0);
    dk_var *e = dk_exp(g, dk_graph_input(g, s, 0)), *si = dk_silu(g, dk_graph_input(g, s, 0));
    DK_CHECK(isnan(dk_f32(e->value)[0]) && isinf(dk_f32(e->value)[1]) && dk_f32(e->value)[2] == 0.0f &&
             dk_f32(e->value)[3] == 1.0f);
    DK_CHECK(isnan(dk_f32(si->value)[0]) && dk_f32(si->value)[1] == 100.0f && dk_f32(si->value)[2] == 0.0f &&
             dk_f32(si->value)[3] == 0.0f);
    dk_graph_free(g);
    dk_tensor_free(s);
    return dk_test_finish();
}
