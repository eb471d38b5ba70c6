/* broken_noentry.c: a shared object in a plugin folder without the
 * diffkit_plugin entry point (e.g. a helper library dropped there by mistake).
 * The host must reject it with "has no entry point". */
#include <diffkit/plugin.h>

DK_PLUGIN_EXPORT int not_the_entry_point(void) { return DK_PLUGIN_ABI_VERSION; }
