/* broken_options.c: a plugin whose option table has a default outside the
 * option's own range. The host must reject it naming the option. */
#include "broken_common.h"

static const dk_option_spec options[] = {
    {"rho", DK_OPT_FLOAT, "-7", 0, INFINITY, NULL, "warp exponent", DK_OPT_MIN_EXCLUSIVE},
};

static const dk_plugin plugin = {DK_PLUGIN_ABI_VERSION, sizeof(dk_plugin), DK_KIND_SCHEDULE, "broken_options", "1.0",
                                 "bad option default", options, 1, &b_vtable};

DK_PLUGIN_EXPORT const dk_plugin *diffkit_plugin(void) { return &plugin; }
