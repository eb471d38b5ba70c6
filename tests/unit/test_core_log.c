/* test_core_log.c: log levels (incl. DIFFKIT_LOG) and the plain (not a
 * terminal) progress output: its line format, its interval and its end line. */
#include "dktest.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Reads a whole temp file into buf. */
static size_t slurp(FILE *f, char *buf, size_t n) {
    fflush(f);
    rewind(f);
    size_t k = fread(buf, 1, n - 1, f);
    buf[k] = '\0';
    return k;
}

static void test_levels(void) {
    setenv("DIFFKIT_LOG", "warn", 1);
    DK_CHECK(dk_log_get_level() == DK_LOG_WARN); /* read from the environment on first use */

    /* capture stderr in a file */
    FILE *cap = tmpfile();
    DK_CHECK(cap != NULL);
    if (!cap) return;
    fflush(stderr);
    int saved = dup(2);
    dup2(fileno(cap), 2);
    dk_info("hidden %d", 1);
    dk_warn("shown %d", 2);
    dk_log_set_level(DK_LOG_DEBUG);
    dk_debug("debug %s", "now");
    dk_log(DK_LOG_ERROR, "bad %s\n", "thing");
    dk_log_set_level(DK_LOG_ERROR);
    dk_warn("hidden again");
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char buf[1024];
    slurp(cap, buf, sizeof buf);
    fclose(cap);
    DK_CHECK(strcmp(buf, "diffkit: warning: shown 2\ndiffkit: debug: debug now\ndiffkit: error: bad thing\n") == 0);
    if (strcmp(buf, "diffkit: warning: shown 2\ndiffkit: debug: debug now\ndiffkit: error: bad thing\n"))
        fprintf(stderr, "captured: [%s]\n", buf);
    dk_log_set_level(DK_LOG_INFO);
}

static void test_progress_plain(void) {
    FILE *f = tmpfile();
    DK_CHECK(f != NULL);
    if (!f) return;
    char buf[4096];
    dk_progress p;

    /* a line on every update when the interval is 0 */
    dk_progress_begin(&p, f, "train", 10);
    DK_CHECK(p.is_tty == 0);
    DK_CHECK(p.plain_interval == 10.0);
    p.plain_interval = 0;
    p.t_start -= 2.0; /* pretend 2 s have passed: 5 steps -> 2.5 it/s, 5 left -> ETA 00:02 */
    dk_progress_update(&p, 5, "loss 0.0312");
    slurp(f, buf, sizeof buf);
    char label[32], extra1[32], extra2[32], eta[16];
    long long done, total;
    int pct;
    double rate;
    int nf = sscanf(buf, "%31s %lld/%lld (%d%%) %lf it/s ETA %15s %31s %31s", label, &done, &total, &pct, &rate, eta, extra1, extra2);
    DK_CHECK(nf == 8);
    DK_CHECK(strcmp(label, "train") == 0 && done == 5 && total == 10 && pct == 50);
    DK_CHECK_NEAR(rate, 2.5, 0.02, 0);
    DK_CHECK(strcmp(eta, "00:02") == 0);
    DK_CHECK(strcmp(extra1, "loss") == 0 && strcmp(extra2, "0.0312") == 0);
    DK_CHECK(buf[strlen(buf) - 1] == '\n' && strchr(buf, '\r') == NULL);

    /* with a long interval, updates are silent and the end writes one line */
    rewind(f);
    if (ftruncate(fileno(f), 0) != 0) DK_CHECK(0);
    dk_progress_begin(&p, f, "sample", 200);
    p.plain_interval = 1e9;
    p.t_start -= 125.0;
    for (int i = 1; i <= 200; i++) dk_progress_update(&p, i, NULL);
    slurp(f, buf, sizeof buf);
    DK_CHECK(buf[0] == '\0');
    dk_progress_end(&p, "fid 12.5");
    slurp(f, buf, sizeof buf);
    DK_CHECK(strncmp(buf, "sample 200/200 (100%) 1.60 it/s in 02:05 fid 12.5\n", 50) == 0);
    if (strncmp(buf, "sample 200/200 (100%) 1.60 it/s in 02:05 fid 12.5\n", 50)) fprintf(stderr, "got [%s]\n", buf);

    /* unknown total: elapsed time instead of an ETA; long runs show hours */
    rewind(f);
    if (ftruncate(fileno(f), 0) != 0) DK_CHECK(0);
    dk_progress_begin(&p, f, "", 0);
    p.plain_interval = 0;
    p.t_start -= 3725.0;
    dk_progress_update(&p, 7450, NULL);
    slurp(f, buf, sizeof buf);
    DK_CHECK(strcmp(buf, "7450 2.00 it/s elapsed 1:02:05\n") == 0);
    if (strcmp(buf, "7450 2.00 it/s elapsed 1:02:05\n")) fprintf(stderr, "got [%s]\n", buf);
    fclose(f);

    double t0 = dk_time_now(), t1 = dk_time_now();
    DK_CHECK(t1 >= t0 && t0 > 0);
}

int main(void) {
    test_levels();
    test_progress_plain();
    return dk_test_finish();
}
