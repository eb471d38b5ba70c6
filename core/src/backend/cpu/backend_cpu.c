/* backend_cpu.c: the CPU backend's table (backend/backend.h): host memory
 * from dk_alloc (64-byte aligned, zeroed) and every kernel of
 * kernels_list.inc in F32 and F64 (k_*.inc, conv_kernels.c). */
#include <string.h>
#include "backend/backend.h"

#define DK_KERNEL(ret, name, args) .name = name##_f32,
static const dk_kernels_f32 cpu_f32 = {
#include "kernels_list.inc"
};
#undef DK_KERNEL
#define DK_KERNEL(ret, name, args) .name = name##_f64,
static const dk_kernels_f64 cpu_f64 = {
#include "kernels_list.inc"
};
#undef DK_KERNEL

static void *cpu_alloc(size_t bytes, dk_error *err) {
    void *p = dk_alloc(bytes);
    if (!p) dk_error_set(err, DK_ENOMEM, "out of host memory: %zu bytes", bytes);
    return p;
}
static void cpu_zero(void *p, size_t bytes) {
    if (bytes) memset(p, 0, bytes);
}
static dk_status cpu_copy(void *dst, const void *src, size_t bytes, dk_error *err) {
    (void)err;
    if (bytes && dst != src) memmove(dst, src, bytes);
    return DK_OK;
}
static dk_status cpu_sync(dk_error *err) {
    (void)err;
    return DK_OK;
}

static const dk_backend cpu_backend = {
    .name = "cpu",
    .device = DK_CPU,
    .alloc = cpu_alloc,
    .free = dk_free,
    .zero = cpu_zero,
    .to_host = cpu_copy,
    .from_host = cpu_copy,
    .copy = cpu_copy,
    .sync = cpu_sync,
    .f32 = &cpu_f32,
    .f64 = &cpu_f64,
};

const dk_backend *dk_backend_cpu(void) { return &cpu_backend; }
