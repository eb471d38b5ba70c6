/* export.h: samples for the evaluators other people use.
 *
 *  - dk_images_to_u8_nhwc: model images (F32/F64 [N, C, H, W] in [-1, 1])
 *    to U8 [N, H, W, C] with the rounding of image.h, which is also DiT's
 *    sample_ddp.py rule clamp(127.5 x + 128, 0, 255) cast to uint8;
 *  - an .npz writer (NumPy's savez: an uncompressed zip of .npy members) for
 *    the ADM evaluation suite (used by DiT) and clean-fid, which read the
 *    images from the member `arr_0` (uint8 [N, H, W, C]); class labels go to
 *    `arr_1` (int64 [N]) as ADM's image_sample.py writes them.
 *
 * The writer streams: the image member is appended batch by batch (its
 * CRC-32 is computed on the way and its local header patched at the end),
 * so n samples never need n images in memory. It writes path.tmp.<pid> and
 * renames it into place after fsync, so a failed or interrupted export
 * never leaves a truncated .npz under the final name. Members over 4 GiB
 * would need zip64 and are refused before anything is written. */
#ifndef DIFFKIT_EXPORT_H
#define DIFFKIT_EXPORT_H

#include <stdint.h>
#include "diffkit/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* [N, C, H, W] F32/F64 in [-1, 1] (C = 1 or 3; NaN -> 0) -> new U8 [N, H, W, C]. */
dk_tensor *dk_images_to_u8_nhwc(const dk_tensor *images, dk_error *err);

typedef struct dk_npz_writer dk_npz_writer;
/* Starts path (final name; written as path.tmp.<pid> until dk_npz_finish)
 * with the U8 member arr_0 of shape [n, h, w, c]. */
dk_npz_writer *dk_npz_begin(const char *path, int64_t n, int64_t h, int64_t w, int64_t c, dk_error *err);
/* Appends images (F32/F64 [B, C, H, W] in [-1, 1], or U8 [B, H, W, C]) to
 * arr_0; more than n images in all is an error. */
dk_status dk_npz_append(dk_npz_writer *z, const dk_tensor *images, dk_error *err);
/* Checks that n images were appended, writes arr_1 = labels (n int64 values;
 * NULL: no arr_1), the zip directory, fsyncs and renames into place. Frees z
 * in every case; on failure the temporary file is removed. */
dk_status dk_npz_finish(dk_npz_writer *z, const int64_t *labels, dk_error *err);
/* Removes the temporary file and frees z (an export that is given up). */
void dk_npz_abort(dk_npz_writer *z);

#ifdef __cplusplus
}
#endif
#endif
