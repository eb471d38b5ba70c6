/* ops_conv.h: convolutional and classification ops of the autograd graph
 * (see graph.h, ops.h for the conventions: the graph first, sticky errors,
 * F32/F64, backward ACCUMULATES). Used by the evaluation feature network
 * (featnet.h, docs/evaluation.md); any model may use them.
 *
 * Shapes: images NCHW. The CPU kernels are in core/src/backend/cpu/conv_kernels.c
 * (im2col + BLAS GEMM per image, naive references beside them). */
#ifndef DIFFKIT_OPS_CONV_H
#define DIFFKIT_OPS_CONV_H

#include <stddef.h>
#include <stdint.h>
#include "diffkit/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 2-D convolution (cross-correlation, PyTorch Conv2d, groups 1, dilation 1):
 * x [B, C, H, W], w [O, C, kh, kw], b [O] or NULL ->
 * [B, O, Ho, Wo], Ho = (H + 2 pad - kh) / stride + 1 (zero padding). */
dk_var *dk_conv2d(dk_graph *g, dk_var *x, dk_var *w, dk_var *b, int stride, int pad);

typedef enum dk_pool_kind { DK_POOL_MAX = 0, DK_POOL_AVG = 1 } dk_pool_kind;
/* 2x2 pooling with stride 2: x [B, C, H, W] (H, W even) -> [B, C, H/2, W/2].
 * Max: the gradient goes to the first maximum of each window (row-major). */
dk_var *dk_pool2x2(dk_graph *g, dk_var *x, dk_pool_kind kind);

/* max(x, 0); the gradient at 0 is 0 (PyTorch). */
dk_var *dk_relu(dk_graph *g, dk_var *x);

/* Per-sample softmax cross-entropy: logits [B, K], labels (n = B values in
 * [0, K)) -> [B] = logsumexp(logits_b) - logits_b[label_b]. Gradient to the
 * logits only: softmax - onehot. */
dk_var *dk_cross_entropy(dk_graph *g, dk_var *logits, const int64_t *labels, size_t n);

#ifdef __cplusplus
}
#endif
#endif
