/* broken_size.c: the right ABI version but a descriptor size that does not
 * match (a plugin compiled against a mismatched header). */
#include "broken_common.h"

static const dk_plugin plugin = {DK_PLUGIN_ABI_VERSION, (uint32_t)sizeof(dk_plugin) - 8, DK_KIND_SCHEDULE, "broken_size",
                                 "1.0", "descriptor size mismatch", NULL, 0, &b_vtable};

DK_PLUGIN_EXPORT const dk_plugin *diffkit_plugin(void) { return &plugin; }
