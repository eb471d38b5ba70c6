/* broken_abi.c: a plugin built for a future ABI (version 2, larger
 * descriptor). The host must report both numbers and say to rebuild. */
#include "broken_common.h"

typedef struct future_plugin {
    dk_plugin v1;
    const void *extra[3]; /* fields a later ABI might add */
} future_plugin;

static const future_plugin plugin = {
    {2u, (uint32_t)sizeof(future_plugin), DK_KIND_SCHEDULE, "broken_abi", "1.0", "built for ABI 2", NULL, 0, &b_vtable},
    {NULL, NULL, NULL}};

DK_PLUGIN_EXPORT const dk_plugin *diffkit_plugin(void) { return &plugin.v1; }
