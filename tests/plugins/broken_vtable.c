/* broken_vtable.c: a vtable whose struct_size is smaller than this host's
 * (compiled against an older, smaller vtable). */
#include "broken_common.h"

static const dk_schedule_vtable small = {8, b_create, b_destroy, b_sigmas, NULL};
static const dk_plugin plugin = {DK_PLUGIN_ABI_VERSION, sizeof(dk_plugin), DK_KIND_SCHEDULE, "broken_vtable", "1.0",
                                 "vtable too small", NULL, 0, &small};

DK_PLUGIN_EXPORT const dk_plugin *diffkit_plugin(void) { return &plugin; }
