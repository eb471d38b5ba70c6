/* tensor.c: dense CPU tensors: allocation (64-byte aligned), views kept alive
 * by reference count, dtype conversion (incl. F16/BF16 storage), shape checks.
 *
 * Conversions: integer <-> integer go through int64 (exact); everything else
 * goes through double. Float -> integer truncates toward zero and saturates at
 * the target range (NaN -> 0), so no conversion is undefined behaviour.
 * F32/F64 -> F16/BF16 round to nearest even (F64 is first rounded to F32). */
#include "diffkit/tensor.h"
#include "diffkit/cuda.h"
#include "backend/backend.h"
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- allocation ---- */

void *dk_alloc(size_t bytes) {
    size_t n = bytes ? bytes : 1;
    if (n > SIZE_MAX - 63) return NULL;
    n = (n + 63) & ~(size_t)63; /* aligned_alloc wants a multiple of the alignment */
    void *p = aligned_alloc(64, n);
    if (p) memset(p, 0, n);
    return p;
}

void dk_free(void *p) { free(p); }

/* ---- dtypes ---- */

static const struct {
    const char *name;
    size_t size;
} dtype_info[DK_DTYPE_COUNT] = {
    [DK_F32] = {"F32", 4}, [DK_F64] = {"F64", 8}, [DK_I64] = {"I64", 8}, [DK_F16] = {"F16", 2},
    [DK_BF16] = {"BF16", 2}, [DK_U8] = {"U8", 1},  [DK_I32] = {"I32", 4},
};

static int dtype_valid(dk_dtype t) { return (int)t >= 0 && (int)t < DK_DTYPE_COUNT; }

size_t dk_dtype_size(dk_dtype t) { return dtype_valid(t) ? dtype_info[t].size : 0; }

const char *dk_dtype_name(dk_dtype t) { return dtype_valid(t) ? dtype_info[t].name : "?"; }

int dk_dtype_from_name(const char *name, dk_dtype *out) {
    if (!name) return -1;
    for (int i = 0; i < DK_DTYPE_COUNT; i++) {
        if (strcmp(name, dtype_info[i].name) == 0) {
            if (out) *out = (dk_dtype)i;
            return 0;
        }
    }
    return -1;
}

const char *dk_device_name(dk_device d) {
    switch (d) {
    case DK_CPU: return "cpu";
    case DK_CUDA: return "cuda";
    }
    return "?";
}

/* ---- half precision (IEEE 754 binary16 and bfloat16) ---- */

static float f32_from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float half_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    if (exp == 0) { /* zero or subnormal: man * 2^-24 */
        float v = (float)man * 5.9604644775390625e-08f;
        return sign ? -v : v;
    }
    if (exp == 31) return f32_from_bits(sign | 0x7f800000u | (man << 13)); /* inf / nan */
    return f32_from_bits(sign | ((exp + 112u) << 23) | (man << 13));
}

static uint16_t f32_to_half(float f) {
    uint32_t u = f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t absu = u & 0x7fffffffu;
    if (absu >= 0x7f800000u) /* inf or nan (keep nan quiet) */
        return (uint16_t)(sign | 0x7c00u | (absu > 0x7f800000u ? 0x200u | ((absu >> 13) & 0x3ffu) : 0));
    if (absu >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* rounds to >= 65520: inf */
    if (absu < 0x38800000u) { /* below 2^-14: subnormal half, round to nearest even */
        float a = f32_from_bits(absu);
        /* a / 2^-24, rounded to nearest even by the FPU's default mode */
        float q = nearbyintf(a * 16777216.0f);
        return (uint16_t)(sign | (uint16_t)q);
    }
    uint32_t exp = (absu >> 23) - 112u;
    uint32_t man = absu & 0x7fffffu;
    uint32_t h = (exp << 10) | (man >> 13);
    uint32_t rest = man & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h++; /* carry may bump the exponent: fine */
    return (uint16_t)(sign | h);
}

static float bf16_to_f32(uint16_t b) { return f32_from_bits((uint32_t)b << 16); }

static uint16_t f32_to_bf16(float f) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u); /* quiet nan */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

/* ---- element access ---- */

static int dtype_is_int(dk_dtype t) { return t == DK_I64 || t == DK_I32 || t == DK_U8; }

static double load_f(const void *p, dk_dtype t, size_t i) {
    switch (t) {
    case DK_F32: return ((const float *)p)[i];
    case DK_F64: return ((const double *)p)[i];
    case DK_I64: return (double)((const int64_t *)p)[i];
    case DK_I32: return ((const int32_t *)p)[i];
    case DK_U8: return ((const uint8_t *)p)[i];
    case DK_F16: return half_to_f32(((const uint16_t *)p)[i]);
    case DK_BF16: return bf16_to_f32(((const uint16_t *)p)[i]);
    default: return 0.0;
    }
}

static int64_t load_i(const void *p, dk_dtype t, size_t i) {
    switch (t) {
    case DK_I64: return ((const int64_t *)p)[i];
    case DK_I32: return ((const int32_t *)p)[i];
    case DK_U8: return ((const uint8_t *)p)[i];
    default: return 0;
    }
}

/* Saturating, truncating double -> integer in [lo, hi]; NaN -> 0. */
static int64_t sat_i(double v, double lo, double hi) {
    if (v != v) return 0;
    if (v <= lo) return (int64_t)lo;
    if (v >= hi) return v >= 9223372036854775807.0 ? INT64_MAX : (int64_t)hi;
    return (int64_t)v;
}

static void store_f(void *p, dk_dtype t, size_t i, double v) {
    switch (t) {
    case DK_F32: ((float *)p)[i] = (float)v; break;
    case DK_F64: ((double *)p)[i] = v; break;
    case DK_I64: ((int64_t *)p)[i] = sat_i(v, -9223372036854775808.0, 9223372036854775807.0); break;
    case DK_I32: ((int32_t *)p)[i] = (int32_t)sat_i(v, -2147483648.0, 2147483647.0); break;
    case DK_U8: ((uint8_t *)p)[i] = (uint8_t)sat_i(v, 0.0, 255.0); break;
    case DK_F16: ((uint16_t *)p)[i] = f32_to_half((float)v); break;
    case DK_BF16: ((uint16_t *)p)[i] = f32_to_bf16((float)v); break;
    default: break;
    }
}

static void store_i(void *p, dk_dtype t, size_t i, int64_t v) {
    switch (t) {
    case DK_I64: ((int64_t *)p)[i] = v; break;
    case DK_I32: ((int32_t *)p)[i] = (int32_t)(v < INT32_MIN ? INT32_MIN : v > INT32_MAX ? INT32_MAX : v); break;
    case DK_U8: ((uint8_t *)p)[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v); break;
    default: break;
    }
}

/* dst[i] = convert(src[i]) for n elements. */
static void convert(void *dst, dk_dtype dt, const void *src, dk_dtype st, size_t n) {
    if (dt == st) {
        memcpy(dst, src, n * dk_dtype_size(dt));
    } else if (dt == DK_F32 && st == DK_F64) {
        const double *s = src;
        float *d = dst;
        for (size_t i = 0; i < n; i++) d[i] = (float)s[i];
    } else if (dt == DK_F64 && st == DK_F32) {
        const float *s = src;
        double *d = dst;
        for (size_t i = 0; i < n; i++) d[i] = s[i];
    } else if (dtype_is_int(dt) && dtype_is_int(st)) {
        for (size_t i = 0; i < n; i++) store_i(dst, dt, i, load_i(src, st, i));
    } else {
        for (size_t i = 0; i < n; i++) store_f(dst, dt, i, load_f(src, st, i));
    }
}

double dk_tensor_get(const dk_tensor *t, size_t i) { return load_f(t->data, t->dtype, i); }

void dk_tensor_set(dk_tensor *t, size_t i, double v) {
    if (dtype_is_int(t->dtype) && v == v && fabs(v) < 9.2e18)
        store_i(t->data, t->dtype, i, (int64_t)v);
    else
        store_f(t->data, t->dtype, i, v);
}

/* ---- creation and lifetime ---- */

static void shape_fmt(char *buf, size_t n, int ndim, const int64_t *shape) {
    size_t len = 0;
    if (n == 0) return;
    buf[0] = '\0';
    len += (size_t)snprintf(buf + len, n - len, "[");
    for (int i = 0; i < ndim && len < n; i++)
        len += (size_t)snprintf(buf + len, n - len, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (len < n) snprintf(buf + len, n - len, "]");
}

const char *dk_shape_str(const dk_tensor *t, char *buf, size_t n) {
    if (!t) {
        if (n) snprintf(buf, n, "(null)");
        return buf;
    }
    shape_fmt(buf, n, t->ndim, t->shape);
    return buf;
}

/* numel of a shape; -1 on a bad dim or when numel * elsize overflows. */
static int shape_numel(int ndim, const int64_t *shape, size_t elsize, size_t *numel, dk_error *err) {
    char sbuf[160];
    if (ndim < 0 || ndim > DK_MAX_DIMS)
        return dk_error_set(err, DK_EINVAL, "tensor: %d dimensions requested, 0..%d supported", ndim, DK_MAX_DIMS), -1;
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) {
            shape_fmt(sbuf, sizeof sbuf, ndim, shape);
            return dk_error_set(err, DK_EINVAL, "tensor: negative dimension %d in shape %s", i, sbuf), -1;
        }
        if (shape[i] != 0 && n > SIZE_MAX / (size_t)shape[i]) goto overflow;
        n *= (size_t)shape[i];
    }
    if (elsize && n > SIZE_MAX / elsize) goto overflow;
    *numel = n;
    return 0;
overflow:
    shape_fmt(sbuf, sizeof sbuf, ndim, shape);
    dk_error_set(err, DK_EINVAL, "tensor: shape %s is too large (size overflow)", sbuf);
    return -1;
}

static dk_tensor *tensor_struct(dk_dtype dtype, int ndim, const int64_t *shape, size_t numel, dk_error *err) {
    dk_tensor *t = calloc(1, sizeof *t);
    if (!t) {
        dk_error_set(err, DK_ENOMEM, "tensor: out of memory allocating a tensor header");
        return NULL;
    }
    t->dtype = dtype;
    t->device = DK_CPU;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->numel = numel;
    t->refcount = 1;
    return t;
}

dk_tensor *dk_tensor_new(dk_dtype dtype, int ndim, const int64_t *shape, dk_error *err) {
    size_t numel;
    if (!dtype_valid(dtype)) {
        dk_error_set(err, DK_EINVAL, "tensor: unknown dtype %d", (int)dtype);
        return NULL;
    }
    if (ndim > 0 && !shape) {
        dk_error_set(err, DK_EINVAL, "tensor: shape is NULL for %d dimensions", ndim);
        return NULL;
    }
    if (shape_numel(ndim, shape, dk_dtype_size(dtype), &numel, err)) return NULL;
    dk_tensor *t = tensor_struct(dtype, ndim, shape, numel, err);
    if (!t) return NULL;
    t->data = dk_alloc(numel * dk_dtype_size(dtype));
    if (!t->data) {
        char sbuf[160];
        free(t);
        shape_fmt(sbuf, sizeof sbuf, ndim, shape);
        dk_error_set(err, DK_ENOMEM, "tensor: out of memory allocating %s %s (%zu bytes)", dk_dtype_name(dtype), sbuf,
                     numel * dk_dtype_size(dtype));
        return NULL;
    }
    return t;
}

dk_tensor *dk_tensor_new_like(const dk_tensor *t, dk_error *err) {
    if (!t) {
        dk_error_set(err, DK_EINVAL, "tensor_new_like: tensor is NULL");
        return NULL;
    }
    return dk_tensor_new(t->dtype, t->ndim, t->shape, err);
}

dk_tensor *dk_tensor_clone(const dk_tensor *t, dk_error *err) { return t ? dk_tensor_to(t, t->dtype, err) : dk_tensor_new_like(t, err); }

static int check_cpu(const dk_tensor *t, const char *fn, dk_error *err) {
    if (t->device != DK_CPU) {
        dk_error_set(err, DK_EUNSUPPORTED, "%s: tensor is on %s; this function works on cpu tensors only", fn,
                     dk_device_name(t->device));
        return -1;
    }
    return 0;
}

dk_tensor *dk_tensor_to(const dk_tensor *t, dk_dtype dtype, dk_error *err) {
    if (!t) {
        dk_error_set(err, DK_EINVAL, "tensor_to: tensor is NULL");
        return NULL;
    }
    if (check_cpu(t, "tensor_to", err)) return NULL;
    dk_tensor *o = dk_tensor_new(dtype, t->ndim, t->shape, err);
    if (!o) return NULL;
    convert(o->data, dtype, t->data, t->dtype, t->numel);
    return o;
}

/* A view sharing t's storage; keeps the owner alive. */
static dk_tensor *make_view(dk_tensor *t, void *data, int ndim, const int64_t *shape, size_t numel, dk_error *err) {
    dk_tensor *v = tensor_struct(t->dtype, ndim, shape, numel, err);
    if (!v) return NULL;
    v->device = t->device;
    v->data = data;
    v->base = t->base ? t->base : t;
    dk_tensor_retain(v->base);
    return v;
}

dk_tensor *dk_tensor_reshape(dk_tensor *t, int ndim, const int64_t *shape, dk_error *err) {
    int64_t s[DK_MAX_DIMS];
    char a[160], b[160];
    size_t numel;
    int infer = -1;
    if (!t) {
        dk_error_set(err, DK_EINVAL, "tensor_reshape: tensor is NULL");
        return NULL;
    }
    if (ndim < 0 || ndim > DK_MAX_DIMS || (ndim > 0 && !shape)) {
        dk_error_set(err, DK_EINVAL, "tensor_reshape: %d dimensions requested, 0..%d supported", ndim, DK_MAX_DIMS);
        return NULL;
    }
    /* one dimension may be -1: inferred from numel */
    size_t known = 1;
    for (int i = 0; i < ndim; i++) {
        s[i] = shape[i];
        if (shape[i] == -1 && infer < 0) {
            infer = i;
        } else if (shape[i] < 0) {
            shape_fmt(a, sizeof a, ndim, shape);
            dk_error_set(err, DK_EINVAL, "tensor_reshape: bad shape %s (only one dimension may be -1)", a);
            return NULL;
        } else {
            known *= (size_t)shape[i];
        }
    }
    if (infer >= 0) {
        if (known == 0 || t->numel % known) {
            shape_fmt(a, sizeof a, ndim, shape);
            dk_error_set(err, DK_ESHAPE, "tensor_reshape: cannot reshape %s into %s", dk_shape_str(t, b, sizeof b), a);
            return NULL;
        }
        s[infer] = (int64_t)(t->numel / known);
    }
    if (shape_numel(ndim, s, dk_dtype_size(t->dtype), &numel, err)) return NULL;
    if (numel != t->numel) {
        shape_fmt(a, sizeof a, ndim, s);
        dk_error_set(err, DK_ESHAPE, "tensor_reshape: cannot reshape %s (%zu elements) into %s (%zu elements)",
                     dk_shape_str(t, b, sizeof b), t->numel, a, numel);
        return NULL;
    }
    return make_view(t, t->data, ndim, s, numel, err);
}

dk_tensor *dk_tensor_slice0(dk_tensor *t, int64_t i, dk_error *err) {
    char b[160];
    if (!t) {
        dk_error_set(err, DK_EINVAL, "tensor_slice0: tensor is NULL");
        return NULL;
    }
    if (t->ndim < 1) {
        dk_error_set(err, DK_ESHAPE, "tensor_slice0: cannot index a 0-dimensional tensor");
        return NULL;
    }
    if (i < 0 || i >= t->shape[0]) {
        dk_error_set(err, DK_EINVAL, "tensor_slice0: index %lld out of range for shape %s", (long long)i,
                     dk_shape_str(t, b, sizeof b));
        return NULL;
    }
    int64_t one = 1;
    const int64_t *shape = t->ndim == 1 ? &one : t->shape + 1;
    int ndim = t->ndim == 1 ? 1 : t->ndim - 1;
    size_t numel = t->numel / (size_t)t->shape[0];
    char *data = (char *)t->data + (size_t)i * numel * dk_dtype_size(t->dtype);
    return make_view(t, data, ndim, shape, numel, err);
}

void dk_tensor_retain(dk_tensor *t) {
    if (t) t->refcount++;
}

void dk_tensor_free(dk_tensor *t) {
    if (!t) return;
    if (--t->refcount > 0) return;
    if (t->base)
        dk_tensor_free(t->base);
    else if (t->device == DK_CPU)
        dk_free(t->data);
    else if (t->device == DK_CUDA)
        dk_cuda_free(t->data); /* back to the CUDA allocator cache (diffkit/cuda.h) */
    free(t);
}

/* ---- copies and checks ---- */

int dk_tensor_same_shape(const dk_tensor *a, const dk_tensor *b) {
    if (!a || !b || a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

dk_status dk_tensor_copy(dk_tensor *dst, const dk_tensor *src, dk_error *err) {
    char a[160], b[160];
    if (!dst || !src) return dk_error_set(err, DK_EINVAL, "tensor_copy: tensor is NULL");
    if (!dk_tensor_same_shape(dst, src))
        return dk_error_set(err, DK_ESHAPE, "tensor_copy: destination %s %s, source %s %s: shapes differ",
                            dk_dtype_name(dst->dtype), dk_shape_str(dst, a, sizeof a), dk_dtype_name(src->dtype),
                            dk_shape_str(src, b, sizeof b));
    if (dst->data == src->data && dst->dtype == src->dtype) return DK_OK;
    if (dst->device == DK_CPU && src->device == DK_CPU) {
        convert(dst->data, dst->dtype, src->data, src->dtype, src->numel);
        return DK_OK;
    }
    /* across devices: through the host, converting there */
    dk_tensor *hs = src->device == DK_CPU ? (dk_tensor *)src : dk_tensor_to_device(src, DK_CPU, err);
    if (!hs) return dk_error_prefix(err, "tensor_copy");
    dk_status st = DK_OK;
    if (dst->device == DK_CPU) convert(dst->data, dst->dtype, hs->data, hs->dtype, hs->numel);
    else {
        dk_tensor *hc = hs->dtype == dst->dtype ? hs : dk_tensor_to(hs, dst->dtype, err);
        const dk_backend *be = hc ? dk_backend_get(dst->device, err) : NULL;
        st = be ? be->from_host(dst->data, hc->data, hc->numel * dk_dtype_size(hc->dtype), err) : (err ? err->code : DK_ENOMEM);
        if (hc && hc != hs) dk_tensor_free(hc);
    }
    if (hs != src) dk_tensor_free(hs);
    return st ? dk_error_prefix(err, "tensor_copy") : DK_OK;
}

void dk_tensor_zero(dk_tensor *t) {
    if (!t || !t->numel) return;
    if (t->device == DK_CPU) {
        memset(t->data, 0, t->numel * dk_dtype_size(t->dtype));
        return;
    }
    const dk_backend *be = dk_backend_get(t->device, NULL); /* a device tensor exists, so its backend does */
    if (be) be->zero(t->data, t->numel * dk_dtype_size(t->dtype));
}

/* dtype outside the enum (e.g. -1 or DK_DTYPE_COUNT) = any dtype; ndim < 0 =
 * any rank; shape NULL = any dims; a dim of -1 = any size. */
dk_status dk_tensor_check(const dk_tensor *t, const char *what, dk_dtype dtype, int ndim, const int64_t *shape,
                          dk_error *err) {
    char want[200], got[200], sbuf[160];
    int ok = 1;
    if (!what) what = "tensor";
    if (!t) return dk_error_set(err, DK_EINVAL, "%s: tensor is missing (NULL)", what);
    if (dtype_valid(dtype) && t->dtype != dtype) ok = 0;
    if (ndim >= 0 && t->ndim != ndim) ok = 0;
    if (ok && ndim >= 0 && shape)
        for (int i = 0; i < ndim; i++)
            if (shape[i] >= 0 && t->shape[i] != shape[i]) ok = 0;
    if (ok) return DK_OK;
    if (ndim >= 0 && shape)
        shape_fmt(sbuf, sizeof sbuf, ndim, shape);
    else if (ndim >= 0)
        snprintf(sbuf, sizeof sbuf, "(%d dims)", ndim);
    else
        snprintf(sbuf, sizeof sbuf, "(any shape)");
    snprintf(want, sizeof want, "%s %s", dtype_valid(dtype) ? dk_dtype_name(dtype) : "any dtype", sbuf);
    snprintf(got, sizeof got, "%s %s", dk_dtype_name(t->dtype), dk_shape_str(t, sbuf, sizeof sbuf));
    return dk_error_set(err, DK_ESHAPE, "%s: expected %s, got %s", what, want, got);
}
