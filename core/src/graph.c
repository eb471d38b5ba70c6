/* graph.c: the autograd tape (dk_graph) and the parameter store (dk_params).
 *
 * Ownership: vars made by a graph live in chunks of the graph (no malloc per
 * var); their values, gradients and saved tensors are released at
 * dk_graph_reset into a small pool keyed by byte size, so the next training
 * step reuses the same buffers instead of calling malloc again. Pooled
 * buffers not reused during one step are freed at the next reset. Op
 * contexts come from a bump arena that reset rewinds.
 *
 * The tape is an array of entries (out var, inputs, backward fn, ctx) in
 * execution order; backward walks it once in reverse (linear time) and skips
 * entries that received no gradient. */
#include "diffkit/graph.h"
#include "diffkit/cuda.h"
#include "diffkit/rng.h"
#include "ops/op_internal.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- graph internals ------------------------------------------------------ */

#define GVAR_MAGIC 0x6476a2u
#define VAR_CHUNK 256
#define ARENA_BLOCK (64u * 1024u)

typedef struct gvar {
    dk_var v;          /* first: a dk_var * is a gvar * for graph vars */
    uint32_t magic;
    int leaf;          /* made by dk_graph_input: its gradient is the caller's */
    int produced;      /* some tape entry has this var as output */
    size_t first_prod; /* the earliest such entry: backward frees the grad after it */
    dk_graph *g;
} gvar;

typedef struct var_chunk {
    struct var_chunk *next;
    size_t used;
    gvar vars[VAR_CHUNK];
} var_chunk;

typedef struct tape_entry {
    dk_var *out;
    size_t in_off;
    int n_in;
    dk_backward_fn backward;
    void *ctx;
    void (*free_ctx)(void *);
} tape_entry;

typedef struct arena_block {
    struct arena_block *next;
    size_t size, used;
    max_align_t data[]; /* size bytes */
} arena_block;

typedef struct pool_bucket {
    size_t bytes;      /* 0 = empty slot */
    dk_tensor **items;
    size_t n, cap;
    size_t reused;     /* items taken since the last reset */
} pool_bucket;

struct dk_graph {
    int grad_on;
    dk_status status;
    dk_error err;
    var_chunk *chunks;   /* list; all chunks before `cur` are full */
    var_chunk *cur;
    tape_entry *tape;
    size_t n_tape, cap_tape;
    dk_var **ins;
    size_t n_ins, cap_ins;
    dk_tensor **saved;   /* graph-owned scratch tensors */
    size_t n_saved, cap_saved;
    arena_block *arena, *arena_cur;
    pool_bucket *pool;   /* open addressing on byte size (CPU buffers; a device's own allocator caches its memory) */
    size_t pool_cap, pool_used;
    dk_device dev;       /* device of the last op's inputs: where its new vars are made (dk__check_inputs) */
    dk_backward_hook bw_hook;
    void *bw_ctx;
    const char *op;      /* the op being built (error messages) */
};

static int grow(void **p, size_t *cap, size_t need, size_t elsize) {
    if (need <= *cap) return 0;
    size_t nc = *cap ? *cap : 64;
    while (nc < need) nc *= 2;
    void *np = realloc(*p, nc * elsize);
    if (!np) return -1;
    *p = np;
    *cap = nc;
    return 0;
}

static void record_error(dk_graph *g, dk_status code, const char *fmt, va_list ap) {
    if (g->status != DK_OK) return;
    g->status = code;
    dk_error_setv(&g->err, code, fmt, ap);
}

static void record_oom(dk_graph *g, const char *what) {
    if (g->status != DK_OK) return;
    g->status = DK_ENOMEM;
    dk_error_set(&g->err, DK_ENOMEM, "graph: out of memory (%s)", what);
}

dk_var *dk__op_fail(dk_graph *g, const char *op, dk_status code, const char *fmt, ...) {
    if (!g || g->status != DK_OK) return NULL;
    char msg[DK_ERROR_MSG_MAX - 64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    g->status = code;
    dk_error_set(&g->err, code, "%s: %s", op, msg);
    return NULL;
}

dk_var *dk_graph_fail(dk_graph *g, dk_status code, const char *fmt, ...) {
    if (!g) return NULL;
    va_list ap;
    va_start(ap, fmt);
    record_error(g, code, fmt, ap);
    va_end(ap);
    return NULL;
}

int dk__graph_failed(const dk_graph *g) { return !g || g->status != DK_OK; }

const char *dk__shape(const dk_tensor *t, char *buf) { return dk_shape_str(t, buf, 96); }

/* ---- the tensor pool ---- */

static size_t hash_size(size_t b) {
    uint64_t x = (uint64_t)b * 0x9E3779B97F4A7C15ull;
    return (size_t)(x ^ (x >> 29));
}

static pool_bucket *pool_find(dk_graph *g, size_t bytes, int create) {
    if (g->pool_cap == 0) {
        if (!create) return NULL;
        g->pool = calloc(64, sizeof *g->pool);
        if (!g->pool) return NULL;
        g->pool_cap = 64;
    }
    size_t mask = g->pool_cap - 1, i = hash_size(bytes) & mask;
    for (;;) {
        pool_bucket *b = &g->pool[i];
        if (b->bytes == bytes) return b;
        if (b->bytes == 0) break;
        i = (i + 1) & mask;
    }
    if (!create) return NULL;
    if ((g->pool_used + 1) * 2 > g->pool_cap) { /* rehash into a table twice the size */
        size_t nc = g->pool_cap * 2;
        pool_bucket *np = calloc(nc, sizeof *np);
        if (!np) return NULL;
        for (size_t j = 0; j < g->pool_cap; j++) {
            if (!g->pool[j].bytes) continue;
            size_t k = hash_size(g->pool[j].bytes) & (nc - 1);
            while (np[k].bytes) k = (k + 1) & (nc - 1);
            np[k] = g->pool[j];
        }
        free(g->pool);
        g->pool = np;
        g->pool_cap = nc;
        return pool_find(g, bytes, create);
    }
    pool_bucket *b = &g->pool[i];
    b->bytes = bytes;
    g->pool_used++;
    return b;
}

/* Give a tensor back at reset: pooled if we hold its only reference. */
static void pool_put(dk_graph *g, dk_tensor *t) {
    if (!t) return;
    if (t->refcount != 1 || t->base || t->device != DK_CPU || !t->data) {
        dk_tensor_free(t);
        return;
    }
    size_t bytes = t->numel * dk_dtype_size(t->dtype);
    pool_bucket *b = bytes ? pool_find(g, bytes, 1) : NULL;
    if (!b || grow((void **)&b->items, &b->cap, b->n + 1, sizeof *b->items)) {
        dk_tensor_free(t);
        return;
    }
    b->items[b->n++] = t;
}

static dk_tensor *pool_take(dk_graph *g, dk_device dev, dk_dtype dtype, int ndim, const int64_t *shape, int zero) {
    if (dev != DK_CPU) { /* zero-filled; out of device memory names the op and the bytes */
        dk_error e;
        dk_tensor *t = dk_tensor_new_device(dtype, ndim, shape, dev, &e);
        if (!t && g->status == DK_OK) {
            g->status = e.code;
            dk_error_set(&g->err, e.code, "%s: %s", g->op ? g->op : "graph", e.msg);
        }
        return t;
    }
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return NULL;
        numel *= (size_t)shape[i];
    }
    size_t bytes = numel * dk_dtype_size(dtype);
    pool_bucket *b = bytes ? pool_find(g, bytes, 0) : NULL;
    if (b && b->n) {
        dk_tensor *t = b->items[--b->n];
        b->reused++;
        t->dtype = dtype;
        t->ndim = ndim;
        for (int i = 0; i < DK_MAX_DIMS; i++) t->shape[i] = i < ndim ? shape[i] : 0;
        t->numel = numel;
        if (zero) memset(t->data, 0, bytes);
        return t;
    }
    return dk_tensor_new(dtype, ndim, shape, NULL);
}

/* At reset: free the buffers that were not asked for during the last step. */
static void pool_trim(dk_graph *g) {
    for (size_t i = 0; i < g->pool_cap; i++) {
        pool_bucket *b = &g->pool[i];
        if (!b->bytes) continue;
        size_t keep = b->reused < b->n ? b->reused : b->n;
        while (b->n > keep) dk_tensor_free(b->items[--b->n]);
        b->reused = 0;
    }
}

static void pool_free_all(dk_graph *g) {
    for (size_t i = 0; i < g->pool_cap; i++) {
        pool_bucket *b = &g->pool[i];
        for (size_t j = 0; j < b->n; j++) dk_tensor_free(b->items[j]);
        free(b->items);
    }
    free(g->pool);
    g->pool = NULL;
    g->pool_cap = g->pool_used = 0;
}

/* ---- vars, arena, saved tensors ---- */

static gvar *var_alloc(dk_graph *g) {
    if (!g->cur || g->cur->used == VAR_CHUNK) {
        var_chunk *next = g->cur ? g->cur->next : g->chunks;
        if (!next) {
            next = malloc(sizeof *next);
            if (!next) return NULL;
            next->next = NULL;
            next->used = 0;
            if (g->cur) g->cur->next = next;
            else g->chunks = next;
        }
        g->cur = next;
        g->cur->used = 0;
    }
    gvar *gv = &g->cur->vars[g->cur->used++];
    memset(gv, 0, sizeof *gv);
    gv->magic = GVAR_MAGIC;
    gv->g = g;
    return gv;
}

void *dk__graph_ctx(dk_graph *g, size_t bytes) {
    if (dk__graph_failed(g)) return NULL;
    bytes = (bytes + 15) & ~(size_t)15;
    arena_block *b = g->arena_cur;
    while (b && b->used + bytes > b->size) {
        b = b->next;
        if (b) b->used = 0;
    }
    if (!b) {
        size_t size = bytes > ARENA_BLOCK ? bytes : ARENA_BLOCK;
        b = malloc(sizeof *b + size);
        if (!b) {
            record_oom(g, "op context");
            return NULL;
        }
        b->size = size;
        b->used = 0;
        b->next = NULL;
        if (g->arena_cur) { /* insert after the current block */
            b->next = g->arena_cur->next;
            g->arena_cur->next = b;
        } else {
            b->next = g->arena;
            g->arena = b;
        }
    }
    g->arena_cur = b;
    void *p = (char *)b->data + b->used;
    b->used += bytes;
    memset(p, 0, bytes);
    return p;
}

dk_tensor *dk__graph_tensor(dk_graph *g, dk_dtype dtype, int ndim, const int64_t *shape, int zero) {
    if (dk__graph_failed(g)) return NULL;
    if (grow((void **)&g->saved, &g->cap_saved, g->n_saved + 1, sizeof *g->saved)) {
        record_oom(g, "saved tensor list");
        return NULL;
    }
    dk_tensor *t = pool_take(g, g->dev, dtype, ndim, shape, zero);
    if (!t) {
        record_oom(g, "scratch tensor");
        return NULL;
    }
    g->saved[g->n_saved++] = t;
    return t;
}

void *dk__graph_stage(dk_graph *g, const void *host, size_t bytes) {
    if (dk__graph_failed(g)) return NULL;
    if (g->dev == DK_CPU) {
        void *p = dk__graph_ctx(g, bytes);
        if (p && bytes) memcpy(p, host, bytes);
        return p;
    }
    int64_t n = (int64_t)(bytes ? bytes : 1);
    dk_tensor *t = dk__graph_tensor(g, DK_U8, 1, &n, 0);
    if (!t) return NULL;
    dk_error e;
    const dk_backend *be = dk_backend_get(g->dev, &e);
    if (!be || (bytes && be->from_host(t->data, host, bytes, &e) != DK_OK)) {
        dk_graph_fail(g, e.code, "%s", e.msg);
        return NULL;
    }
    return t->data;
}

dk_var *dk__graph_var(dk_graph *g, dk_dtype dtype, int ndim, const int64_t *shape, int zero) {
    if (dk__graph_failed(g)) return NULL;
    if (ndim < 1 || ndim > DK_MAX_DIMS || (dtype != DK_F32 && dtype != DK_F64 && dtype != DK_I64)) {
        dk_graph_fail(g, DK_EINVAL, "graph: cannot make a var of %d dims and dtype %s (1..%d dims, F32/F64/I64)", ndim,
                      dk_dtype_name(dtype), DK_MAX_DIMS);
        return NULL;
    }
    for (int i = 0; i < ndim; i++)
        if (shape[i] <= 0) {
            dk_graph_fail(g, DK_ESHAPE, "graph: dimension %d of a new var is %lld (must be > 0)", i, (long long)shape[i]);
            return NULL;
        }
    gvar *gv = var_alloc(g);
    if (!gv) {
        record_oom(g, "var");
        return NULL;
    }
    gv->v.value = pool_take(g, g->dev, dtype, ndim, shape, zero);
    if (!gv->v.value) {
        record_oom(g, "var value");
        return NULL;
    }
    return &gv->v;
}

dk_var *dk_graph_new_var(dk_graph *g, dk_dtype dtype, int ndim, const int64_t *shape) {
    return dk__graph_var(g, dtype, ndim, shape, 1);
}

dk_var *dk__graph_view_var(dk_graph *g, dk_var *x, int ndim, const int64_t *shape) {
    if (dk__graph_failed(g) || !x) return NULL;
    dk_error e;
    dk_tensor *view = dk_tensor_reshape(x->value, ndim, shape, &e);
    if (!view) {
        dk_graph_fail(g, e.code, "%s", e.msg);
        return NULL;
    }
    gvar *gv = var_alloc(g);
    if (!gv) {
        dk_tensor_free(view);
        record_oom(g, "var");
        return NULL;
    }
    gv->v.value = view;
    return &gv->v;
}

dk_var *dk_graph_input(dk_graph *g, dk_tensor *t, int requires_grad) {
    if (dk__graph_failed(g)) return NULL;
    if (!t) return dk_graph_fail(g, DK_EINVAL, "graph_input: tensor is NULL");
    if (requires_grad && t->dtype != DK_F32 && t->dtype != DK_F64)
        return dk_graph_fail(g, DK_EINVAL, "graph_input: a %s tensor cannot require a gradient (F32/F64 only)",
                             dk_dtype_name(t->dtype));
    gvar *gv = var_alloc(g);
    if (!gv) {
        record_oom(g, "var");
        return NULL;
    }
    dk_tensor_retain(t);
    gv->v.value = t;
    gv->v.requires_grad = requires_grad ? 1 : 0;
    gv->leaf = 1;
    return &gv->v;
}

/* ---- public graph API ---- */

/* One thread pool at a time: the ops parallelize with OpenMP (GEMMs split
 * into row blocks, each a BLAS call), so OpenBLAS's own pthread pool is set
 * to one thread unless the user chose OPENBLAS_NUM_THREADS. Both pools
 * spinning on 2 cores made a DiT block 5x slower than either alone. */
static void blas_threads_once(void) {
    static int done = 0;
    if (done) return;
    done = 1;
    if (!getenv("OPENBLAS_NUM_THREADS")) openblas_set_num_threads(1);
}

dk_graph *dk_graph_new(void) {
    blas_threads_once();
    dk_graph *g = calloc(1, sizeof *g);
    if (g) g->grad_on = 1;
    return g;
}

static void release_all(dk_graph *g) {
    for (size_t i = 0; i < g->n_tape; i++)
        if (g->tape[i].free_ctx && g->tape[i].ctx) g->tape[i].free_ctx(g->tape[i].ctx);
    g->n_tape = 0;
    g->n_ins = 0;
    /* Trim only after a step that used the graph: a second reset in a row
     * (the trainer resets before and after each micro-batch) would otherwise
     * see "nothing reused" and free the whole pool, so every step would
     * malloc and page-fault its working set again. */
    if (g->cur || g->n_saved) pool_trim(g);
    for (var_chunk *c = g->chunks; c; c = c->next) {
        for (size_t i = 0; i < c->used; i++) {
            pool_put(g, c->vars[i].v.value);
            pool_put(g, c->vars[i].v.grad);
            c->vars[i].magic = 0;
        }
        c->used = 0;
        if (c == g->cur) break;
    }
    g->cur = NULL;
    for (size_t i = 0; i < g->n_saved; i++) pool_put(g, g->saved[i]);
    g->n_saved = 0;
    for (arena_block *b = g->arena; b; b = b->next) b->used = 0;
    g->arena_cur = g->arena;
}

void dk_graph_reset(dk_graph *g) {
    if (!g) return;
    release_all(g);
    g->status = DK_OK;
    dk_error_clear(&g->err);
}

void dk_graph_free(dk_graph *g) {
    if (!g) return;
    release_all(g);
    pool_free_all(g);
    for (var_chunk *c = g->chunks; c;) {
        var_chunk *n = c->next;
        free(c);
        c = n;
    }
    for (arena_block *b = g->arena; b;) {
        arena_block *n = b->next;
        free(b);
        b = n;
    }
    free(g->tape);
    free(g->ins);
    free(g->saved);
    free(g);
}

void dk_graph_set_grad(dk_graph *g, int enabled) {
    if (g) g->grad_on = enabled ? 1 : 0;
}

int dk_graph_grad_enabled(const dk_graph *g) { return g && g->grad_on; }

dk_status dk_graph_status(const dk_graph *g, dk_error *err) {
    if (!g) return dk_error_set(err, DK_EINVAL, "graph_status: graph is NULL");
    if (g->status != DK_OK && err) *err = g->err;
    return g->status;
}

int dk__needs_grad(const dk_graph *g, dk_var *const *vars, int n) {
    if (!g || !g->grad_on) return 0;
    for (int i = 0; i < n; i++)
        if (vars[i] && vars[i]->requires_grad) return 1;
    return 0;
}

int dk__check_inputs(dk_graph *g, const char *op, dk_var **vars, int n) {
    if (dk__graph_failed(g)) return -1;
    dk_dtype dt = DK_F32;
    dk_device dev = DK_CPU;
    int have = 0;
    for (int i = 0; i < n; i++) {
        if (!vars[i]) return -1; /* an earlier op failed: its error is already recorded */
        const dk_tensor *t = vars[i]->value;
        if (!t) {
            dk__op_fail(g, op, DK_EINVAL, "input %d has no value (a parameter used before dk_params_finalize?)", i);
            return -1;
        }
        if (t->dtype != DK_F32 && t->dtype != DK_F64) {
            dk__op_fail(g, op, DK_EINVAL, "input %d is %s; ops take F32 or F64", i, dk_dtype_name(t->dtype));
            return -1;
        }
        if (have && t->dtype != dt) {
            dk__op_fail(g, op, DK_EINVAL, "inputs mix %s and %s; convert one (dk_tensor_to)", dk_dtype_name(dt),
                        dk_dtype_name(t->dtype));
            return -1;
        }
        if (have && t->device != dev) {
            dk__op_fail(g, op, DK_EINVAL, "inputs are on %s and %s: move one (dk_tensor_to_device) so all are on one device",
                        dk_device_name(dev), dk_device_name(t->device));
            return -1;
        }
        dt = t->dtype;
        dev = t->device;
        have = 1;
    }
    if (!have) return 0;
    dk_error e;
    const dk_backend *be = dk_backend_get(dev, &e);
    if (!be) {
        dk__op_fail(g, op, e.code, "%s", e.msg);
        return -1;
    }
    if (dt == DK_F64 && !be->f64) {
        dk__op_fail(g, op, DK_EUNSUPPORTED, "the %s backend does not compute in F64: use F32 there", be->name);
        return -1;
    }
    g->dev = dev;
    g->op = op;
    return 0;
}

dk_tensor *dk__grad(dk_var *v, dk_error *err) {
    if (v->grad) return v->grad;
    if (!v->value) {
        dk_error_set(err, DK_ESTATE, "var '%s' has no value", v->name ? v->name : "?");
        return NULL;
    }
    gvar *gv = (gvar *)v;
    if (gv->magic == GVAR_MAGIC && gv->g)
        v->grad = pool_take(gv->g, v->value->device, v->value->dtype, v->value->ndim, v->value->shape, 1);
    else
        v->grad = dk_tensor_new_device(v->value->dtype, v->value->ndim, v->value->shape, v->value->device, NULL);
    if (!v->grad) dk_error_set(err, DK_ENOMEM, "out of %s memory allocating the gradient of a var",
                               dk_device_name(v->value->device));
    return v->grad;
}

dk_status dk_var_zero_grad(dk_var *v, dk_error *err) {
    if (!v) return dk_error_set(err, DK_EINVAL, "var_zero_grad: var is NULL");
    if (v->grad) {
        dk_tensor_zero(v->grad);
        return DK_OK;
    }
    return dk__grad(v, err) ? DK_OK : (err ? err->code : DK_ENOMEM);
}

dk_var *dk_graph_custom(dk_graph *g, dk_var *out, dk_var **inputs, int n_inputs, dk_backward_fn backward, void *ctx,
                        void (*free_ctx)(void *)) {
    int ok = g && g->status == DK_OK && out && n_inputs >= 0 && (n_inputs == 0 || inputs);
    for (int i = 0; ok && i < n_inputs; i++)
        if (!inputs[i]) ok = 0;
    if (!ok) {
        if (g && g->status == DK_OK && !out) dk_graph_fail(g, DK_EINVAL, "graph_custom: out is NULL");
        if (free_ctx && ctx) free_ctx(ctx);
        return NULL;
    }
    int rg = backward && dk__needs_grad(g, inputs, n_inputs);
    out->requires_grad = rg;
    if (!rg) {
        if (free_ctx && ctx) free_ctx(ctx);
        return out;
    }
    if (grow((void **)&g->tape, &g->cap_tape, g->n_tape + 1, sizeof *g->tape) ||
        grow((void **)&g->ins, &g->cap_ins, g->n_ins + (size_t)n_inputs, sizeof *g->ins)) {
        if (free_ctx && ctx) free_ctx(ctx);
        record_oom(g, "tape");
        return NULL;
    }
    tape_entry *e = &g->tape[g->n_tape++];
    e->out = out;
    e->in_off = g->n_ins;
    e->n_in = n_inputs;
    e->backward = backward;
    e->ctx = ctx;
    e->free_ctx = free_ctx;
    memcpy(g->ins + g->n_ins, inputs, (size_t)n_inputs * sizeof *inputs);
    g->n_ins += (size_t)n_inputs;
    gvar *go = (gvar *)out;
    if (go->magic == GVAR_MAGIC && go->g == g && !go->produced) {
        go->produced = 1;
        go->first_prod = g->n_tape - 1;
    }
    return out;
}

/* An intermediate's gradient is dead once the last tape entry producing the
 * var (the earliest entry with it as output) has run its backward: entries
 * are walked in reverse, so every consumer ran before. Its buffer goes back
 * to the pool, where later gradients of the same size reuse it, so backward
 * holds about one block's gradients instead of all of them (the peak-RSS
 * target of issue 7). Graph inputs (leaves) and the loss keep theirs; the
 * other intermediates' gradients are NULL after backward. */
static void release_grad(dk_graph *g, dk_var *v, size_t entry) {
    gvar *gv = (gvar *)v;
    if (gv->magic != GVAR_MAGIC || gv->g != g || gv->leaf || !gv->produced || gv->first_prod != entry || !v->grad)
        return;
    pool_put(g, v->grad);
    v->grad = NULL;
}

dk_status dk_graph_backward(dk_graph *g, dk_var *loss, dk_error *err) {
    if (!g) return dk_error_set(err, DK_EINVAL, "graph_backward: graph is NULL");
    if (g->status != DK_OK) {
        if (err) *err = g->err;
        return g->status;
    }
    if (!loss || !loss->value)
        return dk_error_set(err, DK_EINVAL, "graph_backward: loss is NULL (check dk_graph_status after the forward pass)");
    if (loss->value->numel != 1) {
        char b[96];
        return dk_error_set(err, DK_ESHAPE, "graph_backward: loss has shape %s; reduce it to one element (dk_mean_all)",
                            dk__shape(loss->value, b));
    }
    if (!loss->requires_grad)
        return dk_error_set(err, DK_ESTATE,
                            "graph_backward: the loss does not depend on anything that requires a gradient "
                            "(were gradients off, or are all parameters frozen?)");
    /* Intermediate gradients start from zero on every backward; leaves accumulate. */
    for (size_t i = 0; i < g->n_tape; i++)
        if (g->tape[i].out->grad) dk_tensor_zero(g->tape[i].out->grad);
    dk_tensor *lg = dk__grad(loss, err);
    if (!lg) return err ? err->code : DK_ENOMEM;
    DK_KCALL(lg, dk_k_affine_forward, lg->data, lg->data, 1, 1.0, 1.0); /* d loss / d loss += 1, on its device */
    for (size_t i = g->n_tape; i-- > 0;) {
        tape_entry *e = &g->tape[i];
        if (!e->out->grad) { /* nothing flowed into this op (nothing to release either) */
            if (g->bw_hook) g->bw_hook(g->bw_ctx, i);
            continue;
        }
        dk_error local;
        dk_error_clear(&local);
        dk_status s = e->backward(e->ctx, e->out, g->ins + e->in_off, e->n_in, &local);
        if (s != DK_OK) {
            g->status = s;
            g->err = local;
            if (err) *err = local;
            return s;
        }
        if (e->out != loss) release_grad(g, e->out, i);
        if (g->bw_hook) g->bw_hook(g->bw_ctx, i);
    }
    return DK_OK;
}

void dk_graph_set_backward_hook(dk_graph *g, dk_backward_hook fn, void *ctx) {
    g->bw_hook = fn;
    g->bw_ctx = ctx;
}

typedef struct var_idx { uintptr_t addr; size_t idx; } var_idx;
static int cmp_var_idx(const void *a, const void *b) {
    uintptr_t x = ((const var_idx *)a)->addr, y = ((const var_idx *)b)->addr;
    return x < y ? -1 : x > y;
}

void dk_graph_param_last_writers(const dk_graph *g, dk_params *p, size_t *out) {
    size_t n = dk_params_count(p);
    for (size_t i = 0; i < n; i++) out[i] = SIZE_MAX;
    var_idx *vars = malloc(sizeof *vars * (n ? n : 1)); /* params by address: one lookup per tape input */
    if (!vars) { for (size_t i = 0; i < n; i++) out[i] = 0; return; } /* then final only at the end */
    for (size_t i = 0; i < n; i++) { vars[i].addr = (uintptr_t)&dk_params_at(p, i)->var; vars[i].idx = i; }
    qsort(vars, n, sizeof *vars, cmp_var_idx);
    for (size_t i = 0; i < g->n_tape; i++) {
        const tape_entry *e = &g->tape[i];
        for (int k = 0; k < e->n_in; k++) {
            var_idx key = {(uintptr_t)g->ins[e->in_off + (size_t)k], 0};
            const var_idx *hit = key.addr ? bsearch(&key, vars, n, sizeof *vars, cmp_var_idx) : NULL;
            if (hit && out[hit->idx] == SIZE_MAX) out[hit->idx] = i; /* entries in increasing order: the first is the smallest */
        }
    }
    free(vars);
}

/* ---- parameter store ------------------------------------------------------ */

struct dk_params {
    dk_dtype dtype;
    dk_param **items;
    size_t n, cap;
    int finalized;
    dk_tensor *block, *gblock;
};

dk_params *dk_params_new(dk_dtype dtype) {
    if (dtype != DK_F32 && dtype != DK_F64) return NULL;
    dk_params *p = calloc(1, sizeof *p);
    if (p) p->dtype = dtype;
    return p;
}

void dk_params_free(dk_params *p) {
    if (!p) return;
    for (size_t i = 0; i < p->n; i++) {
        dk_param *q = p->items[i];
        dk_tensor_free(q->var.value);
        dk_tensor_free(q->var.grad);
        free((char *)q->var.name);
        free(q);
    }
    free(p->items);
    dk_tensor_free(p->block);
    dk_tensor_free(p->gblock);
    free(p);
}

dk_dtype dk_params_dtype(const dk_params *p) { return p->dtype; }

dk_var *dk_params_add(dk_params *p, const char *name, int ndim, const int64_t *shape, dk_init init, double init_arg,
                      unsigned tags, dk_error *err) {
    if (!p || !name || !*name) {
        dk_error_set(err, DK_EINVAL, "params_add: store or name is NULL/empty");
        return NULL;
    }
    if (p->finalized) {
        dk_error_set(err, DK_ESTATE, "params_add: '%s' declared after dk_params_finalize; declare all parameters in create()",
                     name);
        return NULL;
    }
    if (ndim < 1 || ndim > DK_MAX_DIMS || !shape) {
        dk_error_set(err, DK_ESHAPE, "params_add: '%s' has %d dims (1..%d allowed)", name, ndim, DK_MAX_DIMS);
        return NULL;
    }
    for (int i = 0; i < ndim; i++)
        if (shape[i] <= 0) {
            dk_error_set(err, DK_ESHAPE, "params_add: '%s' dimension %d is %lld (must be > 0)", name, i,
                         (long long)shape[i]);
            return NULL;
        }
    if (dk_params_find(p, name)) {
        dk_error_set(err, DK_EINVAL, "params_add: parameter '%s' is declared twice", name);
        return NULL;
    }
    if (grow((void **)&p->items, &p->cap, p->n + 1, sizeof *p->items)) {
        dk_error_set(err, DK_ENOMEM, "params_add: out of memory");
        return NULL;
    }
    dk_param *q = calloc(1, sizeof *q);
    char *nm = q ? strdup(name) : NULL;
    /* Shape holder until finalize: a header-only tensor (no data). */
    dk_tensor *shp = nm ? calloc(1, sizeof *shp) : NULL;
    if (!shp) {
        free(nm);
        free(q);
        dk_error_set(err, DK_ENOMEM, "params_add: out of memory");
        return NULL;
    }
    shp->dtype = p->dtype;
    shp->ndim = ndim;
    shp->numel = 1;
    for (int i = 0; i < ndim; i++) {
        shp->shape[i] = shape[i];
        shp->numel *= (size_t)shape[i];
    }
    shp->refcount = 1;
    q->var.name = nm;
    q->var.requires_grad = (tags & DK_PARAM_FROZEN) ? 0 : 1;
    q->init = init;
    q->init_arg = init_arg;
    q->tags = tags;
    q->lr_scale = 1.0;
    q->offset = 0;
    q->var.value = NULL;
    p->items[p->n++] = q;
    /* Until finalize the declared shape is kept in a header-only tensor in
     * var.grad (value stays NULL, so ops reject the parameter); finalize
     * replaces it with the gradient view into the gradient block. */
    q->var.grad = shp;
    return &q->var;
}

static dk_tensor *block_view(dk_tensor *block, size_t offset, const dk_tensor *shape_of) {
    dk_tensor *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    *t = *shape_of;
    t->dtype = block->dtype;
    t->device = block->device;
    t->data = (char *)block->data + offset * dk_dtype_size(block->dtype);
    t->base = block;
    t->refcount = 1;
    dk_tensor_retain(block);
    return t;
}

static void init_param(dk_params *p, size_t idx, dk_param *q, uint64_t seed, double *tmp) {
    size_t n = q->var.value->numel;
    const int64_t *sh = q->var.value->shape;
    int nd = q->var.value->ndim;
    dk_rng r;
    dk_rng_init(&r, seed, (uint64_t)idx);
    switch (q->init) {
    case DK_INIT_ZEROS: for (size_t i = 0; i < n; i++) tmp[i] = 0; break;
    case DK_INIT_ONES: for (size_t i = 0; i < n; i++) tmp[i] = 1; break;
    case DK_INIT_CONST: for (size_t i = 0; i < n; i++) tmp[i] = q->init_arg; break;
    case DK_INIT_NORMAL:
        dk_rng_fill_normal_f64(&r, tmp, n);
        for (size_t i = 0; i < n; i++) tmp[i] *= q->init_arg;
        break;
    case DK_INIT_UNIFORM:
    case DK_INIT_XAVIER_UNIFORM: {
        double a = q->init_arg;
        if (q->init == DK_INIT_XAVIER_UNIFORM) { /* Glorot & Bengio 2010, eq. 16 */
            double fan_out = (double)sh[0], fan_in = 1;
            for (int i = 1; i < nd; i++) fan_in *= (double)sh[i];
            if (nd == 1) fan_in = fan_out;
            a = q->init_arg * sqrt(6.0 / (fan_in + fan_out));
        }
        dk_rng_fill_uniform_f64(&r, tmp, n);
        for (size_t i = 0; i < n; i++) tmp[i] = a * (2.0 * tmp[i] - 1.0);
        break;
    }
    case DK_INIT_CUSTOM:
    default: for (size_t i = 0; i < n; i++) tmp[i] = 0; break;
    }
    void *dst = q->var.value->data;
    if (p->dtype == DK_F32)
        for (size_t i = 0; i < n; i++) ((float *)dst)[i] = (float)tmp[i];
    else
        memcpy(dst, tmp, n * sizeof(double));
}

dk_status dk_params_finalize(dk_params *p, uint64_t seed, dk_error *err) {
    if (!p) return dk_error_set(err, DK_EINVAL, "params_finalize: store is NULL");
    if (p->finalized) return dk_error_set(err, DK_ESTATE, "params_finalize: already finalized");
    size_t total = 0, maxn = 1;
    for (size_t i = 0; i < p->n; i++) {
        p->items[i]->offset = total;
        size_t n = p->items[i]->var.grad->numel;
        total += n;
        if (n > maxn) maxn = n;
    }
    int64_t shp[1] = {(int64_t)(total ? total : 1)};
    p->block = dk_tensor_new(p->dtype, 1, shp, err);
    p->gblock = p->block ? dk_tensor_new(p->dtype, 1, shp, err) : NULL;
    double *tmp = p->gblock ? malloc(maxn * sizeof *tmp) : NULL;
    if (!tmp) {
        dk_tensor_free(p->block);
        dk_tensor_free(p->gblock);
        p->block = p->gblock = NULL;
        return dk_error_set(err, DK_ENOMEM, "params_finalize: out of memory for %zu parameters", total);
    }
    for (size_t i = 0; i < p->n; i++) {
        dk_param *q = p->items[i];
        dk_tensor *shape_of = q->var.grad;
        dk_tensor *v = block_view(p->block, q->offset, shape_of);
        dk_tensor *gv = v ? block_view(p->gblock, q->offset, shape_of) : NULL;
        if (!gv) {
            dk_tensor_free(v);
            free(tmp);
            return dk_error_set(err, DK_ENOMEM, "params_finalize: out of memory");
        }
        free(shape_of);
        q->var.value = v;
        q->var.grad = gv;
        init_param(p, i, q, seed, tmp);
    }
    free(tmp);
    p->finalized = 1;
    return DK_OK;
}

dk_status dk_params_to_device(dk_params *p, dk_device dev, dk_error *err) {
    if (!p || !p->finalized) return dk_error_set(err, DK_ESTATE, "params_to_device: finalize the store first");
    if (p->block->device == dev) return DK_OK;
    dk_tensor *nb = dk_tensor_to_device(p->block, dev, err);
    dk_tensor *ng = nb ? dk_tensor_to_device(p->gblock, dev, err) : NULL;
    if (!ng) {
        dk_tensor_free(nb);
        return dk_error_prefix(err, "moving %zu parameters to %s", p->block->numel, dk_device_name(dev));
    }
    size_t es = dk_dtype_size(p->dtype);
    for (size_t i = 0; i < p->n; i++) { /* re-point the views; callers' dk_var pointers stay valid */
        dk_param *q = p->items[i];
        dk_tensor *views[2] = {q->var.value, q->var.grad}, *blocks[2] = {nb, ng};
        for (int k = 0; k < 2; k++) {
            dk_tensor_retain(blocks[k]);
            dk_tensor_free(views[k]->base);
            views[k]->base = blocks[k];
            views[k]->data = (char *)blocks[k]->data + q->offset * es;
            views[k]->device = dev;
        }
    }
    dk_tensor_free(p->block);
    dk_tensor_free(p->gblock);
    p->block = nb;
    p->gblock = ng;
    return DK_OK;
}

dk_device dk_params_device(const dk_params *p) { return p && p->block ? p->block->device : DK_CPU; }

size_t dk_params_count(const dk_params *p) { return p ? p->n : 0; }

dk_param *dk_params_at(dk_params *p, size_t i) { return p && i < p->n ? p->items[i] : NULL; }

dk_param *dk_params_find(dk_params *p, const char *name) {
    if (!p || !name) return NULL;
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->items[i]->var.name, name) == 0) return p->items[i];
    return NULL;
}

size_t dk_params_numel(const dk_params *p, int trainable_only) {
    size_t n = 0;
    if (!p) return 0;
    for (size_t i = 0; i < p->n; i++) {
        const dk_param *q = p->items[i];
        if (trainable_only && (q->tags & DK_PARAM_FROZEN)) continue;
        n += p->finalized ? q->var.value->numel : q->var.grad->numel;
    }
    return n;
}

void *dk_params_data(dk_params *p) { return p && p->block ? p->block->data : NULL; }
void *dk_params_grad(dk_params *p) { return p && p->gblock ? p->gblock->data : NULL; }

void dk_params_zero_grad(dk_params *p) {
    if (p && p->gblock) dk_tensor_zero(p->gblock);
}

void dk_params_set_lr_scale(dk_param *prm, double s) {
    if (prm) prm->lr_scale = s;
}
