/* test_eval_inception.c: the FID Inception network (diffkit/inception.h)
 * against pytorch-fid's network built in torch 1.13 / torchvision 0.14
 * (tests/data/inception/gen_inception_golden.py, run once with
 * /usr/bin/python3; no torch at test time).
 *
 * The weights are not stored: both sides compute them from the same
 * deterministic formula of (tensor name, element index) (inc_weight here,
 * det_weight in the script). golden.safetensors holds the input images
 * (diffkit's [-1, 1] convention: a grey 1x28x28, a batch of two 3x32x32, a
 * 3x64x64; these are also regenerated here from the formula and must agree)
 * and torch's float32 features, also of a grey 1x301x305 (larger than 299,
 * not square: bilinear downsampling) whose input is only regenerated.
 *
 * Tolerance: |ours - torch| <= 1e-4 + 1e-4 |torch| per feature. Justification:
 * torch's own float32 features differ from its float64 ones by at most
 * 1.0e-5 absolute (features up to ~32; printed by the generator), i.e. the
 * float32 rounding noise of 80 layers is ~1e-5; ours (batch norm folded in
 * double, different GEMM summation order) may differ from torch's float32 by
 * the same order, and 1e-4 leaves a 10x margin while a wrong pad, pool or
 * resize changes features by 1e-2 or more.
 *
 * Also: batch size and thread count do not change the features (bitwise);
 * a missing or wrong-shaped tensor gives an error naming it and the expected
 * shape; the weights as a legacy torch.save .pth load to the same network (a
 * broken .pth is refused by the torch reader); a .safetensors
 * written from the tensors loads to the same features (bitwise) and digest;
 * changing one weight changes the digest.
 * DK_INCEPTION_WEIGHTS_OUT=path keeps that file (for the Lua test). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dktest.h"
#include "diffkit/inception.h"
#include "diffkit/safetensors.h"

/* ---- the deterministic weights: the same formula as det_weight in gen_inception_golden.py ---- */
static uint64_t fnv1a64(const char *s) {
    uint64_t h = 0xCBF29CE484222325ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001B3ull;
    return h;
}

static double unit(uint64_t seed, uint64_t i) { /* element i (0-based) */
    uint64_t z = seed + (i + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 40) / 16777216.0;
}

static int ends(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

static dk_tensor *inc_weight(const char *name, int nd, const int64_t *shape) {
    dk_tensor *t = dk_tensor_new(DK_F32, nd, shape, &dk_test_err);
    if (!t) return NULL;
    uint64_t seed = fnv1a64(name);
    double fan_in = nd == 4 ? (double)(shape[1] * shape[2] * shape[3]) : 1;
    for (size_t i = 0; i < t->numel; i++) {
        double u = unit(seed, i), v;
        if (ends(name, ".conv.weight")) v = (2 * u - 1) * sqrt(6.0 / fan_in);
        else if (ends(name, ".bn.weight") || ends(name, ".bn.running_var")) v = 0.5 + u;
        else v = 0.2 * (2 * u - 1); /* bn.bias, bn.running_mean */
        dk_f32(t)[i] = (float)v;
    }
    return t;
}

/* the golden's input images: (float)(2u - 1) * 1.05f (img() in the script) */
static dk_tensor *gen_input(const char *name, const int64_t *shape) {
    dk_tensor *t = dk_tensor_new(DK_F32, 4, shape, &dk_test_err);
    uint64_t seed = fnv1a64(name);
    for (size_t i = 0; t && i < t->numel; i++) dk_f32(t)[i] = (float)(2 * unit(seed, i) - 1) * 1.05f;
    return t;
}

static size_t NT;
static char **names;
static dk_tensor **ts;

static void make_weights(void) {
    NT = dk_inception_tensor_count();
    names = calloc(NT, sizeof *names);
    ts = calloc(NT, sizeof *ts);
    for (size_t i = 0; i < NT; i++) {
        char nm[128];
        int64_t shp[4];
        int nd = dk_inception_tensor_spec(i, nm, sizeof nm, shp);
        DK_CHECK(nd == 4 || nd == 1);
        names[i] = strdup(nm);
        ts[i] = inc_weight(nm, nd, shp);
    }
}

/* compares features with the golden: returns the max |d| / (1 + |t|) */
static double compare(const dk_tensor *f, const dk_tensor *g, const char *what) {
    DK_CHECK(f && g && f->numel == g->numel && f->shape[1] == 2048);
    if (!f || !g || f->numel != g->numel) return INFINITY;
    double worst = 0, worst_abs = 0;
    for (size_t i = 0; i < f->numel; i++) {
        double a = dk_tensor_get(f, i), b = dk_tensor_get(g, i), d = fabs(a - b);
        DK_CHECK_NEAR(a, b, 1e-4, 1e-4);
        if (d / (1 + fabs(b)) > worst) worst = d / (1 + fabs(b));
        if (d > worst_abs) worst_abs = d;
    }
    printf("%-11s: max |ours - torch| = %.3g, max |d| / (1 + |torch|) = %.3g\n", what, worst_abs, worst);
    return worst;
}

static int same(const dk_tensor *a, const dk_tensor *b) {
    return a && b && a->numel == b->numel && !memcmp(a->data, b->data, a->numel * sizeof(double));
}

/* ---- a legacy torch.save writer (pickle protocol 2), for the .pth case --- */
static void pk_u32(FILE *f, uint32_t v) { for (int i = 0; i < 4; i++) fputc((int)(v >> (8 * i)) & 0xff, f); }
static void pk_str(FILE *f, const char *s) { fputc('X', f); pk_u32(f, (uint32_t)strlen(s)); fputs(s, f); } /* BINUNICODE */
static void pk_int(FILE *f, int64_t v) { fputc('J', f); pk_u32(f, (uint32_t)(int32_t)v); }                  /* BININT */

/* torch.save(OrderedDict(names -> F32 tensors), _use_new_zipfile_serialization=False):
 * magic number, protocol 1001, sys_info, the state dict with persistent ids
 * ('storage', torch.FloatStorage, key, 'cpu', numel, None), the key list,
 * then each storage as an int64 count and its bytes (torch.serialization). */
static int write_legacy_pth(const char *path, size_t n, const char *const *names, dk_tensor *const *ts) {
    static const unsigned char magic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9,
                                          0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e};
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    fwrite(magic, 1, sizeof magic, f);
    fputs("\x80\x02M\xe9\x03.", f); /* protocol version 1001 */
    fputs("\x80\x02}(", f);
    pk_str(f, "protocol_version"), fputs("M\xe9\x03", f);
    pk_str(f, "little_endian"), fputc(0x88, f);
    pk_str(f, "type_sizes"), fputs("}(", f);
    pk_str(f, "short"), fputs("K\x02", f);
    pk_str(f, "int"), fputs("K\x04", f);
    pk_str(f, "long"), fputs("K\x04", f);
    fputs("uu.", f);
    fputs("\x80\x02" "ccollections\nOrderedDict\n)R(", f);
    for (size_t i = 0; i < n; i++) {
        char key[32];
        snprintf(key, sizeof key, "%zu", i);
        pk_str(f, names[i]);
        fputs("ctorch._utils\n_rebuild_tensor_v2\n(", f);
        fputc('(', f), pk_str(f, "storage"), fputs("ctorch\nFloatStorage\n", f);
        pk_str(f, key), pk_str(f, "cpu"), pk_int(f, (int64_t)ts[i]->numel), fputs("NtQ", f);
        pk_int(f, 0);
        fputc('(', f);
        for (int d = 0; d < ts[i]->ndim; d++) pk_int(f, ts[i]->shape[d]);
        fputs("t(", f);
        for (int d = 0; d < ts[i]->ndim; d++) {
            int64_t stride = 1;
            for (int e2 = d + 1; e2 < ts[i]->ndim; e2++) stride *= ts[i]->shape[e2];
            pk_int(f, stride);
        }
        fputs("t\x89" "ccollections\nOrderedDict\n)RtR", f);
    }
    fputs("u.", f);
    fputs("\x80\x02](", f);
    for (size_t i = 0; i < n; i++) {
        char key[32];
        snprintf(key, sizeof key, "%zu", i);
        pk_str(f, key);
    }
    fputs("e.", f);
    for (size_t i = 0; i < n; i++) {
        uint64_t c = ts[i]->numel;
        for (int b = 0; b < 8; b++) fputc((int)(c >> (8 * b)) & 0xff, f);
        fwrite(ts[i]->data, sizeof(float), ts[i]->numel, f);
    }
    return fclose(f) == 0 ? 0 : -1;
}

int main(void) {
    make_weights();
    DK_CHECK(NT == 94 * 5);
    dk_st_file *gold = dk_st_open(dk_test_data("inception/golden.safetensors"), &dk_test_err);
    DK_CHECK(gold != NULL);
    if (!gold) return dk_test_finish();

    /* the formula agrees with the generator's (spot check) */
    dk_tensor *chk = dk_st_get(gold, "check.Mixed_7c.branch_pool.conv.weight", &dk_test_err);
    dk_tensor *w7 = inc_weight("Mixed_7c.branch_pool.conv.weight", 4, (int64_t[]){192, 2048, 1, 1});
    for (int o = 0; chk && o < 2; o++)
        for (int c = 0; c < 4; c++) DK_CHECK(dk_f32(chk)[o * 4 + c] == dk_f32(w7)[o * 2048 + c]);
    dk_tensor_free(chk);
    dk_tensor_free(w7);

    dk_inception *net = dk_inception_from_tensors(NT, (const char *const *)names, ts, &dk_test_err);
    DK_CHECK(net != NULL);
    if (!net) return dk_test_finish();
    DK_CHECK(!strcmp(dk_inception_name(net), "inception-2015-12-05"));
    DK_CHECK(dk_inception_dim(net) == 2048);

    /* parity with torch */
    const char *keys[4] = {"grey28", "rgb32", "rgb64", "grey301x305"};
    const int64_t shapes[4][4] = {{1, 1, 28, 28}, {2, 3, 32, 32}, {1, 3, 64, 64}, {1, 1, 301, 305}};
    dk_tensor *in[4], *feat[4];
    double worst = 0;
    for (int k = 0; k < 4; k++) {
        char a[64], b[64];
        snprintf(a, sizeof a, "input.%s", keys[k]);
        snprintf(b, sizeof b, "features.%s", keys[k]);
        in[k] = gen_input(a, shapes[k]);
        if (k < 3) { /* the stored inputs are the formula's */
            dk_tensor *stored = dk_st_get(gold, a, &dk_test_err);
            DK_CHECK(stored && in[k] && stored->numel == in[k]->numel &&
                     !memcmp(stored->data, in[k]->data, sizeof(float) * in[k]->numel));
            dk_tensor_free(stored);
        }
        dk_tensor *g = dk_st_get(gold, b, &dk_test_err);
        feat[k] = in[k] ? dk_inception_features(net, in[k], 50, &dk_test_err) : NULL;
        double w = compare(feat[k], g, keys[k]);
        if (w > worst) worst = w;
        dk_tensor_free(g);
    }
    printf("parity: max |d| / (1 + |torch|) over all features = %.3g (tolerance 1e-4)\n", worst);

    /* batch size does not change the features; an F64 input gives the same as F32 */
    dk_tensor *f1 = in[1] ? dk_inception_features(net, in[1], 1, &dk_test_err) : NULL;
    DK_CHECK(same(f1, feat[1]));
    dk_tensor_free(f1);
    dk_tensor *d64 = in[0] ? dk_tensor_to(in[0], DK_F64, &dk_test_err) : NULL;
    dk_tensor *f64 = d64 ? dk_inception_features(net, d64, 50, &dk_test_err) : NULL;
    DK_CHECK(same(f64, feat[0]));
    dk_tensor_free(f64);
    dk_tensor_free(d64);

    /* bad images */
    dk_tensor *bad = dk_tensor_new(DK_F32, 4, (int64_t[]){1, 2, 8, 8}, &dk_test_err);
    DK_CHECK(dk_inception_features(net, bad, 1, &dk_test_err) == NULL);
    DK_CHECK(strstr(dk_test_err.msg, "C = 1 or 3") != NULL);
    dk_tensor_free(bad);

    /* a missing tensor: the error names it and its expected shape */
    size_t miss = 0;
    for (size_t i = 0; i < NT; i++)
        if (!strcmp(names[i], "Mixed_6c.branch7x7dbl_3.bn.running_var")) miss = i;
    DK_CHECK(miss > 0);
    char *saved = names[miss];
    static char other[] = "something.else";
    names[miss] = other;
    dk_error e;
    DK_CHECK(dk_inception_from_tensors(NT, (const char *const *)names, ts, &e) == NULL);
    printf("missing: %s\n", e.msg);
    DK_CHECK(e.code == DK_ENOTFOUND);
    DK_CHECK(strstr(e.msg, "'Mixed_6c.branch7x7dbl_3.bn.running_var'") && strstr(e.msg, "[160]"));
    names[miss] = saved;
    /* a wrong shape */
    dk_tensor *keep = ts[miss];
    ts[miss] = dk_tensor_new(DK_F32, 1, (int64_t[]){128}, &dk_test_err);
    DK_CHECK(dk_inception_from_tensors(NT, (const char *const *)names, ts, &e) == NULL);
    printf("wrong shape: %s\n", e.msg);
    DK_CHECK(e.code == DK_ESHAPE && strstr(e.msg, "[128]") && strstr(e.msg, "[160]") &&
             strstr(e.msg, "Mixed_6c.branch7x7dbl_3.bn.running_var"));
    dk_tensor_free(ts[miss]);
    ts[miss] = keep;

    /* the digest (cache keys) changes with any weight */
    float w0 = dk_f32(ts[NT - 1])[3];
    dk_f32(ts[NT - 1])[3] = w0 * 1.5f;
    dk_inception *net3 = dk_inception_from_tensors(NT, (const char *const *)names, ts, &dk_test_err);
    DK_CHECK(net3 && strcmp(dk_inception_digest(net3), dk_inception_digest(net)));
    dk_inception_free(net3);
    dk_f32(ts[NT - 1])[3] = w0;

    /* .pth: the same weights as a legacy torch.save file (the layout of
     * pytorch-fid's pt_inception-2015-12-05-*.pth), written here by hand, load
     * through the torch reader to the same network; a broken .pth is refused
     * with the reader's message */
    const char *dir = dk_test_tmpdir("inception");
    char pth[4200], st[4200];
    snprintf(pth, sizeof pth, "%s/pt_inception-2015-12-05-6726825d.pth", dir);
    DK_CHECK(write_legacy_pth(pth, NT, (const char *const *)names, ts) == 0);
    dk_inception *netp = dk_inception_load(pth, &dk_test_err);
    DK_CHECK(netp != NULL);
    if (netp) {
        DK_CHECK(!strcmp(dk_inception_digest(netp), dk_inception_digest(net)));
        dk_tensor *fp_ = in[0] ? dk_inception_features(netp, in[0], 50, &dk_test_err) : NULL;
        dk_tensor *f0 = in[0] ? dk_inception_features(net, in[0], 50, &dk_test_err) : NULL;
        DK_CHECK(fp_ && f0 && dk_tensor_same_shape(fp_, f0));
        for (size_t i = 0; fp_ && f0 && i < f0->numel; i++)
            if (dk_f64(fp_)[i] != dk_f64(f0)[i]) { dk_test_fail(__FILE__, __LINE__, ".pth feature %zu differs", i); break; }
        dk_tensor_free(fp_);
        dk_tensor_free(f0);
        dk_inception_free(netp);
    }
    FILE *fp = fopen(pth, "wb");
    if (fp) {
        fputs("PK\003\004not really", fp);
        fclose(fp);
    }
    DK_CHECK(dk_inception_load(pth, &e) == NULL);
    printf(".pth: %s\n", e.msg);
    DK_CHECK(strstr(e.msg, "pt_inception-2015-12-05-6726825d.pth") != NULL);

    /* a .safetensors of the state dict loads to the same network */
    const char *keep_path = getenv("DK_INCEPTION_WEIGHTS_OUT");
    if (keep_path && *keep_path) snprintf(st, sizeof st, "%s", keep_path);
    else snprintf(st, sizeof st, "%s/inception_random.safetensors", dir);
    dk_st_writer *w = dk_st_writer_new();
    for (size_t i = 0; i < NT; i++) DK_CHECK_OK(dk_st_writer_add(w, names[i], ts[i], &dk_test_err));
    dk_tensor *fc = dk_tensor_new(DK_F32, 1, (int64_t[]){1008}, &dk_test_err); /* ignored, as in pytorch-fid's file */
    DK_CHECK_OK(dk_st_writer_add(w, "fc.bias", fc, &dk_test_err));
    DK_CHECK_OK(dk_st_writer_save(w, st, &dk_test_err));
    dk_st_writer_free(w);
    dk_tensor_free(fc);
    dk_inception *net2 = dk_inception_load(st, &dk_test_err);
    DK_CHECK(net2 != NULL);
    dk_tensor *f2 = net2 && in[0] ? dk_inception_features(net2, in[0], 50, &dk_test_err) : NULL;
    DK_CHECK(same(f2, feat[0]));
    DK_CHECK(net2 && !strcmp(dk_inception_path(net2), st));
    DK_CHECK(net2 && !strcmp(dk_inception_digest(net2), dk_inception_digest(net)) && strlen(dk_inception_digest(net)) == 16);
    dk_tensor_free(f2);
    dk_inception_free(net2);
    if (!(keep_path && *keep_path)) remove(st);

    for (int k = 0; k < 4; k++) {
        dk_tensor_free(in[k]);
        dk_tensor_free(feat[k]);
    }
    for (size_t i = 0; i < NT; i++) {
        free(names[i]);
        dk_tensor_free(ts[i]);
    }
    free(names);
    free(ts);
    dk_inception_free(net);
    dk_st_close(gold);
    return dk_test_finish();
}
