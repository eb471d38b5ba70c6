/* inception_bench.c: images/s of the FID Inception (diffkit/inception.h) at
 * batch B (default 50) on 3x32x32 images (resized to 299x299 inside), with
 * synthetic weights (the speed does not depend on their values). Built and
 * run by bench/inception.sh beside PyTorch's; not a test.
 * Usage: inception_bench [batch] [reps]. Prints "RESULT inception diffkit B images_per_s". */
#include "diffkit/inception.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    int64_t B = argc > 1 ? atoll(argv[1]) : 50;
    int reps = argc > 2 ? atoi(argv[2]) : 2;
    dk_error err;
    size_t n = dk_inception_tensor_count();
    const char **names = calloc(n, sizeof *names);
    dk_tensor **ts = calloc(n, sizeof *ts);
    char (*buf)[128] = calloc(n, sizeof *buf);
    uint64_t s = 1;
    for (size_t i = 0; i < n; i++) {
        int64_t shp[4];
        int nd = dk_inception_tensor_spec(i, buf[i], sizeof buf[i], shp);
        names[i] = buf[i];
        ts[i] = dk_tensor_new(DK_F32, nd, shp, &err);
        double scale = nd == 4 ? sqrt(6.0 / (double)(shp[1] * shp[2] * shp[3])) : 0.5;
        for (size_t k = 0; k < ts[i]->numel; k++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            double u = (double)(s >> 40) / 16777216.0;
            dk_f32(ts[i])[k] = (float)(nd == 4 ? (2 * u - 1) * scale : 0.5 + u);
        }
    }
    dk_inception *net = dk_inception_from_tensors(n, names, ts, &err);
    if (!net) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    dk_tensor *img = dk_tensor_new(DK_F32, 4, (int64_t[]){B, 3, 32, 32}, &err);
    for (size_t k = 0; k < img->numel; k++) dk_f32(img)[k] = (float)sin((double)k * 0.37);
    double best = 0;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        dk_tensor *f = dk_inception_features(net, img, B, &err);
        double dt = now() - t0;
        if (!f) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        dk_tensor_free(f);
        fprintf(stderr, "rep %d: %.2f s, %.2f images/s\n", r, dt, (double)B / dt);
        if ((double)B / dt > best) best = (double)B / dt;
    }
    printf("RESULT inception diffkit %lld %.3f\n", (long long)B, best);
    return 0;
}
