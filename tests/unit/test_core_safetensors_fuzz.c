/* test_core_safetensors_fuzz.c: the safetensors reader on damaged input.
 *
 * A valid file with several tensors and metadata is cut at every length and
 * then damaged by 5000 seeded random edits of 1-4 bytes (mostly inside the
 * header, often with JSON punctuation). Every attempt must give either an
 * error with a message or a file whose tensors can all be read in full; never
 * a crash (the sanitizer build runs this). Seed: DIFFKIT_FUZZ_SEED or 1. */
#include "dktest.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rs;
static uint64_t next_u64(void) { /* splitmix64 */
    uint64_t z = (rs += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static size_t below(size_t n) { return (size_t)(next_u64() % n); }

static int n_ok, n_err;

/* Parses buf; on success reads every tensor and checks it is consistent. */
static void attempt(const unsigned char *buf, size_t len, int must_fail, int must_pass) {
    dk_error err;
    dk_error_clear(&err);
    dk_st_file *f = dk_st_parse(buf, len, "fuzz.safetensors", &err);
    if (!f) {
        n_err++;
        DK_CHECK(err.code != DK_OK && err.msg[0] != '\0');
        if (must_pass) dk_test_fail(__FILE__, __LINE__, "valid file rejected: %s", err.msg);
        return;
    }
    n_ok++;
    if (must_fail) dk_test_fail(__FILE__, __LINE__, "truncated file (%zu bytes) accepted", len);
    size_t total = 0;
    for (size_t i = 0; i < dk_st_count(f); i++) {
        const char *name = dk_st_name(f, i);
        dk_dtype dt;
        int nd;
        int64_t sh[DK_MAX_DIMS];
        if (dk_st_info(f, name, &dt, &nd, sh, &err) != DK_OK) {
            dk_test_fail(__FILE__, __LINE__, "listed tensor not found: %s", err.msg);
            continue;
        }
        dk_tensor *t = dk_st_get(f, name, &err);
        if (!t) { /* only an allocation failure could explain this */
            DK_CHECK(err.code == DK_ENOMEM);
            continue;
        }
        size_t bytes = t->numel * dk_dtype_size(t->dtype);
        const unsigned char *p = t->data;
        unsigned acc = 0;
        for (size_t k = 0; k < bytes; k++) acc += p[k]; /* touch every byte */
        (void)acc;
        total += bytes;
        DK_CHECK(t->dtype == dt && t->ndim == nd);
        dk_tensor *c = dk_st_get_as(f, name, DK_F64, &err);
        DK_CHECK(c != NULL);
        dk_tensor_free(c);
        dk_tensor_free(t);
    }
    for (size_t i = 0; i < dk_st_meta_count(f); i++) DK_CHECK(dk_st_meta_key(f, i) && dk_st_meta_value(f, i));
    DK_CHECK(total <= len);
    dk_st_close(f);
}

static unsigned char *valid_file(size_t *len) {
    const char *dir = dk_test_tmpdir("st_fuzz");
    char path[4200];
    snprintf(path, sizeof path, "%s/base.safetensors", dir);
    dk_st_writer *w = dk_st_writer_new();
    const dk_dtype types[] = {DK_F32, DK_F64, DK_I64, DK_F16, DK_BF16, DK_U8, DK_I32};
    const char *names[] = {"model.w", "model.b", "labels", "half", "brain", "mask", "idx"};
    for (int k = 0; k < 7; k++) {
        int64_t shape[3] = {k + 1, 2, 3};
        dk_tensor *t = dk_tensor_new(types[k], (k % 3) + 1, shape, &dk_test_err);
        for (size_t i = 0; i < t->numel; i++) dk_tensor_set(t, i, (double)i - 3.5);
        DK_CHECK_OK(dk_st_writer_add(w, names[k], t, &dk_test_err));
        dk_tensor_free(t);
    }
    DK_CHECK_OK(dk_st_writer_meta(w, "step", "1000", &dk_test_err));
    DK_CHECK_OK(dk_st_writer_meta(w, "lr", "0.0003", &dk_test_err));
    DK_CHECK_OK(dk_st_writer_meta(w, "note", "esc \"\\ \t \xc3\xa9", &dk_test_err));
    DK_CHECK_OK(dk_st_writer_save(w, path, &dk_test_err));
    dk_st_writer_free(w);
    FILE *fp = fopen(path, "rb");
    static unsigned char buf[1 << 16];
    *len = fp ? fread(buf, 1, sizeof buf, fp) : 0;
    if (fp) fclose(fp);
    return buf;
}

int main(void) {
    const char *seed_env = getenv("DIFFKIT_FUZZ_SEED");
    uint64_t seed = seed_env ? strtoull(seed_env, NULL, 10) : 1;
    rs = seed;
    printf("seed %llu (set DIFFKIT_FUZZ_SEED to change)\n", (unsigned long long)seed);

    size_t len;
    const unsigned char *base = valid_file(&len);
    DK_CHECK(len > 64);
    if (len <= 64) return dk_test_finish();
    size_t hlen = 8 + (size_t)base[0] + ((size_t)base[1] << 8);
    DK_CHECK(hlen < len);
    attempt(base, len, 0, 1);

    /* every truncation fails (the spans must cover the data area exactly) */
    for (size_t cut = 0; cut < len; cut++) attempt(base, cut, 1, 0);

    /* random edits */
    static const unsigned char punct[] = "{}[]\":,\\0123456789-.eEu \x00\xff\x80\xc3";
    unsigned char *buf = malloc(len + 16);
    for (int it = 0; it < 5000; it++) {
        memcpy(buf, base, len);
        size_t cur = len;
        int edits = 1 + (int)below(4);
        for (int e = 0; e < edits; e++) {
            size_t pos = below(10) < 8 ? below(hlen) : below(len);
            switch (below(4)) {
            case 0: buf[pos] ^= (unsigned char)(1u << below(8)); break;
            case 1: buf[pos] = (unsigned char)below(256); break;
            default: buf[pos] = punct[below(sizeof punct - 1)]; break;
            }
        }
        if (below(10) == 0) cur = below(len + 1); /* sometimes truncate as well */
        attempt(buf, cur, 0, 0);
    }
    free(buf);
    printf("fuzz: %d parsed, %d rejected\n", n_ok, n_err);
    DK_CHECK(n_err > 4000); /* the edits do damage: most attempts are rejected */
    return dk_test_finish();
}
