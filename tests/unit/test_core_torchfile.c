/* test_core_torchfile.c: the torch.save reader on the files of
 * tests/data/torch/ (made by gen_torch_files.py with torch 1.13): every
 * tensor of every readable file bit for bit against its
 * NAME.expected.safetensors, the value tree and its JSON, dotted paths, and
 * the refusal of hostile and broken files with their one-line messages. */
#include "dktest.h"
#include "diffkit/torchfile.h"
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#define CHECK_MSG(needle) do { \
        if (!strstr(dk_test_err.msg, needle)) dk_test_fail(__FILE__, __LINE__, "message '%s' lacks '%s'", dk_test_err.msg, needle); \
    } while (0)

static char path_buf[4096];
static const char *tdata(const char *name) {
    snprintf(path_buf, sizeof path_buf, "%s", dk_test_data("torch"));
    size_t n = strlen(path_buf);
    snprintf(path_buf + n, sizeof path_buf - n, "/%s", name);
    return path_buf;
}

static dk_pt_file *open_ok(const char *name) {
    dk_pt_file *f = dk_pt_open(tdata(name), &dk_test_err);
    if (!f) dk_test_fail(__FILE__, __LINE__, "%s: %s", name, dk_test_err.msg);
    return f;
}

/* every tensor leaf of `file` against the expected safetensors, bit for bit */
static int compare_file(const char *file, const char *expected) {
    char ep[4096];
    snprintf(ep, sizeof ep, "%s", tdata(expected));
    dk_st_file *e = dk_st_open(ep, &dk_test_err);
    DK_CHECK(e != NULL);
    dk_pt_file *f = open_ok(file);
    if (!e || !f) {
        dk_st_close(e);
        dk_pt_close(f);
        return 0;
    }
    dk_pt_named *a = NULL;
    size_t n = 0;
    DK_CHECK_OK(dk_pt_state_dict(f, NULL, &a, &n, &dk_test_err));
    if (n != dk_st_count(e)) dk_test_fail(__FILE__, __LINE__, "%s: %zu tensors, expected %zu", file, n, dk_st_count(e));
    for (size_t i = 0; i < n && i < dk_st_count(e); i++) {
        const char *en = dk_st_name(e, i);
        if (strcmp(a[i].name, en)) {
            dk_test_fail(__FILE__, __LINE__, "%s: tensor %zu is '%s', expected '%s'", file, i, a[i].name, en);
            continue;
        }
        dk_tensor *want = dk_st_get(e, en, &dk_test_err);
        dk_tensor *got = dk_pv_tensor(a[i].value, &dk_test_err);
        DK_CHECK(want && got);
        if (want && got) {
            int same = got->dtype == want->dtype && got->ndim == want->ndim && got->numel == want->numel;
            for (int d = 0; same && d < got->ndim; d++) same = got->shape[d] == want->shape[d];
            if (same && got->numel) same = !memcmp(got->data, want->data, got->numel * dk_dtype_size(got->dtype));
            if (!same) {
                char sg[80], sw[80];
                dk_test_fail(__FILE__, __LINE__, "%s: '%s' is %s %s, expected %s %s (or the bytes differ)", file, en, dk_dtype_name(got->dtype),
                             dk_shape_str(got, sg, sizeof sg), dk_dtype_name(want->dtype), dk_shape_str(want, sw, sizeof sw));
            }
            dk_dtype dt;
            int nd;
            int64_t sh[DK_MAX_DIMS];
            DK_CHECK_OK(dk_pv_tensor_info(a[i].value, &dt, &nd, sh, &dk_test_err));
            DK_CHECK(dt == want->dtype && nd == want->ndim);
        }
        dk_tensor_free(want);
        dk_tensor_free(got);
    }
    dk_pt_named_free(a, n);
    dk_pt_close(f);
    dk_st_close(e);
    return 1;
}

static void test_all_expected(void) {
    DIR *d = opendir(dk_test_data("torch"));
    DK_CHECK(d != NULL);
    if (!d) return;
    int nfiles = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *nm = de->d_name;
        size_t l = strlen(nm);
        const char *ext = l > 4 && !strcmp(nm + l - 3, ".pt") ? ".pt" : l > 5 && !strcmp(nm + l - 4, ".pth") ? ".pth" : NULL;
        if (!ext || !strncmp(nm, "hostile_", 8) || !strncmp(nm, "truncated_", 10) || !strncmp(nm, "deflated_", 9)) continue;
        char exp[512];
        snprintf(exp, sizeof exp, "%.*s.expected.safetensors", (int)(l - strlen(ext)), nm);
        nfiles += compare_file(nm, exp);
    }
    closedir(d);
    DK_CHECK(nfiles == 13);
}

static void test_tree(void) {
    dk_pt_file *f = open_ok("nested.pt");
    if (!f) return;
    const dk_pv *r = dk_pt_root(f), *v;
    int64_t i;
    double x;
    int b;
    size_t n;
    DK_CHECK(dk_pv_kind_of(r) == DK_PV_DICT);
    DK_CHECK(!dk_pt_is_legacy(f));
    DK_CHECK(dk_pv_kind_of(dk_pv_get(r, "none")) == DK_PV_NONE);
    DK_CHECK(dk_pv_bool(dk_pv_get(r, "t"), &b) == 0 && b == 1);
    DK_CHECK(dk_pv_bool(dk_pv_get(r, "f"), &b) == 0 && b == 0);
    DK_CHECK(dk_pv_int(dk_pv_get(r, "int"), &i) == 0 && i == 42);
    DK_CHECK(dk_pv_int(dk_pv_get(r, "neg"), &i) == 0 && i == -(1LL << 40));
    DK_CHECK(dk_pv_int(dk_pv_get(r, "big"), &i) == 0 && i == INT64_MAX);
    DK_CHECK(dk_pv_float(dk_pv_get(r, "float"), &x) == 0 && x == 0.1);
    DK_CHECK(dk_pv_float(dk_pv_get(r, "inf"), &x) == 0 && isinf(x));
    DK_CHECK(dk_pv_str(dk_pv_get(r, "str"), &n) && !strcmp(dk_pv_str(dk_pv_get(r, "str"), NULL), "h\xc3\xa9llo \"q\"\n"));
    v = dk_pv_get(r, "bytes");
    DK_CHECK(dk_pv_kind_of(v) == DK_PV_BYTES && dk_pv_len(v) == 4 && !memcmp(dk_pv_str(v, NULL), "\0ab\xff", 4));
    v = dk_pv_get(r, "empty_bytes");
    DK_CHECK(dk_pv_kind_of(v) == DK_PV_BYTES && dk_pv_len(v) == 0);
    v = dk_pv_get(r, "list");
    DK_CHECK(dk_pv_kind_of(v) == DK_PV_LIST && dk_pv_len(v) == 4);
    DK_CHECK(dk_pv_kind_of(dk_pv_item(v, 3)) == DK_PV_LIST);
    DK_CHECK(dk_pv_kind_of(dk_pv_item(dk_pv_item(v, 3), 1)) == DK_PV_TUPLE);
    DK_CHECK(dk_pv_item(v, 4) == NULL);
    v = dk_pv_get(r, "intkeys");
    DK_CHECK(dk_pv_kind_of(v) == DK_PV_DICT && dk_pv_len(v) == 2);
    DK_CHECK(dk_pv_int(dk_pv_key(v, 1), &i) == 0 && i == 7);
    DK_CHECK(dk_pv_kind_of(dk_pv_get(r, "size")) == DK_PV_TUPLE);
    DK_CHECK(dk_pv_get(r, "absent") == NULL);
    /* dotted paths: str keys, int keys, list indices */
    DK_CHECK_OK(dk_pt_find(f, "intkeys.7.x", &v, &dk_test_err));
    DK_CHECK(dk_pv_int(v, &i) == 0 && i == 1);
    DK_CHECK_OK(dk_pt_find(f, "list.3.1.0", &v, &dk_test_err));
    DK_CHECK(dk_pv_int(v, &i) == 0 && i == 3);
    DK_CHECK_STATUS(dk_pt_find(f, "list.9", &v, &dk_test_err), DK_ENOTFOUND);
    CHECK_MSG("no entry 'list.9'");
    /* JSON */
    char *js = NULL;
    DK_CHECK_OK(dk_pv_json(dk_pv_get(r, "list"), &js, &dk_test_err));
    if (js && strcmp(js, "[1, 2.5, \"x\", [null, [3, 4]]]")) dk_test_fail(__FILE__, __LINE__, "json %s", js);
    free(js);
    DK_CHECK_OK(dk_pv_json(dk_pv_get(r, "intkeys"), &js, &dk_test_err));
    if (js && strcmp(js, "{\"0\": \"zero\", \"7\": {\"x\": 1}}")) dk_test_fail(__FILE__, __LINE__, "json %s", js);
    free(js);
    DK_CHECK_OK(dk_pv_json(dk_pv_get(r, "bytes"), &js, &dk_test_err));
    if (js && strcmp(js, "\"\\u0000ab\\u00ff\"")) dk_test_fail(__FILE__, __LINE__, "json %s", js);
    free(js);
    DK_CHECK_OK(dk_pv_json(dk_pv_get(r, "tensors"), &js, &dk_test_err));
    if (js && strcmp(js, "[{\"tensor\": \"F32\", \"shape\": [2]}, [{\"tensor\": \"I64\", \"shape\": [1]}]]")) dk_test_fail(__FILE__, __LINE__, "json %s", js);
    free(js);
    DK_CHECK_OK(dk_pv_json(dk_pv_get(r, "float"), &js, &dk_test_err));
    if (js && strcmp(js, "0.1")) dk_test_fail(__FILE__, __LINE__, "json %s", js);
    free(js);
    /* a scalar is not a state dict */
    dk_pt_named *a;
    DK_CHECK_STATUS(dk_pt_state_dict(f, "int", &a, &n, &dk_test_err), DK_EINVAL);
    CHECK_MSG("not a dict of tensors");
    dk_pt_close(f);
}

static void test_checkpoints(void) {
    dk_pt_file *f = open_ok("kdiff_ckpt.pth");
    const dk_pv *v;
    dk_pt_named *a;
    size_t n;
    char *js;
    int64_t i;
    double x;
    if (f) {
        DK_CHECK_OK(dk_pt_state_dict(f, "model_ema", &a, &n, &dk_test_err));
        DK_CHECK(n == 4);
        if (n == 4) {
            DK_CHECK(!strcmp(a[0].name, "0.weight") && !strcmp(a[3].name, "2.bias"));
            dk_dtype dt;
            int nd;
            int64_t sh[DK_MAX_DIMS];
            DK_CHECK_OK(dk_pv_tensor_info(a[0].value, &dt, &nd, sh, &dk_test_err));
            DK_CHECK(dt == DK_F32 && nd == 2 && sh[0] == 8 && sh[1] == 4);
        }
        dk_pt_named_free(a, n);
        DK_CHECK_OK(dk_pt_find(f, "config", &v, &dk_test_err));
        DK_CHECK_OK(dk_pv_json(dk_pv_get(v, "optimizer"), &js, &dk_test_err));
        if (js && strcmp(js, "{\"type\": \"adamw\", \"lr\": 0.0001, \"betas\": [0.95, 0.999], \"eps\": 1e-06, \"weight_decay\": 0.001}"))
            dk_test_fail(__FILE__, __LINE__, "json %s", js);
        free(js);
        DK_CHECK_OK(dk_pt_find(f, "opt.param_groups.0.lr", &v, &dk_test_err));
        DK_CHECK(dk_pv_float(v, &x) == 0 && x == 1e-4);
        DK_CHECK_OK(dk_pt_find(f, "opt.state.0.step", &v, &dk_test_err));
        DK_CHECK(dk_pv_kind_of(v) == DK_PV_TENSOR);
        DK_CHECK(dk_pv_int(dk_pv_get(dk_pt_root(f), "step"), &i) == 0 && i == 1000);
        DK_CHECK(dk_pv_kind_of(dk_pv_get(dk_pt_root(f), "gns_stats")) == DK_PV_NONE);
        DK_CHECK_OK(dk_pt_find(f, "demo_gen", &v, &dk_test_err));
        dk_tensor *t = dk_pv_tensor(v, &dk_test_err);
        DK_CHECK(t && t->dtype == DK_U8 && t->ndim == 1);
        dk_tensor_free(t);
        DK_CHECK_STATUS(dk_pt_state_dict(f, "model_emaa", &a, &n, &dk_test_err), DK_ENOTFOUND);
        CHECK_MSG("'model_ema'");
        dk_pt_close(f);
    }
    f = open_ok("dit_ckpt.pt");
    if (f) {
        v = dk_pv_get(dk_pt_root(f), "args");
        DK_CHECK(dk_pv_kind_of(v) == DK_PV_OBJECT && dk_pv_class(v) && !strcmp(dk_pv_class(v), "argparse.Namespace"));
        DK_CHECK(dk_pv_str(dk_pv_get(v, "model"), NULL) && !strcmp(dk_pv_str(dk_pv_get(v, "model"), NULL), "DiT-XL/2"));
        DK_CHECK(dk_pv_len(v) == 12);
        DK_CHECK_OK(dk_pv_json(v, &js, &dk_test_err));
        if (js && strncmp(js, "{\"data_path\": \"/data/imagenet\", \"results_dir\": \"results\", \"model\": \"DiT-XL/2\"", 76))
            dk_test_fail(__FILE__, __LINE__, "json %s", js);
        free(js);
        DK_CHECK_OK(dk_pt_find(f, "args.image_size", &v, &dk_test_err));
        DK_CHECK(dk_pv_int(v, &i) == 0 && i == 256);
        DK_CHECK_OK(dk_pt_state_dict(f, "ema", &a, &n, &dk_test_err));
        DK_CHECK(n == 4);
        dk_pt_named_free(a, n);
        dk_pt_close(f);
    }
    f = open_ok("state_dict.pt");
    if (f) {
        DK_CHECK_OK(dk_pt_state_dict(f, NULL, &a, &n, &dk_test_err));
        DK_CHECK(n == 9 && !strcmp(a[6].name, "1.num_batches_tracked"));
        dk_pt_named_free(a, n);
        dk_pt_close(f);
    }
    f = open_ok("legacy.pth");
    if (f) {
        DK_CHECK(dk_pt_is_legacy(f));
        DK_CHECK_OK(dk_pt_find(f, "views.f16_t", &v, &dk_test_err));
        dk_tensor *h = dk_pv_tensor(v, &dk_test_err), *t = dk_pv_tensor_as(v, DK_F32, &dk_test_err);
        DK_CHECK(h && t && h->dtype == DK_F16 && t->dtype == DK_F32 && t->shape[0] == 6 && t->shape[1] == 4);
        if (h && t)
            for (size_t k = 0; k < t->numel; k++) DK_CHECK_NEAR(dk_f32(t)[k], dk_tensor_get(h, k), 0, 0);
        dk_tensor_free(h);
        dk_tensor_free(t);
        dk_pt_close(f);
    }
}

/* opening fails with code and a message holding every needle */
static void refuse(const char *name, dk_status code, const char *n1, const char *n2) {
    dk_error_clear(&dk_test_err);
    dk_pt_file *f = dk_pt_open(tdata(name), &dk_test_err);
    DK_CHECK(f == NULL);
    dk_pt_close(f);
    if (dk_test_err.code != code)
        dk_test_fail(__FILE__, __LINE__, "%s: %s, expected %s (%s)", name, dk_status_name(dk_test_err.code), dk_status_name(code), dk_test_err.msg);
    if (!strstr(dk_test_err.msg, name)) dk_test_fail(__FILE__, __LINE__, "message '%s' does not name the file", dk_test_err.msg);
    CHECK_MSG(n1);
    if (n2) CHECK_MSG(n2);
    if (strchr(dk_test_err.msg, '\n')) dk_test_fail(__FILE__, __LINE__, "message '%s' is not one line", dk_test_err.msg);
}

static void test_hostile_files(void) {
    refuse("hostile_os_system.pt", DK_EFORMAT, "data.pkl byte 2: pickle global 'os.system' is not allowed",
           "convert the file with torch in Python");
    refuse("hostile_eval.pt", DK_EFORMAT, "pickle global 'builtins.eval' is not allowed", NULL);
    refuse("hostile_legacy.pth", DK_EFORMAT, "the main pickle byte 2: pickle global 'os.system' is not allowed", NULL);
    refuse("hostile_module.pt", DK_EFORMAT, "pickle global 'torch.nn.modules.container.Sequential' is not allowed: the file holds a whole nn.Module",
           "save model.state_dict()");
    refuse("hostile_bigint.pt", DK_EFORMAT, "does not fit int64", NULL);
    refuse("hostile_view.pt", DK_EFORMAT, "reads element", NULL);
    refuse("hostile_byteorder_big.pt", DK_EUNSUPPORTED, "not little-endian", NULL);
    refuse("deflated_dtypes.pt", DK_EUNSUPPORTED, "is compressed (method 8, deflate)", "re-save it with torch.save");
    refuse("truncated_dtypes.pt", DK_EFORMAT, "truncated file", NULL);
    refuse("truncated_legacy.pth", DK_EFORMAT, "truncated file", NULL);
    dk_error_clear(&dk_test_err);
    DK_CHECK(dk_pt_open(tdata("no-such-file.pt"), &dk_test_err) == NULL && dk_test_err.code == DK_EIO);
}

/* a legacy-free in-memory zip with one member <a>/data.pkl = pkl */
static unsigned char *mkzip(const unsigned char *pkl, size_t n, size_t *len) {
    const char *name = "a/data.pkl";
    size_t nl = strlen(name), off = 0;
    unsigned char *b = calloc(1, 30 + nl + n + 46 + nl + 22);
    unsigned char *p = b;
#define W2(v) do { p[0] = (unsigned char)(v); p[1] = (unsigned char)((v) >> 8); p += 2; } while (0)
#define W4(v) do { W2((v) & 0xffff); W2(((uint32_t)(v)) >> 16); } while (0)
    W4(0x04034b50u); W2(20); W2(0); W2(0); W2(0); W2(0); W4(0); W4(n); W4(n); W2(nl); W2(0);
    memcpy(p, name, nl); p += nl;
    memcpy(p, pkl, n); p += n;
    size_t cd = (size_t)(p - b);
    W4(0x02014b50u); W2(20); W2(20); W2(0); W2(0); W2(0); W2(0); W4(0); W4(n); W4(n); W2(nl); W2(0); W2(0); W2(0); W2(0); W4(0); W4(off);
    memcpy(p, name, nl); p += nl;
    size_t cds = (size_t)(p - b) - cd;
    W4(0x06054b50u); W2(0); W2(0); W2(1); W2(1); W4(cds); W4(cd); W2(0);
    *len = (size_t)(p - b);
    return b;
}

static dk_pt_file *parse_pkl(const unsigned char *pkl, size_t n) {
    size_t len;
    unsigned char *z = mkzip(pkl, n, &len);
    dk_error_clear(&dk_test_err);
    dk_pt_file *f = dk_pt_parse(z, len, "mem.pt", &dk_test_err);
    free(z);
    return f;
}

static void test_hostile_pickles(void) {
    /* a list that holds itself: the walks stop */
    static const unsigned char self[] = {0x80, 2, ']', 'q', 0, 'h', 0, 'a', '.'};
    dk_pt_file *f = parse_pkl(self, sizeof self);
    DK_CHECK(f != NULL);
    if (f) {
        dk_pt_named *a;
        size_t n;
        char *js;
        DK_CHECK_STATUS(dk_pt_state_dict(f, NULL, &a, &n, &dk_test_err), DK_EFORMAT);
        CHECK_MSG("refers to itself");
        DK_CHECK_STATUS(dk_pv_json(dk_pt_root(f), &js, &dk_test_err), DK_EFORMAT);
        dk_pt_close(f);
    }
    /* deep nesting: 100000 lists in lists parse without recursion */
    size_t depth = 100000, k = 0;
    unsigned char *deep = malloc(depth * 2 + 8);
    deep[k++] = 0x80;
    deep[k++] = 2;
    for (size_t i = 0; i < depth; i++) deep[k++] = ']';
    for (size_t i = 0; i + 1 < depth; i++) deep[k++] = 'a';
    deep[k++] = '.';
    f = parse_pkl(deep, k);
    DK_CHECK(f != NULL);
    if (f) {
        char *js;
        DK_CHECK_STATUS(dk_pv_json(dk_pt_root(f), &js, &dk_test_err), DK_EFORMAT);
        CHECK_MSG("nested deeper");
        dk_pt_close(f);
    }
    free(deep);
    /* memo index beyond the pickle, a GET never PUT, stack underflow, unknown opcode */
    static const unsigned char bigmemo[] = {0x80, 2, 'N', 'r', 0xff, 0xff, 0xff, 0x7f, '.'};
    DK_CHECK(parse_pkl(bigmemo, sizeof bigmemo) == NULL);
    CHECK_MSG("memo index 2147483647 is larger than the pickle");
    static const unsigned char badget[] = {0x80, 2, 'h', 3, '.'};
    DK_CHECK(parse_pkl(badget, sizeof badget) == NULL);
    CHECK_MSG("was never stored");
    static const unsigned char under[] = {0x80, 2, 'a', '.'};
    DK_CHECK(parse_pkl(under, sizeof under) == NULL);
    CHECK_MSG("stack underflow");
    static const unsigned char inst[] = {0x80, 2, 'i', 'o', 's', '\n', 's', 'y', 's', 't', 'e', 'm', '\n', '.'};
    DK_CHECK(parse_pkl(inst, sizeof inst) == NULL);
    CHECK_MSG("opcode 0x69 is not supported");
    static const unsigned char nostop[] = {0x80, 2, 'N'};
    DK_CHECK(parse_pkl(nostop, sizeof nostop) == NULL);
    CHECK_MSG("ends without STOP");
    /* a REDUCE of an allowed class with the wrong arguments; a storage type called */
    static const unsigned char badod[] = {0x80, 2, 'c', 'c', 'o', 'l', 'l', 'e', 'c', 't', 'i', 'o', 'n', 's', '\n', 'O', 'r', 'd', 'e', 'r', 'e', 'd', 'D', 'i', 'c', 't', '\n', 'K', 1, 0x85, 'R', '.'};
    DK_CHECK(parse_pkl(badod, sizeof badod) == NULL);
    CHECK_MSG("OrderedDict of a int");
    static const unsigned char callst[] = {0x80, 2, 'c', 't', 'o', 'r', 'c', 'h', '\n', 'F', 'l', 'o', 'a', 't', 'S', 't', 'o', 'r', 'a', 'g', 'e', '\n', ')', 'R', '.'};
    DK_CHECK(parse_pkl(callst, sizeof callst) == NULL);
    CHECK_MSG("'torch.FloatStorage' cannot be called");
    /* not a torch file at all */
    dk_error_clear(&dk_test_err);
    DK_CHECK(dk_pt_parse("hello world", 11, "x.pt", &dk_test_err) == NULL);
    CHECK_MSG("not a torch.save file");
    DK_CHECK(dk_pt_parse("", 0, "x.pt", &dk_test_err) == NULL);
}

int main(void) {
    test_all_expected();
    test_tree();
    test_checkpoints();
    test_hostile_files();
    test_hostile_pickles();
    return dk_test_finish();
}
