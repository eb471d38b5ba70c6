/* test_noise_sources.c: the i.i.d. (Philox) and replay noise sources:
 * determinism per (seed, stream), draws continuing across calls, replay in
 * order with dtype conversion, and the "ran out" error the golden tests rely on;
 * skipping a draw leaves every source exactly where drawing would (iid: odd
 * and even sizes, F32 and F64, from any point inside a Philox block; replay:
 * counts the slice and runs out the same way). */
#include "dktest.h"
#include <string.h>

static void test_iid(void) {
    int64_t s[2] = {2, 50};
    dk_tensor *a = dk_tensor_new(DK_F64, 2, s, &dk_test_err), *b = dk_tensor_new(DK_F64, 2, s, &dk_test_err);
    dk_noise *n1 = dk_noise_iid(42, 0, &dk_test_err), *n2 = dk_noise_iid(42, 0, &dk_test_err);
    dk_noise *n3 = dk_noise_iid(42, 1, &dk_test_err);
    if (!a || !b || !n1 || !n2 || !n3) {
        DK_CHECK(0);
        return;
    }
    DK_CHECK(strcmp(n1->kind, "iid") == 0);
    DK_CHECK_OK(dk_noise_draw(n1, 1.0, 0.5, a, &dk_test_err));
    DK_CHECK_OK(dk_noise_draw(n2, 7.0, 3.0, b, &dk_test_err)); /* sigmas do not matter */
    DK_CHECK(memcmp(a->data, b->data, a->numel * sizeof(double)) == 0);
    /* the next draw continues the stream: different values */
    DK_CHECK_OK(dk_noise_draw(n1, 1.0, 0.5, a, &dk_test_err));
    DK_CHECK(memcmp(a->data, b->data, a->numel * sizeof(double)) != 0);
    /* another stream differs */
    DK_CHECK_OK(dk_noise_draw(n3, 1.0, 0.5, a, &dk_test_err));
    DK_CHECK(memcmp(a->data, b->data, a->numel * sizeof(double)) != 0);
    /* roughly standard normal */
    double m = 0, v = 0;
    for (size_t i = 0; i < a->numel; i++) m += dk_f64(a)[i];
    m /= (double)a->numel;
    for (size_t i = 0; i < a->numel; i++) v += (dk_f64(a)[i] - m) * (dk_f64(a)[i] - m);
    v /= (double)(a->numel - 1);
    DK_CHECK(fabs(m) < 0.5 && v > 0.5 && v < 1.6);
    DK_CHECK(n1->draws == 2 && n2->draws == 1);
    dk_noise_free(n1);
    dk_noise_free(n2);
    dk_noise_free(n3);
    dk_tensor_free(a);
    dk_tensor_free(b);
}

static void test_replay(void) {
    int64_t ss[3] = {3, 2, 2}, s[2] = {2, 2};
    dk_tensor *stream = dk_tensor_new(DK_F64, 3, ss, &dk_test_err);
    dk_tensor *o = dk_tensor_new(DK_F64, 2, s, &dk_test_err), *of = dk_tensor_new(DK_F32, 2, s, &dk_test_err);
    if (!stream || !o || !of) {
        DK_CHECK(0);
        return;
    }
    for (size_t i = 0; i < stream->numel; i++) dk_f64(stream)[i] = 0.25 * (double)i;
    dk_noise *n = dk_noise_replay(stream, &dk_test_err);
    DK_CHECK(n != NULL);
    if (!n) return;
    dk_tensor_free(stream); /* retained by the source */
    DK_CHECK_OK(dk_noise_draw(n, 1, 0, o, &dk_test_err));
    DK_CHECK(dk_f64(o)[0] == 0.0 && dk_f64(o)[3] == 0.75);
    DK_CHECK_OK(dk_noise_draw(n, 1, 0, of, &dk_test_err));
    DK_CHECK(dk_f32(of)[0] == 1.0f && dk_f32(of)[3] == 1.75f);
    DK_CHECK_OK(dk_noise_draw(n, 1, 0, o, &dk_test_err));
    DK_CHECK(dk_f64(o)[3] == 2.75);
    dk_error e;
    DK_CHECK(dk_noise_draw(n, 1, 0, o, &e) == DK_ESTATE);
    DK_CHECK(strstr(e.msg, "noise stream ran out after 3 slices: the sampler drew more noise than the file records") != NULL);
    DK_CHECK(n->draws == 3);
    dk_noise_free(n);
    /* a slice of the wrong size */
    int64_t sb[2] = {3, 2};
    dk_tensor *st2 = dk_tensor_new(DK_F64, 3, ss, &dk_test_err), *ob = dk_tensor_new(DK_F64, 2, sb, &dk_test_err);
    dk_noise *n2 = dk_noise_replay(st2, &dk_test_err);
    DK_CHECK(n2 && dk_noise_draw(n2, 1, 0, ob, &e) == DK_ESHAPE);
    dk_noise_free(n2);
    dk_tensor_free(st2);
    dk_tensor_free(ob);
    /* no stream at all: zero slices */
    dk_noise *n0 = dk_noise_replay(NULL, &dk_test_err);
    DK_CHECK(n0 && dk_noise_draw(n0, 1, 0, o, &e) == DK_ESTATE && strstr(e.msg, "after 0 slices"));
    dk_noise_free(n0);
    dk_tensor_free(o);
    dk_tensor_free(of);
}

/* draw(a) skip(b) draw(c) must give the same third slice as draw(a) draw(b)
 * draw(c), for sizes that leave the Philox buffer part-used. */
static void test_skip(void) {
    static const int64_t sizes[][2] = {{1, 1}, {1, 3}, {2, 2}, {1, 7}, {3, 5}, {1, 1025}, {64, 1024}};
    for (int dt = 0; dt < 2; dt++)
        for (size_t ia = 0; ia < 7; ia++)
            for (size_t ib = 0; ib < 7; ib++) {
                dk_dtype type = dt ? DK_F32 : DK_F64;
                int64_t sc[2] = {1, 9};
                dk_tensor *a = dk_tensor_new(type, 2, sizes[ia], &dk_test_err);
                dk_tensor *b = dk_tensor_new(type, 2, sizes[ib], &dk_test_err);
                dk_tensor *c1 = dk_tensor_new(type, 2, sc, &dk_test_err), *c2 = dk_tensor_new(type, 2, sc, &dk_test_err);
                dk_noise *n1 = dk_noise_iid(7, 3, &dk_test_err), *n2 = dk_noise_iid(7, 3, &dk_test_err);
                DK_CHECK_OK(dk_noise_draw(n1, 1, 0, a, &dk_test_err));
                DK_CHECK_OK(dk_noise_draw(n1, 1, 0, b, &dk_test_err));
                DK_CHECK_OK(dk_noise_draw(n1, 1, 0, c1, &dk_test_err));
                DK_CHECK_OK(dk_noise_draw(n2, 1, 0, a, &dk_test_err));
                DK_CHECK_OK(dk_noise_skip(n2, 1, 0, b, &dk_test_err));
                DK_CHECK_OK(dk_noise_draw(n2, 1, 0, c2, &dk_test_err));
                DK_CHECK(memcmp(c1->data, c2->data, 9 * dk_dtype_size(type)) == 0);
                DK_CHECK(n1->draws == 3 && n2->draws == 3);
                dk_noise_free(n1);
                dk_noise_free(n2);
                dk_tensor_free(a);
                dk_tensor_free(b);
                dk_tensor_free(c1);
                dk_tensor_free(c2);
            }
    /* replay: a skip takes a slice; the next draw is the slice after it */
    int64_t ss[3] = {2, 1, 2}, s[2] = {1, 2};
    dk_tensor *stream = dk_tensor_new(DK_F64, 3, ss, &dk_test_err), *o = dk_tensor_new(DK_F64, 2, s, &dk_test_err);
    for (size_t i = 0; i < 4; i++) dk_f64(stream)[i] = (double)i;
    dk_noise *n = dk_noise_replay(stream, &dk_test_err);
    dk_error e;
    DK_CHECK_OK(dk_noise_skip(n, 1, 0, o, &dk_test_err));
    DK_CHECK_OK(dk_noise_draw(n, 1, 0, o, &dk_test_err));
    DK_CHECK(dk_f64(o)[0] == 2.0 && dk_f64(o)[1] == 3.0 && n->draws == 2);
    DK_CHECK(dk_noise_skip(n, 1, 0, o, &e) == DK_ESTATE && strstr(e.msg, "ran out after 2 slices"));
    dk_noise_free(n);
    dk_tensor_free(stream);
    dk_tensor_free(o);
}

int main(void) {
    test_iid();
    test_replay();
    test_skip();
    return dk_test_finish();
}
