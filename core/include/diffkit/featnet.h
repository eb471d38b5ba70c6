/* featnet.h: the feature network of FID/KID (docs/evaluation.md).
 *
 * No Inception weights can be downloaded, so diffkit trains its own
 * classifier on the dataset with a fixed recipe and seed, caches it, and
 * uses its penultimate activations as features. Every number computed with
 * it carries its name, e.g. "fid[fmnist-cnn-v2]".
 *
 * A feature network is a SEQUENTIAL network stored in one safetensors file:
 *   metadata "diffkit.kind"    = "feature_net"
 *            "featnet.name"    = the name shown beside every metric
 *            "featnet.layers"  = comma-separated layers, applied in order:
 *                conv:NAME:PAD[:STRIDE]  Conv2d, weights NAME.weight [O, C, kh, kw], NAME.bias [O] (optional)
 *                linear:NAME            Linear, NAME.weight [out, in], NAME.bias [out] (optional)
 *                relu | maxpool2 | avgpool2 | flatten
 *                features               the features are the (flattened) activations here
 *            "featnet.input"   = "C,H,W" the image shape it takes: images are NCHW in [-1, 1];
 *                                a 1-channel image is repeated to C = 3 if the network wants 3;
 *                                other sizes are an error (no resizing)
 *   optional "featnet.test_accuracy", "featnet.recipe", "featnet.dataset".
 *   Tensors of any float dtype (F16/BF16/F32/F64); computed in F32.
 * The own network is one instance of this format. A network of another
 * shape (e.g. Inception-v3: branches, batch norm) cannot be expressed as
 * such a layer list and needs code (a plugin); see docs/evaluation.md. */
#ifndef DIFFKIT_FEATNET_H
#define DIFFKIT_FEATNET_H

#include <stddef.h>
#include <stdint.h>
#include "diffkit/data.h"
#include "diffkit/error.h"
#include "diffkit/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DK_FEATNET_ARCH "cnn-v2"

typedef struct dk_featnet dk_featnet;

/* The fixed training recipe of the own network (dk_featnet_recipe_default;
 * docs/evaluation.md lists its values and measured accuracy). */
typedef struct dk_featnet_recipe {
    int c1, c2, c3;      /* conv channels of the three 3x3 stages (each: conv, relu, 2x2 max pool) */
    int fc;              /* width of the penultimate layer = the feature dimension */
    int64_t steps;       /* AdamW steps */
    int64_t batch;
    double lr;           /* peak lr, reached by a linear warmup over `warmup` steps, then a cosine
                            decay to lr * lr_final at the last step */
    double lr_final;
    int64_t warmup;
    double weight_decay;
    double label_smoothing; /* eps: targets (1 - eps) onehot + eps / K */
    int aug_flip;        /* 1: each training image is mirrored left-right with probability 1/2 */
    int aug_shift;       /* > 0: each training image is translated by (dy, dx) uniform in
                            [-aug_shift, aug_shift]^2, zero fill */
    uint64_t seed;       /* init, data order and augmentation (Philox streams) */
    int64_t train_limit; /* > 0: train on the first train_limit images only (tests) */
    int64_t test_limit;  /* > 0: measure accuracy on the first test_limit test images only */
    int verbose;         /* progress line on stderr */
} dk_featnet_recipe;

dk_featnet_recipe dk_featnet_recipe_default(void);
/* One line naming every recipe field (hashed into the cache file name). */
void dk_featnet_recipe_text(const dk_featnet_recipe *r, const dk_dataset *train, char *buf, size_t n);

/* Train the own CNN on a labelled dataset; if test is non-NULL its accuracy
 * is measured and stored. name: e.g. "fmnist-cnn-v2". */
dk_featnet *dk_featnet_train(const dk_dataset *train, const dk_dataset *test, const dk_featnet_recipe *r,
                             const char *name, dk_error *err);
dk_featnet *dk_featnet_load(const char *path, dk_error *err);
dk_status dk_featnet_save(const dk_featnet *n, const char *path, dk_error *err);
void dk_featnet_free(dk_featnet *n);

const char *dk_featnet_name(const dk_featnet *n);
int64_t dk_featnet_dim(const dk_featnet *n);          /* feature dimension */
double dk_featnet_test_accuracy(const dk_featnet *n); /* NaN if unknown */
double dk_featnet_train_seconds(const dk_featnet *n); /* NaN if loaded */
const char *dk_featnet_layers(const dk_featnet *n);

/* Features of images [N, C, H, W] (F32/F64, in [-1, 1]) -> F64 [N, dim],
 * in batches of `batch`. */
dk_tensor *dk_featnet_features(dk_featnet *n, const dk_tensor *images, int64_t batch, dk_error *err);
/* Features of dataset images idx[0..count) (idx NULL: 0..count-1) -> F64 [count, dim]. */
dk_tensor *dk_featnet_dataset_features(dk_featnet *n, const dk_dataset *ds, const int64_t *idx, int64_t count,
                                       int64_t batch, dk_error *err);
/* Classification accuracy on the first `limit` images of ds (all if limit <= 0);
 * the network's last layer must have one output per class. */
dk_status dk_featnet_accuracy(dk_featnet *n, const dk_dataset *ds, int64_t limit, double *acc, dk_error *err);

/* The cache folder: $DIFFKIT_CACHE, else $XDG_CACHE_HOME/diffkit, else
 * $HOME/.cache/diffkit (then "/features" is appended by the callers). */
dk_status dk_cache_dir(char *buf, size_t n, dk_error *err);
/* The own network for a dataset, from the cache
 * (<cache>/features/<tag>-cnn-v2-<16 hex of the recipe hash>.safetensors), or
 * trained with the default recipe and saved there. path_out (may be NULL)
 * receives the file. The shipped network replaces the cached one where it
 * fits (dk_featnet_shipped). Test-only: DIFFKIT_FEATNET_TEST_STEPS=N (N > 0) trains
 * N steps instead (the recipe line, hence the cache name, changes; the name
 * gets a "-test" suffix) so that the cached route can be tested quickly. */
dk_featnet *dk_featnet_default(const dk_dataset *train, const dk_dataset *test, const char *tag, int verbose,
                               char *path_out, size_t path_n, dk_error *err);
/* The network shipped with diffkit under the name `name` (data/featnet/<name>.safetensors,
 * found in $DIFFKIT_DATA_DIR, the source tree, then the install tree), after checking its
 * SHA-256 (a mismatch is DK_EFORMAT naming both sums). With `recipe` non-NULL it must
 * have been trained by that recipe line (else DK_ENOTFOUND). dk_featnet_default uses it
 * for the dataset it was trained on (Fashion-MNIST 32x32, pad 2, as `fmnist-cnn-v2`)
 * unless DIFFKIT_FEATNET_RETRAIN=1 or DIFFKIT_FEATNET_TEST_STEPS is set. */
dk_featnet *dk_featnet_shipped(const char *name, const char *recipe, char *path_out, size_t path_n, dk_error *err);
/* 64-bit FNV-1a of a string (cache keys). */
uint64_t dk_hash_str(const char *s);

#ifdef __cplusplus
}
#endif
#endif
