/* test_cuda_device.c: the CUDA backend's foundation (diffkit/cuda.h).
 *
 * Every build: DK_CPU allocation and CPU->CPU copies through the device API,
 * and bad devices. A CPU-only build: the API reports no devices and fails
 * with DK_EUNSUPPORTED and the rebuild hint. A CUDA build without a GPU or
 * driver: no devices, DK_EUNSUPPORTED, no crash. After those checks the test
 * exits 77 (skip) and prints why; a failed check still exits 1.
 * With a GPU: CPU->CUDA->CUDA->CPU round trips are bit-exact for every dtype
 * (NaN payloads, -0, subnormals included), new CUDA tensors are zero, views of
 * CUDA tensors copy the right slice, and dk_cuda_add equals the CPU's a + b
 * bit for bit for F32 and F64 (incl. a size past one grid of 65535 x 256). */
#include "dktest.h"
#include "diffkit/cuda.h"
#include <stdint.h>
#include <string.h>

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

/* splitmix64: the test's own bit source (values need not match anything). */
static uint64_t next_bits(void) {
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Fills t (CPU) with raw random bytes: every bit pattern, NaNs included. */
static void fill_bits(dk_tensor *t) {
    size_t bytes = t->numel * dk_dtype_size(t->dtype);
    unsigned char *p = t->data;
    for (size_t i = 0; i < bytes; i++) p[i] = (unsigned char)next_bits();
}

/* Fills t (CPU, F32/F64) with finite values over many magnitudes, plus edge
 * cases at fixed places: +-0, subnormals of both dtypes, +-inf, values near
 * FLT_MAX (whose sum overflows to inf in F32). */
static void fill_values(dk_tensor *t) {
    for (size_t i = 0; i < t->numel; i++) {
        uint64_t r = next_bits();
        double mant = (double)(r >> 11) * 0x1.0p-53 * 2.0 - 1.0; /* [-1, 1) */
        int ex = (int)(r % 61) - 30;                              /* 2^-30 .. 2^30 */
        dk_tensor_set(t, i, ldexp(mant, ex));
    }
    double edge[] = {0.0, -0.0, 1e-310, -4e-320, 1e-40, -1e-44, INFINITY, -INFINITY, 3e38, -3e38, 1.0};
    for (size_t k = 0; k < sizeof edge / sizeof edge[0] && k * 7 < t->numel; k++) dk_tensor_set(t, k * 7, edge[k]);
}

static int same_bits(const dk_tensor *a, const dk_tensor *b) {
    return a->dtype == b->dtype && a->numel == b->numel &&
           memcmp(a->data, b->data, a->numel * dk_dtype_size(a->dtype)) == 0;
}

/* Checks that work in every build. */
static void test_cpu_paths(void) {
    int64_t shape[2] = {3, 5};
    dk_tensor *t = dk_tensor_new_device(DK_F64, 2, shape, DK_CPU, &dk_test_err);
    DK_CHECK(t != NULL && t->device == DK_CPU && t->numel == 15);
    if (!t) return;
    fill_bits(t);
    dk_tensor *c = dk_tensor_to_device(t, DK_CPU, &dk_test_err);
    DK_CHECK(c != NULL && c->device == DK_CPU && c->data != t->data && same_bits(c, t));
    dk_tensor_free(c);
    DK_CHECK(dk_tensor_new_device(DK_F32, 2, shape, (dk_device)7, &dk_test_err) == NULL);
    DK_CHECK(dk_test_err.code == DK_EINVAL && strstr(dk_test_err.msg, "unknown device 7"));
    DK_CHECK(dk_tensor_to_device(t, (dk_device)7, &dk_test_err) == NULL);
    DK_CHECK(dk_test_err.code == DK_EINVAL);
    DK_CHECK(dk_tensor_to_device(NULL, DK_CPU, &dk_test_err) == NULL && dk_test_err.code == DK_EINVAL);
    dk_tensor_free(t);
}

/* No usable CUDA (CPU-only build, or no GPU / driver): nothing crashes, and
 * every GPU call says why it cannot run. */
static void test_unavailable(void) {
    char buf[512];
    int64_t shape[1] = {4};
    DK_CHECK(dk_cuda_device_count() == 0);
    DK_CHECK(dk_cuda_available() == 0);
    DK_CHECK(dk_cuda_describe(buf, sizeof buf) == DK_EUNSUPPORTED);
    dk_tensor *cpu = dk_tensor_new(DK_F32, 1, shape, &dk_test_err);
    DK_CHECK(dk_tensor_new_device(DK_F32, 1, shape, DK_CUDA, &dk_test_err) == NULL);
    DK_CHECK(dk_test_err.code == DK_EUNSUPPORTED);
    DK_CHECK(dk_tensor_to_device(cpu, DK_CUDA, &dk_test_err) == NULL);
    DK_CHECK(dk_test_err.code == DK_EUNSUPPORTED);
    if (!dk_cuda_built()) {
        const char *want = "diffkit was built without CUDA: reconfigure with -DDIFFKIT_CUDA=ON (needs nvcc)";
        DK_CHECK(strcmp(buf, want) == 0);
        DK_CHECK(strstr(dk_test_err.msg, want) != NULL);
        DK_CHECK_STATUS(dk_cuda_add(cpu, cpu, cpu, &dk_test_err), DK_EUNSUPPORTED);
        DK_CHECK(strstr(dk_test_err.msg, want) != NULL);
    } else {
        DK_CHECK(strncmp(buf, "no CUDA device: ", 16) == 0);
        DK_CHECK(strstr(dk_test_err.msg, "no CUDA device here") != NULL);
        DK_CHECK_STATUS(dk_cuda_add(cpu, cpu, cpu, &dk_test_err), DK_EINVAL); /* CPU tensors are refused first */
    }
    dk_tensor_free(cpu);
}

/* ---- with a GPU ---- */

static void test_round_trip(dk_dtype dt) {
    int64_t shape[3] = {5, 7, 33};
    dk_tensor *h = dk_tensor_new(dt, 3, shape, &dk_test_err);
    DK_CHECK(h != NULL);
    if (!h) return;
    fill_bits(h);
    dk_tensor *d = dk_tensor_to_device(h, DK_CUDA, &dk_test_err);
    DK_CHECK(d != NULL && d->device == DK_CUDA && d->dtype == dt && dk_tensor_same_shape(d, h));
    dk_tensor *d2 = dk_tensor_to_device(d, DK_CUDA, &dk_test_err); /* device to device */
    DK_CHECK(d2 != NULL && d2->device == DK_CUDA && d2->data != d->data);
    dk_tensor *back = dk_tensor_to_device(d2, DK_CPU, &dk_test_err);
    DK_CHECK(back != NULL && back->device == DK_CPU && dk_tensor_same_shape(back, h));
    if (back && !same_bits(back, h)) DK_CHECK(!"round trip CPU->CUDA->CUDA->CPU changed bits");

    /* a view of a CUDA tensor stays on CUDA and copies its own slice */
    dk_tensor *s = d ? dk_tensor_slice0(d, 3, &dk_test_err) : NULL;
    DK_CHECK(s != NULL && s->device == DK_CUDA && s->base == d);
    dk_tensor *hs = dk_tensor_slice0(h, 3, &dk_test_err);
    dk_tensor *sb = s ? dk_tensor_to_device(s, DK_CPU, &dk_test_err) : NULL;
    DK_CHECK(sb != NULL && hs != NULL && same_bits(sb, hs));
    /* CPU-only functions refuse device tensors instead of reading them */
    DK_CHECK(d == NULL || dk_tensor_to(d, DK_F64, &dk_test_err) == NULL);
    DK_CHECK(dk_test_err.code == DK_EUNSUPPORTED);
    /* out of device memory: one line naming the bytes, and the allocator still works after it */
    {
        dk_tensor *huge = dk_tensor_new_device(DK_F32, 1, (int64_t[]){(int64_t)1 << 42}, DK_CUDA, &dk_test_err);
        DK_CHECK(huge == NULL);
        DK_CHECK(dk_test_err.code == DK_ENOMEM);
        DK_CHECK(strstr(dk_test_err.msg, "bytes") != NULL);
        printf("16 TiB on the GPU: %s\n", dk_test_err.msg);
        dk_tensor_free(huge);
        dk_tensor *small = dk_tensor_new_device(DK_F32, 1, (int64_t[]){1024}, DK_CUDA, &dk_test_err);
        DK_CHECK(small != NULL);
        dk_tensor_free(small);
    }
    /* dk_tensor_copy crosses devices through the host, converting the dtype */
    {
        dk_tensor *h64 = dk_tensor_new(DK_F64, 1, (int64_t[]){5}, &dk_test_err);
        dk_tensor *c32 = dk_tensor_new_device(DK_F32, 1, (int64_t[]){5}, DK_CUDA, &dk_test_err);
        dk_tensor *b64 = dk_tensor_new(DK_F64, 1, (int64_t[]){5}, &dk_test_err);
        for (int i = 0; h64 && i < 5; i++) dk_f64(h64)[i] = 0.5 * i - 1;
        DK_CHECK_OK(dk_tensor_copy(c32, h64, &dk_test_err));
        DK_CHECK_OK(dk_tensor_copy(b64, c32, &dk_test_err));
        for (int i = 0; b64 && i < 5; i++) DK_CHECK_NEAR(dk_f64(b64)[i], 0.5 * i - 1, 0, 0);
        dk_tensor_free(h64);
        dk_tensor_free(c32);
        dk_tensor_free(b64);
    }
    dk_tensor_free(d); /* the view s keeps d's device memory alive */
    dk_tensor *sb2 = s ? dk_tensor_to_device(s, DK_CPU, &dk_test_err) : NULL;
    DK_CHECK(sb2 != NULL && hs != NULL && same_bits(sb2, hs));
    dk_tensor_free(sb2);
    dk_tensor_free(sb);
    dk_tensor_free(hs);
    dk_tensor_free(s);
    dk_tensor_free(back);
    dk_tensor_free(d2);
    dk_tensor_free(h);

    dk_tensor *z = dk_tensor_new_device(dt, 3, shape, DK_CUDA, &dk_test_err);
    dk_tensor *zh = z ? dk_tensor_to_device(z, DK_CPU, &dk_test_err) : NULL;
    DK_CHECK(zh != NULL);
    if (zh) {
        int zero = 1;
        const unsigned char *p = zh->data;
        for (size_t i = 0; i < zh->numel * dk_dtype_size(dt); i++) zero &= p[i] == 0;
        DK_CHECK(zero);
    }
    dk_tensor_free(zh);
    dk_tensor_free(z);
}

/* dk_cuda_add against the CPU's a[i] + b[i], bit for bit (NaN == NaN). */
static void test_add(dk_dtype dt, size_t n, int alias) {
    int64_t shape[1] = {(int64_t)n};
    dk_tensor *a = dk_tensor_new(dt, 1, shape, &dk_test_err), *b = dk_tensor_new(dt, 1, shape, &dk_test_err);
    DK_CHECK(a != NULL && b != NULL);
    if (!a || !b) return;
    fill_values(a);
    fill_values(b);
    dk_tensor *da = dk_tensor_to_device(a, DK_CUDA, &dk_test_err);
    dk_tensor *db = dk_tensor_to_device(b, DK_CUDA, &dk_test_err);
    dk_tensor *dout = alias ? da : dk_tensor_new_device(dt, 1, shape, DK_CUDA, &dk_test_err);
    DK_CHECK(da != NULL && db != NULL && dout != NULL);
    if (da && db && dout) {
        DK_CHECK_OK(dk_cuda_add(dout, da, db, &dk_test_err));
        dk_tensor *out = dk_tensor_to_device(dout, DK_CPU, &dk_test_err);
        DK_CHECK(out != NULL);
        size_t bad = 0, first = 0;
        for (size_t i = 0; out && i < n; i++) {
            int same;
            if (dt == DK_F32) {
                float want = dk_f32(a)[i] + dk_f32(b)[i], got = dk_f32(out)[i];
                same = memcmp(&want, &got, 4) == 0 || (want != want && got != got);
            } else {
                double want = dk_f64(a)[i] + dk_f64(b)[i], got = dk_f64(out)[i];
                same = memcmp(&want, &got, 8) == 0 || (want != want && got != got);
            }
            if (!same && bad++ == 0) first = i;
        }
        if (bad)
            dk_test_fail(__FILE__, __LINE__, "cuda_add %s n=%zu: %zu of %zu differ from the CPU, first at %zu: "
                         "%.17g + %.17g = %.17g on the GPU", dk_dtype_name(dt), n, bad, n, first,
                         dk_tensor_get(a, first), dk_tensor_get(b, first), dk_tensor_get(out, first));
        dk_test_checks++;
        dk_tensor_free(out);
    }
    if (!alias) dk_tensor_free(dout);
    dk_tensor_free(da);
    dk_tensor_free(db);
    dk_tensor_free(a);
    dk_tensor_free(b);
}

static void test_add_errors(void) {
    int64_t s3[1] = {3}, s4[1] = {4};
    dk_tensor *x = dk_tensor_new_device(DK_F32, 1, s3, DK_CUDA, &dk_test_err);
    dk_tensor *y = dk_tensor_new_device(DK_F32, 1, s4, DK_CUDA, &dk_test_err);
    dk_tensor *w = dk_tensor_new_device(DK_F64, 1, s3, DK_CUDA, &dk_test_err);
    dk_tensor *k = dk_tensor_new_device(DK_I64, 1, s3, DK_CUDA, &dk_test_err);
    dk_tensor *h = dk_tensor_new(DK_F32, 1, s3, &dk_test_err);
    DK_CHECK(x && y && w && k && h);
    if (x && y && w && k && h) {
        DK_CHECK_STATUS(dk_cuda_add(x, x, h, &dk_test_err), DK_EINVAL);
        DK_CHECK(strstr(dk_test_err.msg, "b is on cpu") != NULL);
        DK_CHECK_STATUS(dk_cuda_add(x, x, y, &dk_test_err), DK_ESHAPE);
        DK_CHECK(strstr(dk_test_err.msg, "[3]") && strstr(dk_test_err.msg, "[4]"));
        DK_CHECK_STATUS(dk_cuda_add(x, x, w, &dk_test_err), DK_ESHAPE);
        DK_CHECK_STATUS(dk_cuda_add(k, k, k, &dk_test_err), DK_EINVAL);
        DK_CHECK_STATUS(dk_cuda_add(NULL, x, x, &dk_test_err), DK_EINVAL);
    }
    dk_tensor_free(x);
    dk_tensor_free(y);
    dk_tensor_free(w);
    dk_tensor_free(k);
    dk_tensor_free(h);
}

int main(void) {
    char buf[512];
    test_cpu_paths();
    if (!dk_cuda_available()) {
        test_unavailable();
        dk_cuda_describe(buf, sizeof buf);
        if (dk_test_failures) return dk_test_finish();
        printf("%d checks passed; skipping the GPU checks: %s\n", dk_test_checks, buf);
        return 77;
    }
    DK_CHECK(dk_cuda_built() == 1);
    DK_CHECK(dk_cuda_device_count() >= 1);
    DK_CHECK_OK(dk_cuda_describe(buf, sizeof buf));
    printf("%s\n", buf);
    for (dk_dtype dt = 0; dt < DK_DTYPE_COUNT; dt++) test_round_trip(dt);
    test_add(DK_F32, 1000, 0);
    test_add(DK_F64, 4097, 0);
    test_add(DK_F64, 1, 1);                         /* out aliases a */
    test_add(DK_F32, (size_t)65535 * 256 + 4099, 0); /* more than one full grid: the grid-stride loop */
    test_add_errors();
    return dk_test_finish();
}
