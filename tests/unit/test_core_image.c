/* test_core_image.c: PNG grids written and read back pixel by pixel, PNG
 * and JPEG reading, resize + centre crop (area and bilinear), HWC -> CHW. */
#include "dktest.h"
#include "diffkit/image.h"
#include <stdlib.h>
#include <string.h>

/* An 8x8 JPEG of the flat colour (200, 60, 30), quality 90 (written once with
 * stb_image_write's encoder, which the sanitizer build cannot run: it shifts
 * negative ints). */
static const unsigned char flat_jpg[] = {
0xff,0xd8,0xff,0xe0,0x00,0x10,0x4a,0x46,0x49,0x46,0x00,0x01,0x01,0x00,0x00,0x01,
0x00,0x01,0x00,0x00,0xff,0xdb,0x00,0x84,0x00,0x03,0x02,0x02,0x03,0x02,0x02,0x03,
0x03,0x03,0x03,0x04,0x03,0x03,0x04,0x05,0x08,0x05,0x05,0x04,0x04,0x05,0x0a,0x07,
0x07,0x06,0x08,0x0c,0x0a,0x0c,0x0c,0x0b,0x0a,0x0b,0x0b,0x0d,0x0e,0x12,0x10,0x0d,
0x0e,0x11,0x0e,0x0b,0x0b,0x10,0x16,0x10,0x11,0x13,0x14,0x15,0x15,0x15,0x0c,0x0f,
0x17,0x18,0x16,0x14,0x18,0x12,0x14,0x15,0x14,0x01,0x03,0x04,0x04,0x05,0x04,0x05,
0x09,0x05,0x05,0x09,0x14,0x0d,0x0b,0x0d,0x14,0x14,0x14,0x14,0x14,0x14,0x14,0x14,
0x14,0x14,0x14,0x14,0x14,0x14,0x14,0x14,0x14,0x14,0x14,0x14,0x14,0x14,0x14,0x14,
0x14,0x14,0x14,0x14,0x14,0x14,0x14,0x14,0x14,0x14,0x14,0x14,0x14,0x14,0x14,0x14,
0x14,0x14,0x14,0x14,0x14,0x14,0x14,0x14,0x14,0x14,0xff,0xc0,0x00,0x11,0x08,0x00,
0x08,0x00,0x08,0x03,0x01,0x22,0x00,0x02,0x11,0x01,0x03,0x11,0x01,0xff,0xc4,0x01,
0xa2,0x00,0x00,0x01,0x05,0x01,0x01,0x01,0x01,0x01,0x01,0x00,0x00,0x00,0x00,0x00,
0x00,0x00,0x00,0x01,0x02,0x03,0x04,0x05,0x06,0x07,0x08,0x09,0x0a,0x0b,0x10,0x00,
0x02,0x01,0x03,0x03,0x02,0x04,0x03,0x05,0x05,0x04,0x04,0x00,0x00,0x01,0x7d,0x01,
0x02,0x03,0x00,0x04,0x11,0x05,0x12,0x21,0x31,0x41,0x06,0x13,0x51,0x61,0x07,0x22,
0x71,0x14,0x32,0x81,0x91,0xa1,0x08,0x23,0x42,0xb1,0xc1,0x15,0x52,0xd1,0xf0,0x24,
0x33,0x62,0x72,0x82,0x09,0x0a,0x16,0x17,0x18,0x19,0x1a,0x25,0x26,0x27,0x28,0x29,
0x2a,0x34,0x35,0x36,0x37,0x38,0x39,0x3a,0x43,0x44,0x45,0x46,0x47,0x48,0x49,0x4a,
0x53,0x54,0x55,0x56,0x57,0x58,0x59,0x5a,0x63,0x64,0x65,0x66,0x67,0x68,0x69,0x6a,
0x73,0x74,0x75,0x76,0x77,0x78,0x79,0x7a,0x83,0x84,0x85,0x86,0x87,0x88,0x89,0x8a,
0x92,0x93,0x94,0x95,0x96,0x97,0x98,0x99,0x9a,0xa2,0xa3,0xa4,0xa5,0xa6,0xa7,0xa8,
0xa9,0xaa,0xb2,0xb3,0xb4,0xb5,0xb6,0xb7,0xb8,0xb9,0xba,0xc2,0xc3,0xc4,0xc5,0xc6,
0xc7,0xc8,0xc9,0xca,0xd2,0xd3,0xd4,0xd5,0xd6,0xd7,0xd8,0xd9,0xda,0xe1,0xe2,0xe3,
0xe4,0xe5,0xe6,0xe7,0xe8,0xe9,0xea,0xf1,0xf2,0xf3,0xf4,0xf5,0xf6,0xf7,0xf8,0xf9,
0xfa,0x01,0x00,0x03,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x00,0x00,0x00,
0x00,0x00,0x00,0x01,0x02,0x03,0x04,0x05,0x06,0x07,0x08,0x09,0x0a,0x0b,0x11,0x00,
0x02,0x01,0x02,0x04,0x04,0x03,0x04,0x07,0x05,0x04,0x04,0x00,0x01,0x02,0x77,0x00,
0x01,0x02,0x03,0x11,0x04,0x05,0x21,0x31,0x06,0x12,0x41,0x51,0x07,0x61,0x71,0x13,
0x22,0x32,0x81,0x08,0x14,0x42,0x91,0xa1,0xb1,0xc1,0x09,0x23,0x33,0x52,0xf0,0x15,
0x62,0x72,0xd1,0x0a,0x16,0x24,0x34,0xe1,0x25,0xf1,0x17,0x18,0x19,0x1a,0x26,0x27,
0x28,0x29,0x2a,0x35,0x36,0x37,0x38,0x39,0x3a,0x43,0x44,0x45,0x46,0x47,0x48,0x49,
0x4a,0x53,0x54,0x55,0x56,0x57,0x58,0x59,0x5a,0x63,0x64,0x65,0x66,0x67,0x68,0x69,
0x6a,0x73,0x74,0x75,0x76,0x77,0x78,0x79,0x7a,0x82,0x83,0x84,0x85,0x86,0x87,0x88,
0x89,0x8a,0x92,0x93,0x94,0x95,0x96,0x97,0x98,0x99,0x9a,0xa2,0xa3,0xa4,0xa5,0xa6,
0xa7,0xa8,0xa9,0xaa,0xb2,0xb3,0xb4,0xb5,0xb6,0xb7,0xb8,0xb9,0xba,0xc2,0xc3,0xc4,
0xc5,0xc6,0xc7,0xc8,0xc9,0xca,0xd2,0xd3,0xd4,0xd5,0xd6,0xd7,0xd8,0xd9,0xda,0xe2,
0xe3,0xe4,0xe5,0xe6,0xe7,0xe8,0xe9,0xea,0xf2,0xf3,0xf4,0xf5,0xf6,0xf7,0xf8,0xf9,
0xfa,0xff,0xda,0x00,0x0c,0x03,0x01,0x00,0x02,0x11,0x03,0x11,0x00,0x3f,0x00,0xf3,
0x0a,0x28,0xa2,0xbf,0x18,0x3f,0xb0,0x4f,0xff,0xd9,};

static double pattern(int64_t i, int64_t ch, int64_t y, int64_t x) {
    return -1.0 + 2.0 * (double)((i * 37 + ch * 11 + y * 5 + x * 3) % 29) / 28.0;
}

static uint8_t expect_u8(double v) {
    double p = (v + 1.0) * 127.5;
    if (!(p > 0)) return 0;
    if (p >= 255) return 255;
    return (uint8_t)(p + 0.5);
}

static void test_grid(int64_t c) {
    const char *dir = dk_test_tmpdir(c == 3 ? "image_rgb" : "image_gray");
    char path[4200];
    snprintf(path, sizeof path, "%s/grid.png", dir);
    int64_t n = 5, h = 4, w = 6;
    int64_t shape[4] = {n, c, h, w};
    dk_tensor *im = dk_tensor_new(DK_F32, 4, shape, &dk_test_err);
    for (int64_t i = 0; i < n; i++)
        for (int64_t ch = 0; ch < c; ch++)
            for (int64_t y = 0; y < h; y++)
                for (int64_t x = 0; x < w; x++) dk_f32(im)[((i * c + ch) * h + y) * w + x] = (float)pattern(i, ch, y, x);
    dk_f32(im)[0] = 2.0f;  /* clamped to 255 */
    dk_f32(im)[1] = -3.0f; /* clamped to 0 */
    dk_f32(im)[2] = NAN;   /* 0 */
    DK_CHECK_OK(dk_image_grid(path, im, 3, &dk_test_err));
    dk_tensor *g = dk_image_read(path, 0, &dk_test_err);
    DK_CHECK(g != NULL);
    if (!g) return;
    int64_t gs[3] = {2 * (h + 2) + 2, 3 * (w + 2) + 2, c};
    DK_CHECK_OK(dk_tensor_check(g, "grid", DK_U8, 3, gs, &dk_test_err));
    const uint8_t *p = g->data;
    int bad = 0, nonzero_pad = 0;
    for (int64_t gy = 0; gy < gs[0]; gy++)
        for (int64_t gx = 0; gx < gs[1]; gx++) {
            int64_t ty = (gy - 2) / (h + 2), tx = (gx - 2) / (w + 2);
            int64_t y = (gy - 2) % (h + 2), x = (gx - 2) % (w + 2);
            int inside = gy >= 2 && gx >= 2 && y < h && x < w && ty * 3 + tx < n;
            for (int64_t ch = 0; ch < c; ch++) {
                uint8_t got = p[(gy * gs[1] + gx) * c + ch];
                if (!inside) {
                    nonzero_pad += got != 0;
                    continue;
                }
                int64_t i = ty * 3 + tx;
                uint8_t want = expect_u8(dk_f32(im)[((i * c + ch) * h + y) * w + x]);
                if (got != want && bad++ < 5)
                    dk_test_fail(__FILE__, __LINE__, "pixel (%lld, %lld, %lld): %u, expected %u", (long long)gy, (long long)gx,
                                 (long long)ch, got, want);
            }
        }
    DK_CHECK(bad == 0 && nonzero_pad == 0);
    DK_CHECK(p[(2 * gs[1] + 2) * c] == 255);       /* image 0, (0, 0): 2.0 clamped */
    DK_CHECK(p[(2 * gs[1] + 3) * c] == 0);         /* -3 clamped */
    DK_CHECK(p[(2 * gs[1] + 4) * c] == 0);         /* NaN */
    DK_CHECK(p[(2 * gs[1] + 5) * c] == expect_u8(pattern(0, 0, 0, 3)));
    dk_tensor_free(g);

    /* the default column count is ceil(sqrt(5)) = 3; the same pixels */
    dk_tensor *g2 = dk_image_grid_pixels(im, 0, &dk_test_err);
    DK_CHECK(g2 && g2->shape[1] == gs[1]);
    dk_tensor_free(g2);
    /* wrong inputs */
    int64_t bs[4] = {1, 2, 4, 4};
    dk_tensor *b = dk_tensor_new(DK_F32, 4, bs, &dk_test_err);
    DK_CHECK_STATUS(dk_image_grid(path, b, 1, &dk_test_err), DK_ESHAPE);
    dk_tensor_free(b);
    snprintf(path, sizeof path, "%s/no/such/dir/grid.png", dir);
    DK_CHECK_STATUS(dk_image_grid(path, im, 3, &dk_test_err), DK_EIO);
    dk_tensor_free(im);
}

static void test_read(void) {
    const char *dir = dk_test_tmpdir("image_read");
    char path[4200];
    DK_CHECK(dk_image_read("/nonexistent/x.png", 0, &dk_test_err) == NULL && dk_test_err.code == DK_EIO);
    DK_CHECK(strstr(dk_test_err.msg, "/nonexistent/x.png") != NULL);
    snprintf(path, sizeof path, "%s/not_an_image.png", dir);
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs("this is not a PNG", f);
        fclose(f);
    }
    DK_CHECK(dk_image_read(path, 0, &dk_test_err) == NULL && dk_test_err.code == DK_EFORMAT);

    /* RGB PNG read as gray and as RGB */
    uint8_t rgb[2 * 3 * 3];
    for (int i = 0; i < 6; i++) {
        rgb[3 * i] = (uint8_t)(40 * i);
        rgb[3 * i + 1] = 100;
        rgb[3 * i + 2] = (uint8_t)(250 - 40 * i);
    }
    snprintf(path, sizeof path, "%s/rgb.png", dir);
    DK_CHECK_OK(dk_image_write_png(path, rgb, 3, 2, 3, &dk_test_err));
    dk_tensor *t = dk_image_read(path, 3, &dk_test_err);
    DK_CHECK(t && t->shape[0] == 2 && t->shape[1] == 3 && t->shape[2] == 3 && memcmp(t->data, rgb, sizeof rgb) == 0);
    dk_tensor_free(t);
    t = dk_image_read(path, 1, &dk_test_err);
    DK_CHECK(t && t->shape[2] == 1);
    dk_tensor_free(t);

    /* a JPEG (lossy: a flat colour survives within a few levels) */
    snprintf(path, sizeof path, "%s/flat.jpg", dir);
    f = fopen(path, "wb");
    DK_CHECK(f && fwrite(flat_jpg, 1, sizeof flat_jpg, f) == sizeof flat_jpg);
    if (f) fclose(f);
    t = dk_image_read(path, 0, &dk_test_err);
    DK_CHECK(t && t->shape[0] == 8 && t->shape[1] == 8 && t->shape[2] == 3);
    if (t) {
        const uint8_t *q = t->data;
        DK_CHECK_NEAR(q[0], 200, 4, 0);
        DK_CHECK_NEAR(q[1], 60, 4, 0);
        DK_CHECK_NEAR(q[2], 30, 4, 0);
        DK_CHECK_NEAR(q[3 * 63 + 1], 60, 4, 0);
    }
    dk_tensor_free(t);
}

static void test_resize(void) {
    /* downscale 4x8 -> 2x2: scale 1/2 (covers the height), width 4 after
     * scaling, centre crop of 2: output x = 0 averages source columns 2, 3 */
    int64_t ss[3] = {4, 8, 1}, ds[3] = {2, 2, 1};
    dk_tensor *src = dk_tensor_new(DK_F64, 3, ss, &dk_test_err);
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 8; x++) dk_f64(src)[y * 8 + x] = 10 * x + y;
    dk_tensor *dst = dk_tensor_new(DK_F64, 3, ds, &dk_test_err);
    DK_CHECK_OK(dk_image_resize_crop(dst, src, &dk_test_err));
    DK_CHECK_NEAR(dk_f64(dst)[0], 25 + 0.5, 1e-12, 0); /* cols 2,3 rows 0,1 */
    DK_CHECK_NEAR(dk_f64(dst)[1], 45 + 0.5, 1e-12, 0); /* cols 4,5 */
    DK_CHECK_NEAR(dk_f64(dst)[2], 25 + 2.5, 1e-12, 0); /* rows 2,3 */
    DK_CHECK_NEAR(dk_f64(dst)[3], 45 + 2.5, 1e-12, 0);
    dk_tensor_free(src);
    dk_tensor_free(dst);

    /* upscale 2x2 -> 4x4, bilinear with half-pixel centres */
    int64_t s2[3] = {2, 2, 1}, d2[3] = {4, 4, 1};
    src = dk_tensor_new(DK_F64, 3, s2, &dk_test_err);
    dk_f64(src)[0] = 0;
    dk_f64(src)[1] = 8;
    dk_f64(src)[2] = 16;
    dk_f64(src)[3] = 24;
    dst = dk_tensor_new(DK_F64, 3, d2, &dk_test_err);
    DK_CHECK_OK(dk_image_resize_crop(dst, src, &dk_test_err));
    const double row0[4] = {0, 2, 6, 8};
    for (int x = 0; x < 4; x++) DK_CHECK_NEAR(dk_f64(dst)[x], row0[x], 1e-12, 0);
    DK_CHECK_NEAR(dk_f64(dst)[1 * 4 + 1], 2 + 4, 1e-12, 0); /* row weight 0.75/0.25: 0.25 * 16 */
    DK_CHECK_NEAR(dk_f64(dst)[3 * 4 + 3], 24, 1e-12, 0);
    dk_tensor_free(dst);

    /* U8 out is rounded; odd factor (3x3 -> 2x2 area) keeps a flat image flat */
    int64_t s3[3] = {3, 3, 3}, d3[3] = {2, 2, 3};
    dk_tensor *u = dk_tensor_new(DK_U8, 3, s3, &dk_test_err);
    memset(u->data, 77, 27);
    dk_tensor *v = dk_tensor_new(DK_U8, 3, d3, &dk_test_err);
    DK_CHECK_OK(dk_image_resize_crop(v, u, &dk_test_err));
    int flat = 1;
    for (int i = 0; i < 12; i++) flat &= ((uint8_t *)v->data)[i] == 77;
    DK_CHECK(flat);
    DK_CHECK_STATUS(dk_image_resize_crop(v, src, &dk_test_err), DK_ESHAPE); /* channels differ */

    /* HWC U8 -> CHW in [-1, 1] */
    int64_t cs[3] = {3, 3, 3};
    ((uint8_t *)u->data)[0 * 3 + 2] = 255; /* (y0, x0), channel 2 */
    ((uint8_t *)u->data)[1 * 3 + 0] = 0;   /* (y0, x1), channel 0 */
    dk_tensor *chw = dk_tensor_new(DK_F32, 3, cs, &dk_test_err);
    DK_CHECK_OK(dk_image_to_chw(chw, u, &dk_test_err));
    DK_CHECK(dk_f32(chw)[2 * 9 + 0] == 1.0f);
    DK_CHECK(dk_f32(chw)[0 * 9 + 1] == -1.0f);
    DK_CHECK_NEAR(dk_f32(chw)[4], 77 / 127.5 - 1, 1e-7, 0);
    dk_tensor_free(chw);
    dk_tensor_free(src);
    dk_tensor_free(u);
    dk_tensor_free(v);
}

/* dk_image_decode: the bytes of a file, and the pixel limit checked from
 * the header before stb allocates (a 33-byte PNG header can claim a
 * 16384 x 16384 gray image, within stb's own limit of 2^30 bytes: 768 MiB as
 * RGB). */
static void test_decode_memory(void) {
    static const unsigned char huge[33] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R',
                                           0, 0, 0x40, 0, 0, 0, 0x40, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0};
    DK_CHECK(dk_image_decode(huge, sizeof huge, 3, "huge.png", &dk_test_err) == NULL);
    DK_CHECK(dk_test_err.code == DK_EFORMAT && strstr(dk_test_err.msg, "16384 x 16384") != NULL &&
             strstr(dk_test_err.msg, "huge.png") != NULL);
    DK_CHECK(dk_image_decode(huge, 0, 3, NULL, &dk_test_err) == NULL && dk_test_err.code == DK_EFORMAT);
    DK_CHECK(dk_image_decode(flat_jpg, sizeof flat_jpg, 2, NULL, &dk_test_err) == NULL && dk_test_err.code == DK_EINVAL);
    /* a Huffman table of 16 x 32 = 512 codes: stb v2.27 wrote past its
     * 257-entry size list (tests/fuzz/corpus/png/regress-jpeg-dht-overflow.jpg) */
    unsigned char bad[sizeof flat_jpg];
    memcpy(bad, flat_jpg, sizeof bad);
    size_t dht = 0;
    for (size_t i = 0; i + 1 < sizeof bad && !dht; i++)
        if (bad[i] == 0xff && bad[i + 1] == 0xc4) dht = i;
    DK_CHECK(dht > 0);
    for (size_t k = 0; k < 16; k++) bad[dht + 5 + k] = 32;
    DK_CHECK(dk_image_decode(bad, sizeof bad, 3, "bad.jpg", &dk_test_err) == NULL);
    DK_CHECK(dk_test_err.code == DK_EFORMAT && strstr(dk_test_err.msg, "Huffman table") != NULL);
    /* a scan naming Huffman tables 3, which the file never defines: stb 2.27
     * decoded with uninitialised tables (an out-of-bounds read, found by the
     * fuzzer: tests/fuzz/corpus/png/regress-jpeg-undefined-huffman.jpg); now
     * zeroed ones, which give every code symbol 0: a flat image, the same
     * every time */
    memcpy(bad, flat_jpg, sizeof bad);
    size_t sos = 0;
    for (size_t i = 0; i + 1 < sizeof bad && !sos; i++)
        if (bad[i] == 0xff && bad[i + 1] == 0xda) sos = i;
    DK_CHECK(sos > 0 && bad[sos + 4] == 3);
    for (int k = 0; k < 3; k++) bad[sos + 6 + 2 * k] = 0x33;
    for (int rep = 0; rep < 2; rep++) {
        dk_tensor *u = dk_image_decode(bad, sizeof bad, 3, "undefined-tables.jpg", &dk_test_err);
        DK_CHECK(u != NULL);
        if (!u) break;
        const uint8_t *q = u->data;
        int flat = 1;
        for (size_t i = 3; i < u->numel; i++) flat &= q[i] == q[i % 3];
        DK_CHECK(flat);
        dk_tensor_free(u);
    }
    int iw = 0, ih = 0, ic = 0;
    DK_CHECK_OK(dk_image_info(flat_jpg, sizeof flat_jpg, &iw, &ih, &ic, NULL, &dk_test_err));
    DK_CHECK(iw == 8 && ih == 8 && ic == 3);
    DK_CHECK_OK(dk_image_info(huge, sizeof huge, &iw, &ih, &ic, NULL, &dk_test_err));
    DK_CHECK(iw == 16384 && ih == 16384 && ic == 1);
    dk_tensor *t = dk_image_decode(flat_jpg, sizeof flat_jpg, 3, "flat.jpg", &dk_test_err);
    DK_CHECK(t && t->shape[0] == 8 && t->shape[1] == 8 && t->shape[2] == 3);
    if (t) DK_CHECK(abs((int)((uint8_t *)t->data)[0] - 200) <= 3);
    dk_tensor_free(t);
}

/* An empty IDAT chunk before the first data (legal PNG; stb 2.27 computed
 * NULL + 0 on it, tests/fuzz/corpus/png/regress-png-empty-idat.png) decodes
 * to the same pixels as the file without it, also twice and after an
 * ancillary chunk; an IDAT longer than the file is refused. */
static void test_png_idat(void) {
    const char *dir = dk_test_tmpdir("image_empty_idat");
    char path[4200];
    snprintf(path, sizeof path, "%s/a.png", dir);
    uint8_t px[3 * 2 * 3];
    for (size_t i = 0; i < sizeof px; i++) px[i] = (uint8_t)(i * 13);
    DK_CHECK_OK(dk_image_write_png(path, px, 3, 2, 3, &dk_test_err));
    FILE *f = fopen(path, "rb");
    unsigned char png[4096], mod[4096 + 64];
    size_t n = f ? fread(png, 1, sizeof png, f) : 0;
    if (f) fclose(f);
    DK_CHECK(n > 33);
    size_t at = 0;
    for (size_t i = 8; i + 8 <= n && !at; i++)
        if (memcmp(png + i + 4, "IDAT", 4) == 0) at = i;
    DK_CHECK(at > 0);
    if (!at) return;
    static const unsigned char empty[12] = {0, 0, 0, 0, 'I', 'D', 'A', 'T', 0x35, 0xaf, 0x06, 0x1e};
    static const unsigned char text[16] = {0, 0, 0, 4, 't', 'E', 'X', 't', 'a', 0, 'b', 'c', 0, 0, 0, 0};
    memcpy(mod, png, at);
    memcpy(mod + at, empty, 12);
    memcpy(mod + at + 12, text, 16);
    memcpy(mod + at + 28, empty, 12);
    memcpy(mod + at + 40, png + at, n - at);
    dk_tensor *t = dk_image_decode(mod, n + 40, 3, "empty-idat.png", &dk_test_err);
    DK_CHECK(t && t->shape[0] == 2 && t->shape[1] == 3 && memcmp(t->data, px, sizeof px) == 0);
    dk_tensor_free(t);
    /* an IDAT claiming 2 GiB in a 60-byte file: refused before stb grows its
     * buffer to that (tests/fuzz/corpus/png/regress-png-idat-2gib.png) */
    memcpy(mod, png, at);
    static const unsigned char big[8] = {0x7f, 0xff, 0xff, 0xf0, 'I', 'D', 'A', 'T'};
    memcpy(mod + at, big, 8);
    memset(mod + at + 8, 0x78, 16);
    DK_CHECK(dk_image_decode(mod, at + 24, 3, "big-idat.png", &dk_test_err) == NULL);
    DK_CHECK(dk_test_err.code == DK_EFORMAT && strstr(dk_test_err.msg, "runs past the end") != NULL);
    /* only empty IDATs: no image data */
    memcpy(mod + at, empty, 12);
    memcpy(mod + at + 12, text, 16);
    memcpy(mod + at + 28, empty, 12);
    memcpy(mod + at + 40, png + n - 12, 12); /* IEND */
    DK_CHECK(dk_image_decode(mod, at + 52, 3, "no-data.png", &dk_test_err) == NULL && dk_test_err.code == DK_EFORMAT);
}

int main(void) {
    test_decode_memory();
    test_png_idat();
    test_grid(3);
    test_grid(1);
    test_read();
    test_resize();
    return dk_test_finish();
}
