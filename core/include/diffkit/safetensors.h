/* safetensors.h: reader and writer of the safetensors format
 * (8-byte little-endian header length N, N bytes of JSON, raw data).
 *
 * The reader validates everything before handing out a tensor: header length
 * within the file and below DK_ST_MAX_HEADER, JSON well formed, known dtypes,
 * shape product * dtype size == byte span, spans inside the data area, sorted
 * and non-overlapping, `__metadata__` a flat string map. Any violation is
 * DK_EFORMAT with the file name and the offending tensor. The writer pads the
 * header to 8 bytes and saves atomically (temp file, fsync, rename). */
#ifndef DIFFKIT_SAFETENSORS_H
#define DIFFKIT_SAFETENSORS_H

#include <stddef.h>
#include "diffkit/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DK_ST_MAX_HEADER (100u * 1024u * 1024u)

typedef struct dk_st_file dk_st_file;

dk_st_file *dk_st_open(const char *path, dk_error *err);
/* Parse from memory (copies buf). `label` names the source in messages. */
dk_st_file *dk_st_parse(const void *buf, size_t len, const char *label, dk_error *err);
void dk_st_close(dk_st_file *f);

size_t dk_st_count(const dk_st_file *f);
const char *dk_st_name(const dk_st_file *f, size_t i);   /* in file order of offsets */
int dk_st_has(const dk_st_file *f, const char *name);
/* dtype/shape of a stored tensor without copying; DK_ENOTFOUND if absent. */
dk_status dk_st_info(const dk_st_file *f, const char *name, dk_dtype *dtype, int *ndim,
                     int64_t shape[DK_MAX_DIMS], dk_error *err);
/* A new tensor holding a copy of the stored data (stored dtype). */
dk_tensor *dk_st_get(const dk_st_file *f, const char *name, dk_error *err);
/* Same, converted to dtype (e.g. F16 -> F32). */
dk_tensor *dk_st_get_as(const dk_st_file *f, const char *name, dk_dtype dtype, dk_error *err);

size_t dk_st_meta_count(const dk_st_file *f);
const char *dk_st_meta_key(const dk_st_file *f, size_t i);
const char *dk_st_meta_value(const dk_st_file *f, size_t i);
const char *dk_st_meta(const dk_st_file *f, const char *key); /* NULL if absent */
/* Typed metadata (Python repr floats, "inf", "true"/"false"). */
dk_status dk_st_meta_double(const dk_st_file *f, const char *key, double *out, dk_error *err);
dk_status dk_st_meta_int(const dk_st_file *f, const char *key, long long *out, dk_error *err);
const char *dk_st_label(const dk_st_file *f);

typedef struct dk_st_writer dk_st_writer;
dk_st_writer *dk_st_writer_new(void);
/* Adds a tensor (retained until the writer is freed). Names must be unique. */
dk_status dk_st_writer_add(dk_st_writer *w, const char *name, dk_tensor *t, dk_error *err);
dk_status dk_st_writer_meta(dk_st_writer *w, const char *key, const char *value, dk_error *err);
/* Writes path atomically: path.tmp.<pid>, fsync, rename, fsync of the folder. */
dk_status dk_st_writer_save(dk_st_writer *w, const char *path, dk_error *err);
void dk_st_writer_free(dk_st_writer *w);
/* The tensors added so far, in order (e.g. to checksum them before saving). */
size_t dk_st_writer_count(const dk_st_writer *w);
const char *dk_st_writer_name(const dk_st_writer *w, size_t i);
const dk_tensor *dk_st_writer_tensor(const dk_st_writer *w, size_t i);

#ifdef __cplusplus
}
#endif
#endif
