/* image.h: PNG/JPEG input, PNG output, sample grids and the resize + centre
 * crop used by the image-folder data loader.
 *
 * Pixel tensors are U8 [H, W, C] (interleaved, as stored in files); model
 * images are F32/F64 [N, C, H, W] in [-1, 1]. The mapping between the two is
 * u8 = round(255 * clamp((x + 1) / 2, 0, 1)) and x = u8 / 127.5 - 1. */
#ifndef DIFFKIT_IMAGE_H
#define DIFFKIT_IMAGE_H

#include <stdint.h>
#include "diffkit/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Reads a PNG or JPEG file into a new U8 [H, W, C] tensor. channels: 0 keeps
 * the file's (1..4), 1 converts to gray, 3 to RGB, 4 to RGBA. DK_EIO if the
 * file cannot be opened, DK_EFORMAT if it cannot be decoded (with the path). */
dk_tensor *dk_image_read(const char *path, int channels, dk_error *err);
/* The same from a file's bytes in memory (dk_image_read reads the file and
 * calls this); label names the image in messages (NULL: "(memory)"). An image
 * whose header claims more than DK_IMAGE_MAX_PIXELS pixels is DK_EFORMAT
 * before anything is allocated for it. */
#define DK_IMAGE_MAX_PIXELS ((uint64_t)1 << 26)
dk_tensor *dk_image_decode(const void *buf, size_t len, int channels, const char *label, dk_error *err);
/* The size and channels an image file's header declares, without decoding it
 * (the checks dk_image_decode makes first). */
dk_status dk_image_info(const void *buf, size_t len, int *width, int *height, int *channels, const char *label,
                        dk_error *err);

/* Writes 8-bit pixels (rows of w * channels bytes, channels 1, 2, 3 or 4) as PNG. */
dk_status dk_image_write_png(const char *path, const uint8_t *pixels, int w, int h, int channels, dk_error *err);
/* Writes a U8 [H, W, C] tensor (C = 1, 2, 3 or 4) as PNG. */
dk_status dk_image_write_png_tensor(const char *path, const dk_tensor *pixels, dk_error *err);

/* Writes images (F32/F64 [N, C, H, W] in [-1, 1], C = 1 or 3) as one PNG: a
 * grid of `cols` columns (cols <= 0: ceil(sqrt(N))), rows = ceil(N / cols),
 * DK_IMAGE_GRID_PAD black pixels around and between the tiles, values clamped.
 * The PNG is (rows * (H + pad) + pad) x (cols * (W + pad) + pad). */
#define DK_IMAGE_GRID_PAD 2
dk_status dk_image_grid(const char *path, const dk_tensor *images, int cols, dk_error *err);
/* The same grid as a new U8 [gh, gw, C] tensor (no file). */
dk_tensor *dk_image_grid_pixels(const dk_tensor *images, int cols, dk_error *err);

/* Resizes src [H, W, C] so that it covers dst [H2, W2, C] (scale = max(H2/H,
 * W2/W), aspect kept) and takes the centre crop. Area averaging along an axis
 * that shrinks, bilinear (half-pixel centres, edge clamped) along one that
 * grows. Any numeric dtypes (computed in double; U8 output is rounded and
 * clamped). Same C in both. */
dk_status dk_image_resize_crop(dk_tensor *dst, const dk_tensor *src, dk_error *err);

/* U8 [H, W, C] -> F32/F64 [C, H, W] in [-1, 1] (x = u8 / 127.5 - 1). */
dk_status dk_image_to_chw(dk_tensor *dst, const dk_tensor *src, dk_error *err);

#ifdef __cplusplus
}
#endif
#endif
