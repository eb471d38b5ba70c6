/* dktest.c: the tiny test harness behind dktest.h. */
#include "dktest.h"
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>

int dk_test_failures = 0;
int dk_test_checks = 0;
dk_error dk_test_err;

void dk_test_fail(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    dk_test_failures++;
    fprintf(stderr, "%s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int dk_test_finish(void) {
    printf("%d checks, %d failed\n", dk_test_checks, dk_test_failures);
    return dk_test_failures ? 1 : 0;
}

const char *dk_test_data(const char *rel) {
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", DK_TEST_DATA, rel);
    return buf;
}

const char *dk_test_tmpdir(const char *name) {
    static char buf[4096];
    char cmd[2 * 4096 + 64];
    snprintf(buf, sizeof buf, "%s/tmp/%s", DK_TEST_BINARY_DIR, name);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", buf, buf);
    if (system(cmd) != 0) fprintf(stderr, "could not create %s\n", buf);
    return buf;
}
