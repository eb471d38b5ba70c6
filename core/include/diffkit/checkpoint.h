/* checkpoint.h: training checkpoints in one safetensors file.
 *
 * A checkpoint holds
 *   - the model parameters, by name ("blocks.0.attn.qkv.weight", ...);
 *   - the EMA parameters, "ema.<name>" (optional);
 *   - the optimizer state, "optim.m.<name>", "optim.v.<name>" (AdamW) or
 *     "optim.momentum.<name>" (SGD) (optional);
 * and metadata (string map): "diffkit.format" (DK_CHECKPOINT_FORMAT),
 * "diffkit.kind" = "checkpoint", "step", "config" (the experiment config text
 * given by the caller), "optim.kind", "optim.step", "ema.step",
 * "loader.epoch", "loader.index", "rng.<name>" (seed stream counter used
 * buf0..buf3, decimal), "checksum.<tensor>" = "crc32:xxxxxxxx" (CRC-32 of
 * each tensor's stored bytes) with "diffkit.checksums" = "crc32", and any
 * extra key/value pairs of the caller.
 *
 * Files are written atomically by the safetensors writer (temporary file,
 * fsync, rename), so a crash leaves either the old or the new file. In a run
 * folder, dk_checkpoint_save_dir writes ckpt_<step, 8 digits>.safetensors and
 * then replaces the small file `latest` (its name, written the same atomic
 * way): `latest` always names a complete checkpoint.
 *
 * Loading checks the format version, 'diffkit.kind', the step's range and
 * every tensor's checksum (a file without checksums, from an older diffkit,
 * loads with a one-time warning), then that every name and shape matches the
 * model, EMA and optimizer given, before it changes anything; a failed load
 * leaves them as they were (docs/reliability.md "Checkpoint integrity"). */
#ifndef DIFFKIT_CHECKPOINT_H
#define DIFFKIT_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>
#include "diffkit/data.h"
#include "diffkit/ema.h"
#include "diffkit/error.h"
#include "diffkit/graph.h"
#include "diffkit/optim.h"
#include "diffkit/rng.h"
#include "diffkit/safetensors.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DK_CHECKPOINT_FORMAT 1

typedef struct dk_checkpoint_rng {
    const char *name;  /* e.g. "sigma", "noise" -> metadata "rng.sigma" */
    dk_rng *rng;
} dk_checkpoint_rng;

typedef struct dk_checkpoint {
    dk_params *params;          /* required */
    dk_ema *ema;                /* optional */
    dk_optim *optim;            /* optional */
    dk_loader *loader;          /* optional: its position */
    dk_checkpoint_rng *rngs;    /* optional: generator states */
    size_t n_rngs;
    int64_t step;               /* save: written; load: set from the file */
    const char *config;         /* save: the experiment config text (may be NULL) */
    const char *const *extra;   /* save: extra metadata, key0, value0, key1, value1, ... */
    size_t n_extra;             /* number of pairs */
} dk_checkpoint;

/* Write one checkpoint file atomically. */
dk_status dk_checkpoint_save(const char *path, const dk_checkpoint *c, dk_error *err);
/* Write <dir>/ckpt_<step>.safetensors, then point <dir>/latest at it. The
 * path written is copied to path_out (may be NULL). */
dk_status dk_checkpoint_save_dir(const char *dir, const dk_checkpoint *c, char *path_out,
                                 size_t path_n, dk_error *err);
/* The path named by <dir>/latest; DK_ENOTFOUND if the folder has none. */
dk_status dk_checkpoint_latest(const char *dir, char *path_out, size_t path_n, dk_error *err);

/* Restore into the objects given (NULL members are not restored; a given
 * member the file lacks is an error). c->step is set. If config_out is
 * non-NULL, *config_out = a malloc'd copy of the stored config (or NULL if
 * none); the caller frees it. */
dk_status dk_checkpoint_load(const char *path, dk_checkpoint *c, char **config_out, dk_error *err);
/* Same, from a file already open (e.g. to read extra metadata too). */
dk_status dk_checkpoint_load_file(const dk_st_file *f, dk_checkpoint *c, char **config_out,
                                  dk_error *err);

/* Verifies every tensor of f against its stored checksum; the error names
 * the tensor: "checkpoint 'x': tensor 'y' fails its checksum (stored
 * crc32:..., computed crc32:...): the file is corrupt; use an earlier
 * checkpoint". A file without checksums passes (one warning per process). */
dk_status dk_checkpoint_verify(const dk_st_file *f, dk_error *err);

/* Checks that f holds `name` with the shape of `like`; `what` names the entry
 * in the message ("parameter", "EMA parameter", "optimizer state"):
 * "checkpoint 'x': parameter 'a.weight' has shape [96, 32], the model has
 * [192, 64]: was it written by another configuration?" */
dk_status dk_checkpoint_check_entry(const dk_st_file *f, const char *name, const dk_tensor *like,
                                    const char *what, dk_error *err);

/* rng state <-> "seed stream counter used b0 b1 b2 b3" */
void dk_checkpoint_rng_format(const dk_rng *r, char *buf, size_t n);
dk_status dk_checkpoint_rng_parse(const char *s, dk_rng *r, dk_error *err);

#ifdef __cplusplus
}
#endif
#endif
