/* test_core_export.c: the .npz writer and the U8 conversion (export.h):
 *  - the conversion rounds as image.h says (and as DiT's sample_ddp.py
 *    clamp(127.5 x + 128, 0, 255) cast to uint8): -1 -> 0, 1 -> 255, 0 -> 128,
 *    out-of-range values clamp, NaN -> 0, NCHW -> NHWC;
 *  - a written file is a stored zip whose members hold the .npy bytes with
 *    their CRC-32 (zlib), the central directory and the end record;
 *  - an export that is not finished (too few images), or is aborted, leaves
 *    no file under the final name and no temporary file; too many images,
 *    a wrong shape, and a file past 4 GiB are refused with a message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include "dktest.h"
#include "diffkit/export.h"

static unsigned u16(const unsigned char *p) { return p[0] | p[1] << 8; }
static unsigned long u32(const unsigned char *p) { return u16(p) | (unsigned long)u16(p + 2) << 16; }

static unsigned char *slurp(const char *path, long *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)*len);
    if (fread(b, 1, (size_t)*len, f) != (size_t)*len) { free(b); b = NULL; }
    fclose(f);
    return b;
}

static int exists(const char *p) { return access(p, F_OK) == 0; }

int main(void) {
    /* conversion: 2 images [2, 3, 1, 2] */
    int64_t sh[4] = {2, 3, 1, 2};
    dk_tensor *x = dk_tensor_new(DK_F64, 4, sh, &dk_test_err);
    double v[12] = {-1, 1, 0, 2, -3, 0.5, 0.0 / 0.0, -0.999, -0.9, 0.00392156862745098, 0.9, -0.5};
    for (int i = 0; i < 12; i++) dk_f64(x)[i] = v[i];
    dk_tensor *u = dk_images_to_u8_nhwc(x, &dk_test_err);
    DK_CHECK(u && u->dtype == DK_U8 && u->shape[0] == 2 && u->shape[1] == 1 && u->shape[2] == 2 && u->shape[3] == 3);
    const uint8_t *p = u->data;
    /* image 0: channels (c0: -1, 1) (c1: 0, 2) (c2: -3, 0.5) -> pixel 0 = (0, 128, 0), pixel 1 = (255, 255, 191) */
    uint8_t want[12] = {0, 128, 0, 255, 255, 191, 0, 0, 115, 0, 128, 64};
    /* image 1: c0 (NaN, -0.999) c1 (-0.9, 1/255) c2 (0.9, -0.5):
     * NaN -> 0; -0.999 -> round(0.1275) = 0; -0.9 -> round(12.75) = 13 */
    want[7] = 13;  /* -0.9 -> 12.75 -> 13 */
    want[8] = 242; /* 0.9 -> 242.25 -> 242 */
    want[9] = 0;   /* -0.999 -> 0.1275 -> 0 */
    want[10] = 128; /* 1/255 -> 128.0 -> 128 */
    want[11] = 64;  /* -0.5 -> 63.75 -> 64 */
    for (int i = 0; i < 12; i++)
        if (p[i] != want[i]) dk_test_fail(__FILE__, __LINE__, "u8[%d] = %u, want %u", i, p[i], want[i]);
    dk_test_checks++;

    /* an npz of 3 images 1x2 RGB, in two appends, with labels */
    const char *dir = dk_test_tmpdir("core_export");
    char path[1024], tmp[1100];
    snprintf(path, sizeof path, "%s/x.npz", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    int64_t s2[4] = {2, 3, 1, 2}, s1[4] = {1, 3, 1, 2};
    dk_tensor *a = dk_tensor_new(DK_F32, 4, s2, &dk_test_err), *b = dk_tensor_new(DK_F32, 4, s1, &dk_test_err);
    for (size_t i = 0; i < a->numel; i++) dk_f32(a)[i] = (float)i / 6.0f - 1.0f;
    for (size_t i = 0; i < b->numel; i++) dk_f32(b)[i] = 0.25f;
    dk_npz_writer *z = dk_npz_begin(path, 3, 1, 2, 3, &dk_test_err);
    DK_CHECK(z != NULL);
    DK_CHECK(exists(tmp) && !exists(path));
    DK_CHECK_OK(dk_npz_append(z, a, &dk_test_err));
    DK_CHECK_OK(dk_npz_append(z, b, &dk_test_err));
    int64_t labels[3] = {7, 0, 123456789012LL};
    DK_CHECK_OK(dk_npz_finish(z, labels, &dk_test_err));
    DK_CHECK(exists(path) && !exists(tmp));
    long len = 0;
    unsigned char *f = slurp(path, &len);
    DK_CHECK(f != NULL);
    /* member 1 */
    DK_CHECK(u32(f) == 0x04034b50 && u16(f + 8) == 0);
    unsigned long crc = u32(f + 14), size = u32(f + 18);
    DK_CHECK(u32(f + 22) == size && u16(f + 26) == 9 && memcmp(f + 30, "arr_0.npy", 9) == 0);
    const unsigned char *m = f + 39;
    DK_CHECK(memcmp(m, "\x93NUMPY\x01\x00", 8) == 0);
    unsigned hl = u16(m + 8);
    DK_CHECK((10 + hl) % 64 == 0);
    const char *hdr = "{'descr': '|u1', 'fortran_order': False, 'shape': (3, 1, 2, 3), }";
    DK_CHECK(memcmp(m + 10, hdr, strlen(hdr)) == 0 && m[10 + hl - 1] == '\n');
    DK_CHECK(size == 10 + hl + 18);
    DK_CHECK(crc == crc32(0L, m, (uInt)size));
    uint8_t px[18];
    dk_tensor *ua = dk_images_to_u8_nhwc(a, &dk_test_err), *ub = dk_images_to_u8_nhwc(b, &dk_test_err);
    memcpy(px, ua->data, 12);
    memcpy(px + 12, ub->data, 6);
    DK_CHECK(memcmp(m + 10 + hl, px, 18) == 0);
    /* member 2: labels */
    const unsigned char *l = m + size;
    DK_CHECK(u32(l) == 0x04034b50 && memcmp(l + 30, "arr_1.npy", 9) == 0);
    const unsigned char *lm = l + 39;
    unsigned hl2 = u16(lm + 8);
    const char *hdr2 = "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }";
    DK_CHECK(memcmp(lm + 10, hdr2, strlen(hdr2)) == 0);
    DK_CHECK(u32(l + 18) == 10 + hl2 + 24 && u32(l + 14) == crc32(0L, lm, (uInt)(10 + hl2 + 24)));
    int64_t back[3];
    memcpy(back, lm + 10 + hl2, 24);
    DK_CHECK(back[0] == 7 && back[1] == 0 && back[2] == 123456789012LL);
    /* central directory and end record */
    const unsigned char *eocd = f + len - 22;
    DK_CHECK(u32(eocd) == 0x06054b50 && u16(eocd + 8) == 2 && u16(eocd + 10) == 2);
    const unsigned char *cd = f + u32(eocd + 16);
    DK_CHECK(u32(cd) == 0x02014b50 && u32(cd + 16) == crc && u32(cd + 42) == 0 && memcmp(cd + 46, "arr_0.npy", 9) == 0);
    const unsigned char *cd2 = cd + 46 + 9;
    DK_CHECK(u32(cd2) == 0x02014b50 && u32(cd2 + 42) == (unsigned long)(l - f));
    DK_CHECK(u32(eocd + 12) == (unsigned long)(eocd - cd));
    free(f);

    /* refusals */
    char p2[1024];
    snprintf(p2, sizeof p2, "%s/y.npz", dir);
    z = dk_npz_begin(p2, 2, 1, 2, 3, &dk_test_err);
    DK_CHECK_STATUS(dk_npz_append(z, a, &dk_test_err), DK_OK);
    DK_CHECK(dk_npz_append(z, b, &dk_test_err) != DK_OK && strstr(dk_test_err.msg, "3 images appended to an export of 2"));
    DK_CHECK_STATUS(dk_npz_finish(z, NULL, &dk_test_err), DK_OK); /* the 2 images of a */
    DK_CHECK(exists(p2));
    unlink(p2);
    z = dk_npz_begin(p2, 3, 1, 2, 3, &dk_test_err);
    DK_CHECK_OK(dk_npz_append(z, a, &dk_test_err));
    DK_CHECK(dk_npz_finish(z, NULL, &dk_test_err) != DK_OK && strstr(dk_test_err.msg, "2 of 3 images"));
    DK_CHECK(!exists(p2));
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", p2, (long)getpid());
    DK_CHECK(!exists(tmp));
    z = dk_npz_begin(p2, 3, 1, 2, 3, &dk_test_err);
    int64_t s3[4] = {1, 3, 2, 2};
    dk_tensor *c = dk_tensor_new(DK_F32, 4, s3, &dk_test_err);
    DK_CHECK(dk_npz_append(z, c, &dk_test_err) != DK_OK && strstr(dk_test_err.msg, "do not match"));
    dk_npz_abort(z);
    DK_CHECK(!exists(p2) && !exists(tmp));
    DK_CHECK(dk_npz_begin(p2, 50000, 256, 256, 3, &dk_test_err) == NULL && strstr(dk_test_err.msg, "4 GiB"));
    DK_CHECK(!exists(tmp));
    DK_CHECK(dk_npz_begin(p2, 2, 8, 8, 2, &dk_test_err) == NULL && strstr(dk_test_err.msg, "channels"));
    snprintf(p2, sizeof p2, "%s/no/such/dir/z.npz", dir);
    DK_CHECK(dk_npz_begin(p2, 1, 1, 1, 1, &dk_test_err) == NULL && strstr(dk_test_err.msg, "cannot create"));

    dk_tensor_free(x), dk_tensor_free(u), dk_tensor_free(a), dk_tensor_free(b), dk_tensor_free(c);
    dk_tensor_free(ua), dk_tensor_free(ub);
    return dk_test_finish();
}
