/* error.c: status names and caller-owned error messages. */
#include "diffkit/error.h"
#include <stdio.h>
#include <string.h>

dk_status dk_error_setv(dk_error *err, dk_status code, const char *fmt, va_list ap) {
    if (err) {
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    }
    return code;
}

dk_status dk_error_set(dk_error *err, dk_status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    dk_error_setv(err, code, fmt, ap);
    va_end(ap);
    return code;
}

dk_status dk_error_prefix(dk_error *err, const char *fmt, ...) {
    char buf[DK_ERROR_MSG_MAX];
    va_list ap;
    size_t n;
    if (!err) return DK_OK;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    /* buf = prefix ": " old message, truncated to the buffer */
    n = strlen(buf);
    if (n + 2 < sizeof buf) {
        buf[n++] = ':';
        buf[n++] = ' ';
        size_t m = strnlen(err->msg, sizeof err->msg);
        if (m > sizeof buf - 1 - n) m = sizeof buf - 1 - n;
        memcpy(buf + n, err->msg, m);
        n += m;
    }
    buf[n] = '\0';
    memcpy(err->msg, buf, n + 1);
    return err->code;
}

void dk_error_clear(dk_error *err) {
    if (err) {
        err->code = DK_OK;
        err->msg[0] = '\0';
    }
}

const char *dk_status_name(dk_status s) {
    switch (s) {
    case DK_OK: return "ok";
    case DK_EINVAL: return "invalid argument";
    case DK_ENOMEM: return "out of memory";
    case DK_EIO: return "i/o error";
    case DK_EFORMAT: return "bad format";
    case DK_ENOTFOUND: return "not found";
    case DK_ESHAPE: return "shape mismatch";
    case DK_ENUMERIC: return "numerical error";
    case DK_EABI: return "ABI mismatch";
    case DK_ESTATE: return "bad state";
    case DK_EUNSUPPORTED: return "unsupported";
    }
    return "unknown status";
}
