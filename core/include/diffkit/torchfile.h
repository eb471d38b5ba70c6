/* torchfile.h: a safe reader of PyTorch `torch.save` files (.pt / .pth).
 *
 * Two layouts are read (torch.serialization):
 *   - the zip layout of PyTorch >= 1.6: an uncompressed zip archive holding
 *     <name>/data.pkl (the pickle of the saved object) and one member
 *     <name>/data/<key> per storage (raw little-endian bytes);
 *   - the legacy layout (PyTorch < 1.6, or _use_new_zipfile_serialization=
 *     False): the magic-number pickle, the protocol-version pickle, the
 *     sys_info pickle, the main pickle, the pickle of the storage keys, then
 *     each storage as an int64 element count and its raw bytes.
 *
 * The pickles are run by a restricted unpickler that never executes anything:
 * it knows the opcodes of pickle protocols 2 to 5 that build containers and
 * scalars, and an allowlist of globals (torch._utils._rebuild_tensor_v2,
 * _rebuild_tensor, _rebuild_parameter, the storage types, collections.
 * OrderedDict, argparse.Namespace, _codecs.encode, builtins.bytes,
 * torch.Size). Any other global, opcode or layout is DK_EFORMAT (or
 * DK_EUNSUPPORTED for zip64, encryption and compression) with one line
 * naming the file, the pickle offset or zip member, and what to do.
 *
 * The result is a tree of dk_pv values owned by the file. Tensors are views
 * (storage, offset, shape, strides) checked against their storage when the
 * file is opened; dk_pv_tensor copies one into a new contiguous dk_tensor.
 * Storage dtypes: Float F32, Double F64, Half F16, BFloat16 BF16, Long I64,
 * Int I32, Byte U8, Bool U8 (0/1), Short and Char (int16, int8) become I64;
 * untyped storages (torch >= 2) are U8 bytes. */
#ifndef DIFFKIT_TORCHFILE_H
#define DIFFKIT_TORCHFILE_H

#include <stddef.h>
#include <stdint.h>
#include "diffkit/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dk_pt_file dk_pt_file;
typedef struct dk_pv dk_pv;

typedef enum dk_pv_kind {
    DK_PV_NONE = 0,
    DK_PV_BOOL,
    DK_PV_INT,    /* fits int64 (larger Python ints are refused) */
    DK_PV_FLOAT,
    DK_PV_STR,    /* UTF-8, NUL-terminated (dk_pv_len is the byte length) */
    DK_PV_BYTES,
    DK_PV_LIST,
    DK_PV_TUPLE,
    DK_PV_DICT,   /* dict or OrderedDict, insertion order; keys any value */
    DK_PV_TENSOR,
    DK_PV_OBJECT  /* an attribute dict (argparse.Namespace), or a bare
                     class / storage object left in the tree */
} dk_pv_kind;

/* Reads the whole file (a copy stays in memory; tensors point into it). */
dk_pt_file *dk_pt_open(const char *path, dk_error *err);
/* Parse from memory (copies buf). `label` names the source in messages. */
dk_pt_file *dk_pt_parse(const void *buf, size_t len, const char *label, dk_error *err);
void dk_pt_close(dk_pt_file *f);
const char *dk_pt_label(const dk_pt_file *f);
/* 1 for the legacy (non-zip) layout, 0 for the zip layout. */
int dk_pt_is_legacy(const dk_pt_file *f);

const dk_pv *dk_pt_root(const dk_pt_file *f);

dk_pv_kind dk_pv_kind_of(const dk_pv *v);
const char *dk_pv_kind_name(dk_pv_kind k);  /* "none", "dict", ... */
/* Items of a list/tuple, entries of a dict/object, bytes of a str/bytes; 0 otherwise. */
size_t dk_pv_len(const dk_pv *v);
/* List/tuple item i, or the value of dict/object entry i; NULL if out of range. */
const dk_pv *dk_pv_item(const dk_pv *v, size_t i);
/* The key of dict/object entry i (a str, or an int, or another value); NULL otherwise. */
const dk_pv *dk_pv_key(const dk_pv *v, size_t i);
/* The value of a dict/object under the str key `key` (the last one if the
 * pickle repeated it); NULL if absent or v is not a dict/object. */
const dk_pv *dk_pv_get(const dk_pv *v, const char *key);
/* Class name of an OBJECT ("argparse.Namespace", "torch.FloatStorage"), else NULL. */
const char *dk_pv_class(const dk_pv *v);

/* Scalars: 0 if v has the kind (BOOL also reads as an int, INT as a float). */
int dk_pv_int(const dk_pv *v, int64_t *out);
int dk_pv_float(const dk_pv *v, double *out);
int dk_pv_bool(const dk_pv *v, int *out);
/* The bytes of a STR or BYTES (NUL-terminated; *len may be NULL); NULL otherwise. */
const char *dk_pv_str(const dk_pv *v, size_t *len);

/* The dtype a tensor materializes to (see above) and its shape. A tensor of
 * more than DK_MAX_DIMS dimensions is DK_EUNSUPPORTED. */
dk_status dk_pv_tensor_info(const dk_pv *v, dk_dtype *dtype, int *ndim, int64_t shape[DK_MAX_DIMS], dk_error *err);
/* A new contiguous tensor holding a copy of the (possibly strided) view; the
 * caller frees it. dk_pv_tensor_as converts (e.g. F16/BF16 -> F32). */
dk_tensor *dk_pv_tensor(const dk_pv *v, dk_error *err);
dk_tensor *dk_pv_tensor_as(const dk_pv *v, dk_dtype dtype, dk_error *err);

/* The value at a key path: "model_ema", or dotted "opt.state.0" (a key that
 * itself holds dots is matched whole first). NULL or "" is the root.
 * DK_ENOTFOUND naming the first missing part. */
dk_status dk_pt_find(const dk_pt_file *f, const char *path, const dk_pv **out, dk_error *err);

/* Every tensor leaf under a path, with dotted names (dict keys, list and
 * tuple indices, object attributes), in pickle order. */
typedef struct dk_pt_named {
    char *name;
    const dk_pv *value; /* a DK_PV_TENSOR owned by the file */
} dk_pt_named;
/* On success *out is an array of *n entries (possibly 0) to release with
 * dk_pt_named_free. A path that names no dict/list/object (e.g. a tensor or
 * a scalar) is DK_EINVAL. */
dk_status dk_pt_state_dict(const dk_pt_file *f, const char *path, dk_pt_named **out, size_t *n, dk_error *err);
void dk_pt_named_free(dk_pt_named *a, size_t n);

/* JSON text of a subtree (malloc'd into *out): None null, bools, ints,
 * floats (shortest round-trip form; NaN and Infinity as json.dumps writes
 * them), str, bytes as a latin-1 string, lists and tuples as arrays, dicts
 * and objects as objects (non-str keys as their JSON text), tensors as
 * {"tensor": "F32", "shape": [..]}. Nesting deeper than 100 is DK_EFORMAT. */
dk_status dk_pv_json(const dk_pv *v, char **out, dk_error *err);

#ifdef __cplusplus
}
#endif
#endif
