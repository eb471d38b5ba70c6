/* backend.h: the seam between the graph ops and the devices (private to
 * libdiffkit). A backend is a table, as ggml's backends and torch7's THNN
 * tables are: memory (allocate, free, zero, copy to and from the host) and
 * one entry per kernel of kernels_list.inc for each element type it computes
 * in. The ops keep their shape checks and the tape and call kernels only
 * through the table of their tensors' device (DK_KCALL in ops/op_internal.h),
 * so no loop over tensor memory lives outside backend/<device>/ and a model
 * plugin runs on any device unchanged.
 *
 * Backends: backend/cpu (always; OpenBLAS + OpenMP) and backend/cuda (a CUDA
 * build on a machine with a GPU; docs/cuda.md). dk_backend_get returns NULL
 * for a device that is not available here, with the reason in err. */
#ifndef DK_BACKEND_H
#define DK_BACKEND_H

#include <stddef.h>
#include <stdint.h>
#include "diffkit/error.h"
#include "diffkit/tensor.h"
#include "backend/cpu/kernels.h" /* dk_bcast, dk_conv_dims, the CPU prototypes */

#ifdef __cplusplus
extern "C" {
#endif

#define T float
#define DK_KERNEL(ret, name, args) ret(*name) args;
typedef struct dk_kernels_f32 {
#include "backend/cpu/kernels_list.inc"
} dk_kernels_f32;
#undef T
#define T double
typedef struct dk_kernels_f64 {
#include "backend/cpu/kernels_list.inc"
} dk_kernels_f64;
#undef T
#undef DK_KERNEL

typedef struct dk_backend {
    const char *name;  /* "cpu", "cuda" */
    dk_device device;
    /* bytes of backend memory, zero-filled; NULL and err (naming the bytes) on failure */
    void *(*alloc)(size_t bytes, dk_error *err);
    void (*free)(void *p);
    void (*zero)(void *p, size_t bytes);
    /* host <-> backend copies (to_host waits for queued kernels) */
    dk_status (*to_host)(void *host_dst, const void *src, size_t bytes, dk_error *err);
    dk_status (*from_host)(void *dst, const void *host_src, size_t bytes, dk_error *err);
    dk_status (*copy)(void *dst, const void *src, size_t bytes, dk_error *err); /* within the backend */
    /* waits for queued work; reports a kernel error that happened since the last sync */
    dk_status (*sync)(dk_error *err);
    const dk_kernels_f32 *f32;
    const dk_kernels_f64 *f64; /* NULL: the backend does not compute in F64 */
} dk_backend;

/* The backend of a device, or NULL with the reason in err (not built, no GPU). */
const dk_backend *dk_backend_get(dk_device dev, dk_error *err);
/* The CPU backend (never NULL). */
const dk_backend *dk_backend_cpu(void);
/* The CUDA backend: NULL and the reason in a CPU-only build or without a GPU
 * (defined in backend/cuda/). */
const dk_backend *dk_backend_cuda(dk_error *err);

#ifdef __cplusplus
}
#endif
#endif
