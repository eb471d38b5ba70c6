/* data.c: datasets (Fashion-MNIST / IDX files, image folders) and the
 * resumable, seeded batch loader. Semantics in data.h. */
#include "diffkit/data.h"
#include "diffkit/image.h"
#include "diffkit/rng.h"
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

void dk_dataset_free(dk_dataset *ds) {
    if (ds && ds->destroy) ds->destroy(ds);
}

dk_status dk_dataset_get(const dk_dataset *ds, int64_t i, float *image, int64_t *label, dk_error *err) {
    if (!ds) return dk_error_set(err, DK_EINVAL, "dataset: NULL dataset");
    if (i < 0 || i >= ds->count)
        return dk_error_set(err, DK_EINVAL, "dataset '%s': index %lld is outside [0, %lld)", ds->name,
                            (long long)i, (long long)ds->count);
    int64_t lab = 0;
    DK_TRY(ds->get(ds, i, image, &lab, err));
    if (label) *label = lab;
    return DK_OK;
}

/* ---- IDX files (LeCun's MNIST format; big-endian header) ----------------- */

/* Reads the whole (possibly gzip-compressed) file. DK_ENOTFOUND if absent. */
static dk_status read_gz_file(const char *path, unsigned char **out, size_t *len, dk_error *err) {
    struct stat st;
    if (stat(path, &st) != 0)
        return dk_error_set(err, DK_ENOTFOUND, "'%s' does not exist", path);
    gzFile f = gzopen(path, "rb");
    if (!f) return dk_error_set(err, DK_EIO, "could not open '%s': %s", path, strerror(errno));
    size_t cap = 1u << 20, n = 0;
    unsigned char *buf = malloc(cap);
    if (!buf) {
        gzclose(f);
        return dk_error_set(err, DK_ENOMEM, "out of memory reading '%s'", path);
    }
    for (;;) {
        if (cap - n < (1u << 16)) {
            unsigned char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                gzclose(f);
                return dk_error_set(err, DK_ENOMEM, "out of memory reading '%s'", path);
            }
            buf = nb;
            cap *= 2;
        }
        int want = (int)((cap - n) > (1u << 30) ? (1u << 30) : (cap - n));
        int got = gzread(f, buf + n, (unsigned)want);
        if (got < 0) {
            int zerr;
            const char *msg = gzerror(f, &zerr);
            dk_status s = dk_error_set(err, DK_EFORMAT,
                                       "'%s' is not a valid gzip file (%s): re-download or reinstall it",
                                       path, msg ? msg : "read error");
            free(buf);
            gzclose(f);
            return s;
        }
        if (got == 0) break;
        n += (size_t)got;
    }
    /* A truncated gzip stream ends without error from gzread: gzclose reports it. */
    int zerr = 0;
    const char *msg = gzerror(f, &zerr);
    if (zerr != Z_OK && zerr != Z_STREAM_END) {
        dk_status s = dk_error_set(err, DK_EFORMAT,
                                   "'%s' is a truncated or corrupt gzip file (%s): re-download or "
                                   "reinstall it",
                                   path, msg ? msg : "?");
        free(buf);
        gzclose(f);
        return s;
    }
    int rc = gzclose(f);
    if (rc == Z_BUF_ERROR || rc == Z_DATA_ERROR) {
        free(buf);
        return dk_error_set(err, DK_EFORMAT,
                            "'%s' is a truncated gzip file (the stream ends early): re-download or "
                            "reinstall it",
                            path);
    }
    *out = buf;
    *len = n;
    return DK_OK;
}

static uint32_t be32(const unsigned char *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

/* Parses an IDX ubyte file with `ndim` dims; returns a pointer to the data. */
static dk_status parse_idx(const char *path, const unsigned char *buf, size_t len, int ndim,
                           uint32_t dims[3], const unsigned char **data, dk_error *err) {
    if (len < 4)
        return dk_error_set(err, DK_EFORMAT, "'%s' is truncated: %zu bytes, not even an IDX header",
                            path, len);
    if (buf[0] != 0 || buf[1] != 0 || buf[2] != 0x08)
        return dk_error_set(err, DK_EFORMAT,
                            "'%s' is not an IDX ubyte file (magic %02x %02x %02x %02x, expected 00 00 "
                            "08 0%d)",
                            path, buf[0], buf[1], buf[2], buf[3], ndim);
    if (buf[3] != ndim)
        return dk_error_set(err, DK_EFORMAT, "'%s' has %d dimensions, expected %d (%s)", path, buf[3],
                            ndim, ndim == 3 ? "images [N, H, W]" : "labels [N]");
    size_t hdr = 4 + 4 * (size_t)ndim;
    if (len < hdr)
        return dk_error_set(err, DK_EFORMAT, "'%s' is truncated inside its header (%zu of %zu bytes)",
                            path, len, hdr);
    uint64_t total = 1;
    for (int d = 0; d < ndim; d++) {
        dims[d] = be32(buf + 4 + 4 * d);
        /* checked before multiplying: total <= 2^40 times a dimension < 2^32
         * can wrap around 2^64 (to 0: a 16-byte file would then pass) */
        if (dims[d] && total > ((uint64_t)1 << 40) / dims[d])
            return dk_error_set(err, DK_EFORMAT, "'%s': dimensions too large", path);
        total *= dims[d];
    }
    for (int d = 1; d < ndim; d++)
        if (dims[d] > DK_IDX_MAX_SIDE)
            return dk_error_set(err, DK_EFORMAT, "'%s': an image side of %u pixels is more than %d", path, dims[d],
                                DK_IDX_MAX_SIDE);
    if (len - hdr < total)
        return dk_error_set(err, DK_EFORMAT,
                            "'%s' is truncated: the header promises %llu bytes of data, the file has "
                            "%zu: re-download or reinstall it",
                            path, (unsigned long long)total, len - hdr);
    if (len - hdr > total)
        return dk_error_set(err, DK_EFORMAT,
                            "'%s' has %zu bytes after the %llu its header declares: not an IDX file?",
                            path, (size_t)(len - hdr - total), (unsigned long long)total);
    *data = buf + hdr;
    return DK_OK;
}

typedef struct idx_ctx {
    unsigned char *pixels; /* [N, h, w] */
    unsigned char *labels; /* [N] */
    int h, w, pad;
    float lut[256];
} idx_ctx;

static dk_status idx_get(const dk_dataset *ds, int64_t i, float *image, int64_t *label, dk_error *err) {
    const idx_ctx *c = ds->ctx;
    const unsigned char *src = c->pixels + (size_t)i * (size_t)c->h * (size_t)c->w;
    int W = ds->width, H = ds->height, pad = c->pad;
    for (int y = 0; y < H; y++) {
        float *row = image + (size_t)y * W;
        int sy = y - pad;
        if (sy < 0 || sy >= c->h) {
            for (int x = 0; x < W; x++) row[x] = -1.0f;
            continue;
        }
        for (int x = 0; x < W; x++) {
            int sx = x - pad;
            row[x] = (sx < 0 || sx >= c->w) ? -1.0f : c->lut[src[(size_t)sy * c->w + sx]];
        }
    }
    *label = c->labels[i];
    return DK_OK;
}

static void idx_destroy(dk_dataset *ds) {
    if (!ds) return;
    idx_ctx *c = ds->ctx;
    if (c) {
        free(c->pixels);
        free(c->labels);
        free(c);
    }
    free(ds);
}

dk_dataset *dk_dataset_idx_mem(const char *images_name, const void *images, size_t images_len, const char *labels_name,
                               const void *labels, size_t labels_len, int pad, dk_error *err) {
    const unsigned char *ib = images, *lb = labels;
    size_t il = images_len, ll = labels_len;
    const unsigned char *pix = NULL, *lab = NULL;
    uint32_t idims[3] = {0, 0, 0}, ldims[3] = {0, 0, 0};
    dk_dataset *ds = NULL;
    idx_ctx *c = NULL;
    const char *images_path = images_name ? images_name : "(images)";
    const char *labels_path = labels_name ? labels_name : "(labels)";
    if (pad < 0 || pad > 64) {
        dk_error_set(err, DK_EINVAL, "IDX dataset: pad = %d is outside [0, 64]", pad);
        return NULL;
    }
    if ((!ib && il) || (!lb && ll)) {
        dk_error_set(err, DK_EINVAL, "IDX dataset: NULL buffer");
        return NULL;
    }
    if (parse_idx(images_path, ib, il, 3, idims, &pix, err) != DK_OK) goto fail;
    if (parse_idx(labels_path, lb, ll, 1, ldims, &lab, err) != DK_OK) goto fail;
    if (idims[0] != ldims[0]) {
        dk_error_set(err, DK_EFORMAT, "'%s' holds %u images but '%s' holds %u labels", images_path,
                     idims[0], labels_path, ldims[0]);
        goto fail;
    }
    if (idims[0] == 0 || idims[1] == 0 || idims[2] == 0) {
        dk_error_set(err, DK_EFORMAT, "'%s' holds no images (%u x %u x %u)", images_path, idims[0],
                     idims[1], idims[2]);
        goto fail;
    }
    c = calloc(1, sizeof *c);
    ds = calloc(1, sizeof *ds);
    if (!c || !ds) {
        dk_error_set(err, DK_ENOMEM, "IDX dataset: out of memory");
        goto fail;
    }
    size_t npix = (size_t)idims[0] * idims[1] * idims[2];
    c->pixels = malloc(npix);
    c->labels = malloc(idims[0]);
    if (!c->pixels || !c->labels) {
        dk_error_set(err, DK_ENOMEM, "IDX dataset: out of memory for %zu pixels", npix);
        goto fail;
    }
    memcpy(c->pixels, pix, npix);
    memcpy(c->labels, lab, idims[0]);
    int maxl = 0;
    for (uint32_t i = 0; i < idims[0]; i++)
        if (c->labels[i] > maxl) maxl = c->labels[i];
    c->h = (int)idims[1];
    c->w = (int)idims[2];
    c->pad = pad;
    /* torchvision to_tensor (x / 255) then k-diffusion's x * 2 - 1, in float */
    for (int v = 0; v < 256; v++) c->lut[v] = ((float)v / 255.0f) * 2.0f - 1.0f;
    snprintf(ds->name, sizeof ds->name, "%s", images_path);
    ds->count = idims[0];
    ds->channels = 1;
    ds->height = c->h + 2 * pad;
    ds->width = c->w + 2 * pad;
    ds->num_classes = maxl + 1;
    ds->thread_safe = 1;
    ds->ctx = c;
    ds->get = idx_get;
    ds->destroy = idx_destroy;
    return ds;
fail:
    if (c) {
        free(c->pixels);
        free(c->labels);
        free(c);
    }
    free(ds);
    return NULL;
}

dk_dataset *dk_dataset_idx(const char *images_path, const char *labels_path, int pad, dk_error *err) {
    unsigned char *ib = NULL, *lb = NULL;
    size_t il = 0, ll = 0;
    dk_dataset *ds = NULL;
    if (pad < 0 || pad > 64) {
        dk_error_set(err, DK_EINVAL, "IDX dataset: pad = %d is outside [0, 64]", pad);
        return NULL;
    }
    if (read_gz_file(images_path, &ib, &il, err) == DK_OK && read_gz_file(labels_path, &lb, &ll, err) == DK_OK)
        ds = dk_dataset_idx_mem(images_path, ib, il, labels_path, lb, ll, pad, err);
    free(ib);
    free(lb);
    return ds;
}

const char *dk_fashion_mnist_dir(const dk_fashion_mnist_options *o) {
    if (o && o->dir && *o->dir) return o->dir;
    const char *env = getenv("DIFFKIT_FASHION_MNIST");
    if (env && *env) return env;
    return DK_FASHION_MNIST_DEFAULT_DIR;
}

/* path of `base` in dir: base.gz if it exists, else base if it exists, else base.gz. */
static void idx_path(char *out, size_t n, const char *dir, const char *base) {
    struct stat st;
    snprintf(out, n, "%s/%s.gz", dir, base);
    if (stat(out, &st) == 0) return;
    snprintf(out, n, "%s/%s", dir, base);
    if (stat(out, &st) == 0) return;
    snprintf(out, n, "%s/%s.gz", dir, base);
}

dk_dataset *dk_dataset_fashion_mnist(const dk_fashion_mnist_options *o, dk_error *err) {
    const char *dir = dk_fashion_mnist_dir(o);
    const char *split = (o && o->split) ? o->split : "train";
    int pad = o ? o->pad : 0;
    const char *prefix;
    if (strcmp(split, "train") == 0) prefix = "train";
    else if (strcmp(split, "test") == 0) prefix = "t10k";
    else {
        dk_error_set(err, DK_EINVAL, "fashion_mnist: split '%s' is unknown: use \"train\" or \"test\"",
                     split);
        return NULL;
    }
    char ip[4096], lp[4096], base[64];
    snprintf(base, sizeof base, "%s-images-idx3-ubyte", prefix);
    idx_path(ip, sizeof ip, dir, base);
    snprintf(base, sizeof base, "%s-labels-idx1-ubyte", prefix);
    idx_path(lp, sizeof lp, dir, base);
    struct stat st;
    if (stat(ip, &st) != 0 || stat(lp, &st) != 0) {
        dk_error_set(err, DK_ENOTFOUND,
                     "Fashion-MNIST not found at %s: install it with: sudo apt-get install "
                     "dataset-fashion-mnist (or set DIFFKIT_FASHION_MNIST=/path/to/idx-files)",
                     dir);
        return NULL;
    }
    dk_dataset *ds = dk_dataset_idx(ip, lp, pad, err);
    if (!ds) {
        dk_error_prefix(err, "Fashion-MNIST %s", split);
        return NULL;
    }
    if (ds->num_classes > 10) {
        dk_error_set(err, DK_EFORMAT, "Fashion-MNIST %s: '%s' has label %d; Fashion-MNIST has 10 classes",
                     split, lp, ds->num_classes - 1);
        dk_dataset_free(ds);
        return NULL;
    }
    ds->num_classes = 10;
    snprintf(ds->name, sizeof ds->name, "fashion-mnist %s", split);
    return ds;
}

/* ---- image folder ------------------------------------------------------- */

typedef struct folder_ctx {
    char **paths;
    int64_t *labels;
    size_t n, cap;
    char **classes;
    size_t n_classes;
    int size, channels;
    float lut[256];
} folder_ctx;

static int has_image_ext(const char *name) {
    const char *dot = strrchr(name, '.');
    if (!dot) return 0;
    char ext[8];
    size_t k = 0;
    for (const char *c = dot + 1; *c && k < sizeof ext - 1; c++) ext[k++] = (char)tolower((unsigned char)*c);
    ext[k] = 0;
    return strcmp(ext, "png") == 0 || strcmp(ext, "jpg") == 0 || strcmp(ext, "jpeg") == 0;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted entry names of dir (hidden ones skipped); *n set. NULL with n = 0 on an empty folder. */
static char **list_dir(const char *dir, size_t *n, dk_error *err, dk_status *st) {
    *n = 0;
    *st = DK_OK;
    DIR *d = opendir(dir);
    if (!d) {
        *st = dk_error_set(err, errno == ENOENT ? DK_ENOTFOUND : DK_EIO, "image folder '%s' cannot be read: %s",
                           dir, strerror(errno));
        return NULL;
    }
    char **names = NULL;
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        if (*n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            char **nn = realloc(names, nc * sizeof *nn);
            if (!nn) goto oom;
            names = nn;
            cap = nc;
        }
        if (!(names[*n] = strdup(e->d_name))) goto oom;
        (*n)++;
    }
    closedir(d);
    if (*n) qsort(names, *n, sizeof *names, cmp_str);
    return names;
oom:
    closedir(d);
    for (size_t i = 0; i < *n; i++) free(names[i]);
    free(names);
    *n = 0;
    *st = dk_error_set(err, DK_ENOMEM, "image folder '%s': out of memory", dir);
    return NULL;
}

static void free_names(char **names, size_t n) {
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
}

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Adds the images under dir (recursively, sorted) with the given label. */
static dk_status folder_walk(folder_ctx *c, const char *dir, int64_t label, int depth, dk_error *err) {
    size_t n;
    dk_status st;
    if (depth > 32) return dk_error_set(err, DK_EINVAL, "image folder: '%s' is nested too deeply", dir);
    char **names = list_dir(dir, &n, err, &st);
    if (st != DK_OK) return st;
    for (size_t i = 0; i < n && st == DK_OK; i++) {
        size_t len = strlen(dir) + strlen(names[i]) + 2;
        char *path = malloc(len);
        if (!path) {
            st = dk_error_set(err, DK_ENOMEM, "image folder: out of memory");
            break;
        }
        snprintf(path, len, "%s/%s", dir, names[i]);
        if (is_dir(path)) {
            st = folder_walk(c, path, label, depth + 1, err);
            free(path);
        } else if (has_image_ext(names[i])) {
            if (c->n == c->cap) {
                size_t nc = c->cap ? c->cap * 2 : 256;
                char **np = realloc(c->paths, nc * sizeof *np);
                if (np) c->paths = np;
                int64_t *nl = np ? realloc(c->labels, nc * sizeof *nl) : NULL;
                if (nl) c->labels = nl;
                if (!np || !nl) {
                    free(path);
                    st = dk_error_set(err, DK_ENOMEM, "image folder: out of memory");
                    break;
                }
                c->cap = nc;
            }
            c->paths[c->n] = path;
            c->labels[c->n] = label;
            c->n++;
        } else {
            free(path);
        }
    }
    free_names(names, n);
    return st;
}

static void folder_destroy(dk_dataset *ds) {
    if (!ds) return;
    folder_ctx *c = ds->ctx;
    if (c) {
        free_names(c->paths, c->n);
        free(c->labels);
        free_names(c->classes, c->n_classes);
        free(c);
    }
    free(ds);
}

static dk_status folder_get(const dk_dataset *ds, int64_t i, float *image, int64_t *label, dk_error *err) {
    const folder_ctx *c = ds->ctx;
    dk_tensor *src = dk_image_read(c->paths[i], c->channels, err);
    if (!src) return err ? err->code : DK_EFORMAT;
    int64_t shape[3] = {c->size, c->size, c->channels};
    dk_tensor *dst = dk_tensor_new(DK_U8, 3, shape, err);
    dk_status s = dst ? dk_image_resize_crop(dst, src, err) : (err ? err->code : DK_ENOMEM);
    if (s == DK_OK) {
        const uint8_t *px = dst->data; /* (H, W, C) -> (C, H, W) */
        size_t hw = (size_t)c->size * c->size;
        for (size_t p = 0; p < hw; p++)
            for (int ch = 0; ch < c->channels; ch++) image[(size_t)ch * hw + p] = c->lut[px[p * c->channels + ch]];
        *label = c->labels[i];
    } else {
        dk_error_prefix(err, "image '%s'", c->paths[i]);
    }
    dk_tensor_free(dst);
    dk_tensor_free(src);
    return s;
}

dk_dataset *dk_dataset_image_folder(const dk_image_folder_options *o, dk_error *err) {
    if (!o || !o->path) {
        dk_error_set(err, DK_EINVAL, "image_folder: no path given");
        return NULL;
    }
    if (o->size <= 0 || o->size > 8192) {
        dk_error_set(err, DK_EINVAL, "image_folder '%s': size = %d must be in [1, 8192]", o->path, o->size);
        return NULL;
    }
    if (o->channels != 1 && o->channels != 3) {
        dk_error_set(err, DK_EINVAL, "image_folder '%s': channels = %d must be 1 (gray) or 3 (RGB)", o->path,
                     o->channels);
        return NULL;
    }
    if (!is_dir(o->path)) {
        dk_error_set(err, DK_ENOTFOUND, "image folder '%s' does not exist or is not a folder", o->path);
        return NULL;
    }
    folder_ctx *c = calloc(1, sizeof *c);
    dk_dataset *ds = calloc(1, sizeof *ds);
    size_t n = 0;
    dk_status st = DK_OK;
    char **names = NULL;
    if (!c || !ds) {
        dk_error_set(err, DK_ENOMEM, "image_folder: out of memory");
        goto fail;
    }
    c->size = o->size;
    c->channels = o->channels;
    for (int v = 0; v < 256; v++) c->lut[v] = ((float)v / 255.0f) * 2.0f - 1.0f;
    ds->ctx = c;
    ds->destroy = folder_destroy;
    names = list_dir(o->path, &n, err, &st);
    if (st != DK_OK) goto fail;
    /* class sub-folders (torchvision ImageFolder): sorted names -> 0..K-1 */
    for (size_t i = 0; i < n && st == DK_OK; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", o->path, names[i]);
        if (!is_dir(path)) continue;
        char **nc = realloc(c->classes, (c->n_classes + 1) * sizeof *nc);
        if (!nc || !(nc[c->n_classes] = strdup(names[i]))) {
            if (nc) c->classes = nc;
            st = dk_error_set(err, DK_ENOMEM, "image_folder: out of memory");
            break;
        }
        c->classes = nc;
        st = folder_walk(c, path, (int64_t)c->n_classes, 1, err);
        c->n_classes++;
    }
    if (st != DK_OK) goto fail;
    if (c->n_classes == 0) st = folder_walk(c, o->path, 0, 0, err); /* unlabelled */
    if (st != DK_OK) goto fail;
    if (c->n == 0) {
        dk_error_set(err, DK_ENOTFOUND,
                     "image folder '%s' has no .png/.jpg/.jpeg files (expected class sub-folders of images, "
                     "or images directly in it)",
                     o->path);
        goto fail;
    }
    free_names(names, n);
    snprintf(ds->name, sizeof ds->name, "%s", o->path);
    ds->count = (int64_t)c->n;
    ds->channels = c->channels;
    ds->height = ds->width = c->size;
    ds->num_classes = (int)c->n_classes;
    ds->thread_safe = 1;
    ds->get = folder_get;
    return ds;
fail:
    free_names(names, n);
    if (ds && ds->ctx) folder_destroy(ds);
    else {
        free(c);
        free(ds);
    }
    return NULL;
}

/* ---- loader ---------------------------------------------------------------- */

struct dk_loader {
    const dk_dataset *ds;
    dk_loader_config cfg;
    int64_t epoch, index;
    int64_t perm_epoch;  /* epoch of perm, -1 if none */
    int64_t *perm;
    float *stage;        /* a batch of images, for F64 output */
    int64_t *bidx, *blab;/* dataset index and label of each batch element */
    uint64_t *bpos;      /* global position of each batch element */
};

dk_loader *dk_loader_new(const dk_dataset *ds, const dk_loader_config *c, dk_error *err) {
    if (!ds || !c) {
        dk_error_set(err, DK_EINVAL, "loader: NULL dataset or config");
        return NULL;
    }
    if (c->batch <= 0) {
        dk_error_set(err, DK_EINVAL, "loader: batch = %lld must be > 0", (long long)c->batch);
        return NULL;
    }
    if (ds->count <= 0) {
        dk_error_set(err, DK_EINVAL, "loader: dataset '%s' is empty", ds->name);
        return NULL;
    }
    if (!(c->label_dropout >= 0.0 && c->label_dropout <= 1.0)) {
        dk_error_set(err, DK_EINVAL, "loader: label_dropout = %g is outside [0, 1]", c->label_dropout);
        return NULL;
    }
    if (c->label_dropout > 0.0 && ds->num_classes <= 0) {
        dk_error_set(err, DK_EINVAL,
                     "loader: label_dropout = %g needs a labelled dataset; '%s' has no classes",
                     c->label_dropout, ds->name);
        return NULL;
    }
    dk_loader *l = calloc(1, sizeof *l);
    if (!l) {
        dk_error_set(err, DK_ENOMEM, "loader: out of memory");
        return NULL;
    }
    l->ds = ds;
    l->cfg = *c;
    l->perm_epoch = -1;
    l->perm = malloc((size_t)ds->count * sizeof *l->perm);
    l->bidx = malloc((size_t)c->batch * sizeof *l->bidx);
    l->blab = malloc((size_t)c->batch * sizeof *l->blab);
    l->bpos = malloc((size_t)c->batch * sizeof *l->bpos);
    if (!l->perm || !l->bidx || !l->blab || !l->bpos) {
        dk_error_set(err, DK_ENOMEM, "loader: out of memory for %lld indices", (long long)ds->count);
        dk_loader_free(l);
        return NULL;
    }
    return l;
}

void dk_loader_free(dk_loader *l) {
    if (!l) return;
    free(l->perm);
    free(l->stage);
    free(l->bidx);
    free(l->blab);
    free(l->bpos);
    free(l);
}

void dk_loader_position(const dk_loader *l, int64_t *epoch, int64_t *index) {
    if (epoch) *epoch = l->epoch;
    if (index) *index = l->index;
}

dk_status dk_loader_seek(dk_loader *l, int64_t epoch, int64_t index, dk_error *err) {
    if (epoch < 0 || index < 0 || index >= l->ds->count)
        return dk_error_set(err, DK_EINVAL,
                            "loader: position (epoch %lld, index %lld) is invalid for dataset '%s' of "
                            "%lld images",
                            (long long)epoch, (long long)index, l->ds->name, (long long)l->ds->count);
    l->epoch = epoch;
    l->index = index;
    return DK_OK;
}

const dk_dataset *dk_loader_dataset(const dk_loader *l) { return l->ds; }
const dk_loader_config *dk_loader_config_of(const dk_loader *l) { return &l->cfg; }
int64_t dk_loader_null_class(const dk_loader *l) { return l->ds->num_classes; }

/* The order of epoch e: a permutation drawn at block 2^32 * e of the order stream. */
static void ensure_perm(dk_loader *l, int64_t epoch) {
    if (l->perm_epoch == epoch) return;
    int64_t n = l->ds->count;
    if (l->cfg.shuffle) {
        dk_rng r;
        dk_rng_init(&r, l->cfg.seed, DK_STREAM_DATA_ORDER);
        dk_rng_seek(&r, (uint64_t)epoch << 32);
        dk_rng_permutation(&r, l->perm, (size_t)n);
    } else {
        for (int64_t i = 0; i < n; i++) l->perm[i] = i;
    }
    l->perm_epoch = epoch;
}

/* Draws for the sample at global position g = epoch * count + index: one
 * Philox block of each stream per sample. */
static int draw_flip(uint64_t seed, uint64_t g) {
    dk_rng r;
    dk_rng_init(&r, seed, DK_STREAM_DATA_FLIP);
    dk_rng_seek(&r, g);
    return (int)(dk_rng_u32(&r) >> 31);
}

static int draw_drop(uint64_t seed, uint64_t g, double p) {
    dk_rng r;
    dk_rng_init(&r, seed, DK_STREAM_LABEL_DROPOUT);
    dk_rng_seek(&r, g);
    return dk_rng_uniform(&r) < p;
}

static void hflip(float *img, int C, int H, int W) {
    for (int c = 0; c < C; c++)
        for (int y = 0; y < H; y++) {
            float *row = img + ((size_t)c * H + y) * W;
            for (int a = 0, b = W - 1; a < b; a++, b--) {
                float t = row[a];
                row[a] = row[b];
                row[b] = t;
            }
        }
}

dk_status dk_loader_next(dk_loader *l, dk_tensor *images, dk_tensor *labels, dk_error *err) {
    const dk_dataset *ds = l->ds;
    int64_t B = l->cfg.batch;
    int64_t want[4] = {B, ds->channels, ds->height, ds->width};
    if (!images || (images->dtype != DK_F32 && images->dtype != DK_F64))
        return dk_error_set(err, DK_EINVAL, "loader: images must be an F32 or F64 tensor [%lld, %d, %d, %d]",
                            (long long)B, ds->channels, ds->height, ds->width);
    DK_TRY(dk_tensor_check(images, "loader images", images->dtype, 4, want, err));
    if (labels) DK_TRY(dk_tensor_check(labels, "loader labels", DK_I64, 1, want, err));
    size_t per = (size_t)ds->channels * ds->height * ds->width;
    float *stage = dk_f32(images);
    if (images->dtype == DK_F64) {
        if (!l->stage) l->stage = malloc((size_t)B * per * sizeof(float));
        if (!l->stage) return dk_error_set(err, DK_ENOMEM, "loader: out of memory");
        stage = l->stage;
    }
    /* 1. positions of the batch (sequential: permutations are per epoch) */
    int64_t epoch = l->epoch, index = l->index;
    for (int64_t b = 0; b < B; b++) {
        ensure_perm(l, epoch);
        l->bidx[b] = l->perm[index];
        l->bpos[b] = (uint64_t)epoch * (uint64_t)ds->count + (uint64_t)index;
        if (++index == ds->count) {
            index = 0;
            epoch++;
        }
    }
    /* 2. fetch (in parallel when the dataset allows it) */
    dk_status first = DK_OK;
    int64_t first_b = -1;
    dk_error local;
    #pragma omp parallel for schedule(dynamic) if (ds->thread_safe && B > 1)
    for (int64_t b = 0; b < B; b++) {
        dk_error e1;
        int64_t lab = 0;
        float *dst = stage + (size_t)b * per;
        dk_status s = dk_dataset_get(ds, l->bidx[b], dst, &lab, &e1);
        if (s == DK_OK) {
            if (l->cfg.hflip && draw_flip(l->cfg.seed, l->bpos[b])) hflip(dst, ds->channels, ds->height, ds->width);
            if (l->cfg.label_dropout > 0.0 && draw_drop(l->cfg.seed, l->bpos[b], l->cfg.label_dropout))
                lab = ds->num_classes;
            l->blab[b] = lab;
        } else {
            #pragma omp critical(dk_loader_err)
            if (first_b < 0 || b < first_b) {
                first_b = b;
                first = s;
                local = e1;
            }
        }
    }
    if (first != DK_OK) {
        /* a failed batch consumes nothing */
        uint64_t g = l->bpos[first_b];
        if (err) *err = local;
        dk_error_prefix(err, "loader (epoch %llu, index %llu)", (unsigned long long)(g / (uint64_t)ds->count),
                        (unsigned long long)(g % (uint64_t)ds->count));
        return first;
    }
    if (images->dtype == DK_F64) {
        double *d = dk_f64(images);
        for (size_t i = 0; i < (size_t)B * per; i++) d[i] = stage[i];
    }
    if (labels) memcpy(dk_i64(labels), l->blab, (size_t)B * sizeof(int64_t));
    l->epoch = epoch;
    l->index = index;
    return DK_OK;
}
