/* inception.h: the FID Inception network exactly as pytorch-fid defines it
 * (mseitzer/pytorch-fid, src/pytorch_fid/inception.py: InceptionV3 with
 * use_fid_inception=True, resize_input=True, normalize_input=True,
 * output_blocks=[3]), i.e. the 2015-12-05 TensorFlow Inception port: the
 * 2048-d features of the final average pool. Inference only, CPU, F32
 * (docs/interop.md).
 *
 * Weights come from a file the user supplies (pytorch-fid's
 * pt_inception-2015-12-05-6726825d.pth, or the same state dict saved as
 * .safetensors); diffkit never downloads anything. Tensor names are the
 * state-dict names of that file: "<module>.conv.weight", "<module>.bn.weight",
 * ".bn.bias", ".bn.running_mean", ".bn.running_var" for the 94 BasicConv2d
 * modules (Conv2d_1a_3x3 ... Mixed_7c.branch_pool); "fc.*" and
 * "*.num_batches_tracked" are ignored. Batch norm (eps 0.001, eval mode) is
 * folded into the conv weights at load time (in double, then rounded to F32).
 *
 * Input: diffkit images [N, C, H, W] (C = 1 or 3, any H, W; F32/F64) in
 * [-1, 1]. Each image is clamped to [-1, 1], mapped to [0, 1] by (x + 1) / 2,
 * a grey image repeated to 3 channels, then what pytorch-fid's
 * InceptionV3.forward does: F.interpolate(size=(299, 299), mode="bilinear",
 * align_corners=False), 2 x - 1, the network. (clean-fid, which k-diffusion
 * uses, resizes bicubic with antialiasing instead: numbers differ.) */
#ifndef DIFFKIT_INCEPTION_H
#define DIFFKIT_INCEPTION_H

#include <stddef.h>
#include <stdint.h>
#include "diffkit/data.h"
#include "diffkit/error.h"
#include "diffkit/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DK_INCEPTION_NAME "inception-2015-12-05" /* the name shown beside every metric */
#define DK_INCEPTION_DIM 2048
#define DK_INCEPTION_SIZE 299                    /* images are resized to 299 x 299 */

typedef struct dk_inception dk_inception;

/* Builds the network from named tensors (the state dict). Every needed
 * tensor must be present with its shape (any float dtype, CPU); otherwise a
 * one-line error names the first missing or wrong tensor and the expected
 * shape. Extra tensors are ignored. The tensors are not kept. */
dk_inception *dk_inception_from_tensors(size_t n, const char *const *names, dk_tensor *const *tensors, dk_error *err);
/* Loads a weights file: .safetensors (the state dict's names), or .pth/.pt
 * (PyTorch's zip format: needs the torch reader, see inception.c). */
dk_inception *dk_inception_load(const char *path, dk_error *err);
void dk_inception_free(dk_inception *n);

/* The tensors the network needs, in a fixed order (5 per BasicConv2d module:
 * conv.weight [O, C, kh, kw], bn.weight, bn.bias, bn.running_mean,
 * bn.running_var [O]): their count, and the name (into name[0..n)) and shape
 * of tensor i; returns its ndim (4 or 1), 0 if i is out of range. For
 * converters and tests. */
size_t dk_inception_tensor_count(void);
int dk_inception_tensor_spec(size_t i, char *name, size_t n, int64_t shape[4]);

const char *dk_inception_name(const dk_inception *n); /* DK_INCEPTION_NAME */
const char *dk_inception_path(const dk_inception *n); /* the file it was loaded from ("" if from tensors) */
int64_t dk_inception_dim(const dk_inception *n);      /* 2048 */
/* 16 hex digits: FNV-1a 64 of the folded F32 weights and biases, so that
 * caches keyed on it never mix networks with different weights. */
const char *dk_inception_digest(const dk_inception *n);

/* Features of images [N, C, H, W] (F32/F64, C = 1 or 3, in [-1, 1]) ->
 * F64 [N, 2048] (as dk_featnet_features), computed `batch` images at a time
 * (OpenMP over the images of a batch, one single-threaded BLAS call per
 * conv; memory: the folded weights, 95 MB, and ~12 MB per thread). */
dk_tensor *dk_inception_features(dk_inception *n, const dk_tensor *images, int64_t batch, dk_error *err);
/* Features of dataset images idx[0..count) (idx NULL: 0..count-1) -> F64 [count, 2048]. */
dk_tensor *dk_inception_dataset_features(dk_inception *n, const dk_dataset *ds, const int64_t *idx, int64_t count,
                                         int64_t batch, dk_error *err);

#ifdef __cplusplus
}
#endif
#endif
