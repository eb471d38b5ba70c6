/* test_train_data.c: Fashion-MNIST (real files, skipped with 77 when the
 * Debian package is absent), IDX error handling (missing, truncated, corrupt,
 * bad magic), padding, and the loader: per-epoch permutations, determinism,
 * resume from a saved position, flips and label dropout from their streams. */
#include "dktest.h"
#include "diffkit/data.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int write_file(const char *path, const unsigned char *buf, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t k = fwrite(buf, 1, n, f);
    fclose(f);
    return k == n ? 0 : -1;
}

/* A raw IDX pair of n images h x w; pixel (i, y, x) = (17*i + 3*y + x) % 256, label i % 7. */
static void write_idx(const char *dir, int n, int h, int w, char *ip, char *lp, size_t cap) {
    size_t npx = (size_t)n * h * w;
    unsigned char *b = malloc(16 + npx);
    b[0] = b[1] = 0; b[2] = 8; b[3] = 3;
    unsigned dims[3] = {(unsigned)n, (unsigned)h, (unsigned)w};
    for (int d = 0; d < 3; d++)
        for (int k = 0; k < 4; k++) b[4 + 4 * d + k] = (unsigned char)(dims[d] >> (24 - 8 * k));
    for (int i = 0; i < n; i++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) b[16 + ((size_t)i * h + y) * w + x] = (unsigned char)((17 * i + 3 * y + x) % 256);
    snprintf(ip, cap, "%s/img-idx3-ubyte", dir);
    DK_CHECK(write_file(ip, b, 16 + npx) == 0);
    unsigned char *l = malloc(8 + (size_t)n);
    l[0] = l[1] = 0; l[2] = 8; l[3] = 1;
    for (int k = 0; k < 4; k++) l[4 + k] = (unsigned char)((unsigned)n >> (24 - 8 * k));
    for (int i = 0; i < n; i++) l[8 + i] = (unsigned char)(i % 7);
    snprintf(lp, cap, "%s/lab-idx1-ubyte", dir);
    DK_CHECK(write_file(lp, l, 8 + (size_t)n) == 0);
    free(b);
    free(l);
}

/* The dimensions 256 x 2^31 x 2^25 multiply to 2^64, which wrapped to 0 in
 * uint64_t: a 16-byte images file then "held" 256 empty images whose reads
 * went past the end of the pixels (tests/fuzz/corpus/idx/regress-dims-wrap).
 * Also the from-memory entry and the image side limit. */
static void test_idx_dims(void) {
    unsigned char img[16] = {0, 0, 8, 3, 0, 0, 1, 0, 0x80, 0, 0, 0, 0x02, 0, 0, 0};
    unsigned char lab[8 + 256] = {0, 0, 8, 1, 0, 0, 1, 0};
    DK_CHECK(dk_dataset_idx_mem("wrap-images", img, sizeof img, "wrap-labels", lab, sizeof lab, 0, &dk_test_err) == NULL);
    DK_CHECK(dk_test_err.code == DK_EFORMAT && strstr(dk_test_err.msg, "dimensions too large") != NULL);
    /* 1 x 1 x 70000: within the file, but a side over DK_IDX_MAX_SIDE */
    size_t n = 16 + 70000;
    unsigned char *wide = calloc(1, n);
    unsigned char one[9] = {0, 0, 8, 1, 0, 0, 0, 1, 3};
    unsigned char hdr[16] = {0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0x11, 0x70};
    DK_CHECK(wide != NULL);
    if (!wide) return;
    memcpy(wide, hdr, sizeof hdr);
    DK_CHECK(dk_dataset_idx_mem("wide", wide, n, "one", one, sizeof one, 0, &dk_test_err) == NULL);
    DK_CHECK(dk_test_err.code == DK_EFORMAT && strstr(dk_test_err.msg, "more than 65535") != NULL);
    /* a 2 x 3 image with padding 1, from memory */
    unsigned char ok[16 + 6] = {0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 51, 102, 153, 204, 255};
    dk_dataset *ds = dk_dataset_idx_mem("ok", ok, sizeof ok, "one", one, sizeof one, 1, &dk_test_err);
    DK_CHECK(ds && ds->count == 1 && ds->height == 4 && ds->width == 5 && ds->num_classes == 4);
    if (ds) {
        float px[20];
        int64_t label = -1;
        DK_CHECK_OK(dk_dataset_get(ds, 0, px, &label, &dk_test_err));
        DK_CHECK(label == 3 && px[0] == -1.0f && px[1 * 5 + 1] == -1.0f && px[2 * 5 + 3] == 1.0f);
        dk_dataset_free(ds);
    }
    free(wide);
}

static void test_idx_errors(void) {
    const char *dir = dk_test_tmpdir("train_data_idx");
    char ip[4200], lp[4200], cmd[16000], bad[4300];
    write_idx(dir, 10, 4, 5, ip, lp, sizeof ip);
    dk_dataset *ds = dk_dataset_idx(ip, lp, 0, &dk_test_err);
    DK_CHECK(ds != NULL);
    if (ds) {
        DK_CHECK(ds->count == 10 && ds->channels == 1 && ds->height == 4 && ds->width == 5);
        DK_CHECK(ds->num_classes == 7);
        float img[20];
        int64_t lab;
        DK_CHECK_OK(dk_dataset_get(ds, 9, img, &lab, &dk_test_err));
        DK_CHECK(lab == 2);
        DK_CHECK_NEAR(img[7], ((17 * 9 + 3 * 1 + 2) % 256) / 255.0 * 2.0 - 1.0, 1e-6, 0); /* (y 1, x 2) */
        DK_CHECK_STATUS(dk_dataset_get(ds, 10, img, &lab, &dk_test_err), DK_EINVAL);
        dk_dataset_free(ds);
    }
    /* padding 2 with -1: 8 x 9 */
    ds = dk_dataset_idx(ip, lp, 2, &dk_test_err);
    DK_CHECK(ds && ds->height == 8 && ds->width == 9);
    if (ds) {
        float img[72];
        int64_t lab;
        DK_CHECK_OK(dk_dataset_get(ds, 1, img, &lab, &dk_test_err));
        DK_CHECK(img[0] == -1.0f && img[1 * 9 + 8] == -1.0f && img[7 * 9 + 4] == -1.0f);
        DK_CHECK_NEAR(img[(2 + 1) * 9 + 2 + 3], ((17 + 3 + 3) % 256) / 255.0 * 2.0 - 1.0, 1e-6, 0);
        dk_dataset_free(ds);
    }
    /* gzip copy reads the same */
    snprintf(cmd, sizeof cmd, "gzip -kf '%s' '%s'", ip, lp);
    DK_CHECK(system(cmd) == 0);
    char igz[4300], lgz[4300];
    snprintf(igz, sizeof igz, "%s.gz", ip);
    snprintf(lgz, sizeof lgz, "%s.gz", lp);
    ds = dk_dataset_idx(igz, lgz, 0, &dk_test_err);
    DK_CHECK(ds && ds->count == 10);
    dk_dataset_free(ds);
    /* truncated raw file: the header promises more pixels than there are */
    snprintf(bad, sizeof bad, "%s/trunc-idx3-ubyte", dir);
    snprintf(cmd, sizeof cmd, "head -c 150 '%s' > '%s'", ip, bad);
    DK_CHECK(system(cmd) == 0);
    DK_CHECK(dk_dataset_idx(bad, lp, 0, &dk_test_err) == NULL);
    DK_CHECK(dk_test_err.code == DK_EFORMAT && strstr(dk_test_err.msg, "truncated") != NULL);
    /* truncated gzip */
    snprintf(bad, sizeof bad, "%s/trunc.gz", dir);
    snprintf(cmd, sizeof cmd, "head -c 60 '%s' > '%s'", igz, bad);
    DK_CHECK(system(cmd) == 0);
    DK_CHECK(dk_dataset_idx(bad, lgz, 0, &dk_test_err) == NULL);
    DK_CHECK(dk_test_err.code == DK_EFORMAT);
    /* corrupt gzip body */
    snprintf(bad, sizeof bad, "%s/corrupt.gz", dir);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s' && printf 'XXXXXXXXXXXXXXXX' | dd of='%s' bs=1 seek=20 conv=notrunc 2>/dev/null",
             igz, bad, bad);
    DK_CHECK(system(cmd) == 0);
    DK_CHECK(dk_dataset_idx(bad, lgz, 0, &dk_test_err) == NULL);
    DK_CHECK(dk_test_err.code == DK_EFORMAT);
    /* labels passed as images: wrong number of dimensions */
    DK_CHECK(dk_dataset_idx(lp, lp, 0, &dk_test_err) == NULL);
    DK_CHECK(dk_test_err.code == DK_EFORMAT && strstr(dk_test_err.msg, "dimensions") != NULL);
    /* not an IDX file */
    snprintf(bad, sizeof bad, "%s/text", dir);
    DK_CHECK(write_file(bad, (const unsigned char *)"hello world, not idx", 20) == 0);
    DK_CHECK(dk_dataset_idx(bad, lp, 0, &dk_test_err) == NULL);
    DK_CHECK(dk_test_err.code == DK_EFORMAT && strstr(dk_test_err.msg, "magic") != NULL);
    /* missing Fashion-MNIST: the install command */
    dk_fashion_mnist_options fo = {.dir = dir, .split = "train", .pad = 0};
    DK_CHECK(dk_dataset_fashion_mnist(&fo, &dk_test_err) == NULL);
    DK_CHECK(dk_test_err.code == DK_ENOTFOUND);
    DK_CHECK(strstr(dk_test_err.msg, "sudo apt-get install dataset-fashion-mnist") != NULL);
    DK_CHECK(strstr(dk_test_err.msg, "DIFFKIT_FASHION_MNIST=") != NULL);
    fo.split = "validation";
    DK_CHECK(dk_dataset_fashion_mnist(&fo, &dk_test_err) == NULL && dk_test_err.code == DK_EINVAL);
}

/* Identify an image of the write_idx dataset (h 4, w 5) by pixel (0, 0) and (0, 1). */
static int64_t which(const float *img) {
    for (int i = 0; i < 64; i++) {
        float v0 = (float)((17 * i) % 256) / 255.0f * 2.0f - 1.0f;
        float v1 = (float)((17 * i + 1) % 256) / 255.0f * 2.0f - 1.0f;
        if (img[0] == v0 && img[1] == v1) return i;
        if (img[4] == v0 && img[3] == v1) return 1000 + i; /* flipped row */
    }
    return -1;
}

static void test_loader(void) {
    const char *dir = dk_test_tmpdir("train_data_loader");
    char ip[4200], lp[4200];
    write_idx(dir, 10, 4, 5, ip, lp, sizeof ip);
    dk_dataset *ds = dk_dataset_idx(ip, lp, 0, &dk_test_err);
    if (!ds) {
        DK_CHECK(ds != NULL);
        return;
    }
    dk_loader_config c = {.batch = 4, .seed = 1234, .shuffle = 1, .hflip = 0, .label_dropout = 0};
    dk_loader *l = dk_loader_new(ds, &c, &dk_test_err);
    int64_t shp[4] = {4, 1, 4, 5}, lshp[1] = {4};
    dk_tensor *x = dk_tensor_new(DK_F32, 4, shp, &dk_test_err), *y = dk_tensor_new(DK_I64, 1, lshp, &dk_test_err);
    int64_t seq[40];
    for (int b = 0; b < 10; b++) {
        DK_CHECK_OK(dk_loader_next(l, x, y, &dk_test_err));
        for (int k = 0; k < 4; k++) {
            seq[b * 4 + k] = which(dk_f32(x) + k * 20);
            DK_CHECK(seq[b * 4 + k] >= 0 && seq[b * 4 + k] < 10);
            DK_CHECK(dk_i64(y)[k] == seq[b * 4 + k] % 7);
        }
    }
    int64_t e, i;
    dk_loader_position(l, &e, &i);
    DK_CHECK(e == 4 && i == 0);
    /* each epoch (10 consecutive draws) is a permutation; epochs differ; not the identity */
    int differ = 0, identity = 1;
    for (int ep = 0; ep < 4; ep++) {
        int seen[10] = {0};
        for (int k = 0; k < 10; k++) seen[seq[ep * 10 + k]]++;
        for (int k = 0; k < 10; k++) DK_CHECK(seen[k] == 1);
        if (ep && memcmp(seq, seq + ep * 10, 10 * sizeof *seq) != 0) differ = 1;
    }
    for (int k = 0; k < 10; k++) identity &= seq[k] == k;
    DK_CHECK(differ && !identity);
    /* same seed: same sequence; resume from (epoch 1, index 2) = after 3 batches */
    dk_loader *l2 = dk_loader_new(ds, &c, &dk_test_err);
    DK_CHECK_OK(dk_loader_seek(l2, 1, 2, &dk_test_err));
    for (int b = 3; b < 10; b++) {
        DK_CHECK_OK(dk_loader_next(l2, x, y, &dk_test_err));
        for (int k = 0; k < 4; k++) DK_CHECK(which(dk_f32(x) + k * 20) == seq[b * 4 + k]);
    }
    DK_CHECK_STATUS(dk_loader_seek(l2, 0, 10, &dk_test_err), DK_EINVAL);
    dk_loader_free(l2);
    /* another seed: another order */
    dk_loader_config c3 = c;
    c3.seed = 99;
    dk_loader *l3 = dk_loader_new(ds, &c3, &dk_test_err);
    int same = 1;
    for (int b = 0; b < 5; b++) {
        DK_CHECK_OK(dk_loader_next(l3, x, y, &dk_test_err));
        for (int k = 0; k < 4; k++) same &= which(dk_f32(x) + k * 20) == seq[b * 4 + k];
    }
    DK_CHECK(!same);
    dk_loader_free(l3);
    /* no shuffle: dataset order, crossing the epoch boundary */
    dk_loader_config c4 = c;
    c4.shuffle = 0;
    dk_loader *l4 = dk_loader_new(ds, &c4, &dk_test_err);
    for (int b = 0; b < 3; b++) {
        DK_CHECK_OK(dk_loader_next(l4, x, y, &dk_test_err));
        for (int k = 0; k < 4; k++) DK_CHECK(which(dk_f32(x) + k * 20) == (b * 4 + k) % 10);
    }
    dk_loader_free(l4);
    dk_loader_free(l);

    /* flips and label dropout: rates, streams independent of the order, F64 output, resume */
    dk_loader_config c5 = {.batch = 50, .seed = 7, .shuffle = 1, .hflip = 1, .label_dropout = 0.3};
    dk_loader *a = dk_loader_new(ds, &c5, &dk_test_err), *b2 = dk_loader_new(ds, &c5, &dk_test_err);
    int64_t s50[4] = {50, 1, 4, 5}, l50[1] = {50};
    dk_tensor *x5 = dk_tensor_new(DK_F64, 4, s50, &dk_test_err), *y5 = dk_tensor_new(DK_I64, 1, l50, &dk_test_err);
    dk_tensor *x6 = dk_tensor_new(DK_F64, 4, s50, &dk_test_err), *y6 = dk_tensor_new(DK_I64, 1, l50, &dk_test_err);
    int flips = 0, drops = 0, total = 0;
    int64_t pe = 0, pi = 0;
    for (int b = 0; b < 40; b++) {
        if (b == 20) dk_loader_position(a, &pe, &pi);
        DK_CHECK_OK(dk_loader_next(a, x5, y5, &dk_test_err));
        float img[20];
        for (int k = 0; k < 50; k++) {
            for (int q = 0; q < 20; q++) img[q] = (float)dk_f64(x5)[k * 20 + q];
            int64_t id = which(img);
            DK_CHECK(id >= 0);
            flips += id >= 1000;
            int64_t lab = dk_i64(y5)[k];
            DK_CHECK(lab == 7 || lab == (id % 1000) % 7); /* null class = num_classes = 7 */
            drops += lab == 7;
            total++;
        }
        if (b == 39) { /* resume from batch 20 and replay to the same last batch */
            DK_CHECK_OK(dk_loader_seek(b2, pe, pi, &dk_test_err));
            for (int r = 20; r < 40; r++) DK_CHECK_OK(dk_loader_next(b2, x6, y6, &dk_test_err));
            DK_CHECK(memcmp(x5->data, x6->data, 50 * 20 * sizeof(double)) == 0);
            DK_CHECK(memcmp(y5->data, y6->data, 50 * sizeof(int64_t)) == 0);
        }
    }
    DK_CHECK(dk_loader_null_class(a) == 7);
    DK_CHECK(flips > 0.45 * total && flips < 0.55 * total);
    DK_CHECK(drops > 0.26 * total && drops < 0.34 * total);
    printf("flips %d / %d, label drops %d / %d\n", flips, total, drops, total);
    dk_loader_free(a);
    dk_loader_free(b2);
    dk_tensor_free(x5); dk_tensor_free(y5); dk_tensor_free(x6); dk_tensor_free(y6);
    dk_tensor_free(x);
    dk_tensor_free(y);
    /* bad configs */
    dk_loader_config bad = c;
    bad.batch = 0;
    DK_CHECK(dk_loader_new(ds, &bad, &dk_test_err) == NULL);
    dk_dataset_free(ds);
}

/* The real Fashion-MNIST. Returns 0 if absent. */
static int test_fashion_mnist(void) {
    dk_fashion_mnist_options o = {.dir = NULL, .split = "train", .pad = 0};
    const char *dir = dk_fashion_mnist_dir(&o);
    char path[4200];
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", dir);
    if (access(path, R_OK) != 0) {
        printf("Fashion-MNIST not installed at %s: skipping its checks\n", dir);
        return 0;
    }
    dk_dataset *ds = dk_dataset_fashion_mnist(&o, &dk_test_err);
    DK_CHECK(ds != NULL);
    if (!ds) return 1;
    DK_CHECK(ds->count == 60000 && ds->channels == 1 && ds->height == 28 && ds->width == 28);
    DK_CHECK(ds->num_classes == 10);
    /* the first image's mean, from the raw bytes read by gzip itself */
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "gzip -dc '%s' | head -c %d", path, 16 + 784);
    FILE *f = popen(cmd, "r");
    unsigned char raw[16 + 784];
    size_t got = f ? fread(raw, 1, sizeof raw, f) : 0;
    if (f) pclose(f);
    DK_CHECK(got == sizeof raw);
    double want = 0;
    for (int i = 0; i < 784; i++) want += raw[16 + i];
    want = want / 784.0 / 255.0 * 2.0 - 1.0;
    float img[32 * 32];
    int64_t lab;
    DK_CHECK_OK(dk_dataset_get(ds, 0, img, &lab, &dk_test_err));
    double mean = 0;
    for (int i = 0; i < 784; i++) mean += img[i];
    mean /= 784;
    DK_CHECK_NEAR(mean, want, 1e-6, 0);
    DK_CHECK_NEAR(mean, -0.23722488995598245, 1e-6, 0); /* 76247 / 784 / 255 * 2 - 1 */
    DK_CHECK(lab == 9);                                   /* ankle boot */
    /* labels in 0..9 (all used), pixels in [-1, 1] with both ends reached */
    int counts[10] = {0};
    float lo = 1, hi = -1;
    for (int64_t i = 0; i < ds->count; i += 1) {
        DK_CHECK_OK(dk_dataset_get(ds, i, img, &lab, &dk_test_err));
        if (lab < 0 || lab > 9) {
            DK_CHECK(lab >= 0 && lab <= 9);
            break;
        }
        counts[lab]++;
        if (i % 97 == 0)
            for (int k = 0; k < 784; k++) {
                if (img[k] < lo) lo = img[k];
                if (img[k] > hi) hi = img[k];
            }
    }
    for (int k = 0; k < 10; k++) DK_CHECK(counts[k] == 6000);
    DK_CHECK(lo == -1.0f && hi == 1.0f);
    dk_dataset_free(ds);
    /* test split, padded to 32 */
    o.split = "test";
    o.pad = 2;
    ds = dk_dataset_fashion_mnist(&o, &dk_test_err);
    DK_CHECK(ds && ds->count == 10000 && ds->height == 32 && ds->width == 32);
    if (ds) {
        DK_CHECK_OK(dk_dataset_get(ds, 0, img, &lab, &dk_test_err));
        DK_CHECK(img[0] == -1.0f && img[31] == -1.0f && img[32 * 31 + 5] == -1.0f && img[32 + 1] == -1.0f);
        DK_CHECK(lab == 9);
        dk_dataset_free(ds);
    }
    return 1;
}

int main(void) {
    test_idx_dims();
    test_idx_errors();
    test_loader();
    int have = test_fashion_mnist();
    int rc = dk_test_finish();
    if (rc == 0 && !have) return 77;
    return rc;
}
