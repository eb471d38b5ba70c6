/* broken_common.h: a minimal valid schedule vtable and option table shared by
 * the deliberately broken test plugins (each breaks one thing). */
#ifndef BROKEN_COMMON_H
#define BROKEN_COMMON_H
#include <diffkit/plugin.h>

static dk_status b_create(const dk_options *o, void **self, dk_error *err) { *self = (void *)o; return DK_OK; }
static void b_destroy(void *self) { (void)self; }
static dk_status b_sigmas(void *self, int64_t n, double *out, dk_error *err) {
    for (int64_t i = 0; i <= n; i++) out[i] = (double)(n - i);
    return DK_OK;
}
static const dk_schedule_vtable b_vtable = {sizeof(dk_schedule_vtable), b_create, b_destroy, b_sigmas, NULL};
#endif
