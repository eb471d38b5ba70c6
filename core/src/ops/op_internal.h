/* op_internal.h: what the graph-level ops share with graph.c (private to
 * libdiffkit): graph-owned scratch tensors and contexts, the sticky-error
 * helper, gradient allocation, dtype dispatch to the CPU kernels. */
#ifndef DK_OP_INTERNAL_H
#define DK_OP_INTERNAL_H

#include <stdarg.h>
#include "diffkit/graph.h"
#include "diffkit/ops.h"
#include "backend/backend.h"

/* The backend of each device, filled by dk_backend_get (a device whose entry is
 * NULL has not been asked for yet or is not available). */
extern const dk_backend *dk__backends[2];

/* A tensor owned by the graph (freed or pooled at reset); zeroed if zero != 0.
 * Returns NULL (error recorded in g) on failure. */
dk_tensor *dk__graph_tensor(dk_graph *g, dk_dtype dtype, int ndim, const int64_t *shape, int zero);
/* Like dk_graph_new_var but the value is left uninitialized when zero == 0. */
dk_var *dk__graph_var(dk_graph *g, dk_dtype dtype, int ndim, const int64_t *shape, int zero);
/* A var whose value is a view of x's value with another shape (reshape/detach). */
dk_var *dk__graph_view_var(dk_graph *g, dk_var *x, int ndim, const int64_t *shape);
/* A copy of `bytes` of host data (labels, positions) in the memory of the
 * device of the op being built (the graph arena on the CPU, a graph-owned
 * buffer on a device), freed at reset; NULL (error recorded) on failure. */
void *dk__graph_stage(dk_graph *g, const void *host, size_t bytes);
/* Bytes from the graph's arena (16-byte aligned, zeroed), freed at reset. */
void *dk__graph_ctx(dk_graph *g, size_t bytes);
/* Record an error "op: message" in g (first one wins); returns NULL. */
dk_var *dk__op_fail(dk_graph *g, const char *op, dk_status code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* 1 if the graph records and any of the vars requires a gradient. */
int dk__needs_grad(const dk_graph *g, dk_var *const *vars, int n);
/* v->grad, allocated zeroed (from the graph pool when v is a graph var);
 * NULL on allocation failure (err filled). */
dk_tensor *dk__grad(dk_var *v, dk_error *err);
/* The graph's error slot is readable: 1 if g has failed already. */
int dk__graph_failed(const dk_graph *g);

/* "[2, 3, 4]" helper with a caller buffer. */
const char *dk__shape(const dk_tensor *t, char *buf);
#define DK_SHP(v) dk__shape((v)->value, (char[96]){0})

/* Checks shared by ops: all given vars non-NULL, F32/F64, the same dtype, the
 * same device, whose backend is available and computes in that dtype; records
 * that device as the one the op's new vars are made on.
 * Returns 0 if fine, else records an error naming op and returns -1. */
int dk__check_inputs(dk_graph *g, const char *op, dk_var **vars, int n);

/* Call kernel `fn` of the backend of tensor t's device, for t's dtype (F32 or
 * F64). dk__check_inputs has made sure that backend exists and computes in
 * that dtype, so the table entry is there (tests/unit/test_backend_tables.c). */
#define DK_KCALL(t, fn, ...) \
    ((t)->dtype == DK_F32 ? dk__kt32((t)->device)->fn(__VA_ARGS__) : dk__kt64((t)->device)->fn(__VA_ARGS__))
static inline const dk_kernels_f32 *dk__kt32(dk_device d) { return dk__backends[d]->f32; }
static inline const dk_kernels_f64 *dk__kt64(dk_device d) { return dk__backends[d]->f64; }
/* Shorthands for data pointers (void *, converted to the kernel's type). */
#define DV(v) ((v)->value->data)
#define DG(v) ((v)->grad ? (v)->grad->data : NULL)

/* For each var: ptrs[i] = its gradient data (allocated) if it requires a
 * gradient, else NULL. Returns 0, or -1 on allocation failure (err filled). */
static inline int dk__grads(dk_error *err, int n, dk_var **vs, void **ptrs) {
    for (int i = 0; i < n; i++) {
        ptrs[i] = NULL;
        if (vs[i] && vs[i]->requires_grad) {
            dk_tensor *t = dk__grad(vs[i], err);
            if (!t) return -1;
            ptrs[i] = t->data;
        }
    }
    return 0;
}
#define DK_GRADS(n, vs, ptrs) do { if (dk__grads(err, (n), (vs), (ptrs))) return err ? err->code : DK_ENOMEM; } while (0)

/* Product of dims [from, to). */
static inline size_t dk__prod(const dk_tensor *t, int from, int to) {
    size_t n = 1;
    for (int i = from; i < to; i++) n *= (size_t)t->shape[i];
    return n;
}

#endif
