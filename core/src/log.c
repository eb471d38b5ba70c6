/* log.c: leveled logging to stderr and the progress line of long work.
 *
 * Log lines are "diffkit: <level>: message" (info has no level word). The
 * level comes from dk_log_set_level or, until that is called, from the
 * environment variable DIFFKIT_LOG (debug | info | warn | error; default info).
 *
 * Progress: "label step/total (pct) rate it/s ETA mm:ss extra". On a terminal
 * the line is redrawn in place with \r (at most 10 times a second); otherwise
 * a plain line is written every plain_interval seconds and once at the end
 * (which shows the elapsed time: "... in mm:ss"). A log line written while a
 * terminal progress line is showing clears it first; the next update redraws. */
#include "diffkit/log.h"
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static int g_level = -1; /* -1: not read from the environment yet */
static dk_progress *g_tty_line; /* the progress line currently drawn on stderr, if any */

static dk_log_level level_from_env(void) {
    const char *e = getenv("DIFFKIT_LOG");
    if (!e || !*e) return DK_LOG_INFO;
    if (!strcasecmp(e, "debug")) return DK_LOG_DEBUG;
    if (!strcasecmp(e, "info")) return DK_LOG_INFO;
    if (!strcasecmp(e, "warn") || !strcasecmp(e, "warning")) return DK_LOG_WARN;
    if (!strcasecmp(e, "error")) return DK_LOG_ERROR;
    fprintf(stderr, "diffkit: warning: DIFFKIT_LOG='%s' is not one of debug, info, warn, error; using info\n", e);
    return DK_LOG_INFO;
}

void dk_log_set_level(dk_log_level l) { g_level = (int)l; }

dk_log_level dk_log_get_level(void) {
    if (g_level < 0) g_level = (int)level_from_env();
    return (dk_log_level)g_level;
}

static void clear_tty_line(FILE *out) {
    if (g_tty_line && g_tty_line->out == out && g_tty_line->line_len > 0) {
        fprintf(out, "\r%*s\r", g_tty_line->line_len, "");
        g_tty_line->line_len = 0;
    }
}

void dk_log(dk_log_level l, const char *fmt, ...) {
    static const char *const prefix[] = {"debug: ", "", "warning: ", "error: "};
    char msg[4096];
    va_list ap;
    if (l < dk_log_get_level()) return;
    if ((int)l < 0 || (int)l > DK_LOG_ERROR) l = DK_LOG_ERROR;
    msg[0] = '\0';
    if (fmt) {
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
    }
    size_t n = strlen(msg);
    if (n && msg[n - 1] == '\n') msg[--n] = '\0'; /* one newline, whether or not the caller wrote it */
    flockfile(stderr);
    clear_tty_line(stderr);
    fprintf(stderr, "diffkit: %s%s\n", prefix[l], msg);
    funlockfile(stderr);
    fflush(stderr);
}

double dk_time_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* "mm:ss" or "h:mm:ss"; "--:--" for an unknown or absurd duration. */
static void fmt_duration(char *buf, size_t n, double s) {
    if (!(s >= 0) || s > 1e8) {
        snprintf(buf, n, "--:--");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else
        snprintf(buf, n, "%02ld:%02ld", t / 60, t % 60);
}

void dk_progress_begin(dk_progress *p, FILE *out, const char *label, int64_t total) {
    memset(p, 0, sizeof *p);
    p->out = out ? out : stderr;
    p->label = label ? label : "";
    p->total = total > 0 ? total : 0;
    p->t_start = dk_time_now();
    p->t_last_print = p->t_start;
    p->plain_interval = 10.0;
    const char *term = getenv("TERM");
    p->is_tty = isatty(fileno(p->out)) && !(term && !strcmp(term, "dumb"));
}

/* The text of the line (no \r or \n). */
static void format_line(const dk_progress *p, char *buf, size_t n, double now, const char *extra, int final) {
    double el = now - p->t_start;
    double rate = el > 0 ? (double)p->done / el : 0.0;
    char dur[32];
    size_t k = 0;
#define PUT(...) do { if (k < n) k += (size_t)snprintf(buf + k, n - k, __VA_ARGS__); } while (0)
    PUT("%s%s", p->label, *p->label ? " " : "");
    if (p->total > 0)
        PUT("%lld/%lld (%.0f%%)", (long long)p->done, (long long)p->total, 100.0 * (double)p->done / (double)p->total);
    else
        PUT("%lld", (long long)p->done);
    if (rate >= 100)
        PUT(" %.0f it/s", rate);
    else
        PUT(" %.2f it/s", rate);
    if (final) {
        fmt_duration(dur, sizeof dur, el);
        PUT(" in %s", dur);
    } else if (p->total > 0) {
        fmt_duration(dur, sizeof dur, rate > 0 ? (double)(p->total - p->done) / rate : -1.0);
        PUT(" ETA %s", dur);
    } else {
        fmt_duration(dur, sizeof dur, el);
        PUT(" elapsed %s", dur);
    }
    if (extra && *extra) PUT(" %s", extra);
#undef PUT
}

static void draw(dk_progress *p, double now, const char *extra, int final) {
    char line[512];
    format_line(p, line, sizeof line, now, extra, final);
    flockfile(p->out);
    if (p->is_tty) {
        int len = (int)strlen(line);
        int pad = p->line_len > len ? p->line_len - len : 0;
        fprintf(p->out, "\r%s%*s", line, pad, "");
        p->line_len = len;
        if (final) {
            fputc('\n', p->out);
            p->line_len = 0;
            if (g_tty_line == p) g_tty_line = NULL;
        } else {
            g_tty_line = p;
        }
    } else {
        fprintf(p->out, "%s\n", line);
    }
    funlockfile(p->out);
    fflush(p->out);
    p->t_last_print = now;
}

void dk_progress_update(dk_progress *p, int64_t done, const char *extra) {
    double now = dk_time_now();
    p->done = done;
    if (p->is_tty) {
        if (now - p->t_last_print >= 0.1 || p->line_len == 0 || (p->total > 0 && done >= p->total)) draw(p, now, extra, 0);
    } else if (now - p->t_last_print >= p->plain_interval) {
        draw(p, now, extra, 0);
    }
}

void dk_progress_end(dk_progress *p, const char *extra) {
    draw(p, dk_time_now(), extra, 1);
}
