/* test_core_safetensors.c: the safetensors reader on every golden file, a
 * round trip of every dtype with metadata, atomic saves, and the rejection of
 * malformed files (each with the message that names the file and tensor). */
#include "dktest.h"
#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A file image: 8-byte length, the header, then `data` zero bytes. */
static unsigned char *mk(const char *json, size_t data, size_t *len) {
    size_t n = strlen(json);
    unsigned char *b = calloc(1, 8 + n + data);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)n >> (8 * i));
    memcpy(b + 8, json, n);
    *len = 8 + n + data;
    return b;
}

/* Parses json + data zero bytes; returns the status (closes the file). */
static dk_status try_parse(const char *json, size_t data) {
    size_t len;
    unsigned char *b = mk(json, data, &len);
    dk_error_clear(&dk_test_err);
    dk_st_file *f = dk_st_parse(b, len, "t.safetensors", &dk_test_err);
    free(b);
    dk_status s = f ? DK_OK : dk_test_err.code;
    if (!f && dk_test_err.code == DK_OK) s = DK_EINVAL; /* a failure must set the error */
    dk_st_close(f);
    return s;
}

#define REJECT(json, data, needle) do { \
        DK_CHECK_STATUS(try_parse(json, data), DK_EFORMAT); \
        if (!strstr(dk_test_err.msg, needle)) dk_test_fail(__FILE__, __LINE__, "message '%s' lacks '%s'", dk_test_err.msg, needle); \
        if (strncmp(dk_test_err.msg, "t.safetensors: ", 15)) dk_test_fail(__FILE__, __LINE__, "message '%s' does not name the file", dk_test_err.msg); \
    } while (0)

static void test_golden(void) {
    const char *dir = dk_test_data("golden");
    char path[4096];
    DIR *d = opendir(dir);
    DK_CHECK(d != NULL);
    if (!d) return;
    int nfiles = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l < 12 || strcmp(de->d_name + l - 12, ".safetensors")) continue;
        snprintf(path, sizeof path, "%s/%s", dk_test_data("golden"), de->d_name);
        dk_st_file *f = dk_st_open(path, &dk_test_err);
        DK_CHECK(f != NULL);
        if (!f) {
            dk_test_fail(__FILE__, __LINE__, "%s", dk_test_err.msg);
            continue;
        }
        nfiles++;
        DK_CHECK(dk_st_count(f) > 0);
        DK_CHECK(dk_st_meta(f, "generator") != NULL);
        DK_CHECK(dk_st_meta(f, "set") != NULL);
        for (size_t i = 0; i < dk_st_count(f); i++) {
            dk_tensor *t = dk_st_get(f, dk_st_name(f, i), &dk_test_err);
            DK_CHECK(t != NULL);
            if (!t) continue;
            dk_dtype dt;
            int nd;
            int64_t sh[DK_MAX_DIMS];
            DK_CHECK_OK(dk_st_info(f, dk_st_name(f, i), &dt, &nd, sh, &dk_test_err));
            DK_CHECK(dt == t->dtype && nd == t->ndim && (nd == 0 || sh[0] == t->shape[0]));
            dk_tensor_free(t);
        }
        dk_st_close(f);
    }
    closedir(d);
    DK_CHECK(nfiles >= 30);

    /* known shapes and values (INVENTORY.md; values read with Python's struct) */
    dk_st_file *f = dk_st_open(dk_test_data("golden/dit_tiny.io.safetensors"), &dk_test_err);
    DK_CHECK(f != NULL);
    if (!f) return;
    dk_tensor *x = dk_st_get(f, "x", &dk_test_err);
    int64_t xs[4] = {3, 4, 8, 8};
    DK_CHECK_OK(dk_tensor_check(x, "x", DK_F32, 4, xs, &dk_test_err));
    DK_CHECK(dk_f32(x)[0] == -1.742660403251648f);
    DK_CHECK(dk_f32(x)[767] == 0.12842585146427155f);
    double sum = 0;
    for (size_t i = 0; i < x->numel; i++) sum += dk_f32(x)[i];
    DK_CHECK_NEAR(sum, 0.06024237794918008, 1e-9, 0);
    dk_tensor *x64 = dk_st_get_as(f, "x", DK_F64, &dk_test_err);
    DK_CHECK(x64 && x64->dtype == DK_F64 && dk_f64(x64)[0] == (double)-1.742660403251648f);
    dk_tensor *y = dk_st_get(f, "y", &dk_test_err);
    int64_t ys[1] = {3};
    DK_CHECK_OK(dk_tensor_check(y, "y", DK_I64, 1, ys, &dk_test_err));
    DK_CHECK(dk_i64(y)[0] == 3 && dk_i64(y)[1] == 10 && dk_i64(y)[2] == 7);
    DK_CHECK(!dk_st_has(f, "nope"));
    DK_CHECK(dk_st_get(f, "nope", &dk_test_err) == NULL && dk_test_err.code == DK_ENOTFOUND);
    DK_CHECK(strstr(dk_test_err.msg, "'nope'") != NULL);
    long long n;
    DK_CHECK_OK(dk_st_meta_int(f, "cfg.hidden_size", &n, &dk_test_err));
    DK_CHECK(n == 32);
    DK_CHECK_OK(dk_st_meta_int(f, "cfg.learn_sigma", &n, &dk_test_err));
    DK_CHECK(n == 1);
    double v;
    DK_CHECK_OK(dk_st_meta_double(f, "cfg.mlp_ratio", &v, &dk_test_err));
    DK_CHECK(v == 4.0);
    DK_CHECK_STATUS(dk_st_meta_double(f, "mode", &v, &dk_test_err), DK_EFORMAT);
    DK_CHECK_STATUS(dk_st_meta_int(f, "absent", &n, &dk_test_err), DK_ENOTFOUND);
    /* tensors come in the order of their offsets */
    DK_CHECK(strcmp(dk_st_name(f, 0), "x") == 0 && strcmp(dk_st_name(f, 1), "t") == 0);
    dk_tensor_free(x);
    dk_tensor_free(x64);
    dk_tensor_free(y);
    dk_st_close(f);

    f = dk_st_open(dk_test_data("golden/schedules.safetensors"), &dk_test_err);
    DK_CHECK(f != NULL);
    if (!f) return;
    dk_tensor *s = dk_st_get(f, "karras_0.sigmas", &dk_test_err);
    int64_t ss[1] = {11};
    DK_CHECK_OK(dk_tensor_check(s, "karras_0.sigmas", DK_F64, 1, ss, &dk_test_err));
    DK_CHECK_NEAR(dk_f64(s)[0], 80.0, 1e-12, 0);
    DK_CHECK(dk_f64(s)[10] == 0.0);
    DK_CHECK_OK(dk_st_meta_double(f, "karras_1.sigma_min", &v, &dk_test_err));
    DK_CHECK(v == 0.0291675);
    DK_CHECK_OK(dk_st_meta_double(f, "vp_1.eps_s", &v, &dk_test_err));
    DK_CHECK(v == 1e-05);
    dk_tensor_free(s);
    dk_st_close(f);

    f = dk_st_open(dk_test_data("golden/hdit_tiny.io.safetensors"), &dk_test_err);
    DK_CHECK(f != NULL);
    if (!f) return;
    dk_dtype dt;
    int nd;
    int64_t sh[DK_MAX_DIMS];
    DK_CHECK_OK(dk_st_info(f, "out_f64", &dt, &nd, sh, &dk_test_err));
    DK_CHECK(dt == DK_F64 && nd == 4 && sh[0] == 2 && sh[1] == 3 && sh[2] == 16 && sh[3] == 16);
    dk_st_close(f);
}

static void test_round_trip(void) {
    const char *dir = dk_test_tmpdir("st_round_trip");
    char path[4200];
    snprintf(path, sizeof path, "%s/all.safetensors", dir);
    const dk_dtype types[] = {DK_F32, DK_F64, DK_I64, DK_I32, DK_F16, DK_BF16, DK_U8};
    const char *names[] = {"f32", "f64", "i64", "i32", "f16", "bf16", "u8"};
    dk_tensor *ts[7];
    dk_st_writer *w = dk_st_writer_new();
    for (int k = 0; k < 7; k++) {
        int64_t shape[3] = {2, 3, k + 1};
        ts[k] = dk_tensor_new(types[k], 3, shape, &dk_test_err);
        for (size_t i = 0; i < ts[k]->numel; i++) dk_tensor_set(ts[k], i, (double)i * 0.5 - 1.0 + (types[k] == DK_U8 ? 2 : 0));
        DK_CHECK_OK(dk_st_writer_add(w, names[k], ts[k], &dk_test_err));
    }
    int64_t z = 0;
    dk_tensor *empty = dk_tensor_new(DK_F32, 1, &z, &dk_test_err);
    DK_CHECK_OK(dk_st_writer_add(w, "empty \"quoted\" \\ name\n", empty, &dk_test_err));
    dk_tensor *sc = dk_tensor_new(DK_F64, 0, NULL, &dk_test_err);
    dk_f64(sc)[0] = 3.25;
    DK_CHECK_OK(dk_st_writer_add(w, "scalar", sc, &dk_test_err));
    DK_CHECK_STATUS(dk_st_writer_add(w, "f32", ts[0], &dk_test_err), DK_EINVAL);
    DK_CHECK_STATUS(dk_st_writer_add(w, "__metadata__", ts[0], &dk_test_err), DK_EINVAL);
    DK_CHECK_OK(dk_st_writer_meta(w, "lr", "0.0001", &dk_test_err));
    DK_CHECK_OK(dk_st_writer_meta(w, "big", "inf", &dk_test_err));
    DK_CHECK_OK(dk_st_writer_meta(w, "small", "-inf", &dk_test_err));
    DK_CHECK_OK(dk_st_writer_meta(w, "nan", "nan", &dk_test_err));
    DK_CHECK_OK(dk_st_writer_meta(w, "step", "12345", &dk_test_err));
    DK_CHECK_OK(dk_st_writer_meta(w, "text", "tab\there \"q\" \xc3\xa9", &dk_test_err));
    DK_CHECK_OK(dk_st_writer_meta(w, "step", "12346", &dk_test_err)); /* replaces */
    DK_CHECK_OK(dk_st_writer_save(w, path, &dk_test_err));
    dk_st_writer_free(w);

    /* header length is a multiple of 8 and the temp file is gone */
    FILE *fp = fopen(path, "rb");
    unsigned char len8[8] = {0};
    DK_CHECK(fp && fread(len8, 1, 8, fp) == 8);
    if (fp) fclose(fp);
    uint64_t hn = 0;
    for (int i = 7; i >= 0; i--) hn = (hn << 8) | len8[i];
    DK_CHECK(hn % 8 == 0 && hn > 0);
    char tmp[4500];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    DK_CHECK(access(tmp, F_OK) != 0);

    dk_st_file *f = dk_st_open(path, &dk_test_err);
    DK_CHECK(f != NULL);
    if (!f) return;
    DK_CHECK(dk_st_count(f) == 9);
    for (int k = 0; k < 7; k++) {
        dk_tensor *t = dk_st_get(f, names[k], &dk_test_err);
        DK_CHECK(t && t->dtype == types[k] && dk_tensor_same_shape(t, ts[k]));
        if (t) DK_CHECK(memcmp(t->data, ts[k]->data, t->numel * dk_dtype_size(t->dtype)) == 0);
        dk_tensor_free(t);
    }
    dk_tensor *h = dk_st_get_as(f, "f16", DK_F32, &dk_test_err);
    DK_CHECK(h && dk_f32(h)[3] == 0.5f);
    dk_tensor_free(h);
    dk_tensor *e = dk_st_get(f, "empty \"quoted\" \\ name\n", &dk_test_err);
    DK_CHECK(e && e->numel == 0 && e->ndim == 1);
    dk_tensor_free(e);
    dk_tensor *s2 = dk_st_get(f, "scalar", &dk_test_err);
    DK_CHECK(s2 && s2->ndim == 0 && dk_f64(s2)[0] == 3.25);
    dk_tensor_free(s2);
    double v;
    long long n;
    DK_CHECK_OK(dk_st_meta_double(f, "lr", &v, &dk_test_err));
    DK_CHECK(v == 0.0001);
    DK_CHECK_OK(dk_st_meta_double(f, "big", &v, &dk_test_err));
    DK_CHECK(isinf(v) && v > 0);
    DK_CHECK_OK(dk_st_meta_double(f, "small", &v, &dk_test_err));
    DK_CHECK(isinf(v) && v < 0);
    DK_CHECK_OK(dk_st_meta_double(f, "nan", &v, &dk_test_err));
    DK_CHECK(isnan(v));
    DK_CHECK_OK(dk_st_meta_int(f, "step", &n, &dk_test_err));
    DK_CHECK(n == 12346);
    DK_CHECK(dk_st_meta_count(f) == 6);
    DK_CHECK(dk_st_meta(f, "text") && strcmp(dk_st_meta(f, "text"), "tab\there \"q\" \xc3\xa9") == 0);
    dk_st_close(f);

    /* overwrite atomically: the new content replaces the old */
    w = dk_st_writer_new();
    DK_CHECK_OK(dk_st_writer_add(w, "only", ts[1], &dk_test_err));
    DK_CHECK_OK(dk_st_writer_save(w, path, &dk_test_err));
    dk_st_writer_free(w);
    f = dk_st_open(path, &dk_test_err);
    DK_CHECK(f && dk_st_count(f) == 1 && dk_st_meta_count(f) == 0);
    dk_st_close(f);

    /* a failed save (target is a non-empty folder: rename fails) leaves no temp file */
    char sub[4300], keep[4400];
    snprintf(sub, sizeof sub, "%s/folder", dir);
    snprintf(keep, sizeof keep, "%s/keep", sub);
    DK_CHECK(mkdir(sub, 0755) == 0);
    fp = fopen(keep, "w");
    if (fp) fclose(fp);
    w = dk_st_writer_new();
    DK_CHECK_OK(dk_st_writer_add(w, "only", ts[1], &dk_test_err));
    DK_CHECK_STATUS(dk_st_writer_save(w, sub, &dk_test_err), DK_EIO);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", sub, (long)getpid());
    DK_CHECK(access(tmp, F_OK) != 0);
    DK_CHECK(access(keep, F_OK) == 0);
    /* a folder that does not exist */
    snprintf(tmp, sizeof tmp, "%s/no/such/dir/x.safetensors", dir);
    DK_CHECK_STATUS(dk_st_writer_save(w, tmp, &dk_test_err), DK_EIO);
    DK_CHECK(strstr(dk_test_err.msg, "no/such/dir") != NULL);
    dk_st_writer_free(w);

    for (int k = 0; k < 7; k++) dk_tensor_free(ts[k]);
    dk_tensor_free(empty);
    dk_tensor_free(sc);
}

static void test_rejects(void) {
    /* missing file */
    dk_error_clear(&dk_test_err);
    DK_CHECK(dk_st_open("/nonexistent/dir/w.safetensors", &dk_test_err) == NULL);
    DK_CHECK(dk_test_err.code == DK_EIO && strstr(dk_test_err.msg, "/nonexistent/dir/w.safetensors") != NULL);

    /* the exact message of a size mismatch */
    DK_CHECK_STATUS(try_parse("{\"x\":{\"dtype\":\"F64\",\"shape\":[3,5],\"data_offsets\":[0,96]}}", 96), DK_EFORMAT);
    DK_CHECK(strcmp(dk_test_err.msg, "t.safetensors: tensor 'x': data_offsets [0, 96] do not match F64 [3, 5] (120 bytes)") == 0);

    /* sanity: the valid forms parse */
    DK_CHECK_OK(try_parse("{}", 0));
    DK_CHECK_OK(try_parse("{\"__metadata__\":null}    ", 0));
    DK_CHECK_OK(try_parse(" { \"a\" : { \"shape\" : [ 2 ] , \"dtype\" : \"BOOL\" , \"data_offsets\" : [ 0 , 2 ] } }\n\t ", 2));
    DK_CHECK_OK(try_parse("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]},"
                          "\"b\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 16));
    DK_CHECK_OK(try_parse("{\"__metadata__\":{\"k\":\"v\"},\"z\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}}", 0));

    /* escapes decode: a\u00e9 + U+1F600 (surrogate pair) + \n */
    {
        const char *j = "{\"a\\u00e9\\ud83d\\ude00\\n\\/\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}";
        size_t len;
        unsigned char *b = mk(j, 1, &len);
        dk_st_file *f = dk_st_parse(b, len, "t.safetensors", &dk_test_err);
        free(b);
        DK_CHECK(f != NULL);
        if (f) DK_CHECK(strcmp(dk_st_name(f, 0), "a\xc3\xa9\xf0\x9f\x98\x80\n/") == 0);
        dk_st_close(f);
    }

    /* too short, header length past the end, over the limit */
    {
        unsigned char b[16] = {8, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ', ' ', ' ', ' ', ' '};
        DK_CHECK(dk_st_parse(b, 5, "t.safetensors", &dk_test_err) == NULL && dk_test_err.code == DK_EFORMAT);
        DK_CHECK(strstr(dk_test_err.msg, "too short") != NULL);
        DK_CHECK(dk_st_parse(b, 12, "t.safetensors", &dk_test_err) == NULL && dk_test_err.code == DK_EFORMAT);
        DK_CHECK(strstr(dk_test_err.msg, "runs past the end") != NULL);
        dk_st_file *ok = dk_st_parse(b, 16, "t.safetensors", &dk_test_err);
        DK_CHECK(ok != NULL && dk_st_count(ok) == 0);
        dk_st_close(ok);
        uint64_t big = (uint64_t)DK_ST_MAX_HEADER + 1;
        for (int i = 0; i < 8; i++) b[i] = (unsigned char)(big >> (8 * i));
        DK_CHECK(dk_st_parse(b, 16, "t.safetensors", &dk_test_err) == NULL && dk_test_err.code == DK_EFORMAT);
        DK_CHECK(strstr(dk_test_err.msg, "exceeds the limit") != NULL);
        memset(b, 0xff, 8);
        DK_CHECK(dk_st_parse(b, 16, "t.safetensors", &dk_test_err) == NULL && dk_test_err.code == DK_EFORMAT);
    }

    /* a truncated real file */
    {
        FILE *fp = fopen(dk_test_data("golden/dit_tiny.io.safetensors"), "rb");
        DK_CHECK(fp != NULL);
        if (fp) {
            static unsigned char buf[1 << 17];
            size_t len = fread(buf, 1, sizeof buf, fp);
            fclose(fp);
            dk_st_file *f = dk_st_parse(buf, len, "dit_tiny.io.safetensors", &dk_test_err);
            DK_CHECK(f != NULL);
            dk_st_close(f);
            DK_CHECK(dk_st_parse(buf, len - 1, "dit_tiny.io.safetensors", &dk_test_err) == NULL);
            DK_CHECK(dk_test_err.code == DK_EFORMAT && strstr(dk_test_err.msg, "run past the data area") != NULL);
            DK_CHECK(strncmp(dk_test_err.msg, "dit_tiny.io.safetensors: tensor '", 33) == 0);
            DK_CHECK(dk_st_parse(buf, 100, "dit_tiny.io.safetensors", &dk_test_err) == NULL && dk_test_err.code == DK_EFORMAT);
        }
    }

    /* spans */
    REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
           "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "overlap tensor 'a'");
    REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, "run past the data area");
    REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 16, "leave a hole");
    REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 12, "trailing bytes");
    REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "tensor 'a': data_offsets [8, 0]");
    REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,8]}}", 8, "overflow");
    /* dtype, shape, keys */
    REJECT("{\"a\":{\"dtype\":\"F8\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2, "dtype 'F8' is not supported");
    REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8, "non-negative integer");
    REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "non-negative integer");
    REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":[02],\"data_offsets\":[0,8]}}", 8, "leading zero");
    REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,2],\"data_offsets\":[0,8]}}", 8, "more than 5 dimensions");
    REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,8]}}", 8, "too large");
    REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "missing 'data_offsets'");
    REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}", 8, "unknown key 'x'");
    REJECT("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "duplicate key 'dtype'");
    REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
           "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 16, "appears twice");
    REJECT("{\"a\":[1]}", 0, "tensor 'a': expected an object");
    /* metadata */
    REJECT("{\"__metadata__\":{\"k\":1}}", 0, "'k': the value must be a string");
    REJECT("{\"__metadata__\":{\"k\":\"v\",\"k\":\"w\"}}", 0, "'k' appears twice");
    REJECT("{\"__metadata__\":{},\"__metadata__\":{}}", 0, "__metadata__ appears twice");
    REJECT("{\"__metadata__\":{\"k\":{\"n\":\"v\"}}}", 0, "must be a string");
    /* JSON syntax */
    REJECT("", 0, "must be a JSON object");
    REJECT("[]", 0, "must be a JSON object");
    REJECT("{", 0, "expected a string");
    REJECT("{\"__metadata__\":{\"k\":\"v\"},}", 0, "expected a string");
    REJECT("{\"__metadata__\":{\"k\":\"v\"}} x", 0, "unexpected bytes after");
    REJECT("{\"__metadata__\":{\"k\":\"v\"}", 0, "expected '}'");
    REJECT("{\"__metadata__\":{\"k\" \"v\"}}", 0, "expected ':'");
    REJECT("{\"__metadata__\":{\"k\":\"v\\x\"}}", 0, "unknown escape");
    REJECT("{\"__metadata__\":{\"k\":\"v\\u12\"}}", 0, "4 hex digits");
    REJECT("{\"__metadata__\":{\"k\":\"\\ud800x\"}}", 0, "unpaired");
    REJECT("{\"__metadata__\":{\"k\":\"\\udc00\"}}", 0, "unpaired");
    REJECT("{\"__metadata__\":{\"k\":\"\\u0000\"}}", 0, "NUL");
    REJECT("{\"__metadata__\":{\"k\":\"a\nb\"}}", 0, "control character");
    REJECT("{\"__metadata__\":{\"k\":\"\xc0\xaf\"}}", 0, "invalid UTF-8");
    REJECT("{\"__metadata__\":{\"k\":\"\xed\xa0\x80\"}}", 0, "invalid UTF-8");
    REJECT("{\"__metadata__\":{\"k\":\"abc", 0, "unterminated string");
}

int main(void) {
    test_golden();
    test_round_trip();
    test_rejects();
    return dk_test_finish();
}
