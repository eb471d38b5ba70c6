/* tensor.h: dense, contiguous, row-major tensors with a dtype and a device tag.
 *
 * A dk_tensor owns its data unless it is a view (owner != NULL keeps the base
 * alive by reference count). Up to DK_MAX_DIMS dimensions. Images are NCHW
 * unless a function says otherwise. The device tag is DK_CPU today; the CUDA
 * backend will allocate DK_CUDA tensors and the ops dispatch on the tag. */
#ifndef DIFFKIT_TENSOR_H
#define DIFFKIT_TENSOR_H

#include <stddef.h>
#include <stdint.h>
#include "diffkit/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DK_MAX_DIMS 5

typedef enum dk_dtype {
    DK_F32 = 0,
    DK_F64,
    DK_I64,
    DK_F16,  /* storage only (safetensors); convert before computing */
    DK_BF16, /* storage only */
    DK_U8,   /* storage only (images, booleans) */
    DK_I32,
    DK_DTYPE_COUNT
} dk_dtype;

typedef enum dk_device { DK_CPU = 0, DK_CUDA = 1 } dk_device;

typedef struct dk_tensor {
    dk_dtype dtype;
    dk_device device;
    int ndim;
    int64_t shape[DK_MAX_DIMS];
    size_t numel;
    void *data;               /* numel * dk_dtype_size(dtype) bytes, 64-byte aligned when owned */
    struct dk_tensor *base;   /* non-NULL for a view: the tensor that owns data */
    int refcount;             /* owners of this struct (1 after creation) */
} dk_tensor;

size_t dk_dtype_size(dk_dtype t);
const char *dk_dtype_name(dk_dtype t);            /* "F32", "F64", ... (safetensors names) */
int dk_dtype_from_name(const char *name, dk_dtype *out); /* 0 on success */
const char *dk_device_name(dk_device d);

/* New zero-filled CPU tensor. Returns NULL and fills err on failure
 * (bad ndim, negative dim, size overflow, out of memory). */
dk_tensor *dk_tensor_new(dk_dtype dtype, int ndim, const int64_t *shape, dk_error *err);
dk_tensor *dk_tensor_new_like(const dk_tensor *t, dk_error *err);
dk_tensor *dk_tensor_clone(const dk_tensor *t, dk_error *err);
/* Copy with a dtype conversion (F32<->F64<->I64, F16/BF16 -> F32/F64). */
dk_tensor *dk_tensor_to(const dk_tensor *t, dk_dtype dtype, dk_error *err);
/* A view of the same data with another shape (same numel). */
dk_tensor *dk_tensor_reshape(dk_tensor *t, int ndim, const int64_t *shape, dk_error *err);
/* A view of t[i] along the first dimension (ndim-1 dims; a 1-D tensor gives shape [1]). */
dk_tensor *dk_tensor_slice0(dk_tensor *t, int64_t i, dk_error *err);
void dk_tensor_retain(dk_tensor *t);
void dk_tensor_free(dk_tensor *t); /* drops one reference; NULL is fine */

dk_status dk_tensor_copy(dk_tensor *dst, const dk_tensor *src, dk_error *err); /* same shape, converts dtype */
void dk_tensor_zero(dk_tensor *t);
int dk_tensor_same_shape(const dk_tensor *a, const dk_tensor *b);
/* "[3, 4, 8, 8]" into buf; returns buf. */
const char *dk_shape_str(const dk_tensor *t, char *buf, size_t n);
/* Element i (flat index) as double / set from double, any numeric dtype. */
double dk_tensor_get(const dk_tensor *t, size_t i);
void dk_tensor_set(dk_tensor *t, size_t i, double v);
/* Checks ndim and each dim (-1 = any); fills err with what/expected/got. */
dk_status dk_tensor_check(const dk_tensor *t, const char *what, dk_dtype dtype, int ndim,
                          const int64_t *shape, dk_error *err);

static inline float *dk_f32(const dk_tensor *t) { return (float *)t->data; }
static inline double *dk_f64(const dk_tensor *t) { return (double *)t->data; }
static inline int64_t *dk_i64(const dk_tensor *t) { return (int64_t *)t->data; }

/* Aligned allocation used for all tensor storage (64-byte aligned, zeroed). */
void *dk_alloc(size_t bytes);
void dk_free(void *p);

#ifdef __cplusplus
}
#endif
#endif
