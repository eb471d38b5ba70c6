/* fuzz_png.c: the image path of the image-folder loader: decode a file's
 * bytes (dk_image_decode, which dk_image_read uses; PNG and JPEG through
 * stb_image), resize + centre-crop to a small square (dk_image_resize_crop)
 * and convert to [C, H, W] in [-1, 1] (dk_image_to_chw), as data.c does for
 * each image. The last byte of the input picks gray (odd) or RGB (even):
 * PNG and JPEG decoders ignore bytes after the end of the image.
 *
 * An accepted image must come back as U8 [H, W, C] with the size
 * dk_image_info reported and at most DK_IMAGE_MAX_PIXELS pixels; every output
 * value is in [-1, 1]. Images whose header claims more than FUZZ_MAX_PIXELS
 * stop after dk_image_info: decoding and resizing millions of pixels takes
 * seconds under the sanitizers (a timeout, not a finding), and the same code
 * runs on smaller ones; the library's own limit is unit-tested
 * (test_core_image.c). */
#define FUZZ_MAX_PIXELS (1 << 16)
#include "fuzz_common.h"
#include "diffkit/image.h"
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int channels = size && (data[size - 1] & 1) ? 1 : 3;
    dk_error err;
    dk_error_clear(&err);
    int w = 0, h = 0, n = 0;
    if (dk_image_info(data, size, &w, &h, &n, "fuzz.png", &err) != DK_OK) {
        FUZZ_CHECK(err.code != DK_OK && err.msg[0] != '\0');
        return 0;
    }
    FUZZ_CHECK(w > 0 && h > 0 && n >= 1 && n <= 4);
    if ((uint64_t)w * (uint64_t)h > FUZZ_MAX_PIXELS) return 0;
    dk_tensor *src = dk_image_decode(data, size, channels, "fuzz.png", &err);
    if (!src) {
        FUZZ_CHECK(err.code != DK_OK && err.msg[0] != '\0');
        return 0;
    }
    FUZZ_CHECK(src->dtype == DK_U8 && src->ndim == 3 && src->shape[2] == channels);
    FUZZ_CHECK(src->shape[0] == h && src->shape[1] == w);
    FUZZ_CHECK((uint64_t)src->shape[0] * (uint64_t)src->shape[1] <= DK_IMAGE_MAX_PIXELS);
    /* the loader's square crop, at a size derived from the image (5..12) */
    int64_t side = 5 + (src->shape[0] + src->shape[1]) % 8;
    int64_t ds[3] = {side, side, channels}, cs[3] = {channels, side, side};
    dk_tensor *dst = dk_tensor_new(DK_U8, 3, ds, &err);
    dk_tensor *chw = dk_tensor_new(DK_F32, 3, cs, &err);
    FUZZ_CHECK(dst && chw);
    FUZZ_CHECK(dk_image_resize_crop(dst, src, &err) == DK_OK);
    FUZZ_CHECK(dk_image_to_chw(chw, dst, &err) == DK_OK);
    for (size_t i = 0; i < chw->numel; i++) FUZZ_CHECK(dk_f32(chw)[i] >= -1.0f && dk_f32(chw)[i] <= 1.0f);
    dk_tensor_free(chw);
    dk_tensor_free(dst);
    dk_tensor_free(src);
    return 0;
}
