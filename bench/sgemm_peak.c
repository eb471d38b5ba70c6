/* sgemm_peak.c: OpenBLAS sgemm rate on transformer-shaped matrices (issue 7),
 * the yardstick for the training-step FLOP/s. Built by bench/run.
 * Usage: sgemm_peak [threads]  (threads sets OpenBLAS's own pool; 1 = one core)
 * Prints "RESULT sgemm M N K gflops" per shape and "RESULT sgemm_mean gflops". */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    openblas_set_num_threads(threads);
    /* (M, N, K): token rows x width of a DiT-256 step (B=64, T=64 / 256), qkv, MLP, dW */
    static const int shapes[][3] = {{4096, 768, 256}, {4096, 1024, 256}, {4096, 256, 1024},
                                    {16384, 768, 256}, {256, 1024, 4096}, {16384, 256, 1024}};
    int ns = (int)(sizeof shapes / sizeof shapes[0]);
    double sum = 0;
    for (int s = 0; s < ns; s++) {
        int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        float *a = malloc(sizeof(float) * (size_t)M * K), *b = malloc(sizeof(float) * (size_t)K * N),
              *c = malloc(sizeof(float) * (size_t)M * N);
        if (!a || !b || !c) return 1;
        for (size_t i = 0; i < (size_t)M * K; i++) a[i] = (float)(i % 13) * 0.01f;
        for (size_t i = 0; i < (size_t)K * N; i++) b[i] = (float)(i % 7) * 0.01f;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1, a, K, b, N, 0, c, N);
        int reps = 0;
        double t0 = now(), t;
        do {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1, a, K, b, N, 0, c, N);
            reps++;
        } while ((t = now() - t0) < 0.5);
        double gf = 2.0 * M * N * K * reps / t / 1e9;
        printf("RESULT sgemm %d %d %d %.1f\n", M, N, K, gf);
        sum += gf;
        free(a);
        free(b);
        free(c);
    }
    printf("RESULT sgemm_mean %.1f\n", sum / ns);
    return 0;
}
