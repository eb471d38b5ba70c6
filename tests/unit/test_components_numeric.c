/* test_components_numeric.c: dk_lin (torch.linspace bit for bit), dk_lin_f32,
 * dk_erfinv / dk_ndtri and the small helpers of diffkit/numeric.h. */
#include <string.h>
#include "dktest.h"
#include "diffkit/numeric.h"

static void test_lin(void) {
    double o[64];
    float f[64];
    /* exact small cases */
    dk_lin(0.0, 1.0, 5, o);
    const double want5[5] = {0.0, 0.25, 0.5, 0.75, 1.0};
    for (int i = 0; i < 5; i++) DK_CHECK(o[i] == want5[i]);
    dk_lin(3.5, 7.0, 1, o);
    DK_CHECK(o[0] == 3.5);
    dk_lin(2.0, -1.0, 2, o);
    DK_CHECK(o[0] == 2.0 && o[1] == -1.0);
    /* n < 8: both ends exact even when a + (n-1)*step would miss b by an ulp */
    for (int n = 2; n < 8; n++) {
        dk_lin(1.0, 1e-3, n, o);
        DK_CHECK(o[0] == 1.0);
        DK_CHECK(o[n - 1] == 1e-3);
        dk_lin(log(80.0), log(0.002), n, o);
        DK_CHECK(o[n - 1] == log(0.002));
    }
    /* 0.1 + 6*((0.7-0.1)/6) is not 0.7 in double; torch's rule gives 0.7 */
    {
        double step = (0.7 - 0.1) / 6.0;
        dk_lin(0.1, 0.7, 7, o);
        DK_CHECK(o[6] == 0.7);
        DK_CHECK(o[1] == 0.1 + step * 1.0);
        DK_CHECK(o[5] == 0.7 - step * 1.0); /* upper half counts down from b */
    }
    /* n = 20: blocks of 4 lanes for indices < 16 start at the rule value of
     * their first index and add j*step; the tail uses the rule itself */
    {
        const double a = 999.0, b = 0.0;
        const double step = (b - a) / 19.0;
        dk_lin(a, b, 20, o);
        DK_CHECK(o[0] == a);
        DK_CHECK(o[3] == a + 3.0 * step);
        double base12 = b - step * 7.0; /* index 12 >= n/2 = 10 */
        DK_CHECK(o[12] == base12);
        DK_CHECK(o[15] == base12 + 3.0 * step);
        DK_CHECK(o[16] == b - step * 3.0);
        DK_CHECK(o[19] == b);
        for (int i = 1; i < 20; i++) DK_CHECK(o[i] < o[i - 1]);
        DK_CHECK_NEAR(o[10], a + 10.0 * step, 1e-12, 0);
    }
    /* float32: 8 lanes; ends exact for n < 16 */
    dk_lin_f32(1.0f, 0.0f, 10, f);
    DK_CHECK(f[0] == 1.0f && f[9] == 0.0f);
    dk_lin_f32(0.0f, 1.0f, 33, f);
    DK_CHECK(f[0] == 0.0f && f[32] == 1.0f);
    DK_CHECK(f[16] == 0.5f);
    for (int i = 0; i < 33; i++) DK_CHECK_NEAR(f[i], i / 32.0, 1e-7, 0);
}

static void test_erfinv(void) {
    /* reference values (Abramowitz & Stegun; Phi^-1 quantiles) */
    DK_CHECK_NEAR(dk_erfinv(0.5), 0.47693627620446987338, 0, 2e-15);
    DK_CHECK_NEAR(dk_ndtri(0.975), 1.959963984540054, 0, 1e-14);
    DK_CHECK_NEAR(dk_ndtri(0.8413447460685429), 1.0, 0, 1e-14);
    DK_CHECK_NEAR(dk_ndtri(0.5), 0.0, 1e-16, 0);
    DK_CHECK(dk_erfinv(0.0) == 0.0);
    DK_CHECK(isinf(dk_erfinv(1.0)) && dk_erfinv(1.0) > 0);
    DK_CHECK(isinf(dk_erfinv(-1.0)) && dk_erfinv(-1.0) < 0);
    DK_CHECK(isnan(dk_erfinv(1.5)));
    DK_CHECK(isnan(dk_erfinv(NAN)));
    /* round trips over (-1, 1): erf(erfinv(y)) = y to a few ulp */
    for (int i = -999; i <= 999; i += 7) {
        double y = i / 1000.0;
        DK_CHECK_NEAR(erf(dk_erfinv(y)), y, 4e-16, 4e-16);
        DK_CHECK_NEAR(dk_erfinv(-y), -dk_erfinv(y), 0, 1e-15);
    }
    /* tails, checked through erfc where 1 - y keeps its digits:
     * erfc(erfinv(1 - d)) = d to ~1e-14 relative */
    const double ds[] = {1e-3, 2e-7, 1e-10, 1e-13, 1e-15};
    for (size_t i = 0; i < sizeof ds / sizeof ds[0]; i++) {
        double y = 1.0 - ds[i];
        double d = 1.0 - y; /* exact */
        DK_CHECK_NEAR(erfc(dk_erfinv(y)), d, 0, 1e-13);
        DK_CHECK_NEAR(erfc(-dk_erfinv(-y)), d, 0, 1e-13);
    }
}

static void test_helpers(void) {
    DK_CHECK(dk_sigmoid(0.0) == 0.5);
    DK_CHECK(dk_sigmoid(-INFINITY) == 0.0);
    DK_CHECK(dk_sigmoid(INFINITY) == 1.0);
    DK_CHECK_NEAR(dk_logit(dk_sigmoid(1.25)), 1.25, 0, 1e-14);
    DK_CHECK(dk_lerp(2.0, 4.0, 0.25) == 2.5);
    DK_CHECK(dk_lerp(2.0, 4.0, 1.0) == 4.0); /* w >= 0.5 counts from b: exact end */
    DK_CHECK(dk_round_f32(0.1) == (double)0.1f);
    const double xs[] = {-1.0, 0.0, 2.0, 2.0, 5.0};
    DK_CHECK(dk_search_le(xs, 5, -2.0) == -1);
    DK_CHECK(dk_search_le(xs, 5, -1.0) == 0);
    DK_CHECK(dk_search_le(xs, 5, 1.0) == 1);
    DK_CHECK(dk_search_le(xs, 5, 2.0) == 3);
    DK_CHECK(dk_search_le(xs, 5, 9.0) == 4);
    DK_CHECK(dk_search_le(xs, 5, NAN) == -1);
}

int main(void) {
    test_lin();
    test_erfinv();
    test_helpers();
    return dk_test_finish();
}
