/* readfile.c: see readfile.h. */
#define _POSIX_C_SOURCE 200809L
#include "readfile.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

dk_status dk__read_file(const char *path, unsigned char **buf, size_t *len, dk_error *err) {
    *buf = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    dk_status s = DK_OK;
    if (fd < 0 || fstat(fd, &st) != 0) s = dk_error_set(err, DK_EIO, "%s: cannot open: %s", path, strerror(errno));
    else if (!S_ISREG(st.st_mode)) s = dk_error_set(err, DK_EIO, "%s: not a regular file", path);
    size_t n = s ? 0 : (size_t)st.st_size;
    unsigned char *b = s ? NULL : malloc(n ? n : 1);
    if (!s && !b) s = dk_error_set(err, DK_ENOMEM, "%s: out of memory reading %zu bytes", path, n);
    for (size_t got = 0; !s && got < n;) {
        ssize_t r = read(fd, b + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0)
            s = dk_error_set(err, DK_EIO, "%s: read failed after %zu of %zu bytes: %s", path, got, n,
                             r < 0 ? strerror(errno) : "file shrank while reading");
        else got += (size_t)r;
    }
    if (fd >= 0) close(fd);
    if (s) {
        free(b);
        return s;
    }
    *buf = b;
    *len = n;
    return DK_OK;
}
