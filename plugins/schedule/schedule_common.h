/* schedule_common.h: helpers shared by the schedule plugins (included by
 * each plugin's .c; this folder itself is not a plugin).
 *
 * torch's pow(tensor, scalar) does not call pow() for a few exponents: 2 is
 * x*x, 3 is x*x*x, 0.5 is sqrt, -0.5 is 1/sqrt, -1 is 1/x, -2 is 1/(x*x),
 * and 1 copies. The schedules reproduce k-diffusion's values to the last
 * bit, so they round the way torch does. */
#ifndef DK_SCHEDULE_COMMON_H
#define DK_SCHEDULE_COMMON_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include "diffkit/diffkit.h"
#include "diffkit/numeric.h"

static inline double sched_pow(double x, double p) {
    if (p == 1.0) return x;
    if (p == 2.0) return x * x;
    if (p == 3.0) return x * x * x;
    if (p == 0.5) return sqrt(x);
    if (p == -0.5) return 1.0 / sqrt(x);
    if (p == -1.0) return 1.0 / x;
    if (p == -2.0) return 1.0 / (x * x);
    return pow(x, p);
}

static inline float sched_powf(float x, float p) {
    if (p == 1.0f) return x;
    if (p == 2.0f) return x * x;
    if (p == 3.0f) return x * x * x;
    if (p == 0.5f) return sqrtf(x);
    if (p == -0.5f) return 1.0f / sqrtf(x);
    if (p == -1.0f) return 1.0f / x;
    if (p == -2.0f) return 1.0f / (x * x);
    return powf(x, p);
}

/* The step-count check every sampling schedule makes. */
static inline dk_status sched_check_n(const char *plugin, int64_t n, dk_error *err) {
    if (n < 1)
        return dk_error_set(err, DK_EINVAL,
                            "schedule '%s': the number of steps n must be >= 1, got %lld: ask for at least one step",
                            plugin, (long long)n);
    return DK_OK;
}

/* sigma_min < sigma_max, checked in create(). */
static inline dk_status sched_check_range(const char *plugin, double lo, double hi, const char *lo_name,
                                          const char *hi_name, dk_error *err) {
    if (!(lo < hi))
        return dk_error_set(err, DK_EINVAL,
                            "schedule '%s': option '%s' (%g) must be below option '%s' (%g): swap or fix them",
                            plugin, lo_name, lo, hi_name, hi);
    return DK_OK;
}

/* Copies an options struct-of-doubles into a malloc'd state. */
static inline void *sched_alloc(size_t size, const char *plugin, dk_error *err) {
    void *p = calloc(1, size);
    if (!p) dk_error_set(err, DK_ENOMEM, "schedule '%s': out of memory", plugin);
    return p;
}

/* n uniforms (stratified when the source is) / normals from a density's
 * draw source, with errors prefixed by the plugin's name. */
static inline dk_status sched_uniforms(const char *plugin, dk_draws *src, size_t n, double *out, dk_error *err) {
    if (!src || !src->uniform)
        return dk_error_set(err, DK_EINVAL, "schedule '%s': no source of uniform draws was given", plugin);
    if (src->uniform(src, n, out, err) != DK_OK) return dk_error_prefix(err, "schedule '%s'", plugin);
    return DK_OK;
}

static inline dk_status sched_normals(const char *plugin, dk_draws *src, size_t n, double *out, dk_error *err) {
    if (!src || !src->normal)
        return dk_error_set(err, DK_EINVAL, "schedule '%s': no source of normal draws was given", plugin);
    if (src->normal(src, n, out, err) != DK_OK) return dk_error_prefix(err, "schedule '%s'", plugin);
    return DK_OK;
}

/* Declares the plugin descriptor and entry point of a schedule plugin. */
#define SCHED_PLUGIN(ID, NAME, SUMMARY, SIGMAS, DENSITY)                                    \
    static const dk_schedule_vtable ID##_vtable = {                                       \
        .struct_size = sizeof(dk_schedule_vtable),                                        \
        .create = ID##_create,                                                            \
        .destroy = ID##_destroy,                                                          \
        .sigmas = SIGMAS,                                                                 \
        .density = DENSITY,                                                               \
    };                                                                                    \
    static const dk_plugin ID##_plugin = {                                                \
        .abi_version = DK_PLUGIN_ABI_VERSION,                                             \
        .struct_size = sizeof(dk_plugin),                                                 \
        .kind = DK_KIND_SCHEDULE,                                                         \
        .name = NAME,                                                                     \
        .version = "1.0",                                                                 \
        .summary = SUMMARY,                                                               \
        .options = ID##_options,                                                          \
        .n_options = sizeof ID##_options / sizeof ID##_options[0],                        \
        .vtable = &ID##_vtable,                                                           \
    };                                                                                    \
    DK_PLUGIN_EXPORT const dk_plugin *diffkit_plugin(void) { return &ID##_plugin; }

#endif
