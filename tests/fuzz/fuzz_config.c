/* fuzz_config.c: libFuzzer harness for the stored-config parser
 * (core/src/literal.c, docs/reliability.md "Stored configs are data").
 * Feeds each input to dk_config_parse (config text) and dk_literal_parse (one
 * literal, e.g. a metrics.lua table); both must return a tree or an error,
 * never crash, leak, hang or read out of bounds. Seeds: tests/fuzz/corpus/config/.
 *
 * By hand:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Icore/include \
 *     tests/fuzz/fuzz_config.c core/src/literal.c core/src/error.c -lm -o fuzz_config
 *   ./fuzz_config -runs=1000000 tests/fuzz/corpus/config */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "diffkit/literal.h"

/* Walks a tree so every field is read (ASan sees any bad pointer). */
static size_t walk(const dk_literal *v) {
    size_t k = 1, i;
    if (v->type == DK_LIT_STRING) k += v->len + (size_t)(unsigned char)(v->len ? v->s[v->len - 1] : 0) + (size_t)(v->s[v->len] == 0);
    if (v->type == DK_LIT_TABLE)
        for (i = 0; i < v->n; i++) {
            if (!v->e[i].key_is_int) k += v->e[i].key_len + strlen(v->e[i].key_str);
            k += walk(&v->e[i].value);
        }
    return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    dk_literal *v = NULL;
    dk_error err;
    volatile size_t sink = 0;
    if (dk_config_parse((const char *)data, size, "fuzz", &v, &err) == DK_OK) {
        sink += walk(v);
        dk_literal_free(v);
    } else {
        sink += strlen(err.msg);
    }
    v = NULL;
    if (dk_literal_parse((const char *)data, size, "fuzz", &v, &err) == DK_OK) {
        sink += walk(v);
        dk_literal_free(v);
    } else {
        sink += strlen(err.msg);
    }
    (void)sink;
    return 0;
}
