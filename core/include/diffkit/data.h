/* data.h: datasets and the training batch loader.
 *
 * A dk_dataset is a table of images with labels: count, image shape
 * (C, H, W), number of classes, and get(i) -> image (C, H, W) as float in
 * [-1, 1] (x/255*2 - 1, as torchvision to_tensor followed by *2 - 1) and an
 * integer label. Sources:
 *   - Fashion-MNIST from the Debian package dataset-fashion-mnist (IDX files,
 *     gzip-compressed or not), train (60000) or test (10000), optionally padded
 *     on every side with -1 (black, the background): pad 2 gives 32x32;
 *   - any pair of IDX files (images ubyte [N, H, W], labels ubyte [N]);
 *   - an image folder: class sub-folders (sorted names -> labels 0..K-1, as
 *     torchvision ImageFolder) of PNG/JPEG files, or images directly in the
 *     folder (unlabelled), each resized (short side) and centre-cropped to
 *     size x size, as RGB or gray.
 *
 * The loader draws batches in a shuffled order, one permutation per epoch,
 * from its own Philox stream (rng.h); horizontal flips and label dropout
 * (label -> the null class num_classes, for classifier-free guidance) draw
 * from two more streams. Every draw is a function of (seed, epoch, index in
 * the epoch) only, so the position (epoch, index) is the loader's whole state:
 * saving it and seeking to it continues the same sequence, bit for bit.
 * A batch that crosses the end of an epoch continues in the next one. */
#ifndef DIFFKIT_DATA_H
#define DIFFKIT_DATA_H

#include <stddef.h>
#include <stdint.h>
#include "diffkit/error.h"
#include "diffkit/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Philox streams of the loader's draws (seed = the loader's seed). */
#define DK_STREAM_DATA_ORDER 0x44410001u    /* per-epoch permutation */
#define DK_STREAM_DATA_FLIP 0x44410002u     /* horizontal flips */
#define DK_STREAM_LABEL_DROPOUT 0x44410003u /* label dropout */

#define DK_FASHION_MNIST_DEFAULT_DIR "/usr/share/datasets/fashion-mnist"

typedef struct dk_dataset dk_dataset;

struct dk_dataset {
    char name[256];     /* for messages, e.g. "fashion-mnist train" */
    int64_t count;
    int channels, height, width;
    int num_classes;    /* 0 = unlabelled (labels are 0) */
    int thread_safe;    /* get() may be called from several threads at once */
    void *ctx;
    /* image: (C, H, W) floats in [-1, 1]; label: in [0, num_classes) or 0. */
    dk_status (*get)(const dk_dataset *ds, int64_t i, float *image, int64_t *label, dk_error *err);
    void (*destroy)(dk_dataset *ds); /* frees ctx and ds */
};

void dk_dataset_free(dk_dataset *ds);
/* Bounds-checked get. */
dk_status dk_dataset_get(const dk_dataset *ds, int64_t i, float *image, int64_t *label, dk_error *err);

typedef struct dk_fashion_mnist_options {
    const char *dir;   /* NULL: $DIFFKIT_FASHION_MNIST, else DK_FASHION_MNIST_DEFAULT_DIR */
    const char *split; /* "train" (default when NULL) or "test" */
    int pad;           /* pixels of -1 added on each side (0..64); 2 gives 32x32 */
} dk_fashion_mnist_options;

/* Loads the split into memory. A missing folder or file is DK_ENOTFOUND
 * with the install command; corrupt or truncated files are DK_EFORMAT. */
dk_dataset *dk_dataset_fashion_mnist(const dk_fashion_mnist_options *o, dk_error *err);
/* Any IDX image/label pair (.gz or raw). num_classes = 1 + the largest label. */
dk_dataset *dk_dataset_idx(const char *images_path, const char *labels_path, int pad, dk_error *err);
/* The same from the (uncompressed) bytes of both files; the names are used in
 * messages and as the dataset's name. dk_dataset_idx reads the files and calls
 * this. Image sides above DK_IDX_MAX_SIDE are DK_EFORMAT. */
#define DK_IDX_MAX_SIDE 65535
dk_dataset *dk_dataset_idx_mem(const char *images_name, const void *images, size_t images_len, const char *labels_name,
                               const void *labels, size_t labels_len, int pad, dk_error *err);
/* The folder in which dk_dataset_fashion_mnist looks (o may be NULL). */
const char *dk_fashion_mnist_dir(const dk_fashion_mnist_options *o);

typedef struct dk_image_folder_options {
    const char *path;
    int size;      /* output size x size (resize short side, centre crop) */
    int channels;  /* 3 = RGB, 1 = gray */
} dk_image_folder_options;

/* Lists the folder (sorted); images are decoded on get(). */
dk_dataset *dk_dataset_image_folder(const dk_image_folder_options *o, dk_error *err);

/* ---- loader ---- */

typedef struct dk_loader_config {
    int64_t batch;         /* images per batch (> 0) */
    uint64_t seed;
    int shuffle;           /* 1: a new permutation each epoch; 0: dataset order */
    int hflip;             /* 1: flip each image horizontally with probability 1/2 */
    double label_dropout;  /* probability of replacing the label by the null class */
} dk_loader_config;

typedef struct dk_loader dk_loader;

/* The dataset must outlive the loader. label_dropout > 0 needs num_classes > 0. */
dk_loader *dk_loader_new(const dk_dataset *ds, const dk_loader_config *c, dk_error *err);
void dk_loader_free(dk_loader *l);
/* Next batch: images (F32 or F64) [batch, C, H, W], labels (I64) [batch]
 * (labels may be NULL). Advances the position by batch. */
dk_status dk_loader_next(dk_loader *l, dk_tensor *images, dk_tensor *labels, dk_error *err);
/* Position: the next image is element `index` of epoch `epoch`'s order. */
void dk_loader_position(const dk_loader *l, int64_t *epoch, int64_t *index);
dk_status dk_loader_seek(dk_loader *l, int64_t epoch, int64_t index, dk_error *err);
const dk_dataset *dk_loader_dataset(const dk_loader *l);
const dk_loader_config *dk_loader_config_of(const dk_loader *l);
/* The null class used by label dropout (= num_classes). */
int64_t dk_loader_null_class(const dk_loader *l);

#ifdef __cplusplus
}
#endif
#endif
