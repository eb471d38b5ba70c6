/* export.c: U8 image conversion and the streaming .npz writer (export.h).
 *
 * Formats, as NumPy writes them (numpy.lib.format, numpy.savez):
 *  - .npy v1.0: "\x93NUMPY", 1, 0, a little-endian uint16 header length,
 *    then a Python dict literal {'descr': .., 'fortran_order': False,
 *    'shape': (..), } padded with spaces and ended by '\n' so that the data
 *    starts at a multiple of 64 bytes;
 *  - .npz: a zip archive (PKWARE APPNOTE) of stored (method 0) members named
 *    arr_0.npy, arr_1.npy. Timestamps are fixed (1980-01-01 00:00) so the
 *    same samples give the same bytes. */
#define _POSIX_C_SOURCE 200809L
#include "diffkit/export.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static uint8_t to_u8(double x) { /* image.h: round(255 * clamp((x + 1) / 2, 0, 1)); NaN -> 0 */
    double v = (x + 1.0) * 127.5;
    if (!(v > 0.0)) return 0;
    if (v >= 255.0) return 255;
    return (uint8_t)(v + 0.5);
}

dk_tensor *dk_images_to_u8_nhwc(const dk_tensor *images, dk_error *err) {
    if (!images || (images->dtype != DK_F32 && images->dtype != DK_F64) || images->ndim != 4 || images->device != DK_CPU) {
        char sb[96];
        dk_error_set(err, DK_ESHAPE, "images must be F32 or F64 [N, C, H, W] on the cpu, got %s %s",
                     images ? dk_dtype_name(images->dtype) : "(none)", images ? dk_shape_str(images, sb, sizeof sb) : "");
        return NULL;
    }
    int64_t n = images->shape[0], c = images->shape[1], h = images->shape[2], w = images->shape[3];
    if (c != 1 && c != 3) {
        dk_error_set(err, DK_ESHAPE, "images have %lld channels: PNG and .npz export take 1 (grey) or 3 (RGB)", (long long)c);
        return NULL;
    }
    int64_t shape[4] = {n, h, w, c};
    dk_tensor *out = dk_tensor_new(DK_U8, 4, shape, err);
    if (!out) return NULL;
    uint8_t *o = out->data;
    for (int64_t i = 0; i < n; i++)
        for (int64_t k = 0; k < c; k++)
            for (int64_t y = 0; y < h; y++)
                for (int64_t x = 0; x < w; x++) {
                    size_t src = (size_t)(((i * c + k) * h + y) * w + x);
                    double v = images->dtype == DK_F64 ? dk_f64(images)[src] : (double)dk_f32(images)[src];
                    o[(size_t)(((i * h + y) * w + x) * c + k)] = to_u8(v);
                }
    return out;
}

/* ---- zip + npy ------------------------------------------------------------ */

#define ZIP_LIMIT 0xFFFFFFFEull /* past this a member or offset needs zip64 */

struct dk_npz_writer {
    char *path, *tmp;
    int fd;
    int64_t n, h, w, c, appended;
    uint64_t off;        /* bytes written so far */
    uint64_t m0_off;     /* local header offset of arr_0 */
    uint64_t m0_size;    /* arr_0.npy size (header + data) */
    uint32_t m0_crc;
};

static void put16(uint8_t *p, unsigned v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, v & 0xffff); put16(p + 2, v >> 16); }

static dk_status write_all(dk_npz_writer *z, const void *buf, size_t len, dk_error *err) {
    const uint8_t *p = buf;
    while (len) {
        ssize_t k = write(z->fd, p, len);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0)
            return dk_error_set(err, DK_EIO, "writing %s: %s; the export is abandoned (no file was left under that name)",
                                z->path, k < 0 ? strerror(errno) : "short write");
        p += k;
        len -= (size_t)k;
        z->off += (uint64_t)k;
    }
    return DK_OK;
}

/* The .npy header for descr and shape, padded to a multiple of 64 bytes. */
static size_t npy_header(char *buf, size_t cap, const char *descr, int ndim, const int64_t *shape) {
    char dict[256], dims[160] = "";
    size_t k = 0;
    for (int i = 0; i < ndim; i++) k += (size_t)snprintf(dims + k, sizeof dims - k, "%lld, ", (long long)shape[i]);
    if (ndim > 1) dims[k - 2] = '\0'; /* (a, b) ; a 1-tuple keeps its comma: (a,) */
    else if (ndim == 1) dims[k - 1] = '\0';
    int d = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, dims);
    size_t total = 10 + (size_t)d + 1;
    total = (total + 63) / 64 * 64;
    if (total > cap) return 0;
    size_t hl = total - 10;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    put16((uint8_t *)buf + 8, (unsigned)hl);
    memcpy(buf + 10, dict, (size_t)d);
    memset(buf + 10 + d, ' ', hl - (size_t)d - 1);
    buf[total - 1] = '\n';
    return total;
}

/* A local file header (30 bytes + name) with crc and size. */
static size_t local_header(uint8_t *b, const char *name, uint32_t crc, uint32_t size) {
    size_t nl = strlen(name);
    memset(b, 0, 30);
    put32(b, 0x04034b50);
    put16(b + 4, 20);        /* version needed: 2.0 */
    put16(b + 12, 0x21);     /* 1980-01-01 */
    put32(b + 14, crc);
    put32(b + 18, size);     /* compressed = uncompressed: stored */
    put32(b + 22, size);
    put16(b + 26, (unsigned)nl);
    memcpy(b + 30, name, nl);
    return 30 + nl;
}

static size_t central_header(uint8_t *b, const char *name, uint32_t crc, uint32_t size, uint32_t off) {
    size_t nl = strlen(name);
    memset(b, 0, 46);
    put32(b, 0x02014b50);
    put16(b + 4, 20);
    put16(b + 6, 20);
    put16(b + 14, 0x21);
    put32(b + 16, crc);
    put32(b + 20, size);
    put32(b + 24, size);
    put16(b + 28, (unsigned)nl);
    put32(b + 42, off);
    memcpy(b + 46, name, nl);
    return 46 + nl;
}

dk_npz_writer *dk_npz_begin(const char *path, int64_t n, int64_t h, int64_t w, int64_t c, dk_error *err) {
    if (n < 1 || h < 1 || w < 1 || (c != 1 && c != 3)) {
        dk_error_set(err, DK_EINVAL, "%s: cannot export %lld images of %lldx%lld with %lld channels (need n >= 1, 1 or 3 channels)",
                     path, (long long)n, (long long)h, (long long)w, (long long)c);
        return NULL;
    }
    double bytes = (double)n * (double)h * (double)w * (double)c + 8.0 * (double)n + 4096.0;
    if (bytes > (double)ZIP_LIMIT) {
        dk_error_set(err, DK_EINVAL,
                     "%s: %lld images of %lldx%lldx%lld are %.1f GiB, past the 4 GiB a zip without zip64 holds: "
                     "export fewer images per file (several --out files with different --seed) or a folder of PNGs",
                     path, (long long)n, (long long)h, (long long)w, (long long)c, bytes / 1073741824.0);
        return NULL;
    }
    dk_npz_writer *z = calloc(1, sizeof *z);
    size_t pl = strlen(path);
    if (!z || !(z->path = malloc(pl + 1)) || !(z->tmp = malloc(pl + 32))) {
        if (z) free(z->path);
        free(z);
        dk_error_set(err, DK_ENOMEM, "%s: out of memory", path);
        return NULL;
    }
    memcpy(z->path, path, pl + 1);
    snprintf(z->tmp, pl + 32, "%s.tmp.%ld", path, (long)getpid());
    z->n = n, z->h = h, z->w = w, z->c = c;
    z->fd = open(z->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (z->fd < 0) {
        dk_error_set(err, DK_EIO, "cannot create %s: %s (check the folder exists and is writable)", z->tmp, strerror(errno));
        free(z->tmp), free(z->path), free(z);
        return NULL;
    }
    char hdr[256];
    int64_t shape[4] = {n, h, w, c};
    size_t hl = npy_header(hdr, sizeof hdr, "|u1", 4, shape);
    z->m0_size = hl + (uint64_t)(n * h * w * c);
    uint8_t lh[64];
    size_t ll = local_header(lh, "arr_0.npy", 0, (uint32_t)z->m0_size); /* crc patched in dk_npz_finish */
    z->m0_crc = (uint32_t)crc32(0L, (const Bytef *)hdr, (uInt)hl);
    if (write_all(z, lh, ll, err) || write_all(z, hdr, hl, err)) {
        dk_npz_abort(z);
        return NULL;
    }
    return z;
}

dk_status dk_npz_append(dk_npz_writer *z, const dk_tensor *images, dk_error *err) {
    dk_tensor *u8 = NULL;
    const dk_tensor *px = images;
    if (images && images->dtype != DK_U8) {
        if (!(u8 = dk_images_to_u8_nhwc(images, err))) return err->code;
        px = u8;
    }
    dk_status st = DK_OK;
    if (!px || px->ndim != 4 || px->shape[1] != z->h || px->shape[2] != z->w || px->shape[3] != z->c) {
        char sb[96];
        st = dk_error_set(err, DK_ESHAPE, "%s: images %s do not match the export's %lldx%lld with %lld channels", z->path,
                          px ? dk_shape_str(px, sb, sizeof sb) : "(none)", (long long)z->h, (long long)z->w, (long long)z->c);
    } else if (z->appended + px->shape[0] > z->n) {
        st = dk_error_set(err, DK_EINVAL, "%s: %lld images appended to an export of %lld", z->path,
                          (long long)(z->appended + px->shape[0]), (long long)z->n);
    } else {
        size_t len = px->numel;
        z->m0_crc = (uint32_t)crc32(z->m0_crc, px->data, (uInt)len);
        st = write_all(z, px->data, len, err);
        if (!st) z->appended += px->shape[0];
    }
    dk_tensor_free(u8);
    return st;
}

void dk_npz_abort(dk_npz_writer *z) {
    if (!z) return;
    if (z->fd >= 0) close(z->fd);
    unlink(z->tmp);
    free(z->tmp);
    free(z->path);
    free(z);
}

dk_status dk_npz_finish(dk_npz_writer *z, const int64_t *labels, dk_error *err) {
    dk_status st = DK_OK;
    if (z->appended != z->n)
        st = dk_error_set(err, DK_EINVAL, "%s: %lld of %lld images were exported; the file is not written", z->path,
                          (long long)z->appended, (long long)z->n);
    uint8_t b[128];
    /* patch arr_0's CRC into its local header */
    if (!st) {
        uint8_t crc[4];
        put32(crc, z->m0_crc);
        if (pwrite(z->fd, crc, 4, (off_t)(z->m0_off + 14)) != 4)
            st = dk_error_set(err, DK_EIO, "writing %s: %s", z->path, strerror(errno));
    }
    uint64_t m1_off = z->off, m1_size = 0;
    uint32_t m1_crc = 0;
    if (!st && labels) {
        char hdr[256];
        int64_t shape[1] = {z->n};
        size_t hl = npy_header(hdr, sizeof hdr, "<i8", 1, shape);
        size_t dl = (size_t)z->n * 8;
        uint8_t *data = malloc(dl ? dl : 1);
        if (!data) st = dk_error_set(err, DK_ENOMEM, "%s: out of memory", z->path);
        else {
            for (int64_t i = 0; i < z->n; i++) {
                uint64_t v = (uint64_t)labels[i];
                for (int k = 0; k < 8; k++) data[i * 8 + k] = (uint8_t)(v >> (8 * k));
            }
            m1_size = hl + dl;
            m1_crc = (uint32_t)crc32(crc32(0L, (const Bytef *)hdr, (uInt)hl), data, (uInt)dl);
            size_t ll = local_header(b, "arr_1.npy", m1_crc, (uint32_t)m1_size);
            st = write_all(z, b, ll, err);
            if (!st) st = write_all(z, hdr, hl, err);
            if (!st) st = write_all(z, data, dl, err);
            free(data);
        }
    }
    if (!st) {
        uint64_t cd_off = z->off;
        size_t cl = central_header(b, "arr_0.npy", z->m0_crc, (uint32_t)z->m0_size, (uint32_t)z->m0_off);
        st = write_all(z, b, cl, err);
        int entries = 1;
        if (!st && labels) {
            cl = central_header(b, "arr_1.npy", m1_crc, (uint32_t)m1_size, (uint32_t)m1_off);
            st = write_all(z, b, cl, err);
            entries = 2;
        }
        if (!st) {
            uint64_t cd_size = z->off - cd_off;
            memset(b, 0, 22);
            put32(b, 0x06054b50);
            put16(b + 8, (unsigned)entries);
            put16(b + 10, (unsigned)entries);
            put32(b + 12, (uint32_t)cd_size);
            put32(b + 16, (uint32_t)cd_off);
            st = write_all(z, b, 22, err);
        }
    }
    if (!st && fsync(z->fd) != 0) st = dk_error_set(err, DK_EIO, "writing %s: %s (fsync)", z->path, strerror(errno));
    if (!st) {
        int fd = z->fd;
        z->fd = -1;
        if (close(fd) != 0) st = dk_error_set(err, DK_EIO, "writing %s: %s (close)", z->path, strerror(errno));
    }
    if (!st && rename(z->tmp, z->path) != 0)
        st = dk_error_set(err, DK_EIO, "cannot rename %s to %s: %s", z->tmp, z->path, strerror(errno));
    if (st) {
        dk_npz_abort(z);
        return st;
    }
    free(z->tmp);
    free(z->path);
    free(z);
    return DK_OK;
}
