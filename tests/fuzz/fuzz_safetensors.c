/* fuzz_safetensors.c: the safetensors reader (dk_st_parse, the same parser
 * dk_st_open uses) on arbitrary bytes. An accepted file must be consistent:
 * every listed tensor is found by name, reads in full with the dtype and
 * shape dk_st_info reports, converts to F64, and all tensors together fit in
 * the input; every metadata entry is found by its key and parses (or cleanly
 * fails to parse) as a number. A rejected file must come with an error code
 * and a message. */
#include "fuzz_common.h"
#include "diffkit/safetensors.h"
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    dk_error err;
    dk_error_clear(&err);
    dk_st_file *f = dk_st_parse(data, size, "fuzz.safetensors", &err);
    if (!f) {
        FUZZ_CHECK(err.code != DK_OK && err.msg[0] != '\0');
        return 0;
    }
    size_t total = 0, n = dk_st_count(f);
    FUZZ_CHECK(dk_st_name(f, n) == NULL);
    for (size_t i = 0; i < n; i++) {
        const char *name = dk_st_name(f, i);
        FUZZ_CHECK(name != NULL);
        FUZZ_CHECK(dk_st_has(f, name));
        dk_dtype dt;
        int nd = -1;
        int64_t sh[DK_MAX_DIMS];
        FUZZ_CHECK(dk_st_info(f, name, &dt, &nd, sh, &err) == DK_OK);
        FUZZ_CHECK(nd >= 0 && nd <= DK_MAX_DIMS);
        dk_tensor *t = dk_st_get(f, name, &err);
        if (!t) { /* only running out of memory explains this */
            FUZZ_CHECK(err.code == DK_ENOMEM);
            continue;
        }
        FUZZ_CHECK(t->dtype == dt && t->ndim == nd);
        size_t numel = 1;
        for (int d = 0; d < nd; d++) {
            FUZZ_CHECK(t->shape[d] == sh[d] && sh[d] >= 0);
            numel *= (size_t)sh[d];
        }
        FUZZ_CHECK(t->numel == numel);
        size_t bytes = t->numel * dk_dtype_size(t->dtype);
        const unsigned char *p = t->data;
        unsigned acc = 0;
        for (size_t k = 0; k < bytes; k++) acc += p[k]; /* touch every byte */
        (void)acc;
        total += bytes;
        dk_tensor *c = dk_st_get_as(f, name, DK_F64, &err);
        FUZZ_CHECK(c != NULL || err.code == DK_ENOMEM);
        if (c) FUZZ_CHECK(c->numel == t->numel && c->dtype == DK_F64);
        dk_tensor_free(c);
        dk_tensor_free(t);
    }
    FUZZ_CHECK(total <= size);
    FUZZ_CHECK(!dk_st_has(f, "__metadata__"));
    for (size_t i = 0; i < dk_st_meta_count(f); i++) {
        const char *k = dk_st_meta_key(f, i), *v = dk_st_meta_value(f, i);
        FUZZ_CHECK(k && v);
        FUZZ_CHECK(dk_st_meta(f, k) == v); /* keys are unique */
        double x;
        long long y;
        dk_status s = dk_st_meta_double(f, k, &x, &err);
        FUZZ_CHECK(s == DK_OK || (s == DK_EFORMAT && err.msg[0]));
        s = dk_st_meta_int(f, k, &y, &err);
        FUZZ_CHECK(s == DK_OK || (s == DK_EFORMAT && err.msg[0]));
    }
    FUZZ_CHECK(dk_st_meta_key(f, dk_st_meta_count(f)) == NULL);
    dk_st_close(f);
    return 0;
}
