/* error.h: status codes and caller-owned error messages.
 *
 * Every function that can fail returns a dk_status and, when given a non-NULL
 * dk_error, fills it with one line that says what went wrong, where, and what
 * to do ("checkpoint 'x' has format 2, expected 3: re-save it with ...").
 * Library and plugin code never exits or aborts. */
#ifndef DIFFKIT_ERROR_H
#define DIFFKIT_ERROR_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum dk_status {
    DK_OK = 0,
    DK_EINVAL,     /* bad argument, option or configuration */
    DK_ENOMEM,     /* allocation failed */
    DK_EIO,        /* file could not be opened, read or written */
    DK_EFORMAT,    /* a file is corrupt, truncated or of the wrong kind */
    DK_ENOTFOUND,  /* a named thing (plugin, tensor, option, file) does not exist */
    DK_ESHAPE,     /* tensor shapes or dtypes do not fit */
    DK_ENUMERIC,   /* NaN / Inf or a numerical failure */
    DK_EABI,       /* plugin ABI version or size mismatch */
    DK_ESTATE,     /* called in the wrong state (e.g. a noise stream ran out) */
    DK_EUNSUPPORTED /* not available in this build (e.g. CUDA) */
} dk_status;

#define DK_ERROR_MSG_MAX 1024

typedef struct dk_error {
    dk_status code;
    char msg[DK_ERROR_MSG_MAX];
} dk_error;

/* Sets err (if non-NULL) and returns code. */
dk_status dk_error_set(dk_error *err, dk_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
dk_status dk_error_setv(dk_error *err, dk_status code, const char *fmt, va_list ap);
/* Prepends "prefix: " to an existing message; returns err->code (DK_OK if err is NULL). */
dk_status dk_error_prefix(dk_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void dk_error_clear(dk_error *err);
const char *dk_status_name(dk_status s);

#define DK_TRY(expr) do { dk_status dk__s = (expr); if (dk__s != DK_OK) return dk__s; } while (0)

#ifdef __cplusplus
}
#endif
#endif
