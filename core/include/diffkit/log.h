/* log.h: leveled logging to stderr and a progress line.
 *
 * The progress line shows step, rate, ETA and extra fields, redrawn in place
 * on a terminal (\r) and as plain periodic lines otherwise (logs, CI). */
#ifndef DIFFKIT_LOG_H
#define DIFFKIT_LOG_H

#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum dk_log_level { DK_LOG_DEBUG = 0, DK_LOG_INFO, DK_LOG_WARN, DK_LOG_ERROR } dk_log_level;

void dk_log_set_level(dk_log_level l);     /* default INFO; env DIFFKIT_LOG=debug|info|warn|error */
dk_log_level dk_log_get_level(void);
void dk_log(dk_log_level l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define dk_debug(...) dk_log(DK_LOG_DEBUG, __VA_ARGS__)
#define dk_info(...) dk_log(DK_LOG_INFO, __VA_ARGS__)
#define dk_warn(...) dk_log(DK_LOG_WARN, __VA_ARGS__)

/* Monotonic seconds. */
double dk_time_now(void);

typedef struct dk_progress {
    FILE *out;
    const char *label;
    int64_t total;        /* 0 = unknown */
    int64_t done;
    double t_start, t_last_print;
    double plain_interval; /* seconds between plain lines (default 10) */
    int is_tty;
    int line_len;
} dk_progress;

void dk_progress_begin(dk_progress *p, FILE *out, const char *label, int64_t total);
/* Update to `done` steps; `extra` (may be NULL) is appended, e.g. "loss 0.0312". */
void dk_progress_update(dk_progress *p, int64_t done, const char *extra);
void dk_progress_end(dk_progress *p, const char *extra);

#ifdef __cplusplus
}
#endif
#endif
