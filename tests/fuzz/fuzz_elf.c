/* fuzz_elf.c: libFuzzer harness for the plugin ELF reader (core/src/elf.c,
 * docs/reliability.md "Plugin loading"): dk_elf_find_symbol reads untrusted
 * files before any dlopen and must return 1, 0 or -1 on any input without
 * reading outside it. Seeds: tests/fuzz/corpus/elf/ (stripped plugins).
 *
 * By hand:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Icore/include \
 *     tests/fuzz/fuzz_elf.c core/src/elf.c core/src/error.c -o fuzz_elf
 *   ./fuzz_elf -runs=1000000 tests/fuzz/corpus/elf */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "diffkit/host.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char why[200];
    /* an exact-size copy, so ASan sees any read past the end */
    uint8_t *copy = malloc(size ? size : 1);
    int r;
    if (!copy) return 0;
    if (size) memcpy(copy, data, size);
    r = dk_elf_find_symbol(copy, size, "diffkit_plugin", why, sizeof why);
    if (r < -1 || r > 1) abort();
    free(copy);
    return 0;
}
