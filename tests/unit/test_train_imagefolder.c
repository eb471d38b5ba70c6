/* test_train_imagefolder.c: the image-folder dataset on a small folder of
 * PNGs written by the test: class sub-folders sorted into labels, resize of
 * the short side + centre crop, gray/RGB, unlabelled folders, errors, and a
 * loader over it. */
#include "dktest.h"
#include "diffkit/data.h"
#include "diffkit/image.h"
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void png(const char *dir, const char *name, int w, int h, int ch, int left, int right) {
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    uint8_t *px = malloc((size_t)w * h * ch);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < ch; c++) px[((size_t)y * w + x) * ch + c] = (uint8_t)(x < w / 2 ? left : right);
    DK_CHECK_OK(dk_image_write_png(path, px, w, h, ch, &dk_test_err));
    free(px);
}

int main(void) {
    const char *root0 = dk_test_tmpdir("train_imagefolder");
    char root[4200], d[4400], p[4600];
    snprintf(root, sizeof root, "%s", root0);
    /* dog/ sorts after cat/: cat = 0, dog = 1 */
    snprintf(d, sizeof d, "%s/dog", root);
    mkdir(d, 0755);
    png(d, "c.png", 6, 6, 1, 255, 255);
    snprintf(d, sizeof d, "%s/cat", root);
    mkdir(d, 0755);
    png(d, "a.png", 8, 8, 1, 0, 0);
    png(d, "b.PNG", 16, 8, 3, 0, 255); /* wide: left half black, right half white */
    snprintf(p, sizeof p, "%s/notes.txt", d);
    FILE *f = fopen(p, "w");
    if (f) { fputs("not an image", f); fclose(f); }

    dk_image_folder_options o = {.path = root, .size = 4, .channels = 1};
    dk_dataset *ds = dk_dataset_image_folder(&o, &dk_test_err);
    DK_CHECK(ds != NULL);
    if (!ds) return dk_test_finish();
    DK_CHECK(ds->count == 3 && ds->num_classes == 2 && ds->channels == 1 && ds->height == 4 && ds->width == 4);
    float img[3 * 16];
    int64_t lab;
    /* order: cat/a.png, cat/b.PNG, dog/c.png */
    DK_CHECK_OK(dk_dataset_get(ds, 0, img, &lab, &dk_test_err));
    DK_CHECK(lab == 0);
    for (int i = 0; i < 16; i++) DK_CHECK(img[i] == -1.0f);
    DK_CHECK_OK(dk_dataset_get(ds, 2, img, &lab, &dk_test_err));
    DK_CHECK(lab == 1);
    for (int i = 0; i < 16; i++) DK_CHECK(img[i] == 1.0f);
    /* 16x8 -> 8x4 (scale 1/2, area average of 2 columns), centre crop columns 2..5 */
    DK_CHECK_OK(dk_dataset_get(ds, 1, img, &lab, &dk_test_err));
    DK_CHECK(lab == 0);
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 4; x++) DK_CHECK(img[y * 4 + x] == (x < 2 ? -1.0f : 1.0f));
    dk_dataset_free(ds);

    /* RGB: 3 planes */
    o.channels = 3;
    ds = dk_dataset_image_folder(&o, &dk_test_err);
    DK_CHECK(ds && ds->channels == 3);
    if (ds) {
        DK_CHECK_OK(dk_dataset_get(ds, 1, img, &lab, &dk_test_err));
        for (int c = 0; c < 3; c++) DK_CHECK(img[c * 16 + 5] == -1.0f && img[c * 16 + 7] == 1.0f);
        /* a loader over it (parallel fetch) */
        dk_loader_config lc = {.batch = 5, .seed = 3, .shuffle = 1, .hflip = 1, .label_dropout = 0.0};
        dk_loader *l = dk_loader_new(ds, &lc, &dk_test_err);
        int64_t s[4] = {5, 3, 4, 4}, ls[1] = {5};
        dk_tensor *x = dk_tensor_new(DK_F32, 4, s, &dk_test_err), *y = dk_tensor_new(DK_I64, 1, ls, &dk_test_err);
        DK_CHECK_OK(dk_loader_next(l, x, y, &dk_test_err));
        for (int k = 0; k < 5; k++) DK_CHECK(dk_i64(y)[k] == 0 || dk_i64(y)[k] == 1);
        dk_tensor_free(x);
        dk_tensor_free(y);
        dk_loader_free(l);
        dk_dataset_free(ds);
    }
    o.channels = 2;
    DK_CHECK(dk_dataset_image_folder(&o, &dk_test_err) == NULL && dk_test_err.code == DK_EINVAL);

    /* unlabelled: images directly in the folder */
    o.channels = 1;
    snprintf(d, sizeof d, "%s/cat", root);
    o.path = d;
    ds = dk_dataset_image_folder(&o, &dk_test_err);
    DK_CHECK(ds && ds->count == 2 && ds->num_classes == 0);
    dk_dataset_free(ds);

    /* a corrupt image fails at get, naming the file */
    snprintf(p, sizeof p, "%s/z.png", d);
    f = fopen(p, "wb");
    if (f) { fputs("\x89PNG garbage", f); fclose(f); }
    ds = dk_dataset_image_folder(&o, &dk_test_err);
    DK_CHECK(ds && ds->count == 3);
    if (ds) {
        DK_CHECK(dk_dataset_get(ds, 2, img, &lab, &dk_test_err) != DK_OK);
        DK_CHECK(strstr(dk_test_err.msg, "z.png") != NULL);
        dk_dataset_free(ds);
    }
    /* empty and missing folders */
    snprintf(d, sizeof d, "%s/empty", root0);
    mkdir(d, 0755);
    o.path = d;
    DK_CHECK(dk_dataset_image_folder(&o, &dk_test_err) == NULL && dk_test_err.code == DK_ENOTFOUND);
    snprintf(d, sizeof d, "%s/missing", root0);
    DK_CHECK(dk_dataset_image_folder(&o, &dk_test_err) == NULL && dk_test_err.code == DK_ENOTFOUND);
    return dk_test_finish();
}
