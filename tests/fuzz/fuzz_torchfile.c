/* fuzz_torchfile.c: the torch.save reader (dk_pt_parse, the same parser
 * dk_pt_open uses: zip or legacy layout, restricted unpickler) on arbitrary
 * bytes. An accepted file must be consistent: the root exists, the tensor
 * leaves under it list (or the walk stops with a message on a cyclic or too
 * deep tree), every listed tensor reports a shape and materializes (or is
 * refused with a message) with the dtype and element count it reports, and
 * converts to F64; the JSON of the root renders or fails with a message.
 * A rejected file must come with an error code and a message. */
#include "fuzz_common.h"
#include "diffkit/torchfile.h"
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    dk_error err;
    dk_error_clear(&err);
    dk_pt_file *f = dk_pt_parse(data, size, "fuzz.pt", &err);
    if (!f) {
        FUZZ_CHECK(err.code != DK_OK && err.msg[0] != '\0');
        return 0;
    }
    const dk_pv *root = dk_pt_root(f);
    FUZZ_CHECK(root != NULL);
    char *js = NULL;
    dk_status s = dk_pv_json(root, &js, &err);
    FUZZ_CHECK(s == DK_OK ? js != NULL : err.msg[0] != '\0');
    free(js);
    const dk_pv *v;
    s = dk_pt_find(f, "model.0", &v, &err);
    FUZZ_CHECK(s == DK_OK ? v != NULL : s == DK_ENOTFOUND);
    dk_pt_named *a = NULL;
    size_t n = 0;
    s = dk_pt_state_dict(f, NULL, &a, &n, &err);
    if (s != DK_OK) {
        FUZZ_CHECK(err.msg[0] != '\0' && a == NULL && n == 0);
    }
    for (size_t i = 0; i < n && i < 64; i++) {
        FUZZ_CHECK(a[i].name && dk_pv_kind_of(a[i].value) == DK_PV_TENSOR);
        dk_dtype dt;
        int nd = -1;
        int64_t sh[DK_MAX_DIMS];
        if (dk_pv_tensor_info(a[i].value, &dt, &nd, sh, &err) != DK_OK) {
            FUZZ_CHECK(err.code == DK_EUNSUPPORTED);
            continue;
        }
        FUZZ_CHECK(nd >= 0 && nd <= DK_MAX_DIMS);
        dk_tensor *t = dk_pv_tensor(a[i].value, &err);
        if (!t) {
            FUZZ_CHECK(err.code == DK_ENOMEM || err.code == DK_EUNSUPPORTED);
            continue;
        }
        size_t numel = 1;
        for (int d = 0; d < nd; d++) {
            FUZZ_CHECK(t->shape[d] == sh[d] && sh[d] >= 0);
            numel *= (size_t)sh[d];
        }
        FUZZ_CHECK(t->dtype == dt && t->ndim == nd && t->numel == numel);
        const unsigned char *p = t->data;
        unsigned acc = 0;
        for (size_t k = 0; k < t->numel * dk_dtype_size(t->dtype); k++) acc += p[k];
        (void)acc;
        dk_tensor *c = dk_pv_tensor_as(a[i].value, DK_F64, &err);
        FUZZ_CHECK(c != NULL || err.code == DK_ENOMEM);
        if (c) FUZZ_CHECK(c->numel == t->numel && c->dtype == DK_F64);
        dk_tensor_free(c);
        dk_tensor_free(t);
    }
    dk_pt_named_free(a, n);
    dk_pt_close(f);
    return 0;
}
