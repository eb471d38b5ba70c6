/* test_core_tensor.c: tensor allocation, views and their lifetime, dtype
 * conversions (incl. F16/BF16 bit patterns), copies and shape-check messages. */
#include "dktest.h"
#include <stdint.h>
#include <string.h>

static void test_alloc(void) {
    for (size_t n = 0; n < 300; n += 37) {
        unsigned char *p = dk_alloc(n);
        DK_CHECK(p != NULL);
        DK_CHECK(((uintptr_t)p & 63) == 0);
        int zero = 1;
        for (size_t i = 0; i < n; i++) zero &= p[i] == 0;
        DK_CHECK(zero);
        dk_free(p);
    }
}

static void test_new_and_views(void) {
    int64_t shape[4] = {3, 4, 8, 8};
    dk_tensor *t = dk_tensor_new(DK_F32, 4, shape, &dk_test_err);
    DK_CHECK(t != NULL);
    DK_CHECK(t->numel == 768);
    DK_CHECK(t->refcount == 1 && t->base == NULL);
    DK_CHECK(dk_f32(t)[767] == 0.0f);
    for (size_t i = 0; i < t->numel; i++) dk_f32(t)[i] = (float)i;
    char buf[64];
    DK_CHECK(strcmp(dk_shape_str(t, buf, sizeof buf), "[3, 4, 8, 8]") == 0);

    dk_tensor *s = dk_tensor_slice0(t, 2, &dk_test_err);
    DK_CHECK(s != NULL && s->ndim == 3 && s->shape[0] == 4 && s->numel == 256);
    DK_CHECK(s->base == t && t->refcount == 2);
    DK_CHECK(dk_f32(s)[0] == 512.0f);
    int64_t r[2] = {-1, 16};
    dk_tensor *v = dk_tensor_reshape(s, 2, r, &dk_test_err);
    DK_CHECK(v != NULL && v->shape[0] == 16 && v->shape[1] == 16 && v->base == t && t->refcount == 3);
    DK_CHECK(dk_f32(v)[17] == 529.0f);
    dk_tensor_free(t); /* views keep the storage alive */
    dk_tensor_free(s);
    DK_CHECK(dk_f32(v)[255] == 767.0f);
    dk_tensor_free(v);

    int64_t bad[2] = {5, 5};
    dk_tensor *w = dk_tensor_new(DK_F64, 1, r + 1, &dk_test_err); /* [16] */
    DK_CHECK(w != NULL);
    DK_CHECK(dk_tensor_reshape(w, 2, bad, &dk_test_err) == NULL && dk_test_err.code == DK_ESHAPE);
    DK_CHECK(dk_tensor_slice0(w, 16, &dk_test_err) == NULL && dk_test_err.code == DK_EINVAL);
    dk_tensor *w0 = dk_tensor_slice0(w, 0, &dk_test_err);
    DK_CHECK(w0 && w0->ndim == 1 && w0->shape[0] == 1 && w0->numel == 1);
    dk_tensor_free(w0);
    dk_tensor_free(w);

    int64_t neg[2] = {2, -3};
    DK_CHECK(dk_tensor_new(DK_F32, 2, neg, &dk_test_err) == NULL && dk_test_err.code == DK_EINVAL);
    DK_CHECK(dk_tensor_new(DK_F32, 6, shape, &dk_test_err) == NULL && dk_test_err.code == DK_EINVAL);
    int64_t huge[3] = {INT64_MAX / 2, 4, 4};
    DK_CHECK(dk_tensor_new(DK_F32, 3, huge, &dk_test_err) == NULL && dk_test_err.code == DK_EINVAL);
    dk_tensor *sc = dk_tensor_new(DK_F64, 0, NULL, &dk_test_err);
    DK_CHECK(sc && sc->numel == 1);
    DK_CHECK(strcmp(dk_shape_str(sc, buf, sizeof buf), "[]") == 0);
    dk_tensor_free(sc);
}

static void test_dtypes(void) {
    dk_dtype d;
    DK_CHECK(dk_dtype_from_name("BF16", &d) == 0 && d == DK_BF16);
    DK_CHECK(dk_dtype_from_name("I32", &d) == 0 && d == DK_I32);
    DK_CHECK(dk_dtype_from_name("F8", &d) != 0);
    DK_CHECK(dk_dtype_size(DK_F16) == 2 && dk_dtype_size(DK_I64) == 8 && dk_dtype_size(DK_U8) == 1);
    DK_CHECK(strcmp(dk_dtype_name(DK_F64), "F64") == 0);
}

static void test_convert(void) {
    int64_t n = 8;
    dk_tensor *a = dk_tensor_new(DK_F64, 1, &n, &dk_test_err);
    const double vals[8] = {1.0, -2.5, 0.1, 65504.0, 1e6, -0.0, 6.103515625e-05, 5.960464477539063e-08};
    memcpy(a->data, vals, sizeof vals);

    dk_tensor *h = dk_tensor_to(a, DK_F16, &dk_test_err);
    const uint16_t *hb = h->data;
    DK_CHECK(hb[0] == 0x3c00 && hb[1] == 0xc100 && hb[2] == 0x2e66 && hb[3] == 0x7bff);
    DK_CHECK(hb[4] == 0x7c00 && hb[5] == 0x8000 && hb[6] == 0x0400 && hb[7] == 0x0001);
    dk_tensor *hf = dk_tensor_to(h, DK_F32, &dk_test_err);
    DK_CHECK_NEAR(dk_f32(hf)[2], 0.0999755859375, 0, 0);
    DK_CHECK(dk_f32(hf)[7] == 5.960464477539063e-08f);
    DK_CHECK(isinf(dk_f32(hf)[4]));

    dk_tensor *b = dk_tensor_to(a, DK_BF16, &dk_test_err);
    const uint16_t *bb = b->data;
    DK_CHECK(bb[0] == 0x3f80 && bb[1] == 0xc020 && bb[2] == 0x3dcd);
    dk_tensor *bf = dk_tensor_to(b, DK_F64, &dk_test_err);
    DK_CHECK_NEAR(dk_f64(bf)[2], 0.10009765625, 0, 0);

    dk_tensor *i = dk_tensor_to(a, DK_I64, &dk_test_err);
    DK_CHECK(dk_i64(i)[1] == -2 && dk_i64(i)[4] == 1000000);
    dk_tensor *u = dk_tensor_to(a, DK_U8, &dk_test_err);
    DK_CHECK(((uint8_t *)u->data)[0] == 1 && ((uint8_t *)u->data)[1] == 0 && ((uint8_t *)u->data)[4] == 255);
    dk_tensor *i32 = dk_tensor_to(i, DK_I32, &dk_test_err);
    DK_CHECK(((int32_t *)i32->data)[4] == 1000000);
    dk_tensor *back = dk_tensor_to(i32, DK_F32, &dk_test_err);
    DK_CHECK(dk_f32(back)[1] == -2.0f);

    /* large integers survive I64 <-> I32 via the exact integer path */
    dk_i64(i)[0] = (int64_t)1 << 60;
    dk_i64(i)[1] = 123456789;
    dk_tensor *ic = dk_tensor_clone(i, &dk_test_err);
    DK_CHECK(dk_i64(ic)[0] == (int64_t)1 << 60);
    dk_tensor *ii = dk_tensor_to(i, DK_I32, &dk_test_err);
    DK_CHECK(((int32_t *)ii->data)[0] == INT32_MAX && ((int32_t *)ii->data)[1] == 123456789);

    /* get / set */
    dk_tensor_set(ic, 3, 42.0);
    DK_CHECK(dk_tensor_get(ic, 3) == 42.0);
    dk_tensor_set(h, 0, 0.5);
    DK_CHECK(dk_tensor_get(h, 0) == 0.5);

    /* copy */
    dk_tensor *c = dk_tensor_new(DK_F32, 1, &n, &dk_test_err);
    DK_CHECK_OK(dk_tensor_copy(c, a, &dk_test_err));
    DK_CHECK(dk_f32(c)[1] == -2.5f);
    int64_t m = 7;
    dk_tensor *c2 = dk_tensor_new(DK_F32, 1, &m, &dk_test_err);
    DK_CHECK_STATUS(dk_tensor_copy(c2, a, &dk_test_err), DK_ESHAPE);
    dk_tensor_zero(c);
    DK_CHECK(dk_f32(c)[1] == 0.0f);

    dk_tensor *all[] = {a, h, hf, b, bf, i, u, i32, back, ic, ii, c, c2};
    for (size_t k = 0; k < sizeof all / sizeof *all; k++) dk_tensor_free(all[k]);
}

static void test_check(void) {
    int64_t s[2] = {3, 4};
    dk_tensor *t = dk_tensor_new(DK_F32, 2, s, &dk_test_err);
    int64_t want[2] = {2, -1};
    DK_CHECK_STATUS(dk_tensor_check(t, "x", DK_F64, 2, want, &dk_test_err), DK_ESHAPE);
    DK_CHECK(strcmp(dk_test_err.msg, "x: expected F64 [2, -1], got F32 [3, 4]") == 0);
    int64_t ok[2] = {-1, 4};
    DK_CHECK_OK(dk_tensor_check(t, "x", DK_F32, 2, ok, &dk_test_err));
    DK_CHECK_OK(dk_tensor_check(t, "x", DK_F32, 2, NULL, &dk_test_err));
    DK_CHECK_STATUS(dk_tensor_check(t, "y", DK_F32, 3, NULL, &dk_test_err), DK_ESHAPE);
    DK_CHECK(strstr(dk_test_err.msg, "y: expected F32 (3 dims), got F32 [3, 4]") != NULL);
    DK_CHECK_STATUS(dk_tensor_check(NULL, "z", DK_F32, 3, NULL, &dk_test_err), DK_EINVAL);
    dk_tensor_free(t);
}

int main(void) {
    test_alloc();
    test_new_and_views();
    test_dtypes();
    test_convert();
    test_check();
    return dk_test_finish();
}
