/* conv_kernels.h: CPU kernels of the ops in diffkit/ops_conv.h (private to
 * libdiffkit; the tests compare the optimized kernels with the _naive ones).
 * llm.c order: outputs, saved, inputs, weights, sizes; backward += ; a NULL
 * gradient pointer is skipped. Each exists as _f32 and _f64. */
#ifndef DK_CONV_KERNELS_H
#define DK_CONV_KERNELS_H
#include <stddef.h>
#include <stdint.h>

/* Sizes of one convolution: x (B, C, H, W), w (O, C, KH, KW), out (B, O, HO, WO). */
typedef struct dk_conv_dims {
    size_t B, C, H, W, O, KH, KW, HO, WO;
    int stride, pad;
} dk_conv_dims;

#define DK_CONV_DECL(T, S)                                                                                       \
    /* cols (B, C*KH*KW, HO*WO) is saved for the backward (im2col of x) */                                      \
    void dk_k_conv2d_forward_##S(T *out, T *cols, const T *x, const T *w, const T *b, const dk_conv_dims *d);   \
    void dk_k_conv2d_backward_##S(T *dx, T *dw, T *db, const T *dout, const T *cols, const T *w,                \
                                  const dk_conv_dims *d);                                                       \
    void dk_k_conv2d_forward_naive_##S(T *out, const T *x, const T *w, const T *b, const dk_conv_dims *d);      \
    void dk_k_conv2d_backward_naive_##S(T *dx, T *dw, T *db, const T *dout, const T *x, const T *w,             \
                                        const dk_conv_dims *d);                                                 \
    /* pool: x (M, H, W) -> out (M, H/2, W/2); kind 0 max, 1 average */                                        \
    void dk_k_pool2x2_forward_##S(T *out, const T *x, size_t M, size_t H, size_t W, int kind);                  \
    void dk_k_pool2x2_backward_##S(T *dx, const T *dout, const T *x, size_t M, size_t H, size_t W, int kind);   \
    void dk_k_relu_forward_##S(T *out, const T *x, size_t n);                                                   \
    void dk_k_relu_backward_##S(T *dx, const T *dout, const T *x, size_t n);                                    \
    /* cross-entropy: logits (B, K) -> loss (B); probs (B, K) saved */                                         \
    void dk_k_xent_forward_##S(T *loss, T *probs, const T *logits, const int64_t *labels, size_t B, size_t K);  \
    void dk_k_xent_backward_##S(T *dlogits, const T *dloss, const T *probs, const int64_t *labels, size_t B,    \
                                size_t K);

DK_CONV_DECL(float, f32)
DK_CONV_DECL(double, f64)
#undef DK_CONV_DECL

#endif
