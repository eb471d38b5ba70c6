/* image.c: image files (PNG/JPEG in through stb_image, PNG out through
 * stb_image_write, both from Debian's libstb-dev), sample grids, and the
 * resize + centre crop of the image-folder loader. See image.h. */
#include "diffkit/image.h"
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The stb implementations live here, static, so libdiffkit exports none of
 * them (unused static functions are only reported at the end of the file). */
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wtype-limits"
#pragma GCC diagnostic ignored "-Wmisleading-indentation"
#define STB_IMAGE_STATIC
/* Zeroed allocations: stb_image 2.27 decodes a JPEG scan with whatever
 * Huffman table its selector names, defined by the file or not, and its
 * decoder state is malloc'd, so an undefined table was uninitialised memory
 * (an out-of-bounds read from a garbage symbol index, found by
 * tests/fuzz/fuzz_png.c). A zeroed table decodes every code as symbol 0. */
#define STBI_MALLOC(sz) calloc(1, (sz))
#define STBI_REALLOC(p, newsz) realloc((p), (newsz))
#define STBI_FREE(p) free(p)
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_FAILURE_USERMSG
#include "stb_image.h"
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include "stb_image_write.h"
#pragma GCC diagnostic pop

/* Debian 12's stb_image (v2.27) trusts the code counts of a JPEG Huffman
 * table (DHT): counts summing to more than 256 overflow the table's arrays in
 * stbi__build_huffman (fixed upstream in v2.28 with this same bound; found by
 * tests/fuzz/fuzz_png.c). So before stb sees a JPEG, every DHT segment that
 * stb could reach is checked here. The walk mirrors how stb finds markers:
 * outside a segment it skips bytes up to an 0xff (as stb does between
 * segments and in entropy-coded data), fill 0xff bytes, stuffed ff 00 and the
 * markers without a length (SOI, EOI, RSTn, TEM); any other marker's segment
 * is skipped by its length (stb consumes exactly that, or stops with an
 * error). Bytes past the end read as 0, as stb's reader gives them.
 * Returns 0 if some DHT table has more than 256 codes. */
static int jpeg_dht_ok(const unsigned char *p, size_t n) {
    size_t i = 0;
#define AT(k) ((k) < n ? p[k] : 0)
    while (i < n) {
        if (p[i] != 0xff) {
            i++;
            continue;
        }
        while (i < n && p[i] == 0xff) i++; /* fill bytes; i at the marker code */
        if (i >= n) break;
        unsigned m = p[i++];
        if (m == 0x00 || m == 0x01 || m == 0xd8 || m == 0xd9 || (m >= 0xd0 && m <= 0xd7)) continue;
        size_t len = ((size_t)AT(i) << 8) | AT(i + 1); /* includes its own 2 bytes */
        if (len < 2) break; /* stb stops with an error here */
        if (m == 0xc4) {
            long left = (long)len - 2;
            size_t q = i + 2;
            while (left > 0) {
                unsigned tc = AT(q) >> 4, th = AT(q) & 15, codes = 0;
                if (tc > 1 || th > 3) break; /* stb: "bad DHT header" */
                for (size_t k = 0; k < 16; k++) codes += AT(q + 1 + k);
                if (codes > 256) return 0;
                left -= 17 + (long)codes;
                q += 17 + codes;
            }
        }
        i += len;
    }
#undef AT
    return 1;
}

/* Two things stb_image 2.27 does with the IDAT chunks of a PNG, found by
 * tests/fuzz/fuzz_png.c and handled here before stb sees the file:
 *  - it grows its IDAT buffer to the length a chunk claims before reading it,
 *    so a 100-byte file claiming a 2 GiB chunk allocates 2 GiB (and then
 *    fails): an IDAT running past the end of the file is refused here;
 *  - the buffer is NULL until the first chunk, and an empty first IDAT
 *    computes NULL + 0 (undefined behaviour, reported by UBSan): empty IDAT
 *    chunks carry no data, so those before the first non-empty one are left
 *    out of a copy handed to stb instead.
 * Returns -1 for a truncated IDAT, else 0 with *copy a malloc'd copy
 * (*copy_len bytes) when chunks were left out, NULL otherwise (also when out
 * of memory: stb then gets the original). Non-PNG data: 0, *copy NULL. */
static int png_check_idat(const unsigned char *p, size_t n, unsigned char **copy, size_t *copy_len) {
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    *copy = NULL;
    if (n < 8 || memcmp(p, sig, 8) != 0) return 0;
    unsigned char *o = NULL;
    size_t off = 8, w = 0, data_at = 0; /* data_at: the first non-empty IDAT (0: none yet) */
    while (off + 8 <= n) {
        size_t clen = ((size_t)p[off] << 24) | ((size_t)p[off + 1] << 16) | ((size_t)p[off + 2] << 8) | p[off + 3];
        int idat = memcmp(p + off + 4, "IDAT", 4) == 0;
        if (memcmp(p + off + 4, "IEND", 4) == 0) break;
        if (clen > n - off - 8) { /* the chunk's data runs past the end */
            if (!idat) break;     /* stb fails on it without allocating for it */
            free(o);
            return -1;
        }
        size_t next = clen + 12 <= n - off ? off + 12 + clen : n; /* a cut CRC: stb does not read it */
        if (!data_at && idat && !clen) { /* left out of the copy */
            if (!o) {
                if (!(o = malloc(n))) return 0;
                memcpy(o, p, off);
                w = off;
            }
        } else if (!data_at && idat) {
            data_at = off; /* from here on the copy is the original */
        } else if (!data_at && o) {
            memcpy(o + w, p + off, next - off);
            w += next - off;
        }
        off = next;
    }
    if (!o) return 0;
    size_t from = data_at ? data_at : off; /* off: where the walk stopped */
    memcpy(o + w, p + from, n - from);
    *copy = o;
    *copy_len = w + (n - from);
    return 0;
}

dk_status dk_image_info(const void *buf, size_t len, int *width, int *height, int *channels, const char *label,
                        dk_error *err) {
    int w, h, n;
    if (!label) label = "(memory)";
    if (!buf && len) return dk_error_set(err, DK_EINVAL, "image_info: %s: NULL buffer", label);
    if (len > (size_t)0x7fffffff) return dk_error_set(err, DK_EFORMAT, "%s: %zu bytes is too large for an image file", label, len);
    const stbi_uc *p = buf ? buf : (const stbi_uc *)"";
    if (len && p[0] == 0xff && !jpeg_dht_ok(p, len))
        return dk_error_set(err, DK_EFORMAT, "%s: corrupt JPEG (a Huffman table with more than 256 codes)", label);
    if (!stbi_info_from_memory(p, (int)len, &w, &h, &n))
        return dk_error_set(err, DK_EFORMAT, "%s: cannot decode the image (%s); PNG and JPEG are supported", label,
                            stbi_failure_reason());
    if (width) *width = w;
    if (height) *height = h;
    if (channels) *channels = n;
    return DK_OK;
}

dk_tensor *dk_image_decode(const void *buf, size_t len, int channels, const char *label, dk_error *err) {
    int w, h, n;
    if (!label) label = "(memory)";
    if (channels < 0 || channels > 4 || channels == 2) {
        dk_error_set(err, DK_EINVAL, "image_read: %s: channels = %d; use 0 (as stored), 1 (gray), 3 (RGB) or 4 (RGBA)", label,
                     channels);
        return NULL;
    }
    /* The header's size, before stb allocates for it: a few bytes can claim
     * 2^30 pixels (stb's own limit), gigabytes once converted. */
    if (dk_image_info(buf, len, &w, &h, &n, label, err) != DK_OK) return NULL;
    if (w <= 0 || h <= 0 || (uint64_t)w * (uint64_t)h > DK_IMAGE_MAX_PIXELS) {
        dk_error_set(err, DK_EFORMAT, "%s: the image claims %d x %d pixels, more than the limit of %llu", label, w, h,
                     (unsigned long long)DK_IMAGE_MAX_PIXELS);
        return NULL;
    }
    const stbi_uc *p = buf ? buf : (const stbi_uc *)"";
    size_t clen = 0;
    unsigned char *copy;
    if (png_check_idat(p, len, &copy, &clen) != 0) {
        dk_error_set(err, DK_EFORMAT, "%s: corrupt PNG (an IDAT chunk runs past the end of the file)", label);
        return NULL;
    }
    unsigned char *px = copy ? stbi_load_from_memory(copy, (int)clen, &w, &h, &n, channels)
                             : stbi_load_from_memory(p, (int)len, &w, &h, &n, channels);
    free(copy);
    if (!px) {
        dk_error_set(err, DK_EFORMAT, "%s: cannot decode the image (%s); PNG and JPEG are supported", label,
                     stbi_failure_reason());
        return NULL;
    }
    int c = channels ? channels : n;
    int64_t shape[3] = {h, w, c};
    dk_tensor *t = dk_tensor_new(DK_U8, 3, shape, err);
    if (t) memcpy(t->data, px, (size_t)w * (size_t)h * (size_t)c);
    else dk_error_prefix(err, "%s", label);
    stbi_image_free(px);
    return t;
}

dk_tensor *dk_image_read(const char *path, int channels, dk_error *err) {
    if (!path) {
        dk_error_set(err, DK_EINVAL, "image_read: path is NULL");
        return NULL;
    }
    if (channels < 0 || channels > 4 || channels == 2) {
        dk_error_set(err, DK_EINVAL, "image_read: %s: channels = %d; use 0 (as stored), 1 (gray), 3 (RGB) or 4 (RGBA)", path,
                     channels);
        return NULL;
    }
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        dk_error_set(err, DK_EIO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    /* the whole file, then the same decoder as dk_image_decode */
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, fp);
        if (n < cap) break;
        if (cap >= ((size_t)1 << 31)) {
            free(buf);
            fclose(fp);
            dk_error_set(err, DK_EFORMAT, "%s: more than 2 GiB: too large for an image file", path);
            return NULL;
        }
        unsigned char *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    int bad = !buf ? 1 : ferror(fp) ? 2 : 0;
    int errno_read = errno;
    fclose(fp);
    if (bad) {
        free(buf);
        if (bad == 1) dk_error_set(err, DK_ENOMEM, "%s: out of memory reading the file", path);
        else dk_error_set(err, DK_EIO, "%s: read failed: %s", path, strerror(errno_read));
        return NULL;
    }
    dk_tensor *t = dk_image_decode(buf, n, channels, path, err);
    free(buf);
    return t;
}

dk_status dk_image_write_png(const char *path, const uint8_t *pixels, int w, int h, int channels, dk_error *err) {
    if (!path || !pixels) return dk_error_set(err, DK_EINVAL, "image_write_png: NULL path or pixels");
    if (w <= 0 || h <= 0 || channels < 1 || channels > 4)
        return dk_error_set(err, DK_EINVAL, "%s: cannot write a %dx%d image with %d channels (1..4)", path, w, h, channels);
    if ((size_t)w * (size_t)channels > (size_t)0x7fffffff / 2 || (size_t)h > (size_t)0x7fffffff / ((size_t)w * (size_t)channels))
        return dk_error_set(err, DK_EINVAL, "%s: image %dx%d is too large for PNG output", path, w, h);
    /* encode in memory, then path.tmp.<pid> with every write checked, fsync,
     * rename: stbi_write_png ignores fwrite's result, so a full disk left a
     * truncated PNG and reported success */
    int len = 0;
    unsigned char *png = stbi_write_png_to_mem(pixels, w * channels, w, h, channels, &len);
    if (!png) return dk_error_set(err, DK_ENOMEM, "%s: cannot encode the PNG: out of memory", path);
    size_t plen = strlen(path) + 32;
    char *tmp = malloc(plen);
    if (!tmp) {
        free(png);
        return dk_error_set(err, DK_ENOMEM, "%s: out of memory", path);
    }
    snprintf(tmp, plen, "%s.tmp.%ld", path, (long)getpid());
    dk_status st = DK_OK;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        st = dk_error_set(err, DK_EIO, "writing %s: %s (creating the temporary file)", path, strerror(errno));
    } else {
        const unsigned char *p = png;
        size_t left = (size_t)len;
        while (left > 0 && st == DK_OK) {
            ssize_t k = write(fd, p, left);
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0) st = dk_error_set(err, DK_EIO, "writing %s: %s", path, k < 0 ? strerror(errno) : "short write");
            else p += k, left -= (size_t)k;
        }
        if (st == DK_OK && fsync(fd) != 0) st = dk_error_set(err, DK_EIO, "writing %s: %s (fsync)", path, strerror(errno));
        if (close(fd) != 0 && st == DK_OK) st = dk_error_set(err, DK_EIO, "writing %s: %s (close)", path, strerror(errno));
        if (st == DK_OK && rename(tmp, path) != 0)
            st = dk_error_set(err, DK_EIO, "writing %s: %s (rename)", path, strerror(errno));
        if (st != DK_OK) unlink(tmp);
    }
    free(tmp);
    free(png);
    return st;
}

dk_status dk_image_write_png_tensor(const char *path, const dk_tensor *pixels, dk_error *err) {
    int64_t want[3] = {-1, -1, -1};
    DK_TRY(dk_tensor_check(pixels, "image_write_png_tensor: pixels", DK_U8, 3, want, err));
    if (pixels->shape[0] > 0x7fffffff || pixels->shape[1] > 0x7fffffff || pixels->shape[2] > 4)
        return dk_error_set(err, DK_EINVAL, "%s: pixels [%lld, %lld, %lld] are not an image (H, W, C <= 4)", path,
                            (long long)pixels->shape[0], (long long)pixels->shape[1], (long long)pixels->shape[2]);
    return dk_image_write_png(path, pixels->data, (int)pixels->shape[1], (int)pixels->shape[0], (int)pixels->shape[2], err);
}

/* [-1, 1] -> 0..255, clamped, rounded to nearest; NaN -> 0. */
static uint8_t to_u8(double x) {
    double v = (x + 1.0) * 127.5;
    if (!(v > 0.0)) return 0;
    if (v >= 255.0) return 255;
    return (uint8_t)(v + 0.5);
}

dk_tensor *dk_image_grid_pixels(const dk_tensor *images, int cols, dk_error *err) {
    if (!images) {
        dk_error_set(err, DK_EINVAL, "image_grid: images is NULL");
        return NULL;
    }
    if ((images->dtype != DK_F32 && images->dtype != DK_F64) || images->ndim != 4) {
        char sb[96];
        dk_error_set(err, DK_ESHAPE, "image_grid: images must be F32 or F64 [N, C, H, W], got %s %s", dk_dtype_name(images->dtype),
                     dk_shape_str(images, sb, sizeof sb));
        return NULL;
    }
    int64_t n = images->shape[0], c = images->shape[1], h = images->shape[2], w = images->shape[3];
    if ((c != 1 && c != 3) || n < 1 || h < 1 || w < 1) {
        char sb[96];
        dk_error_set(err, DK_ESHAPE, "image_grid: images %s: need N >= 1 images with 1 or 3 channels", dk_shape_str(images, sb, sizeof sb));
        return NULL;
    }
    if (cols <= 0) {
        cols = (int)ceil(sqrt((double)n));
        while ((int64_t)cols * cols < n) cols++;
    }
    if (cols > n) cols = (int)n;
    int64_t rows = (n + cols - 1) / cols;
    const int64_t pad = DK_IMAGE_GRID_PAD;
    int64_t gh = rows * (h + pad) + pad, gw = (int64_t)cols * (w + pad) + pad;
    if (gh > 65535 || gw > 65535) {
        dk_error_set(err, DK_EINVAL, "image_grid: a %lld x %lld grid is too large; use fewer images", (long long)gh, (long long)gw);
        return NULL;
    }
    int64_t shape[3] = {gh, gw, c};
    dk_tensor *g = dk_tensor_new(DK_U8, 3, shape, err); /* zeroed: black padding */
    if (!g) return NULL;
    uint8_t *o = g->data;
    for (int64_t i = 0; i < n; i++) {
        int64_t r0 = pad + (i / cols) * (h + pad), c0 = pad + (i % cols) * (w + pad);
        for (int64_t ch = 0; ch < c; ch++)
            for (int64_t y = 0; y < h; y++)
                for (int64_t x = 0; x < w; x++) {
                    size_t src = (size_t)(((i * c + ch) * h + y) * w + x);
                    double v = images->dtype == DK_F32 ? (double)dk_f32(images)[src] : dk_f64(images)[src];
                    o[((size_t)(r0 + y) * (size_t)gw + (size_t)(c0 + x)) * (size_t)c + (size_t)ch] = to_u8(v);
                }
    }
    return g;
}

dk_status dk_image_grid(const char *path, const dk_tensor *images, int cols, dk_error *err) {
    dk_tensor *g = dk_image_grid_pixels(images, cols, err);
    if (!g) return err ? dk_error_prefix(err, "%s", path ? path : "(null)") : DK_EINVAL;
    dk_status s = dk_image_write_png_tensor(path, g, err);
    dk_tensor_free(g);
    return s;
}

/* Weights of one output index: src[first .. first + count) with w[]. */
typedef struct taps {
    int64_t *first, *count;
    double *w;
    int64_t stride; /* max taps per output */
} taps;

static void taps_free(taps *t) {
    free(t->first);
    free(t->count);
    free(t->w);
}

/* Output o of n_out covers [o + off, o + off + 1) in a source of n_in pixels
 * scaled by s (so [(o + off) / s, (o + off + 1) / s) in source pixels). */
static int taps_make(taps *t, int64_t n_in, int64_t n_out, double s, double off) {
    t->stride = s < 1.0 ? (int64_t)ceil(1.0 / s) + 2 : 2;
    t->first = malloc((size_t)n_out * sizeof *t->first);
    t->count = malloc((size_t)n_out * sizeof *t->count);
    t->w = calloc((size_t)n_out * (size_t)t->stride, sizeof *t->w);
    if (!t->first || !t->count || !t->w) return -1;
    for (int64_t o = 0; o < n_out; o++) {
        double *w = t->w + o * t->stride;
        if (s < 1.0) { /* area: the mean of the source over the output cell */
            double a = (o + off) / s, b = (o + off + 1) / s;
            if (a < 0) a = 0;
            if (b > (double)n_in) b = (double)n_in;
            int64_t i0 = (int64_t)floor(a), i1 = (int64_t)ceil(b);
            if (i0 < 0) i0 = 0;
            if (i1 > n_in) i1 = n_in;
            if (i1 <= i0) i1 = i0 + 1;
            if (i1 - i0 > t->stride) i1 = i0 + t->stride;
            double tot = 0;
            for (int64_t i = i0; i < i1; i++) {
                double lo = a > (double)i ? a : (double)i, hi = b < (double)(i + 1) ? b : (double)(i + 1);
                w[i - i0] = hi > lo ? hi - lo : 0.0;
                tot += w[i - i0];
            }
            if (tot <= 0) {
                w[0] = 1.0;
                tot = 1.0;
            }
            for (int64_t i = i0; i < i1; i++) w[i - i0] /= tot;
            t->first[o] = i0;
            t->count[o] = i1 - i0;
        } else { /* bilinear with pixel centres at i + 1/2 */
            double x = (o + off + 0.5) / s - 0.5;
            if (x < 0) x = 0;
            if (x > (double)(n_in - 1)) x = (double)(n_in - 1);
            int64_t i0 = (int64_t)floor(x);
            double f = x - (double)i0;
            if (i0 >= n_in - 1) {
                t->first[o] = n_in - 1;
                t->count[o] = 1;
                w[0] = 1.0;
            } else {
                t->first[o] = i0;
                t->count[o] = 2;
                w[0] = 1.0 - f;
                w[1] = f;
            }
        }
    }
    return 0;
}

dk_status dk_image_resize_crop(dk_tensor *dst, const dk_tensor *src, dk_error *err) {
    char a[96], b[96];
    DK_TRY(dk_tensor_check(src, "image_resize_crop: src [H, W, C]", (dk_dtype)-1, 3, NULL, err));
    DK_TRY(dk_tensor_check(dst, "image_resize_crop: dst [H, W, C]", (dk_dtype)-1, 3, NULL, err));
    int64_t h = src->shape[0], w = src->shape[1], c = src->shape[2];
    int64_t h2 = dst->shape[0], w2 = dst->shape[1];
    if (dst->shape[2] != c || h < 1 || w < 1 || h2 < 1 || w2 < 1)
        return dk_error_set(err, DK_ESHAPE, "image_resize_crop: src %s and dst %s need the same channels and non-empty images",
                            dk_shape_str(src, a, sizeof a), dk_shape_str(dst, b, sizeof b));
    double sy = (double)h2 / (double)h, sx = (double)w2 / (double)w;
    double s = sy > sx ? sy : sx; /* cover dst, keep the aspect */
    double offy = ((double)h * s - (double)h2) / 2.0, offx = ((double)w * s - (double)w2) / 2.0;
    taps ty = {0}, tx = {0};
    double *tmp = NULL;
    dk_status st = DK_OK;
    if (taps_make(&ty, h, h2, s, offy) || taps_make(&tx, w, w2, s, offx) ||
        !(tmp = malloc((size_t)h * (size_t)w2 * (size_t)c * sizeof *tmp))) {
        st = dk_error_set(err, DK_ENOMEM, "image_resize_crop: out of memory");
        goto done;
    }
    /* along W: tmp [H, W2, C] */
    for (int64_t y = 0; y < h; y++)
        for (int64_t x = 0; x < w2; x++) {
            const double *wt = tx.w + x * tx.stride;
            for (int64_t ch = 0; ch < c; ch++) {
                double acc = 0;
                for (int64_t k = 0; k < tx.count[x]; k++)
                    acc += wt[k] * dk_tensor_get(src, (size_t)((y * w + tx.first[x] + k) * c + ch));
                tmp[(y * w2 + x) * c + ch] = acc;
            }
        }
    /* along H: dst [H2, W2, C] */
    int is_int = dst->dtype == DK_U8 || dst->dtype == DK_I32 || dst->dtype == DK_I64;
    for (int64_t y = 0; y < h2; y++) {
        const double *wt = ty.w + y * ty.stride;
        for (int64_t x = 0; x < w2; x++)
            for (int64_t ch = 0; ch < c; ch++) {
                double acc = 0;
                for (int64_t k = 0; k < ty.count[y]; k++) acc += wt[k] * tmp[((ty.first[y] + k) * w2 + x) * c + ch];
                dk_tensor_set(dst, (size_t)((y * w2 + x) * c + ch), is_int ? floor(acc + 0.5) : acc);
            }
    }
done:
    taps_free(&ty);
    taps_free(&tx);
    free(tmp);
    return st;
}

dk_status dk_image_to_chw(dk_tensor *dst, const dk_tensor *src, dk_error *err) {
    char a[96], b[96];
    DK_TRY(dk_tensor_check(src, "image_to_chw: src [H, W, C]", DK_U8, 3, NULL, err));
    if (!dst || (dst->dtype != DK_F32 && dst->dtype != DK_F64) || dst->ndim != 3 || dst->shape[0] != src->shape[2] ||
        dst->shape[1] != src->shape[0] || dst->shape[2] != src->shape[1])
        return dk_error_set(err, DK_ESHAPE, "image_to_chw: dst must be F32/F64 [%lld, %lld, %lld] for src U8 %s, got %s %s",
                            (long long)src->shape[2], (long long)src->shape[0], (long long)src->shape[1],
                            dk_shape_str(src, a, sizeof a), dst ? dk_dtype_name(dst->dtype) : "NULL",
                            dst ? dk_shape_str(dst, b, sizeof b) : "");
    int64_t h = src->shape[0], w = src->shape[1], c = src->shape[2];
    const uint8_t *p = src->data;
    for (int64_t ch = 0; ch < c; ch++)
        for (int64_t y = 0; y < h; y++)
            for (int64_t x = 0; x < w; x++) {
                double v = p[(y * w + x) * c + ch] / 127.5 - 1.0;
                size_t i = (size_t)((ch * h + y) * w + x);
                if (dst->dtype == DK_F32) dk_f32(dst)[i] = (float)v;
                else dk_f64(dst)[i] = v;
            }
    return DK_OK;
}
