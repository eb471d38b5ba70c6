/* evil_constructor.c: a shared object in a plugin folder whose constructor
 * runs code (writes the file named by DK_EVIL_MARKER) and that exports no
 * diffkit_plugin. The host must skip it from its ELF symbols alone, before
 * dlopen, so the marker is never written (docs/reliability.md). */
#include <stdio.h>
#include <stdlib.h>

__attribute__((constructor)) static void evil(void) {
    const char *m = getenv("DK_EVIL_MARKER");
    FILE *f = m ? fopen(m, "w") : NULL;
    if (f) {
        fputs("constructor ran\n", f);
        fclose(f);
    }
}

__attribute__((visibility("default"))) int evil_helper(void) { return 42; }
