/* checkpoint.c: save and restore a training run (model, EMA, optimizer,
 * loader position, RNG states, step, config) as one safetensors file, and the
 * `latest` pointer of a run folder. Layout in checkpoint.h. */
#include "diffkit/checkpoint.h"
#include "backend/backend.h"
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include "diffkit/log.h"

/* Largest step a checkpoint may hold: a float64 counts it exactly. */
#define DK_CHECKPOINT_MAX_STEP 9007199254740992LL

/* CRC-32 (zlib) of n bytes, fed in chunks that fit uInt. */
static uint32_t crc_bytes(const void *data, size_t n) {
    uLong c = crc32(0L, Z_NULL, 0);
    const unsigned char *p = data;
    while (n) {
        uInt k = n > (size_t)1 << 30 ? (uInt)1 << 30 : (uInt)n;
        c = crc32(c, p, k);
        p += k;
        n -= k;
    }
    return (uint32_t)c;
}

static uint32_t crc_tensor(const dk_tensor *t) {
    return crc_bytes(t->data, t->numel * dk_dtype_size(t->dtype));
}

static void shape_of(char *buf, size_t n, int ndim, const int64_t *shape) {
    size_t pos = 0;
    pos += (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < ndim && pos < n; d++)
        pos += (size_t)snprintf(buf + pos, n - pos, d ? ", %lld" : "%lld", (long long)shape[d]);
    if (pos < n) snprintf(buf + pos, n - pos, "]");
}

dk_status dk_checkpoint_check_entry(const dk_st_file *f, const char *name, const dk_tensor *like,
                                    const char *what, dk_error *err) {
    dk_dtype dt;
    int nd;
    int64_t shape[DK_MAX_DIMS];
    if (!dk_st_has(f, name))
        return dk_error_set(err, DK_ENOTFOUND,
                            "checkpoint '%s' has no %s '%s', which the model has: was it written by "
                            "another configuration?",
                            dk_st_label(f), what, name);
    DK_TRY(dk_st_info(f, name, &dt, &nd, shape, err));
    int same = nd == like->ndim;
    for (int d = 0; same && d < nd; d++) same = shape[d] == like->shape[d];
    if (!same) {
        char a[160], b[160];
        shape_of(a, sizeof a, nd, shape);
        shape_of(b, sizeof b, like->ndim, like->shape);
        return dk_error_set(err, DK_ESHAPE,
                            "checkpoint '%s': %s '%s' has shape %s, the model has %s: was it written "
                            "by another configuration?",
                            dk_st_label(f), what, name, a, b);
    }
    if (dt != DK_F32 && dt != DK_F64 && dt != DK_F16 && dt != DK_BF16)
        return dk_error_set(err, DK_EFORMAT, "checkpoint '%s': %s '%s' is stored as %s, not a float type",
                            dk_st_label(f), what, name, dk_dtype_name(dt));
    return DK_OK;
}

void dk_checkpoint_rng_format(const dk_rng *r, char *buf, size_t n) {
    snprintf(buf, n, "%" PRIu64 " %" PRIu64 " %" PRIu64 " %d %" PRIu32 " %" PRIu32 " %" PRIu32 " %" PRIu32,
             r->seed, r->stream, r->counter, r->used, r->buf[0], r->buf[1], r->buf[2], r->buf[3]);
}

dk_status dk_checkpoint_rng_parse(const char *s, dk_rng *r, dk_error *err) {
    unsigned long long seed, stream, counter, b[4];
    int used, consumed = 0;
    if (!s || sscanf(s, "%llu %llu %llu %d %llu %llu %llu %llu%n", &seed, &stream, &counter, &used, &b[0],
                     &b[1], &b[2], &b[3], &consumed) != 8 ||
        s[consumed] != 0 || used < 0 || used > 4 || b[0] > UINT32_MAX || b[1] > UINT32_MAX ||
        b[2] > UINT32_MAX || b[3] > UINT32_MAX)
        return dk_error_set(err, DK_EFORMAT,
                            "RNG state '%s' is malformed (expected: seed stream counter used b0 b1 b2 b3)",
                            s ? s : "(null)");
    r->seed = seed;
    r->stream = stream;
    r->counter = counter;
    r->used = used;
    for (int i = 0; i < 4; i++) r->buf[i] = (uint32_t)b[i];
    return DK_OK;
}

static dk_status meta_ll(dk_st_writer *w, const char *key, long long v, dk_error *err) {
    char num[32];
    snprintf(num, sizeof num, "%lld", v);
    return dk_st_writer_meta(w, key, num, err);
}

static dk_status rng_key(char *buf, size_t n, const char *name, dk_error *err) {
    int k = snprintf(buf, n, "rng.%s", name ? name : "");
    if (!name || !*name || k < 0 || (size_t)k >= n)
        return dk_error_set(err, DK_EINVAL, "checkpoint: an RNG needs a short, non-empty name");
    return DK_OK;
}

static dk_status fill_writer(dk_st_writer *w, const dk_checkpoint *c, dk_error *err) {
    char key[256], val[256];
    size_t np = dk_params_count(c->params);
    for (size_t k = 0; k < np; k++) {
        dk_param *p = dk_params_at(c->params, k);
        if (strncmp(p->var.name, "ema.", 4) == 0 || strncmp(p->var.name, "optim.", 6) == 0)
            return dk_error_set(err, DK_EINVAL,
                                "checkpoint: parameter name '%s' starts with a reserved prefix (ema., optim.)",
                                p->var.name);
        DK_TRY(dk_st_writer_add(w, p->var.name, p->var.value, err)); /* a device tensor: the writer copies it to the host */
    }
    if (c->ema) DK_TRY(dk_ema_save(c->ema, w, err));
    if (c->optim) DK_TRY(dk_optim_save(c->optim, w, err));
    /* integrity: "checksum.<tensor>" = CRC-32 of its stored bytes (checkpoint.h) */
    for (size_t k = 0; k < dk_st_writer_count(w); k++) {
        char ck[40], ckey[1100];
        int n = snprintf(ckey, sizeof ckey, "checksum.%s", dk_st_writer_name(w, k));
        if (n < 0 || (size_t)n >= sizeof ckey)
            return dk_error_set(err, DK_EINVAL, "checkpoint: tensor name '%s' is too long", dk_st_writer_name(w, k));
        snprintf(ck, sizeof ck, "crc32:%08" PRIx32, crc_tensor(dk_st_writer_tensor(w, k)));
        DK_TRY(dk_st_writer_meta(w, ckey, ck, err));
    }
    DK_TRY(dk_st_writer_meta(w, "diffkit.checksums", "crc32", err));
    DK_TRY(meta_ll(w, "diffkit.format", DK_CHECKPOINT_FORMAT, err));
    DK_TRY(dk_st_writer_meta(w, "diffkit.kind", "checkpoint", err));
    DK_TRY(meta_ll(w, "step", (long long)c->step, err));
    if (c->config) DK_TRY(dk_st_writer_meta(w, "config", c->config, err));
    if (c->loader) {
        int64_t e, i;
        dk_loader_position(c->loader, &e, &i);
        DK_TRY(meta_ll(w, "loader.epoch", (long long)e, err));
        DK_TRY(meta_ll(w, "loader.index", (long long)i, err));
    }
    for (size_t k = 0; k < c->n_rngs; k++) {
        DK_TRY(rng_key(key, sizeof key, c->rngs[k].name, err));
        dk_checkpoint_rng_format(c->rngs[k].rng, val, sizeof val);
        DK_TRY(dk_st_writer_meta(w, key, val, err));
    }
    for (size_t k = 0; k < c->n_extra; k++)
        DK_TRY(dk_st_writer_meta(w, c->extra[2 * k], c->extra[2 * k + 1], err));
    return DK_OK;
}

dk_status dk_checkpoint_save(const char *path, const dk_checkpoint *c, dk_error *err) {
    if (!path || !c || !c->params) return dk_error_set(err, DK_EINVAL, "checkpoint: NULL path or parameters");
    dk_st_writer *w = dk_st_writer_new();
    if (!w) return dk_error_set(err, DK_ENOMEM, "checkpoint '%s': out of memory", path);
    dk_status s = fill_writer(w, c, err);
    if (s == DK_OK) s = dk_st_writer_save(w, path, err);
    dk_st_writer_free(w);
    if (s != DK_OK) dk_error_prefix(err, "saving checkpoint '%s'", path);
    return s;
}

/* Writes a small file atomically: temp file, fsync, rename, fsync of the folder. */
static dk_status write_small_atomic(const char *dir, const char *name, const char *text, dk_error *err) {
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return dk_error_set(err, DK_EIO, "could not create '%s': %s", tmp, strerror(errno));
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t k = write(fd, text + off, len - off);
        if (k < 0) {
            if (errno == EINTR) continue;
            dk_status s = dk_error_set(err, DK_EIO, "could not write '%s': %s", tmp, strerror(errno));
            close(fd);
            unlink(tmp);
            return s;
        }
        off += (size_t)k;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        dk_status s = dk_error_set(err, DK_EIO, "could not flush '%s': %s", tmp, strerror(errno));
        unlink(tmp);
        return s;
    }
    if (rename(tmp, path) != 0) {
        dk_status s = dk_error_set(err, DK_EIO, "could not rename '%s' to '%s': %s", tmp, path, strerror(errno));
        unlink(tmp);
        return s;
    }
    /* make the rename durable; file systems that cannot fsync a folder say EINVAL/ENOTSUP */
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || (fsync(dfd) != 0 && errno != EINVAL && errno != ENOTSUP)) {
        dk_status s = dk_error_set(err, DK_EIO, "could not fsync the folder '%s' after renaming '%s': %s", dir, path,
                                   strerror(errno));
        if (dfd >= 0) close(dfd);
        return s;
    }
    close(dfd);
    return DK_OK;
}

dk_status dk_checkpoint_save_dir(const char *dir, const dk_checkpoint *c, char *path_out, size_t path_n,
                                 dk_error *err) {
    if (!dir || !c) return dk_error_set(err, DK_EINVAL, "checkpoint: NULL folder or checkpoint");
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return dk_error_set(err, DK_ENOTFOUND, "checkpoint folder '%s' does not exist: create it first", dir);
    char name[64], path[4096], text[80];
    snprintf(name, sizeof name, "ckpt_%08lld.safetensors", (long long)c->step);
    int k = snprintf(path, sizeof path, "%s/%s", dir, name);
    if (k < 0 || (size_t)k >= sizeof path) return dk_error_set(err, DK_EINVAL, "checkpoint folder name too long");
    DK_TRY(dk_checkpoint_save(path, c, err));
    snprintf(text, sizeof text, "%s\n", name);
    dk_status s = write_small_atomic(dir, "latest", text, err);
    if (s != DK_OK) {
        dk_error_prefix(err, "checkpoint '%s' was written but 'latest' was not updated", path);
        return s;
    }
    if (path_out && path_n) snprintf(path_out, path_n, "%s", path);
    return DK_OK;
}

dk_status dk_checkpoint_latest(const char *dir, char *path_out, size_t path_n, dk_error *err) {
    char lp[4096], line[512];
    snprintf(lp, sizeof lp, "%s/latest", dir);
    FILE *f = fopen(lp, "rb");
    if (!f)
        return dk_error_set(err, DK_ENOTFOUND, "no checkpoint in '%s' (no 'latest' file)", dir);
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = 0;
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ')) line[--n] = 0;
    if (n == 0 || strchr(line, '/') || strchr(line, '\n'))
        return dk_error_set(err, DK_EFORMAT, "'%s' does not name a checkpoint file (got '%s')", lp, line);
    int k = snprintf(path_out, path_n, "%s/%s", dir, line);
    if (k < 0 || (size_t)k >= path_n) return dk_error_set(err, DK_EINVAL, "checkpoint path too long");
    return DK_OK;
}

static int reserved(const char *name) {
    return strncmp(name, "ema.", 4) == 0 || strncmp(name, "optim.", 6) == 0;
}

static dk_status meta_int_key(const dk_st_file *f, const char *key, long long *out, dk_error *err) {
    if (!dk_st_meta(f, key))
        return dk_error_set(err, DK_ENOTFOUND, "checkpoint '%s' has no metadata '%s'", dk_st_label(f), key);
    return dk_st_meta_int(f, key, out, err);
}

dk_status dk_checkpoint_verify(const dk_st_file *f, dk_error *err) {
    static int warned_old = 0;
    const char *label = dk_st_label(f), *algo = dk_st_meta(f, "diffkit.checksums");
    size_t nt = dk_st_count(f);
    if (!algo) {
        /* written before checksums existed: load it, say once that it is unchecked */
        if (!warned_old) {
            warned_old = 1;
            dk_warn("checkpoint '%s' has no checksums (written by an older diffkit): its tensors cannot be verified; "
                    "save it again to add them",
                    label);
        }
        return DK_OK;
    }
    if (strcmp(algo, "crc32") != 0)
        return dk_error_set(err, DK_EFORMAT,
                            "checkpoint '%s': checksum kind '%s' is not known (this diffkit knows crc32): it was written "
                            "by a newer diffkit, or the file is corrupt",
                            label, algo);
    for (size_t k = 0; k < nt; k++) {
        const char *name = dk_st_name(f, k), *want;
        char key[1100], got[40];
        unsigned long long stored;
        int consumed = 0;
        snprintf(key, sizeof key, "checksum.%s", name);
        want = dk_st_meta(f, key);
        if (!want)
            return dk_error_set(err, DK_EFORMAT,
                                "checkpoint '%s': tensor '%s' has no checksum (metadata '%s'): the file was altered; use "
                                "an earlier checkpoint",
                                label, name, key);
        int hex = strncmp(want, "crc32:", 6) == 0 && strlen(want) == 14;
        for (int d = 6; hex && d < 14; d++) hex = isxdigit((unsigned char)want[d]) != 0;
        if (!hex || sscanf(want + 6, "%8llx%n", &stored, &consumed) != 1 || consumed != 8)
            return dk_error_set(err, DK_EFORMAT,
                                "checkpoint '%s': tensor '%s' has a malformed checksum '%s' (expected crc32:8 hex "
                                "digits): the file is corrupt; use an earlier checkpoint",
                                label, name, want);
        dk_tensor *t = dk_st_get(f, name, err);
        if (!t) return dk_error_prefix(err, "checkpoint '%s'", label);
        uint32_t crc = crc_tensor(t);
        dk_tensor_free(t);
        if (crc != (uint32_t)stored) {
            snprintf(got, sizeof got, "crc32:%08" PRIx32, crc);
            return dk_error_set(err, DK_EFORMAT,
                                "checkpoint '%s': tensor '%s' fails its checksum (stored %s, computed %s): the file is "
                                "corrupt; use an earlier checkpoint",
                                label, name, want, got);
        }
    }
    return DK_OK;
}

dk_status dk_checkpoint_load_file(const dk_st_file *f, dk_checkpoint *c, char **config_out, dk_error *err) {
    if (config_out) *config_out = NULL;
    if (!c || !c->params) return dk_error_set(err, DK_EINVAL, "checkpoint: NULL parameters");
    const char *label = dk_st_label(f);
    /* 1. format */
    const char *fmt = dk_st_meta(f, "diffkit.format");
    if (!fmt)
        return dk_error_set(err, DK_EFORMAT,
                            "'%s' is not a diffkit checkpoint (no 'diffkit.format' metadata): to load "
                            "bare weights, read them with the safetensors API",
                            label);
    long long version, step;
    DK_TRY(dk_st_meta_int(f, "diffkit.format", &version, err));
    if (version != DK_CHECKPOINT_FORMAT)
        return dk_error_set(err, DK_EFORMAT,
                            "checkpoint '%s' has format %lld, expected %d: it was written by %s version "
                            "of diffkit; use that version to resume it",
                            label, version, DK_CHECKPOINT_FORMAT,
                            version > DK_CHECKPOINT_FORMAT ? "a newer" : "an older");
    const char *kind = dk_st_meta(f, "diffkit.kind");
    if (!kind || strcmp(kind, "checkpoint") != 0)
        return dk_error_set(err, DK_EFORMAT,
                            "'%s' is not a training checkpoint (metadata 'diffkit.kind' is %s%s%s, expected 'checkpoint'): "
                            "give a ckpt_*.safetensors written by exp:train",
                            label, kind ? "'" : "", kind ? kind : "missing", kind ? "'" : "");
    DK_TRY(meta_int_key(f, "step", &step, err));
    if (step < 0 || step > DK_CHECKPOINT_MAX_STEP)
        return dk_error_set(err, DK_EFORMAT,
                            "checkpoint '%s': step = %lld is out of range (0 to 2^53): the file is corrupt; use an "
                            "earlier checkpoint",
                            label, step);
    DK_TRY(dk_checkpoint_verify(f, err));
    /* 2. check everything before changing anything */
    size_t np = dk_params_count(c->params);
    for (size_t k = 0; k < np; k++) {
        dk_param *p = dk_params_at(c->params, k);
        DK_TRY(dk_checkpoint_check_entry(f, p->var.name, p->var.value, "parameter", err));
    }
    size_t nt = dk_st_count(f);
    for (size_t k = 0; k < nt; k++) {
        const char *name = dk_st_name(f, k);
        if (!reserved(name) && !dk_params_find(c->params, name))
            return dk_error_set(err, DK_ESHAPE,
                                "checkpoint '%s' has parameter '%s', which the model lacks: was it "
                                "written by another configuration?",
                                label, name);
    }
    if (c->ema) DK_TRY(dk_ema_check(c->ema, f, err));
    if (c->optim) DK_TRY(dk_optim_check(c->optim, f, err));
    long long le = 0, li = 0;
    if (c->loader) {
        DK_TRY(meta_int_key(f, "loader.epoch", &le, err));
        DK_TRY(meta_int_key(f, "loader.index", &li, err));
        const dk_dataset *ds = dk_loader_dataset(c->loader);
        if (le < 0 || li < 0 || li >= ds->count)
            return dk_error_set(err, DK_EFORMAT,
                                "checkpoint '%s': loader position (epoch %lld, index %lld) does not fit "
                                "dataset '%s' of %lld images: was it written with another dataset?",
                                label, le, li, ds->name, (long long)ds->count);
    }
    dk_rng *rngs = NULL;
    if (c->n_rngs) {
        rngs = calloc(c->n_rngs, sizeof *rngs);
        if (!rngs) return dk_error_set(err, DK_ENOMEM, "checkpoint: out of memory");
        for (size_t k = 0; k < c->n_rngs; k++) {
            char key[256];
            dk_status s = rng_key(key, sizeof key, c->rngs[k].name, err);
            const char *v = s == DK_OK ? dk_st_meta(f, key) : NULL;
            if (s == DK_OK && !v)
                s = dk_error_set(err, DK_ENOTFOUND, "checkpoint '%s' has no RNG state '%s'", label, key);
            if (s == DK_OK) s = dk_checkpoint_rng_parse(v, &rngs[k], err);
            if (s != DK_OK) {
                free(rngs);
                if (s == DK_EFORMAT) dk_error_prefix(err, "checkpoint '%s'", label);
                return s;
            }
        }
    }
    char *cfg = NULL;
    if (config_out && dk_st_meta(f, "config")) {
        cfg = strdup(dk_st_meta(f, "config"));
        if (!cfg) {
            free(rngs);
            return dk_error_set(err, DK_ENOMEM, "checkpoint: out of memory");
        }
    }
    /* 3. load */
    dk_dtype dt = dk_params_dtype(c->params);
    size_t es = dk_dtype_size(dt);
    char *block = dk_params_data(c->params);
    const dk_backend *be = dk_backend_get(dk_params_device(c->params), err); /* the parameters' device */
    dk_status s = be ? DK_OK : (err ? err->code : DK_EUNSUPPORTED);
    for (size_t k = 0; k < np && s == DK_OK; k++) {
        dk_param *p = dk_params_at(c->params, k);
        dk_tensor *t = dk_st_get_as(f, p->var.name, dt, err);
        if (!t) {
            s = err ? err->code : DK_EFORMAT;
            break;
        }
        s = be->from_host(block + p->offset * es, t->data, t->numel * es, err);
        dk_tensor_free(t);
    }
    if (s == DK_OK && c->ema) s = dk_ema_load(c->ema, f, err);
    if (s == DK_OK && c->optim) s = dk_optim_load(c->optim, f, err);
    if (s == DK_OK && c->loader) s = dk_loader_seek(c->loader, le, li, err);
    if (s == DK_OK)
        for (size_t k = 0; k < c->n_rngs; k++) *c->rngs[k].rng = rngs[k];
    free(rngs);
    if (s != DK_OK) {
        free(cfg);
        return s;
    }
    c->step = step;
    if (config_out) *config_out = cfg;
    return DK_OK;
}

dk_status dk_checkpoint_load(const char *path, dk_checkpoint *c, char **config_out, dk_error *err) {
    if (config_out) *config_out = NULL;
    dk_st_file *f = dk_st_open(path, err);
    if (!f) {
        dk_status s = err ? err->code : DK_EIO;
        dk_error_prefix(err, "loading checkpoint");
        return s;
    }
    dk_status s = dk_checkpoint_load_file(f, c, config_out, err);
    dk_st_close(f);
    return s;
}
