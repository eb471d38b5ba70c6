/* torchfile.c: a safe reader of PyTorch torch.save files (torch.serialization),
 * zip layout (PyTorch >= 1.6) and legacy layout, with a restricted unpickler
 * (Python's pickle protocols 2 to 5, as documented in the pickle module and
 * pickletools). Nothing in a file is ever executed: a GLOBAL outside the
 * allowlist is refused when it is read, REDUCE/NEWOBJ/BUILD only apply the
 * few allowlisted constructors as data transformations.
 *
 * Safety: every read is bounds-checked against the pickle or the file, the
 * unpickler is a loop over a heap stack (no recursion, so no depth limit to
 * hit), memo indices are bounded by the pickle length, the copying work of a
 * pickle is bounded by a multiple of its length, and every tensor view
 * (offset + strides) is checked against its storage, and every storage
 * against its zip member or legacy record, before dk_pt_open returns. The
 * walks over the finished tree (JSON, state dicts) stop at depth 100 and at a
 * node-visit budget, since a pickle may build cycles and shared subtrees. */
#include "readfile.h"
#include "diffkit/torchfile.h"
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "torchfile.c assumes a little-endian host (torch.save storages are little-endian)"
#endif

#define PT_MAX_DIMS 16
#define PT_MAX_DEPTH 100
/* materializing a view may read a storage element several times (expand,
 * stride 0): the copy holds at most this many elements more than 16 times
 * its storage */
#define PT_EXPAND_SLACK 65536u

enum { PV_MARK = 100, PV_GLOBAL, PV_STORAGE };

/* allowlisted globals */
enum {
    G_ORDERED_DICT = 1,
    G_REBUILD_V2,
    G_REBUILD,
    G_REBUILD_PARAM,
    G_REBUILD_PARAM_STATE,
    G_NAMESPACE,
    G_CODECS_ENCODE,
    G_BYTES,
    G_SIZE,
    G_STORAGE_TYPE
};

typedef struct st_type {
    const char *name;
    dk_dtype dtype; /* materialized dtype */
    size_t esize;   /* stored element size */
    int widen;      /* 0 copy, 1 int16 -> I64, 2 int8 -> I64 */
} st_type;

static const st_type st_types[] = {
    {"FloatStorage", DK_F32, 4, 0},   {"DoubleStorage", DK_F64, 8, 0}, {"HalfStorage", DK_F16, 2, 0},
    {"BFloat16Storage", DK_BF16, 2, 0}, {"LongStorage", DK_I64, 8, 0}, {"IntStorage", DK_I32, 4, 0},
    {"ShortStorage", DK_I64, 2, 1},   {"CharStorage", DK_I64, 1, 2},  {"ByteStorage", DK_U8, 1, 0},
    {"BoolStorage", DK_U8, 1, 0},     {"UntypedStorage", DK_U8, 1, 0},
};
#define N_ST_TYPES (sizeof st_types / sizeof st_types[0])

typedef struct pt_storage {
    char *key;
    const st_type *type;
    uint64_t numel;    /* elements of type */
    uint64_t view_off; /* legacy storage views: element offset into the root record */
    const unsigned char *data; /* resolved: numel * esize bytes inside the file */
    struct pt_storage *next;
} pt_storage;

struct dk_pv {
    int kind;
    int64_t i;
    double d;
    char *s; /* STR / BYTES (NUL-terminated), OBJECT / GLOBAL class name */
    size_t slen;
    dk_pv **items, **keys; /* LIST/TUPLE items; DICT values and keys */
    size_t n, cap;
    dk_pv *attrs;          /* OBJECT: its attribute dict (NULL: none) */
    int gid;               /* GLOBAL: allowlist id */
    const st_type *stype;  /* GLOBAL of a storage type */
    pt_storage *st;        /* TENSOR, STORAGE */
    int64_t off;
    int ndim;
    int64_t shape[PT_MAX_DIMS], stride[PT_MAX_DIMS];
    dk_pv *next_alloc;
};

typedef struct zip_ent {
    char *name;
    const unsigned char *data;
    size_t size;
} zip_ent;

struct dk_pt_file {
    char *label;
    unsigned char *buf;
    size_t len;
    int legacy;
    dk_pv *root;
    dk_pv *all; /* every node, for freeing */
    size_t nnodes;
    pt_storage *storages;
    zip_ent *zent; /* sorted by name */
    size_t nzent;
    char *prefix; /* "archive" of archive/data.pkl */
};

/* ------------------------------------------------------------------ nodes */

static dk_pv *pv_new(dk_pt_file *f, int kind) {
    dk_pv *v = calloc(1, sizeof *v);
    if (!v) return NULL;
    v->kind = kind;
    v->next_alloc = f->all;
    f->all = v;
    f->nnodes++;
    return v;
}

static int pv_push_item(dk_pv *v, dk_pv *key, dk_pv *val) {
    if (v->n == v->cap) {
        size_t nc = v->cap ? v->cap * 2 : 8;
        dk_pv **ni = realloc(v->items, nc * sizeof *ni);
        if (!ni) return -1;
        v->items = ni;
        if (v->kind == DK_PV_DICT) {
            dk_pv **nk = realloc(v->keys, nc * sizeof *nk);
            if (!nk) return -1;
            v->keys = nk;
        }
        v->cap = nc;
    }
    if (v->kind == DK_PV_DICT) v->keys[v->n] = key;
    v->items[v->n++] = val;
    return 0;
}

void dk_pt_close(dk_pt_file *f) {
    if (!f) return;
    for (dk_pv *v = f->all, *nx; v; v = nx) {
        nx = v->next_alloc;
        free(v->s);
        free(v->items);
        free(v->keys);
        free(v);
    }
    for (pt_storage *s = f->storages, *nx; s; s = nx) {
        nx = s->next;
        free(s->key);
        free(s);
    }
    for (size_t i = 0; i < f->nzent; i++) free(f->zent[i].name);
    free(f->zent);
    free(f->prefix);
    free(f->buf);
    free(f->label);
    free(f);
}

/* ---------------------------------------------------------------- pickle */

typedef struct pk {
    dk_pt_file *f;
    const unsigned char *s, *p, *end;
    const char *what; /* "data.pkl", "the main pickle" */
    size_t at;        /* offset of the current opcode */
    dk_error *err;
    dk_pv **stack;
    size_t sn, scap;
    size_t *marks;
    size_t mn, mcap;
    dk_pv **memo;
    size_t memocap;
    uint64_t work, work_max;
    int legacy;
} pk;

static dk_status pk_err(pk *c, dk_status code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static dk_status pk_err(pk *c, dk_status code, const char *fmt, ...) {
    char msg[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return dk_error_set(c->err, code, "%s: %s byte %zu: %s", c->f->label, c->what, c->at, msg);
}

static dk_status pk_oom(pk *c) { return pk_err(c, DK_ENOMEM, "out of memory"); }

static dk_status need(pk *c, size_t n) {
    if ((size_t)(c->end - c->p) < n) return pk_err(c, DK_EFORMAT, "truncated pickle (needs %zu more bytes): the file is cut short", n);
    return DK_OK;
}

static dk_status push(pk *c, dk_pv *v) {
    if (!v) return pk_oom(c);
    if (c->sn == c->scap) {
        size_t nc = c->scap ? c->scap * 2 : 64;
        dk_pv **ns = realloc(c->stack, nc * sizeof *ns);
        if (!ns) return pk_oom(c);
        c->stack = ns;
        c->scap = nc;
    }
    c->stack[c->sn++] = v;
    return DK_OK;
}

/* bottom of the current mark frame */
static size_t frame_base(pk *c) { return c->mn ? c->marks[c->mn - 1] : 0; }

static dk_status pop(pk *c, dk_pv **out) {
    if (c->sn <= frame_base(c)) return pk_err(c, DK_EFORMAT, "pickle stack underflow: the pickle is corrupt");
    *out = c->stack[--c->sn];
    return DK_OK;
}

static dk_status top(pk *c, dk_pv **out) {
    if (c->sn <= frame_base(c)) return pk_err(c, DK_EFORMAT, "pickle stack underflow: the pickle is corrupt");
    *out = c->stack[c->sn - 1];
    return DK_OK;
}

/* pops to the last MARK: the items are c->stack[*from .. c->sn) until the next push */
static dk_status pop_mark(pk *c, size_t *from) {
    if (!c->mn) return pk_err(c, DK_EFORMAT, "no MARK before this opcode: the pickle is corrupt");
    *from = c->marks[--c->mn];
    return DK_OK;
}

static dk_status charge(pk *c, uint64_t n) {
    c->work += n;
    if (c->work > c->work_max) return pk_err(c, DK_EFORMAT, "the pickle copies more data than its size allows (a hostile or corrupt pickle)");
    return DK_OK;
}

static uint64_t rd_le(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static dk_pv *mk_int(pk *c, int64_t i) {
    dk_pv *v = pv_new(c->f, DK_PV_INT);
    if (v) v->i = i;
    return v;
}

static dk_pv *mk_str(pk *c, int kind, const unsigned char *s, size_t n) {
    dk_pv *v = pv_new(c->f, kind);
    if (!v) return NULL;
    v->s = malloc(n + 1);
    if (!v->s) return NULL;
    if (n) memcpy(v->s, s, n);
    v->s[n] = '\0';
    v->slen = n;
    return v;
}

static int utf8_ok(const unsigned char *p, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned char b = p[i];
        size_t k;
        unsigned lo = 0x80, hi = 0xbf;
        if (b < 0x80) {
            i++;
            continue;
        }
        if (b >= 0xc2 && b <= 0xdf) k = 2;
        else if (b >= 0xe0 && b <= 0xef) {
            k = 3;
            if (b == 0xe0) lo = 0xa0;
            /* pickle writes lone surrogates with surrogatepass: accept them */
        } else if (b >= 0xf0 && b <= 0xf4) {
            k = 4;
            if (b == 0xf0) lo = 0x90;
            if (b == 0xf4) hi = 0x8f;
        } else
            return 0;
        if (n - i < k || p[i + 1] < lo || p[i + 1] > hi) return 0;
        for (size_t j = 2; j < k; j++)
            if (p[i + j] < 0x80 || p[i + j] > 0xbf) return 0;
        i += k;
    }
    return 1;
}

static dk_status op_string(pk *c, int kind, int lenbytes) {
    DK_TRY(need(c, (size_t)lenbytes));
    uint64_t n = rd_le(c->p, lenbytes);
    c->p += lenbytes;
    if (lenbytes == 4 && kind == -1) { /* BINSTRING: signed length */
        if (n & 0x80000000u) return pk_err(c, DK_EFORMAT, "negative string length");
    }
    if (kind == -1) kind = DK_PV_BYTES;
    if (n > (uint64_t)(c->end - c->p)) return pk_err(c, DK_EFORMAT, "string of %llu bytes runs past the end of the pickle (truncated file?)", (unsigned long long)n);
    if (kind == DK_PV_STR && !utf8_ok(c->p, (size_t)n)) return pk_err(c, DK_EFORMAT, "string is not valid UTF-8");
    dk_pv *v = mk_str(c, kind, c->p, (size_t)n);
    c->p += n;
    return push(c, v);
}

/* resolves an allowlisted global into a PV_GLOBAL node, or refuses it */
static dk_status op_global(pk *c, const char *mod, const char *name) {
    int gid = 0;
    const st_type *stype = NULL;
    if (!strcmp(mod, "collections") && !strcmp(name, "OrderedDict")) gid = G_ORDERED_DICT;
    else if (!strcmp(mod, "torch._utils")) {
        if (!strcmp(name, "_rebuild_tensor_v2")) gid = G_REBUILD_V2;
        else if (!strcmp(name, "_rebuild_tensor")) gid = G_REBUILD;
        else if (!strcmp(name, "_rebuild_parameter")) gid = G_REBUILD_PARAM;
        else if (!strcmp(name, "_rebuild_parameter_with_state")) gid = G_REBUILD_PARAM_STATE;
    } else if (!strcmp(mod, "argparse") && !strcmp(name, "Namespace"))
        gid = G_NAMESPACE;
    else if (!strcmp(mod, "_codecs") && !strcmp(name, "encode"))
        gid = G_CODECS_ENCODE;
    else if ((!strcmp(mod, "builtins") || !strcmp(mod, "__builtin__")) && !strcmp(name, "bytes"))
        gid = G_BYTES;
    else if (!strcmp(mod, "torch") && !strcmp(name, "Size"))
        gid = G_SIZE;
    if (!gid && (!strcmp(mod, "torch") || !strcmp(mod, "torch.cuda") || !strcmp(mod, "torch.storage"))) {
        for (size_t k = 0; k < N_ST_TYPES; k++)
            if (!strcmp(name, st_types[k].name) && (strcmp(mod, "torch.storage") || !strcmp(name, "UntypedStorage"))) {
                gid = G_STORAGE_TYPE;
                stype = &st_types[k];
            }
    }
    if (!gid && !strncmp(mod, "torch.nn.modules", 16))
        return pk_err(c, DK_EFORMAT,
                      "pickle global '%s.%s' is not allowed: the file holds a whole nn.Module (torch.save(model)); diffkit reads "
                      "only tensors, containers and scalars: save model.state_dict() with torch in Python instead",
                      mod, name);
    if (!gid)
        return pk_err(c, DK_EFORMAT,
                      "pickle global '%s.%s' is not allowed (diffkit reads only tensors, containers and scalars; "
                      "convert the file with torch in Python if it holds other objects)",
                      mod, name);
    dk_pv *v = pv_new(c->f, PV_GLOBAL);
    if (!v) return pk_oom(c);
    size_t lm = strlen(mod), ln = strlen(name);
    v->s = malloc(lm + ln + 2);
    if (!v->s) return pk_oom(c);
    memcpy(v->s, mod, lm);
    v->s[lm] = '.';
    memcpy(v->s + lm + 1, name, ln + 1);
    v->slen = lm + ln + 1;
    v->gid = gid;
    v->stype = stype;
    return push(c, v);
}

static dk_status op_global_text(pk *c) {
    /* GLOBAL: "module\nname\n" */
    char mod[256], name[256];
    char *dst[2] = {mod, name};
    for (int k = 0; k < 2; k++) {
        const unsigned char *nl = memchr(c->p, '\n', (size_t)(c->end - c->p));
        if (!nl) return pk_err(c, DK_EFORMAT, "GLOBAL without a newline (truncated file?)");
        size_t n = (size_t)(nl - c->p);
        if (n == 0 || n >= 256 || memchr(c->p, 0, n)) return pk_err(c, DK_EFORMAT, "GLOBAL with a bad name");
        memcpy(dst[k], c->p, n);
        dst[k][n] = '\0';
        c->p = nl + 1;
    }
    return op_global(c, mod, name);
}

static const char *kind_txt(const dk_pv *v) {
    switch (v->kind) {
    case PV_MARK: return "mark";
    case PV_GLOBAL: return "class";
    case PV_STORAGE: return "storage";
    default: return dk_pv_kind_name((dk_pv_kind)v->kind);
    }
}

static dk_status set_item(pk *c, dk_pv *d, dk_pv *k, dk_pv *v) {
    if (d->kind != DK_PV_DICT) return pk_err(c, DK_EFORMAT, "SETITEM on a %s, not a dict", kind_txt(d));
    if (k->kind == PV_MARK || v->kind == PV_MARK) return pk_err(c, DK_EFORMAT, "MARK used as a value");
    if (pv_push_item(d, k, v)) return pk_oom(c);
    return DK_OK;
}

static dk_status tuple_of(pk *c, size_t from, dk_pv **out) {
    size_t n = c->sn - from;
    DK_TRY(charge(c, n));
    dk_pv *t = pv_new(c->f, DK_PV_TUPLE);
    if (!t) return pk_oom(c);
    if (n) {
        t->items = malloc(n * sizeof *t->items);
        if (!t->items) return pk_oom(c);
        memcpy(t->items, c->stack + from, n * sizeof *t->items);
        t->n = t->cap = n;
    }
    c->sn = from;
    *out = t;
    return DK_OK;
}

static int as_int(const dk_pv *v, int64_t *o) {
    if (v->kind == DK_PV_INT || v->kind == DK_PV_BOOL) {
        *o = v->i;
        return 1;
    }
    return 0;
}

/* shape/stride tuple (or torch.Size, a tuple here) of non-negative ints */
static dk_status dims_of(pk *c, const dk_pv *t, const char *what, int64_t *out, int *nd) {
    if (t->kind != DK_PV_TUPLE && t->kind != DK_PV_LIST) return pk_err(c, DK_EFORMAT, "tensor %s is a %s, not a tuple", what, kind_txt(t));
    if (t->n > PT_MAX_DIMS) return pk_err(c, DK_EFORMAT, "tensor with %zu dimensions (at most %d are read)", t->n, PT_MAX_DIMS);
    for (size_t k = 0; k < t->n; k++) {
        if (!as_int(t->items[k], &out[k]) || out[k] < 0)
            return pk_err(c, DK_EFORMAT, "tensor %s[%zu] is not a non-negative int", what, k);
    }
    *nd = (int)t->n;
    return DK_OK;
}

static dk_status rebuild_tensor(pk *c, const dk_pv *args, int v2, dk_pv **out) {
    if (args->n < 4 || (v2 && args->n < 6)) return pk_err(c, DK_EFORMAT, "_rebuild_tensor with %zu arguments", args->n);
    const dk_pv *st = args->items[0];
    if (st->kind != PV_STORAGE) return pk_err(c, DK_EFORMAT, "_rebuild_tensor of a %s, not a storage", kind_txt(st));
    dk_pv *t = pv_new(c->f, DK_PV_TENSOR);
    if (!t) return pk_oom(c);
    t->st = st->st;
    if (!as_int(args->items[1], &t->off) || t->off < 0) return pk_err(c, DK_EFORMAT, "tensor storage offset is not a non-negative int");
    int nd = 0, ns = 0;
    DK_TRY(dims_of(c, args->items[2], "size", t->shape, &nd));
    DK_TRY(dims_of(c, args->items[3], "stride", t->stride, &ns));
    if (nd != ns) return pk_err(c, DK_EFORMAT, "tensor size has %d dimensions, stride %d", nd, ns);
    t->ndim = nd;
    *out = t;
    return DK_OK;
}

/* callable(args) for an allowlisted callable */
static dk_status apply(pk *c, dk_pv *fn, dk_pv *args, dk_pv **out) {
    if (fn->kind != PV_GLOBAL) return pk_err(c, DK_EFORMAT, "REDUCE of a %s, not a class or function", kind_txt(fn));
    if (args->kind != DK_PV_TUPLE) return pk_err(c, DK_EFORMAT, "REDUCE arguments are a %s, not a tuple", kind_txt(args));
    switch (fn->gid) {
    case G_ORDERED_DICT: {
        dk_pv *d = pv_new(c->f, DK_PV_DICT);
        if (!d) return pk_oom(c);
        if (args->n > 1) return pk_err(c, DK_EFORMAT, "OrderedDict with %zu arguments", args->n);
        if (args->n == 1) {
            const dk_pv *l = args->items[0];
            if (l->kind != DK_PV_LIST && l->kind != DK_PV_TUPLE) return pk_err(c, DK_EFORMAT, "OrderedDict of a %s", kind_txt(l));
            DK_TRY(charge(c, l->n));
            for (size_t k = 0; k < l->n; k++) {
                const dk_pv *pr = l->items[k];
                if ((pr->kind != DK_PV_LIST && pr->kind != DK_PV_TUPLE) || pr->n != 2) return pk_err(c, DK_EFORMAT, "OrderedDict item is not a pair");
                DK_TRY(set_item(c, d, pr->items[0], pr->items[1]));
            }
        }
        *out = d;
        return DK_OK;
    }
    case G_REBUILD_V2:
    case G_REBUILD: return rebuild_tensor(c, args, fn->gid == G_REBUILD_V2, out);
    case G_REBUILD_PARAM:
    case G_REBUILD_PARAM_STATE:
        if (args->n < 1 || args->items[0]->kind != DK_PV_TENSOR) return pk_err(c, DK_EFORMAT, "_rebuild_parameter without a tensor");
        *out = args->items[0];
        return DK_OK;
    case G_NAMESPACE: {
        if (args->n) return pk_err(c, DK_EFORMAT, "argparse.Namespace with positional arguments");
        dk_pv *o = pv_new(c->f, DK_PV_OBJECT);
        if (!o) return pk_oom(c);
        o->s = strdup(fn->s);
        if (!o->s) return pk_oom(c);
        o->slen = strlen(o->s);
        *out = o;
        return DK_OK;
    }
    case G_CODECS_ENCODE: {
        /* protocol 2 writes bytes as _codecs.encode(latin-1 text, 'latin1') */
        if (args->n != 2 || args->items[0]->kind != DK_PV_STR || args->items[1]->kind != DK_PV_STR ||
            (strcmp(args->items[1]->s, "latin1") && strcmp(args->items[1]->s, "latin-1")))
            return pk_err(c, DK_EFORMAT, "_codecs.encode is allowed only as encode(str, 'latin1') (bytes in pickle protocol 2)");
        const dk_pv *s = args->items[0];
        DK_TRY(charge(c, s->slen));
        dk_pv *b = pv_new(c->f, DK_PV_BYTES);
        if (!b || !(b->s = malloc(s->slen + 1))) return pk_oom(c);
        size_t n = 0;
        for (size_t k = 0; k < s->slen;) {
            unsigned char ch = (unsigned char)s->s[k];
            if (ch < 0x80) {
                b->s[n++] = (char)ch;
                k++;
            } else if ((ch == 0xc2 || ch == 0xc3) && k + 1 < s->slen) {
                b->s[n++] = (char)(((ch & 0x1f) << 6) | ((unsigned char)s->s[k + 1] & 0x3f));
                k += 2;
            } else
                return pk_err(c, DK_EFORMAT, "_codecs.encode of a character outside latin-1");
        }
        b->s[n] = '\0';
        b->slen = n;
        *out = b;
        return DK_OK;
    }
    case G_BYTES: {
        if (args->n) return pk_err(c, DK_EFORMAT, "bytes() is allowed only without arguments");
        *out = mk_str(c, DK_PV_BYTES, (const unsigned char *)"", 0);
        return *out ? DK_OK : pk_oom(c);
    }
    case G_SIZE: {
        if (args->n != 1 || (args->items[0]->kind != DK_PV_TUPLE && args->items[0]->kind != DK_PV_LIST))
            return pk_err(c, DK_EFORMAT, "torch.Size of something other than a tuple");
        const dk_pv *l = args->items[0];
        DK_TRY(charge(c, l->n));
        dk_pv *t = pv_new(c->f, DK_PV_TUPLE);
        if (!t) return pk_oom(c);
        if (l->n) {
            if (!(t->items = malloc(l->n * sizeof *t->items))) return pk_oom(c);
            memcpy(t->items, l->items, l->n * sizeof *t->items);
            t->n = t->cap = l->n;
        }
        *out = t;
        return DK_OK;
    }
    default: return pk_err(c, DK_EFORMAT, "'%s' cannot be called", fn->s);
    }
}

static dk_status op_build(pk *c) {
    dk_pv *state = NULL, *obj = NULL;
    DK_TRY(pop(c, &state));
    DK_TRY(top(c, &obj));
    if (obj->kind == DK_PV_OBJECT) {
        if (state->kind == DK_PV_TUPLE && state->n == 2 && state->items[1]->kind == DK_PV_NONE) state = state->items[0];
        if (state->kind != DK_PV_DICT) return pk_err(c, DK_EFORMAT, "BUILD of an object with a %s state, not a dict", kind_txt(state));
        obj->attrs = state; /* shared, not copied: the attributes are the state's entries */
        return DK_OK;
    }
    if (obj->kind == DK_PV_DICT || obj->kind == DK_PV_TENSOR) {
        /* a state dict's _metadata attribute, a Parameter's state: accepted and ignored */
        return DK_OK;
    }
    return pk_err(c, DK_EFORMAT, "BUILD of a %s", kind_txt(obj));
}

static pt_storage *find_storage(dk_pt_file *f, const char *key) {
    for (pt_storage *s = f->storages; s; s = s->next)
        if (!strcmp(s->key, key)) return s;
    return NULL;
}

/* BINPERSID: ('storage', type, key, location, numel[, view_metadata]) */
static dk_status op_persid(pk *c) {
    dk_pv *pid = NULL;
    DK_TRY(pop(c, &pid));
    if (pid->kind != DK_PV_TUPLE || pid->n < 5 || pid->items[0]->kind != DK_PV_STR || strcmp(pid->items[0]->s, "storage"))
        return pk_err(c, DK_EFORMAT, "persistent id is not a ('storage', ...) tuple");
    const dk_pv *ty = pid->items[1], *key = pid->items[2], *n = pid->items[4];
    int64_t numel;
    if (ty->kind != PV_GLOBAL || ty->gid != G_STORAGE_TYPE) return pk_err(c, DK_EFORMAT, "persistent id with a %s as its storage type", kind_txt(ty));
    if (key->kind != DK_PV_STR) return pk_err(c, DK_EFORMAT, "persistent id with a %s as its key", kind_txt(key));
    if (!as_int(n, &numel) || numel < 0) return pk_err(c, DK_EFORMAT, "persistent id with a bad element count");
    pt_storage *s = calloc(1, sizeof *s);
    if (!s) return pk_oom(c);
    s->next = c->f->storages;
    c->f->storages = s;
    s->type = ty->stype;
    s->numel = (uint64_t)numel;
    if (c->legacy && pid->n >= 6 && pid->items[5]->kind != DK_PV_NONE) {
        /* legacy storage view: (view_key, offset, view_size) into the root storage `key` */
        const dk_pv *vm = pid->items[5];
        int64_t o, vs;
        if (vm->kind != DK_PV_TUPLE || vm->n != 3 || !as_int(vm->items[1], &o) || !as_int(vm->items[2], &vs) || o < 0 || vs < 0)
            return pk_err(c, DK_EFORMAT, "bad storage view metadata");
        s->view_off = (uint64_t)o;
        s->numel = (uint64_t)vs;
    }
    s->key = strdup(key->s);
    if (!s->key) return pk_oom(c);
    dk_pv *v = pv_new(c->f, PV_STORAGE);
    if (!v) return pk_oom(c);
    v->st = s;
    v->s = malloc(strlen(s->type->name) + 7);
    if (!v->s) return pk_oom(c);
    sprintf(v->s, "torch.%s", s->type->name);
    v->slen = strlen(v->s);
    return push(c, v);
}

static dk_status memo_put(pk *c, uint64_t idx) {
    dk_pv *v = NULL;
    DK_TRY(top(c, &v));
    if (idx >= (uint64_t)(c->end - c->s) + 1) return pk_err(c, DK_EFORMAT, "memo index %llu is larger than the pickle", (unsigned long long)idx);
    if (idx >= c->memocap) {
        size_t nc = c->memocap ? c->memocap : 64;
        while (nc <= idx) nc *= 2;
        dk_pv **nm = realloc(c->memo, nc * sizeof *nm);
        if (!nm) return pk_oom(c);
        memset(nm + c->memocap, 0, (nc - c->memocap) * sizeof *nm);
        c->memo = nm;
        c->memocap = nc;
    }
    c->memo[idx] = v;
    return DK_OK;
}

static dk_status memo_get(pk *c, uint64_t idx) {
    if (idx >= c->memocap || !c->memo[idx]) return pk_err(c, DK_EFORMAT, "memo index %llu was never stored", (unsigned long long)idx);
    return push(c, c->memo[idx]);
}

/* Runs one pickle from c->p to its STOP; *out is the result. */
static dk_status run_pickle(pk *c, dk_pv **out) {
    size_t memo_n = 0; /* MEMOIZE: next index */
    c->work_max = 64 * (uint64_t)(c->end - c->p) + (1u << 20);
    for (;;) {
        c->at = (size_t)(c->p - c->s);
        if (c->p >= c->end) return pk_err(c, DK_EFORMAT, "the pickle ends without STOP (truncated file?)");
        unsigned char op = *c->p++;
        dk_pv *a = NULL, *b = NULL, *v = NULL;
        size_t from = 0;
        switch (op) {
        case 0x80: /* PROTO */
            DK_TRY(need(c, 1));
            if (*c->p > 5) return pk_err(c, DK_EFORMAT, "pickle protocol %u is newer than 5", *c->p);
            c->p++;
            break;
        case 0x95: /* FRAME: an 8-byte length, the frame follows inline */
            DK_TRY(need(c, 8));
            c->p += 8;
            break;
        case '.': /* STOP */
            DK_TRY(pop(c, out));
            return DK_OK;
        case '(': /* MARK */
            if (c->mn == c->mcap) {
                size_t nc = c->mcap ? c->mcap * 2 : 32;
                size_t *nm = realloc(c->marks, nc * sizeof *nm);
                if (!nm) return pk_oom(c);
                c->marks = nm;
                c->mcap = nc;
            }
            c->marks[c->mn++] = c->sn;
            break;
        case '0': DK_TRY(pop(c, &a)); break; /* POP */
        case '1': DK_TRY(pop_mark(c, &from)); c->sn = from; break; /* POP_MARK */
        case '2': DK_TRY(top(c, &a)); DK_TRY(push(c, a)); break;   /* DUP */
        case 'N': DK_TRY(push(c, pv_new(c->f, DK_PV_NONE))); break;
        case 0x88:
        case 0x89: /* NEWTRUE, NEWFALSE */
            v = pv_new(c->f, DK_PV_BOOL);
            if (v) v->i = op == 0x88;
            DK_TRY(push(c, v));
            break;
        case 'J': /* BININT */
            DK_TRY(need(c, 4));
            DK_TRY(push(c, mk_int(c, (int32_t)(uint32_t)rd_le(c->p, 4))));
            c->p += 4;
            break;
        case 'K': /* BININT1 */
            DK_TRY(need(c, 1));
            DK_TRY(push(c, mk_int(c, *c->p++)));
            break;
        case 'M': /* BININT2 */
            DK_TRY(need(c, 2));
            DK_TRY(push(c, mk_int(c, (int64_t)rd_le(c->p, 2))));
            c->p += 2;
            break;
        case 0x8a:   /* LONG1 */
        case 0x8b: { /* LONG4 */
            int lb = op == 0x8a ? 1 : 4;
            DK_TRY(need(c, (size_t)lb));
            uint64_t n = rd_le(c->p, lb);
            c->p += lb;
            if (n > 8) return pk_err(c, DK_EFORMAT, "a Python int of %llu bytes does not fit int64 (diffkit reads ints up to 64 bits)", (unsigned long long)n);
            DK_TRY(need(c, (size_t)n));
            uint64_t u = rd_le(c->p, (int)n);
            if (n && n < 8 && (c->p[n - 1] & 0x80)) u |= ~(uint64_t)0 << (8 * n); /* sign-extend */
            c->p += n;
            DK_TRY(push(c, mk_int(c, (int64_t)u)));
            break;
        }
        case 'G': { /* BINFLOAT: big-endian double */
            DK_TRY(need(c, 8));
            uint64_t u = 0;
            for (int k = 0; k < 8; k++) u = (u << 8) | c->p[k];
            c->p += 8;
            double d;
            memcpy(&d, &u, 8);
            v = pv_new(c->f, DK_PV_FLOAT);
            if (v) v->d = d;
            DK_TRY(push(c, v));
            break;
        }
        case 'X': DK_TRY(op_string(c, DK_PV_STR, 4)); break;    /* BINUNICODE */
        case 0x8c: DK_TRY(op_string(c, DK_PV_STR, 1)); break;   /* SHORT_BINUNICODE */
        case 0x8d: DK_TRY(op_string(c, DK_PV_STR, 8)); break;   /* BINUNICODE8 */
        case 'B': DK_TRY(op_string(c, DK_PV_BYTES, 4)); break;  /* BINBYTES */
        case 'C': DK_TRY(op_string(c, DK_PV_BYTES, 1)); break;  /* SHORT_BINBYTES */
        case 0x8e: DK_TRY(op_string(c, DK_PV_BYTES, 8)); break; /* BINBYTES8 */
        case 'T': DK_TRY(op_string(c, -1, 4)); break;           /* BINSTRING (Python 2 str) */
        case 'U': DK_TRY(op_string(c, DK_PV_BYTES, 1)); break;  /* SHORT_BINSTRING */
        case '}': DK_TRY(push(c, pv_new(c->f, DK_PV_DICT))); break;
        case ']': DK_TRY(push(c, pv_new(c->f, DK_PV_LIST))); break;
        case ')': DK_TRY(push(c, pv_new(c->f, DK_PV_TUPLE))); break;
        case 't': /* TUPLE */
            DK_TRY(pop_mark(c, &from));
            DK_TRY(tuple_of(c, from, &v));
            DK_TRY(push(c, v));
            break;
        case 0x85:
        case 0x86:
        case 0x87: { /* TUPLE1..3 */
            size_t k = (size_t)(op - 0x84);
            if (c->sn < frame_base(c) + k) return pk_err(c, DK_EFORMAT, "pickle stack underflow: the pickle is corrupt");
            DK_TRY(tuple_of(c, c->sn - k, &v));
            DK_TRY(push(c, v));
            break;
        }
        case 'l': /* LIST */
            DK_TRY(pop_mark(c, &from));
            DK_TRY(tuple_of(c, from, &v));
            v->kind = DK_PV_LIST;
            DK_TRY(push(c, v));
            break;
        case 'd': /* DICT */
            DK_TRY(pop_mark(c, &from));
            if ((c->sn - from) % 2) return pk_err(c, DK_EFORMAT, "DICT with an odd number of items");
            v = pv_new(c->f, DK_PV_DICT);
            if (!v) return pk_oom(c);
            DK_TRY(charge(c, c->sn - from));
            for (size_t k = from; k < c->sn; k += 2) DK_TRY(set_item(c, v, c->stack[k], c->stack[k + 1]));
            c->sn = from;
            DK_TRY(push(c, v));
            break;
        case 'a': /* APPEND */
            DK_TRY(pop(c, &b));
            DK_TRY(top(c, &a));
            if (a->kind != DK_PV_LIST) return pk_err(c, DK_EFORMAT, "APPEND to a %s, not a list", kind_txt(a));
            if (pv_push_item(a, NULL, b)) return pk_oom(c);
            break;
        case 'e': /* APPENDS */
            DK_TRY(pop_mark(c, &from));
            if (from == 0 || from <= frame_base(c)) return pk_err(c, DK_EFORMAT, "APPENDS without a list");
            a = c->stack[from - 1];
            if (a->kind != DK_PV_LIST) return pk_err(c, DK_EFORMAT, "APPENDS to a %s, not a list", kind_txt(a));
            DK_TRY(charge(c, c->sn - from));
            for (size_t k = from; k < c->sn; k++)
                if (pv_push_item(a, NULL, c->stack[k])) return pk_oom(c);
            c->sn = from;
            break;
        case 's': /* SETITEM */
            DK_TRY(pop(c, &b));
            DK_TRY(pop(c, &a));
            DK_TRY(top(c, &v));
            DK_TRY(set_item(c, v, a, b));
            break;
        case 'u': /* SETITEMS */
            DK_TRY(pop_mark(c, &from));
            if (from == 0 || from <= frame_base(c)) return pk_err(c, DK_EFORMAT, "SETITEMS without a dict");
            if ((c->sn - from) % 2) return pk_err(c, DK_EFORMAT, "SETITEMS with an odd number of items");
            v = c->stack[from - 1];
            DK_TRY(charge(c, c->sn - from));
            for (size_t k = from; k < c->sn; k += 2) DK_TRY(set_item(c, v, c->stack[k], c->stack[k + 1]));
            c->sn = from;
            break;
        case 'q': /* BINPUT */
            DK_TRY(need(c, 1));
            DK_TRY(memo_put(c, *c->p++));
            break;
        case 'r': /* LONG_BINPUT */
            DK_TRY(need(c, 4));
            DK_TRY(memo_put(c, rd_le(c->p, 4)));
            c->p += 4;
            break;
        case 0x94: /* MEMOIZE */
            DK_TRY(memo_put(c, memo_n));
            memo_n++;
            break;
        case 'h': /* BINGET */
            DK_TRY(need(c, 1));
            DK_TRY(memo_get(c, *c->p++));
            break;
        case 'j': /* LONG_BINGET */
            DK_TRY(need(c, 4));
            DK_TRY(memo_get(c, rd_le(c->p, 4)));
            c->p += 4;
            break;
        case 'c': DK_TRY(op_global_text(c)); break; /* GLOBAL */
        case 0x93: /* STACK_GLOBAL */
            DK_TRY(pop(c, &b));
            DK_TRY(pop(c, &a));
            if (a->kind != DK_PV_STR || b->kind != DK_PV_STR || a->slen >= 256 || b->slen >= 256)
                return pk_err(c, DK_EFORMAT, "STACK_GLOBAL needs two short strings");
            DK_TRY(op_global(c, a->s, b->s));
            break;
        case 'R': /* REDUCE */
            DK_TRY(pop(c, &b));
            DK_TRY(pop(c, &a));
            DK_TRY(apply(c, a, b, &v));
            DK_TRY(push(c, v));
            break;
        case 0x81: /* NEWOBJ: cls.__new__(cls, *args) */
            DK_TRY(pop(c, &b));
            DK_TRY(pop(c, &a));
            if (a->kind == PV_GLOBAL && a->gid != G_NAMESPACE && a->gid != G_ORDERED_DICT)
                return pk_err(c, DK_EFORMAT, "NEWOBJ of '%s'", a->s);
            DK_TRY(apply(c, a, b, &v));
            DK_TRY(push(c, v));
            break;
        case 0x92: /* NEWOBJ_EX: cls, args, kwargs */
            DK_TRY(pop(c, &v));
            DK_TRY(pop(c, &b));
            DK_TRY(pop(c, &a));
            if (v->kind != DK_PV_DICT || v->n) return pk_err(c, DK_EFORMAT, "NEWOBJ_EX with keyword arguments");
            if (a->kind == PV_GLOBAL && a->gid != G_NAMESPACE && a->gid != G_ORDERED_DICT)
                return pk_err(c, DK_EFORMAT, "NEWOBJ_EX of '%s'", a->s);
            DK_TRY(apply(c, a, b, &v));
            DK_TRY(push(c, v));
            break;
        case 'b': DK_TRY(op_build(c)); break; /* BUILD */
        case 'Q': DK_TRY(op_persid(c)); break; /* BINPERSID */
        default:
            return pk_err(c, DK_EFORMAT,
                          "pickle opcode 0x%02x is not supported (diffkit reads the binary opcodes torch.save writes; "
                          "re-save the file with torch.save)",
                          op);
        }
    }
}

static void pk_free(pk *c) {
    free(c->stack);
    free(c->marks);
    free(c->memo);
}

/* Runs the pickle s[0..n); *used is the number of bytes up to and including its STOP. */
static dk_status unpickle(dk_pt_file *f, const unsigned char *s, size_t n, const char *what, int legacy, dk_pv **out,
                          size_t *used, dk_error *err) {
    pk c;
    memset(&c, 0, sizeof c);
    c.f = f;
    c.s = c.p = s;
    c.end = s + n;
    c.what = what;
    c.err = err;
    c.legacy = legacy;
    dk_status st = run_pickle(&c, out);
    if (st == DK_OK && (*out)->kind == PV_MARK) st = pk_err(&c, DK_EFORMAT, "the pickle's result is a MARK");
    if (used) *used = (size_t)(c.p - s);
    pk_free(&c);
    return st;
}

/* ------------------------------------------------------------------ zip */

static dk_status zerr(dk_pt_file *f, dk_error *err, dk_status code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static dk_status zerr(dk_pt_file *f, dk_error *err, dk_status code, const char *fmt, ...) {
    char msg[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return dk_error_set(err, code, "%s: %s", f->label, msg);
}

static int cmp_zent(const void *a, const void *b) { return strcmp(((const zip_ent *)a)->name, ((const zip_ent *)b)->name); }

static const zip_ent *zfind(const dk_pt_file *f, const char *name) {
    zip_ent k = {(char *)name, NULL, 0};
    return bsearch(&k, f->zent, f->nzent, sizeof k, cmp_zent);
}

#define RESAVE "re-save it with torch.save"

static dk_status parse_zip(dk_pt_file *f, dk_error *err) {
    const unsigned char *b = f->buf;
    size_t len = f->len, eocd = 0;
    int found = 0;
    if (len < 22) return zerr(f, err, DK_EFORMAT, "zip archive too short (truncated file?)");
    for (size_t k = len - 22 + 1; k-- > 0;) {
        if (len - 22 - k > 65535) break;
        if (rd_le(b + k, 4) == 0x06054b50u) {
            eocd = k;
            found = 1;
            break;
        }
    }
    if (!found) return zerr(f, err, DK_EFORMAT, "no zip end-of-central-directory record (truncated file?)");
    const unsigned char *e = b + eocd;
    uint64_t disk = rd_le(e + 4, 2), cdisk = rd_le(e + 6, 2), nd = rd_le(e + 8, 2), ntot = rd_le(e + 10, 2);
    uint64_t cdsize = rd_le(e + 12, 4), cdoff = rd_le(e + 16, 4);
    size_t cd_limit = eocd;
    if (eocd >= 20 && rd_le(b + eocd - 20, 4) == 0x07064b50u) {
        /* zip64 (PyTorch's miniz writes the zip64 records even for small
         * archives): the locator points at the zip64 end-of-central-directory
         * record, whose 8-byte counts and offsets replace the 0xffff ones */
        const unsigned char *loc = b + eocd - 20;
        uint64_t z64 = rd_le(loc + 8, 8);
        if (rd_le(loc + 4, 4) || rd_le(loc + 16, 4) > 1) return zerr(f, err, DK_EUNSUPPORTED, "multi-volume zip archive is not supported");
        if (z64 > eocd - 20 || eocd - 20 - z64 < 56 || rd_le(b + z64, 4) != 0x06064b50u)
            return zerr(f, err, DK_EFORMAT, "zip64 end-of-central-directory record at %llu is missing (truncated file?)", (unsigned long long)z64);
        const unsigned char *z = b + z64;
        disk = rd_le(z + 16, 4);
        cdisk = rd_le(z + 20, 4);
        nd = rd_le(z + 24, 8);
        ntot = rd_le(z + 32, 8);
        cdsize = rd_le(z + 40, 8);
        cdoff = rd_le(z + 48, 8);
        cd_limit = (size_t)z64;
    }
    if (disk || cdisk || nd != ntot) return zerr(f, err, DK_EUNSUPPORTED, "multi-volume zip archive is not supported");
    if (ntot > cd_limit / 46) return zerr(f, err, DK_EFORMAT, "zip archive claims %llu members, more than its directory can hold", (unsigned long long)ntot);
    if (cdoff > cd_limit || cdsize > cd_limit - cdoff) return zerr(f, err, DK_EFORMAT, "zip central directory (offset %llu, %llu bytes) is outside the file (truncated file?)", (unsigned long long)cdoff, (unsigned long long)cdsize);
    f->zent = calloc(ntot ? ntot : 1, sizeof *f->zent);
    if (!f->zent) return zerr(f, err, DK_ENOMEM, "out of memory");
    size_t p = (size_t)cdoff, cdend = (size_t)(cdoff + cdsize);
    for (uint64_t i = 0; i < ntot; i++) {
        if (cdend - p < 46 || rd_le(b + p, 4) != 0x02014b50u) return zerr(f, err, DK_EFORMAT, "zip central directory entry %llu is corrupt", (unsigned long long)i);
        const unsigned char *h = b + p;
        uint64_t flags = rd_le(h + 8, 2), method = rd_le(h + 10, 2), csz = rd_le(h + 20, 4), usz = rd_le(h + 24, 4);
        size_t nl = (size_t)rd_le(h + 28, 2), xl = (size_t)rd_le(h + 30, 2), cl = (size_t)rd_le(h + 32, 2);
        uint64_t lho = rd_le(h + 42, 4);
        if (cdend - p - 46 < nl + xl + cl) return zerr(f, err, DK_EFORMAT, "zip central directory entry %llu runs past the directory", (unsigned long long)i);
        char *name = malloc(nl + 1);
        if (!name) return zerr(f, err, DK_ENOMEM, "out of memory");
        memcpy(name, h + 46, nl);
        name[nl] = '\0';
        f->zent[f->nzent].name = name;
        f->nzent++;
        if (memchr(name, 0, nl)) return zerr(f, err, DK_EFORMAT, "zip member name with a NUL byte");
        if (flags & 0x41) return zerr(f, err, DK_EUNSUPPORTED, "zip member '%s' is encrypted: diffkit reads only what torch.save writes", name);
        if (method != 0)
            return zerr(f, err, DK_EUNSUPPORTED, "zip member '%s' is compressed (method %llu%s); torch.save stores members uncompressed: %s", name,
                        (unsigned long long)method, method == 8 ? ", deflate" : "", RESAVE);
        if (csz == 0xffffffffu || usz == 0xffffffffu || lho == 0xffffffffu) {
            /* the zip64 extra field (id 1) holds the 8-byte values that are 0xffffffff here, in this order */
            const unsigned char *x = h + 46 + nl, *xe = x + xl;
            int got = 0;
            while (xe - x >= 4) {
                size_t id = (size_t)rd_le(x, 2), sz = (size_t)rd_le(x + 2, 2);
                if ((size_t)(xe - x - 4) < sz) break;
                if (id == 1) {
                    const unsigned char *q = x + 4, *qe = q + sz;
                    got = 1;
                    if (usz == 0xffffffffu) { if (qe - q < 8) got = 0; else { usz = rd_le(q, 8); q += 8; } }
                    if (got && csz == 0xffffffffu) { if (qe - q < 8) got = 0; else { csz = rd_le(q, 8); q += 8; } }
                    if (got && lho == 0xffffffffu) { if (qe - q < 8) got = 0; else { lho = rd_le(q, 8); q += 8; } }
                    break;
                }
                x += 4 + sz;
            }
            if (!got) return zerr(f, err, DK_EFORMAT, "zip member '%s' lacks its zip64 sizes", name);
        }
        if (csz != usz) return zerr(f, err, DK_EFORMAT, "zip member '%s' is stored with different sizes (%llu and %llu)", name, (unsigned long long)csz, (unsigned long long)usz);
        if (lho > len || len - lho < 30 || rd_le(b + lho, 4) != 0x04034b50u)
            return zerr(f, err, DK_EFORMAT, "zip member '%s': local header at %llu is missing (truncated file?)", name, (unsigned long long)lho);
        size_t lnl = (size_t)rd_le(b + lho + 26, 2), lxl = (size_t)rd_le(b + lho + 28, 2);
        size_t ds = (size_t)lho + 30 + lnl + lxl;
        if (ds > len || (uint64_t)(len - ds) < csz)
            return zerr(f, err, DK_EFORMAT, "zip member '%s' (%llu bytes at %zu) runs past the end of the file (truncated file?)", name, (unsigned long long)csz, ds);
        f->zent[f->nzent - 1].data = b + ds;
        f->zent[f->nzent - 1].size = (size_t)csz;
        p += 46 + nl + xl + cl;
    }
    qsort(f->zent, f->nzent, sizeof *f->zent, cmp_zent);
    for (size_t i = 1; i < f->nzent; i++)
        if (!strcmp(f->zent[i].name, f->zent[i - 1].name)) return zerr(f, err, DK_EFORMAT, "zip member '%s' appears twice", f->zent[i].name);
    /* the archive folder: the one member <prefix>/data.pkl */
    const zip_ent *pkl = NULL;
    for (size_t i = 0; i < f->nzent; i++) {
        const char *nm = f->zent[i].name, *sl = strchr(nm, '/');
        if (sl && sl > nm && !strcmp(sl, "/data.pkl")) {
            if (pkl) return zerr(f, err, DK_EFORMAT, "zip archive holds two data.pkl members ('%s', '%s')", pkl->name, nm);
            pkl = &f->zent[i];
        }
    }
    if (!pkl) return zerr(f, err, DK_EFORMAT, "zip archive has no <name>/data.pkl member: not a torch.save file");
    size_t pl = (size_t)(strchr(pkl->name, '/') - pkl->name);
    f->prefix = malloc(pl + 1);
    if (!f->prefix) return zerr(f, err, DK_ENOMEM, "out of memory");
    memcpy(f->prefix, pkl->name, pl);
    f->prefix[pl] = '\0';
    char nm[300];
    if (pl < 200) {
        snprintf(nm, sizeof nm, "%s/byteorder", f->prefix);
        const zip_ent *bo = zfind(f, nm);
        if (bo && !(bo->size == 6 && !memcmp(bo->data, "little", 6)))
            return zerr(f, err, DK_EUNSUPPORTED, "the storages are not little-endian (%s): load and re-save it with torch on a little-endian machine", nm);
    }
    dk_status st = unpickle(f, pkl->data, pkl->size, "data.pkl", 0, &f->root, NULL, err);
    if (st) return st;
    for (pt_storage *s = f->storages; s; s = s->next) {
        size_t kl = strlen(s->key);
        char *mn = malloc(pl + kl + 8);
        if (!mn) return zerr(f, err, DK_ENOMEM, "out of memory");
        sprintf(mn, "%s/data/%s", f->prefix, s->key);
        const zip_ent *z = zfind(f, mn);
        free(mn);
        if (!z) return zerr(f, err, DK_EFORMAT, "storage '%s' has no member %s/data/%s (truncated or edited archive?)", s->key, f->prefix, s->key);
        uint64_t es = s->type->esize;
        if (s->numel > z->size / es) /* numel * es > size, without overflow */
            return zerr(f, err, DK_EFORMAT, "storage '%s' holds %llu elements of %llu bytes, its member only %zu bytes", s->key,
                        (unsigned long long)s->numel, (unsigned long long)es, z->size);
        s->data = z->data;
    }
    return DK_OK;
}

/* ---------------------------------------------------------------- legacy */

/* the first pickle of a legacy file: torch.serialization's MAGIC_NUMBER
 * 0x1950a86a20f9469cfc6c as a LONG1, after PROTO (and a FRAME for protocol 4+) */
static const unsigned char legacy_magic[] = {0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e};

/* length of the magic-number pickle at the start of buf, 0 if absent */
static size_t legacy_magic_len(const unsigned char *b, size_t len) {
    size_t p = 2;
    if (len < 2 || b[0] != 0x80 || b[1] < 2 || b[1] > 5) return 0;
    if (len > p && b[p] == 0x95) p += 9;
    if (len < p || len - p < sizeof legacy_magic || memcmp(b + p, legacy_magic, sizeof legacy_magic)) return 0;
    return p + sizeof legacy_magic;
}

typedef struct leg_rec {
    const char *key;
    const unsigned char *data;
    uint64_t nbytes;
} leg_rec;

static int cmp_rec(const void *a, const void *b) { return strcmp(((const leg_rec *)a)->key, ((const leg_rec *)b)->key); }

static dk_status parse_legacy(dk_pt_file *f, dk_error *err) {
    size_t pos = legacy_magic_len(f->buf, f->len), used = 0;
    dk_pv *v = NULL;
    dk_status st;
    f->legacy = 1;
    DK_TRY(unpickle(f, f->buf + pos, f->len - pos, "the protocol-version pickle", 1, &v, &used, err));
    pos += used;
    if (v->kind != DK_PV_INT || v->i != 1001)
        return zerr(f, err, DK_EFORMAT, "legacy torch.save protocol version is not 1001: %s", "load and re-save it with a recent torch");
    DK_TRY(unpickle(f, f->buf + pos, f->len - pos, "the sys_info pickle", 1, &v, &used, err));
    pos += used;
    const dk_pv *le = dk_pv_get(v, "little_endian");
    if (!le || le->kind != DK_PV_BOOL || !le->i) return zerr(f, err, DK_EUNSUPPORTED, "legacy file saved on a big-endian machine (or without sys_info): re-save it on a little-endian one");
    DK_TRY(unpickle(f, f->buf + pos, f->len - pos, "the main pickle", 1, &f->root, &used, err));
    pos += used;
    DK_TRY(unpickle(f, f->buf + pos, f->len - pos, "the storage-keys pickle", 1, &v, &used, err));
    pos += used;
    if (v->kind != DK_PV_LIST) return zerr(f, err, DK_EFORMAT, "legacy storage keys are not a list");
    leg_rec *rec = calloc(v->n ? v->n : 1, sizeof *rec);
    if (!rec) return zerr(f, err, DK_ENOMEM, "out of memory");
    st = DK_OK;
    for (size_t i = 0; i < v->n && !st; i++) {
        const dk_pv *k = v->items[i];
        if (k->kind != DK_PV_STR) {
            st = zerr(f, err, DK_EFORMAT, "legacy storage key %zu is not a str", i);
            break;
        }
        pt_storage *s = find_storage(f, k->s);
        if (!s) {
            st = zerr(f, err, DK_EFORMAT, "legacy storage '%s' is listed but no tensor uses it", k->s);
            break;
        }
        if (f->len - pos < 8) {
            st = zerr(f, err, DK_EFORMAT, "legacy storage '%s': the file ends at byte %zu before its size (truncated file?)", k->s, pos);
            break;
        }
        uint64_t n = rd_le(f->buf + pos, 8), es = s->type->esize;
        pos += 8;
        if (n > (f->len - pos) / es) {
            st = zerr(f, err, DK_EFORMAT, "legacy storage '%s' of %llu elements runs past the end of the file at byte %zu (truncated file?)", k->s, (unsigned long long)n, pos);
            break;
        }
        rec[i].key = k->s;
        rec[i].data = f->buf + pos;
        rec[i].nbytes = n * es;
        pos += (size_t)(n * es);
    }
    if (!st) {
        qsort(rec, v->n, sizeof *rec, cmp_rec);
        for (size_t i = 1; i < v->n && !st; i++)
            if (!strcmp(rec[i].key, rec[i - 1].key)) st = zerr(f, err, DK_EFORMAT, "legacy storage '%s' is listed twice", rec[i].key);
        for (pt_storage *s = f->storages; s && !st; s = s->next) {
            leg_rec k = {s->key, NULL, 0};
            const leg_rec *r = bsearch(&k, rec, v->n, sizeof k, cmp_rec);
            uint64_t es = s->type->esize;
            if (!r) {
                st = zerr(f, err, DK_EFORMAT, "legacy storage '%s' is used but not stored", s->key);
                break;
            }
            if (s->view_off > r->nbytes / es || s->numel > r->nbytes / es - s->view_off) {
                st = zerr(f, err, DK_EFORMAT, "legacy storage '%s': %llu elements at %llu do not fit its %llu bytes", s->key,
                          (unsigned long long)s->numel, (unsigned long long)s->view_off, (unsigned long long)r->nbytes);
                break;
            }
            s->data = r->data + s->view_off * es;
        }
    }
    free(rec);
    return st;
}

/* ------------------------------------------------------------ tensors */

/* every tensor view inside its storage */
static dk_status check_views(dk_pt_file *f, dk_error *err) {
    for (dk_pv *v = f->all; v; v = v->next_alloc) {
        if (v->kind != DK_PV_TENSOR) continue;
        uint64_t numel = 1, last = (uint64_t)v->off;
        int empty = 0;
        for (int d = 0; d < v->ndim; d++)
            if (v->shape[d] == 0) empty = 1;
        if (empty) continue;
        for (int d = 0; d < v->ndim; d++) {
            uint64_t sh = (uint64_t)v->shape[d], sd = (uint64_t)v->stride[d];
            if (numel > UINT64_MAX / sh) return zerr(f, err, DK_EFORMAT, "a tensor of storage '%s' has too many elements", v->st->key);
            numel *= sh;
            if (sd && (sh - 1) > (UINT64_MAX - last) / sd) return zerr(f, err, DK_EFORMAT, "a tensor view of storage '%s' overflows", v->st->key);
            last += (sh - 1) * sd;
        }
        if (last >= v->st->numel)
            return zerr(f, err, DK_EFORMAT, "a tensor view (offset %lld) of storage '%s' reads element %llu of %llu: the file is corrupt",
                        (long long)v->off, v->st->key, (unsigned long long)last, (unsigned long long)v->st->numel);
    }
    return DK_OK;
}

static dk_pt_file *file_new(const char *label, dk_error *err) {
    dk_pt_file *f = calloc(1, sizeof *f);
    if (f) f->label = strdup(label ? label : "(memory)");
    if (!f || !f->label) {
        free(f);
        dk_error_set(err, DK_ENOMEM, "torch file: out of memory");
        return NULL;
    }
    return f;
}

static dk_status parse_all(dk_pt_file *f, dk_error *err) {
    if (f->len >= 4 && rd_le(f->buf, 4) == 0x04034b50u) DK_TRY(parse_zip(f, err));
    else if (legacy_magic_len(f->buf, f->len))
        DK_TRY(parse_legacy(f, err));
    else if (f->len >= 262 && !memcmp(f->buf + 257, "ustar", 5))
        return zerr(f, err, DK_EUNSUPPORTED, "a tar torch.save file (PyTorch < 0.4) is not supported: load and re-save it with a recent torch");
    else if (f->len >= 2 && f->buf[0] == 0x80)
        return zerr(f, err, DK_EFORMAT, "a bare pickle, not a torch.save file (no zip archive, no legacy magic number)");
    else
        return zerr(f, err, DK_EFORMAT, "not a torch.save file (neither a zip archive nor the legacy format): convert it with torch.save");
    return check_views(f, err);
}

dk_pt_file *dk_pt_parse(const void *buf, size_t len, const char *label, dk_error *err) {
    dk_pt_file *f = file_new(label, err);
    if (!f) return NULL;
    f->buf = malloc(len ? len : 1);
    if (!f->buf) {
        dk_error_set(err, DK_ENOMEM, "%s: out of memory copying %zu bytes", f->label, len);
        dk_pt_close(f);
        return NULL;
    }
    if (len) memcpy(f->buf, buf, len);
    f->len = len;
    if (parse_all(f, err)) {
        dk_pt_close(f);
        return NULL;
    }
    return f;
}

dk_pt_file *dk_pt_open(const char *path, dk_error *err) {
    if (!path) {
        dk_error_set(err, DK_EINVAL, "torch file: path is NULL");
        return NULL;
    }
    dk_pt_file *f = file_new(path, err);
    if (!f) return NULL;
    if (dk__read_file(path, &f->buf, &f->len, err) != DK_OK || parse_all(f, err)) {
        dk_pt_close(f);
        return NULL;
    }
    return f;
}

const char *dk_pt_label(const dk_pt_file *f) { return f ? f->label : NULL; }
int dk_pt_is_legacy(const dk_pt_file *f) { return f ? f->legacy : 0; }
const dk_pv *dk_pt_root(const dk_pt_file *f) { return f ? f->root : NULL; }

/* ------------------------------------------------------------ accessors */

dk_pv_kind dk_pv_kind_of(const dk_pv *v) {
    if (!v) return DK_PV_NONE;
    if (v->kind >= PV_MARK) return DK_PV_OBJECT;
    return (dk_pv_kind)v->kind;
}

const char *dk_pv_kind_name(dk_pv_kind k) {
    static const char *names[] = {"none", "bool", "int", "float", "str", "bytes", "list", "tuple", "dict", "tensor", "object"};
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

static const dk_pv *as_map(const dk_pv *v) {
    if (!v) return NULL;
    if (v->kind == DK_PV_DICT) return v;
    if (v->kind == DK_PV_OBJECT && v->attrs && v->attrs->kind == DK_PV_DICT) return v->attrs;
    return NULL;
}

size_t dk_pv_len(const dk_pv *v) {
    if (!v) return 0;
    switch (v->kind) {
    case DK_PV_STR:
    case DK_PV_BYTES: return v->slen;
    case DK_PV_LIST:
    case DK_PV_TUPLE:
    case DK_PV_DICT: return v->n;
    case DK_PV_OBJECT: return as_map(v) ? as_map(v)->n : 0;
    default: return 0;
    }
}

const dk_pv *dk_pv_item(const dk_pv *v, size_t i) {
    if (!v) return NULL;
    if (v->kind == DK_PV_LIST || v->kind == DK_PV_TUPLE) return i < v->n ? v->items[i] : NULL;
    const dk_pv *m = as_map(v);
    return m && i < m->n ? m->items[i] : NULL;
}

const dk_pv *dk_pv_key(const dk_pv *v, size_t i) {
    const dk_pv *m = as_map(v);
    return m && i < m->n ? m->keys[i] : NULL;
}

const dk_pv *dk_pv_get(const dk_pv *v, const char *key) {
    const dk_pv *m = as_map(v);
    if (!m || !key) return NULL;
    size_t kl = strlen(key);
    for (size_t i = m->n; i-- > 0;) {
        const dk_pv *k = m->keys[i];
        if (k->kind == DK_PV_STR && k->slen == kl && !memcmp(k->s, key, kl)) return m->items[i];
    }
    return NULL;
}

const char *dk_pv_class(const dk_pv *v) {
    if (!v || (v->kind != DK_PV_OBJECT && v->kind < PV_MARK)) return NULL;
    return v->s;
}

int dk_pv_int(const dk_pv *v, int64_t *out) {
    if (!v || (v->kind != DK_PV_INT && v->kind != DK_PV_BOOL)) return -1;
    *out = v->i;
    return 0;
}

int dk_pv_float(const dk_pv *v, double *out) {
    if (!v) return -1;
    if (v->kind == DK_PV_FLOAT) *out = v->d;
    else if (v->kind == DK_PV_INT || v->kind == DK_PV_BOOL) *out = (double)v->i;
    else return -1;
    return 0;
}

int dk_pv_bool(const dk_pv *v, int *out) {
    if (!v || v->kind != DK_PV_BOOL) return -1;
    *out = (int)v->i;
    return 0;
}

const char *dk_pv_str(const dk_pv *v, size_t *len) {
    if (!v || (v->kind != DK_PV_STR && v->kind != DK_PV_BYTES)) return NULL;
    if (len) *len = v->slen;
    return v->s;
}

dk_status dk_pv_tensor_info(const dk_pv *v, dk_dtype *dtype, int *ndim, int64_t shape[DK_MAX_DIMS], dk_error *err) {
    if (!v || v->kind != DK_PV_TENSOR) return dk_error_set(err, DK_EINVAL, "torch file: value is a %s, not a tensor", v ? kind_txt(v) : "NULL");
    if (v->ndim > DK_MAX_DIMS)
        return dk_error_set(err, DK_EUNSUPPORTED, "torch file: a tensor of %d dimensions (diffkit tensors have at most %d)", v->ndim, DK_MAX_DIMS);
    if (dtype) *dtype = v->st->type->dtype;
    if (ndim) *ndim = v->ndim;
    if (shape)
        for (int d = 0; d < v->ndim; d++) shape[d] = v->shape[d];
    return DK_OK;
}

dk_tensor *dk_pv_tensor(const dk_pv *v, dk_error *err) {
    dk_dtype dt;
    int nd;
    int64_t sh[DK_MAX_DIMS];
    if (dk_pv_tensor_info(v, &dt, &nd, sh, err)) return NULL;
    const st_type *ty = v->st->type;
    uint64_t numel = 1;
    for (int d = 0; d < nd; d++) numel *= (uint64_t)sh[d]; /* no overflow: checked when opened */
    if (numel > 16 * v->st->numel + PT_EXPAND_SLACK) {
        dk_error_set(err, DK_EUNSUPPORTED, "torch file: a view of %llu elements expands its storage '%s' of %llu elements more than 16 times: "
                     "save a contiguous copy (tensor.contiguous()) instead", (unsigned long long)numel, v->st->key, (unsigned long long)v->st->numel);
        return NULL;
    }
    dk_tensor *t = dk_tensor_new(dt, nd, sh, err);
    if (!t || !numel) return t;
    size_t es = ty->esize, os = dk_dtype_size(dt);
    unsigned char *o = t->data;
    const unsigned char *src = v->st->data;
    int contiguous = 1;
    int64_t want = 1;
    for (int d = nd - 1; d >= 0; d--) {
        if (sh[d] != 1 && v->stride[d] != want) contiguous = 0;
        want *= sh[d];
    }
    if (contiguous && !ty->widen) {
        memcpy(o, src + (size_t)v->off * es, (size_t)numel * es);
        return t;
    }
    int64_t idx[DK_MAX_DIMS] = {0};
    size_t pos = (size_t)v->off;
    for (uint64_t k = 0; k < numel; k++) {
        const unsigned char *e = src + pos * es;
        if (ty->widen == 1) {
            int16_t x;
            memcpy(&x, e, 2);
            int64_t y = x;
            memcpy(o + k * os, &y, 8);
        } else if (ty->widen == 2) {
            int64_t y = (int8_t)e[0];
            memcpy(o + k * os, &y, 8);
        } else
            memcpy(o + k * os, e, es);
        for (int d = nd - 1; d >= 0; d--) { /* odometer */
            if (++idx[d] < sh[d]) {
                pos += (size_t)v->stride[d];
                break;
            }
            pos -= (size_t)(v->stride[d] * (sh[d] - 1));
            idx[d] = 0;
        }
    }
    return t;
}

dk_tensor *dk_pv_tensor_as(const dk_pv *v, dk_dtype dtype, dk_error *err) {
    dk_tensor *t = dk_pv_tensor(v, err);
    if (!t || t->dtype == dtype) return t;
    dk_tensor *o = dk_tensor_to(t, dtype, err);
    dk_tensor_free(t);
    return o;
}

/* ------------------------------------------------------------ paths */

/* a dict key, list index or attribute matching the text part[0..n) */
static const dk_pv *child_named(const dk_pv *v, const char *part, size_t n) {
    if (v->kind == DK_PV_LIST || v->kind == DK_PV_TUPLE) {
        size_t idx = 0;
        if (!n || n > 18) return NULL;
        for (size_t k = 0; k < n; k++) {
            if (part[k] < '0' || part[k] > '9') return NULL;
            idx = idx * 10 + (size_t)(part[k] - '0');
        }
        return idx < v->n ? v->items[idx] : NULL;
    }
    const dk_pv *m = as_map(v);
    if (!m) return NULL;
    for (size_t i = m->n; i-- > 0;) {
        const dk_pv *k = m->keys[i];
        if (k->kind == DK_PV_STR && k->slen == n && !memcmp(k->s, part, n)) return m->items[i];
        if (k->kind == DK_PV_INT) {
            char num[32];
            int l = snprintf(num, sizeof num, "%lld", (long long)k->i);
            if ((size_t)l == n && !memcmp(num, part, n)) return m->items[i];
        }
    }
    return NULL;
}

static const dk_pv *find_path(const dk_pv *v, const char *p, int depth) {
    size_t n = strlen(p);
    const dk_pv *c = child_named(v, p, n);
    if (c || depth > PT_MAX_DEPTH) return c;
    for (size_t k = 1; k < n; k++) {
        if (p[k] != '.') continue;
        const dk_pv *h = child_named(v, p, k);
        if (h && (c = find_path(h, p + k + 1, depth + 1))) return c;
    }
    return NULL;
}

dk_status dk_pt_find(const dk_pt_file *f, const char *path, const dk_pv **out, dk_error *err) {
    *out = NULL;
    if (!f) return dk_error_set(err, DK_EINVAL, "torch file: file is NULL");
    if (!path || !*path) {
        *out = f->root;
        return DK_OK;
    }
    *out = find_path(f->root, path, 0);
    if (!*out) {
        const dk_pv *m = as_map(f->root);
        char keys[400];
        size_t kl = 0;
        keys[0] = '\0';
        for (size_t i = 0; m && i < m->n && kl < 300; i++)
            if (m->keys[i]->kind == DK_PV_STR)
                kl += (size_t)snprintf(keys + kl, sizeof keys - kl, "%s'%.60s'", kl ? ", " : "", m->keys[i]->s);
        return dk_error_set(err, DK_ENOTFOUND, "%s: no entry '%s' (the top level has %s%s)", f->label, path, kl ? "keys " : "no str keys",
                            keys);
    }
    return DK_OK;
}

typedef struct walk {
    dk_pt_named *a;
    size_t n, cap;
    uint64_t visits, max_visits;
    dk_error *err;
    const char *label;
} walk;

static dk_status walk_add(walk *w, const char *name, const dk_pv *v) {
    if (w->n == w->cap) {
        size_t nc = w->cap ? w->cap * 2 : 64;
        dk_pt_named *na = realloc(w->a, nc * sizeof *na);
        if (!na) return dk_error_set(w->err, DK_ENOMEM, "%s: out of memory", w->label);
        w->a = na;
        w->cap = nc;
    }
    w->a[w->n].name = strdup(name);
    if (!w->a[w->n].name) return dk_error_set(w->err, DK_ENOMEM, "%s: out of memory", w->label);
    w->a[w->n++].value = v;
    return DK_OK;
}

static dk_status walk_tree(walk *w, const dk_pv *v, char *name, size_t nl, size_t cap, int depth) {
    if (++w->visits > w->max_visits || depth > PT_MAX_DEPTH)
        return dk_error_set(w->err, DK_EFORMAT, "%s: the object tree is nested deeper than %d or refers to itself (at '%s')", w->label,
                            PT_MAX_DEPTH, name);
    if (v->kind == DK_PV_TENSOR) return walk_add(w, name, v);
    const dk_pv *m = as_map(v);
    int seq = v->kind == DK_PV_LIST || v->kind == DK_PV_TUPLE;
    if (!m && !seq) return DK_OK;
    size_t n = seq ? v->n : m->n;
    for (size_t i = 0; i < n; i++) {
        char part[64];
        const char *pp = part;
        size_t pl;
        if (seq) snprintf(part, sizeof part, "%zu", i);
        else if (m->keys[i]->kind == DK_PV_STR) pp = m->keys[i]->s;
        else if (m->keys[i]->kind == DK_PV_INT) snprintf(part, sizeof part, "%lld", (long long)m->keys[i]->i);
        else continue; /* other keys (tuples, floats) name no tensor */
        const dk_pv *c = seq ? v->items[i] : m->items[i];
        pl = strlen(pp);
        if (nl + 1 + pl + 1 > cap)
            return dk_error_set(w->err, DK_EFORMAT, "%s: a tensor name under '%.200s' is longer than %zu bytes", w->label, name, cap);
        size_t nn = nl;
        if (nl) name[nn++] = '.';
        memcpy(name + nn, pp, pl + 1);
        DK_TRY(walk_tree(w, c, name, nn + pl, cap, depth + 1));
        name[nl] = '\0';
    }
    return DK_OK;
}

void dk_pt_named_free(dk_pt_named *a, size_t n) {
    if (!a) return;
    for (size_t i = 0; i < n; i++) free(a[i].name);
    free(a);
}

dk_status dk_pt_state_dict(const dk_pt_file *f, const char *path, dk_pt_named **out, size_t *n, dk_error *err) {
    const dk_pv *v;
    *out = NULL;
    *n = 0;
    DK_TRY(dk_pt_find(f, path, &v, err));
    if (!as_map(v) && v->kind != DK_PV_LIST && v->kind != DK_PV_TUPLE)
        return dk_error_set(err, DK_EINVAL, "%s: '%s' is a %s, not a dict of tensors", f->label, path && *path ? path : "(root)", kind_txt(v));
    walk w = {0};
    w.err = err;
    w.label = f->label;
    w.max_visits = 4 * (uint64_t)f->nnodes + 1000;
    size_t cap = 4096;
    char *name = malloc(cap);
    if (!name) return dk_error_set(err, DK_ENOMEM, "%s: out of memory", f->label);
    name[0] = '\0';
    dk_status st = walk_tree(&w, v, name, 0, cap, 0);
    free(name);
    if (st) {
        dk_pt_named_free(w.a, w.n);
        return st;
    }
    *out = w.a;
    *n = w.n;
    return DK_OK;
}

/* ------------------------------------------------------------ JSON */

typedef struct jb {
    char *s;
    size_t n, cap;
    int oom;
    uint64_t visits, max_visits;
} jb;

#define PT_JSON_MAX (64u << 20)

static void jput(jb *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n > PT_JSON_MAX) { /* shared subtrees can multiply the text */
        b->oom = 2;
        return;
    }
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->n + n + 1) nc *= 2;
        char *ns = realloc(b->s, nc);
        if (!ns) {
            b->oom = 1;
            return;
        }
        b->s = ns;
        b->cap = nc;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
}

static void jstr(jb *b, const char *s) { jput(b, s, strlen(s)); }

static void jquote(jb *b, const char *s, size_t n, int latin1) {
    jput(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        char e[8];
        if (ch == '"' || ch == '\\') {
            e[0] = '\\';
            e[1] = (char)ch;
            jput(b, e, 2);
        } else if (ch < 0x20 || ch == 0x7f || (latin1 && ch >= 0x80)) {
            snprintf(e, sizeof e, "\\u%04x", ch);
            jput(b, e, 6);
        } else
            jput(b, (const char *)&ch, 1);
    }
    jput(b, "\"", 1);
}

static void jfloat(jb *b, double d) {
    char t[40];
    if (isnan(d)) {
        jstr(b, "NaN");
        return;
    }
    if (isinf(d)) {
        jstr(b, d > 0 ? "Infinity" : "-Infinity");
        return;
    }
    for (int p = 1; p <= 17; p++) { /* shortest form that reads back exactly */
        snprintf(t, sizeof t, "%.*g", p, d);
        if (strtod(t, NULL) == d) break;
    }
    if (!strpbrk(t, ".eEn")) strcat(t, ".0");
    jstr(b, t);
}

static dk_status json_oom(const jb *b, dk_error *err) {
    if (b->oom == 2) return dk_error_set(err, DK_EFORMAT, "torch file: the JSON text would be longer than %u MiB", PT_JSON_MAX >> 20);
    return dk_error_set(err, DK_ENOMEM, "torch file: out of memory writing JSON");
}

static dk_status jval(jb *b, const dk_pv *v, int depth, dk_error *err) {
    char t[64];
    if (++b->visits > b->max_visits || depth > PT_MAX_DEPTH)
        return dk_error_set(err, DK_EFORMAT, "torch file: the value is nested deeper than %d or refers to itself", PT_MAX_DEPTH);
    switch (v->kind) {
    case DK_PV_NONE: jstr(b, "null"); break;
    case DK_PV_BOOL: jstr(b, v->i ? "true" : "false"); break;
    case DK_PV_INT:
        snprintf(t, sizeof t, "%lld", (long long)v->i);
        jstr(b, t);
        break;
    case DK_PV_FLOAT: jfloat(b, v->d); break;
    case DK_PV_STR: jquote(b, v->s, v->slen, 0); break;
    case DK_PV_BYTES: jquote(b, v->s, v->slen, 1); break;
    case DK_PV_LIST:
    case DK_PV_TUPLE:
        jstr(b, "[");
        for (size_t i = 0; i < v->n; i++) {
            if (i) jstr(b, ", ");
            DK_TRY(jval(b, v->items[i], depth + 1, err));
        }
        jstr(b, "]");
        break;
    case DK_PV_TENSOR: {
        jstr(b, "{\"tensor\": \"");
        jstr(b, dk_dtype_name(v->st->type->dtype));
        jstr(b, "\", \"shape\": [");
        for (int d = 0; d < v->ndim; d++) {
            snprintf(t, sizeof t, "%s%lld", d ? ", " : "", (long long)v->shape[d]);
            jstr(b, t);
        }
        jstr(b, "]}");
        break;
    }
    default: {
        const dk_pv *m = as_map(v);
        if (!m) { /* a class, storage or attribute-less object */
            jquote(b, v->s ? v->s : "?", v->s ? v->slen : 1, 0);
            break;
        }
        jstr(b, "{");
        for (size_t i = 0; i < m->n; i++) {
            const dk_pv *k = m->keys[i];
            if (i) jstr(b, ", ");
            if (k->kind == DK_PV_STR) jquote(b, k->s, k->slen, 0);
            else { /* the key's own JSON text, as a string */
                jb kb = {0};
                kb.max_visits = b->max_visits;
                dk_status st = jval(&kb, k, depth + 1, err);
                if (st == DK_OK && !kb.oom) jquote(b, kb.s ? kb.s : "", kb.n, 0);
                if (kb.oom) b->oom = kb.oom;
                b->visits += kb.visits;
                free(kb.s);
                DK_TRY(st);
            }
            jstr(b, ": ");
            DK_TRY(jval(b, m->items[i], depth + 1, err));
        }
        jstr(b, "}");
    }
    }
    if (b->oom) return json_oom(b, err);
    return DK_OK;
}

dk_status dk_pv_json(const dk_pv *v, char **out, dk_error *err) {
    *out = NULL;
    if (!v) return dk_error_set(err, DK_EINVAL, "torch file: value is NULL");
    jb b = {0};
    b.max_visits = 1u << 22;
    dk_status st = jval(&b, v, 0, err);
    if (st == DK_OK && b.oom) st = json_oom(&b, err);
    if (st) {
        free(b.s);
        return st;
    }
    *out = b.s ? b.s : strdup("");
    return *out ? DK_OK : dk_error_set(err, DK_ENOMEM, "torch file: out of memory");
}
