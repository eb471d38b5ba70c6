/* fuzz_common.h: shared by the fuzz harnesses of tests/fuzz/.
 *
 * A harness defines LLVMFuzzerTestOneInput only. It is linked either with
 * libFuzzer (tools/fuzz.sh: clang -fsanitize=fuzzer,address,undefined) or
 * with replay_main.c (the ctest fuzz.<name>: every file of
 * tests/fuzz/corpus/<name>/ once). FUZZ_CHECK is an invariant of the code
 * under test: when it fails the harness aborts, which both drivers report as
 * a crash. */
#ifndef DIFFKIT_FUZZ_COMMON_H
#define DIFFKIT_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

#endif
