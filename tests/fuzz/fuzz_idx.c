/* fuzz_idx.c: the IDX (Fashion-MNIST) reader, dk_dataset_idx_mem, which
 * dk_dataset_idx and dk_dataset_fashion_mnist use once the files are read.
 *
 * Input: byte 0 picks the padding (0..3; 0xff gives 65, out of range), bytes
 * 1-2 (little-endian) the length L of the images file, then L bytes of the
 * images file (idx3-ubyte) and the rest as the labels file (idx1-ubyte). An
 * accepted pair must give a dataset whose every image reads with values in
 * [-1, 1] and a label below num_classes, that refuses indices outside
 * [0, count), and that feeds the loader (shuffle, flips, label dropout). */
#include "fuzz_common.h"
#include "diffkit/data.h"
#include <math.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 3) return 0;
    int pad = data[0] == 0xff ? 65 : data[0] % 4;
    size_t il = (size_t)data[1] | ((size_t)data[2] << 8);
    const uint8_t *images = data + 3;
    size_t rest = size - 3;
    if (il > rest) il = rest;
    const uint8_t *labels = images + il;
    size_t ll = rest - il;
    dk_error err;
    dk_error_clear(&err);
    dk_dataset *ds = dk_dataset_idx_mem("fuzz-images-idx3-ubyte", images, il, "fuzz-labels-idx1-ubyte", labels, ll, pad, &err);
    if (!ds) {
        FUZZ_CHECK(err.code != DK_OK && err.msg[0] != '\0');
        return 0;
    }
    FUZZ_CHECK(pad <= 64);
    FUZZ_CHECK(ds->count > 0 && ds->channels == 1 && ds->num_classes >= 1 && ds->num_classes <= 256);
    FUZZ_CHECK(ds->height > 2 * pad && ds->width > 2 * pad);
    size_t per = (size_t)ds->height * (size_t)ds->width;
    /* the files hold count * h * w pixel bytes and count label bytes */
    FUZZ_CHECK((size_t)ds->count * (size_t)(ds->height - 2 * pad) * (size_t)(ds->width - 2 * pad) + 16 <= il);
    FUZZ_CHECK((size_t)ds->count + 8 <= ll);
    float *img = malloc(per * sizeof *img);
    FUZZ_CHECK(img != NULL);
    for (int64_t i = 0; i < ds->count; i++) {
        int64_t lab = -1;
        FUZZ_CHECK(dk_dataset_get(ds, i, img, &lab, &err) == DK_OK);
        FUZZ_CHECK(lab >= 0 && lab < ds->num_classes);
        for (size_t k = 0; k < per; k++) FUZZ_CHECK(img[k] >= -1.0f && img[k] <= 1.0f);
    }
    FUZZ_CHECK(dk_dataset_get(ds, ds->count, img, NULL, &err) == DK_EINVAL);
    FUZZ_CHECK(dk_dataset_get(ds, -1, img, NULL, &err) == DK_EINVAL);
    free(img);

    dk_loader_config lc = {.batch = 1, .seed = data[0], .shuffle = 1, .hflip = 1, .label_dropout = 0.5};
    dk_loader *l = dk_loader_new(ds, &lc, &err);
    FUZZ_CHECK(l != NULL);
    int64_t xs[4] = {1, 1, ds->height, ds->width}, ys[1] = {1};
    dk_tensor *x = dk_tensor_new(DK_F32, 4, xs, &err), *y = dk_tensor_new(DK_I64, 1, ys, &err);
    FUZZ_CHECK(x && y);
    for (int s = 0; s < 2; s++) {
        FUZZ_CHECK(dk_loader_next(l, x, y, &err) == DK_OK);
        FUZZ_CHECK(dk_i64(y)[0] >= 0 && dk_i64(y)[0] <= ds->num_classes); /* num_classes = the dropped label */
    }
    dk_tensor_free(x);
    dk_tensor_free(y);
    dk_loader_free(l);
    dk_dataset_free(ds);
    return 0;
}
