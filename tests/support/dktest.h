/* dktest.h: a tiny test harness. A test binary runs its checks, prints each
 * failure with file:line and the values, and exits 1 if any failed (77 to skip).
 *
 *   DK_CHECK(cond)                    DK_CHECK_NEAR(a, b, atol, rtol)
 *   DK_CHECK_OK(status_expr)          DK_CHECK_STATUS(expr, DK_EFORMAT)
 *   return dk_test_finish();  at the end of main. */
#ifndef DKTEST_H
#define DKTEST_H
#include <stdio.h>
#include <math.h>
#include "diffkit/diffkit.h"

extern int dk_test_failures;
extern int dk_test_checks;
extern dk_error dk_test_err; /* pass &dk_test_err to calls; printed on failure */

int dk_test_finish(void);
void dk_test_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Path of a file in tests/data (static buffer). */
const char *dk_test_data(const char *rel);
/* A fresh temporary folder under the test binary dir (static buffer). */
const char *dk_test_tmpdir(const char *name);

#define DK_CHECK(c) do { dk_test_checks++; if (!(c)) dk_test_fail(__FILE__, __LINE__, "check failed: %s", #c); } while (0)
#define DK_CHECK_NEAR(a, b, atol, rtol) do { double dk__a = (a), dk__b = (b); dk_test_checks++; \
    if (!(fabs(dk__a - dk__b) <= (atol) + (rtol) * fabs(dk__b)) && !(dk__a == dk__b)) \
        dk_test_fail(__FILE__, __LINE__, "%s = %.17g, expected %s = %.17g (diff %.3g)", #a, dk__a, #b, dk__b, fabs(dk__a - dk__b)); } while (0)
#define DK_CHECK_OK(e) do { dk_status dk__s = (e); dk_test_checks++; \
    if (dk__s != DK_OK) dk_test_fail(__FILE__, __LINE__, "%s returned %s: %s", #e, dk_status_name(dk__s), dk_test_err.msg); } while (0)
#define DK_CHECK_STATUS(e, want) do { dk_status dk__s = (e); dk_test_checks++; \
    if (dk__s != (want)) dk_test_fail(__FILE__, __LINE__, "%s returned %s, expected %s (%s)", #e, dk_status_name(dk__s), dk_status_name(want), dk_test_err.msg); } while (0)
#endif
