/* test_eval_featnet_cache.c: the default cached route of the feature network
 * (dk_featnet_default, what exp:evaluate uses with features = nil) end to
 * end, cheaply: DIFFKIT_CACHE points at a fresh temp folder and the
 * test-only DIFFKIT_FEATNET_TEST_STEPS shortens the recipe (which changes the
 * recipe line, so the cache name differs from the real network's). The first
 * call trains and writes <cache>/features/fmnist-cnn-v2-test-<hash>.safetensors;
 * the second call loads that file without training (no training time, fast)
 * and gives identical features and the stored accuracy. Skips (77) when
 * Fashion-MNIST is not installed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "dktest.h"
#include "diffkit/featnet.h"
#include "diffkit/log.h"

int main(void) {
    dk_fashion_mnist_options tr_o = {NULL, "train", 2}, te_o = {NULL, "test", 2};
    dk_error e;
    dk_dataset *train = dk_dataset_fashion_mnist(&tr_o, &e);
    if (!train) {
        printf("skip: %s\n", e.msg);
        return 77;
    }
    dk_dataset *test = dk_dataset_fashion_mnist(&te_o, &dk_test_err);
    DK_CHECK(test != NULL);
    const char *dir = dk_test_tmpdir("featnet_cache");
    char cache[1024];
    snprintf(cache, sizeof cache, "%s/cache", dir);
    setenv("DIFFKIT_CACHE", cache, 1);
    setenv("DIFFKIT_FEATNET_TEST_STEPS", "80", 1);

    /* first call: trains (80 steps) and saves into the cache */
    char path1[4096] = "", path2[4096] = "";
    double t0 = dk_time_now();
    dk_featnet *a = dk_featnet_default(train, test, "fmnist", 0, path1, sizeof path1, &dk_test_err);
    double s1 = dk_time_now() - t0;
    DK_CHECK(a != NULL);
    if (!a) return dk_test_finish();
    printf("first call: %s, trained in %.1f s (call %.1f s), test accuracy %.2f %%\n", path1,
           dk_featnet_train_seconds(a), s1, 100 * dk_featnet_test_accuracy(a));
    DK_CHECK(!strcmp(dk_featnet_name(a), "fmnist-" DK_FEATNET_ARCH "-test"));
    DK_CHECK(strncmp(path1, cache, strlen(cache)) == 0);
    DK_CHECK(strstr(path1, "/features/fmnist-" DK_FEATNET_ARCH "-test-") != NULL);
    DK_CHECK(isfinite(dk_featnet_train_seconds(a))); /* it trained */
    DK_CHECK(dk_featnet_test_accuracy(a) > 0.5);      /* 80 steps: far above chance (10 %) */
    DK_CHECK(dk_featnet_dim(a) == 128);
    struct stat sb;
    DK_CHECK(stat(path1, &sb) == 0 && sb.st_size > 100000);

    /* the real recipe's file would have another name */
    char recipe[600];
    dk_featnet_recipe r = dk_featnet_recipe_default();
    dk_featnet_recipe_text(&r, train, recipe, sizeof recipe);
    char real_hash[32];
    snprintf(real_hash, sizeof real_hash, "%016llx", (unsigned long long)dk_hash_str(recipe));
    DK_CHECK(strstr(path1, real_hash) == NULL);

    /* second call: loads the cached file, does not train */
    t0 = dk_time_now();
    dk_featnet *b = dk_featnet_default(train, test, "fmnist", 0, path2, sizeof path2, &dk_test_err);
    double s2 = dk_time_now() - t0;
    DK_CHECK(b != NULL);
    printf("second call: %s, %.3f s\n", path2, s2);
    DK_CHECK(!strcmp(path1, path2));
    if (b) {
        DK_CHECK(isnan(dk_featnet_train_seconds(b))); /* loaded, not trained */
        DK_CHECK(s2 < 0.25 * s1);
        DK_CHECK(!strcmp(dk_featnet_name(b), dk_featnet_name(a)));
        DK_CHECK_NEAR(dk_featnet_test_accuracy(b), dk_featnet_test_accuracy(a), 1e-6, 0);
        int64_t idx[4] = {0, 9, 4321, 9999};
        dk_tensor *fa = dk_featnet_dataset_features(a, test, idx, 4, 4, &dk_test_err);
        dk_tensor *fb = dk_featnet_dataset_features(b, test, idx, 4, 4, &dk_test_err);
        DK_CHECK(fa && fb);
        double norm = 0;
        for (size_t i = 0; fa && fb && i < fa->numel; i++) {
            DK_CHECK_NEAR(dk_f64(fb)[i], dk_f64(fa)[i], 0, 0);
            norm += dk_f64(fa)[i] * dk_f64(fa)[i];
        }
        DK_CHECK(norm > 0);
        dk_tensor_free(fa);
        dk_tensor_free(fb);
    }
    dk_featnet_free(a);
    dk_featnet_free(b);
    unsetenv("DIFFKIT_FEATNET_TEST_STEPS");
    dk_dataset_free(train);
    dk_dataset_free(test);
    return dk_test_finish();
}
