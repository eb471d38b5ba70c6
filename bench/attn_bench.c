/* attn_bench.c: attention alone (issue 7), forward + backward through the
 * graph ops: global (dk_attention) vs neighborhood (dk_neighborhood_attention,
 * k = 7) on side x side tokens, B = 16, 4 heads, d = 32, F32. Built by bench/run.
 * Usage: attn_bench side global|neighborhood [reps]
 * Prints "RESULT attn side kind ms_per_fwd_bwd". */
#include "diffkit/graph.h"
#include "diffkit/ops.h"
#include "diffkit/rng.h"
#include "diffkit/tensor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: attn_bench side global|neighborhood [reps]\n");
        return 2;
    }
    int side = atoi(argv[1]), nb = strcmp(argv[2], "neighborhood") == 0, reps = argc > 3 ? atoi(argv[3]) : 5;
    int64_t shp[4] = {16, 4, (int64_t)side * side, 32};
    dk_error err;
    dk_tensor *t[4];
    dk_rng r;
    dk_rng_init(&r, 1, 0);
    for (int i = 0; i < 4; i++) {
        t[i] = dk_tensor_new(DK_F32, 4, shp, &err);
        if (!t[i]) return 1;
        dk_rng_fill_normal_f32(&r, dk_f32(t[i]), t[i]->numel);
    }
    dk_graph *g = dk_graph_new();
    double best = 1e30;
    for (int it = 0; it < reps + 2; it++) {
        dk_graph_reset(g);
        double t0 = now();
        dk_var *q = dk_graph_input(g, t[0], 1), *k = dk_graph_input(g, t[1], 1), *v = dk_graph_input(g, t[2], 1);
        dk_var *o = nb ? dk_neighborhood_attention(g, q, k, v, side, side, 7, 0.17677669529663687)
                       : dk_attention(g, q, k, v, 0.17677669529663687);
        dk_var *loss = dk_sum_all(g, dk_mul(g, o, dk_graph_input(g, t[3], 0)));
        if (dk_graph_backward(g, loss, &err) != DK_OK) {
            fprintf(stderr, "attn_bench: %s\n", err.msg);
            return 1;
        }
        double dt = now() - t0;
        if (it >= 2 && dt < best) best = dt;
    }
    printf("RESULT attn %d %s %.3f\n", side, nb ? "neighborhood" : "global", best * 1e3);
    dk_graph_free(g);
    for (int i = 0; i < 4; i++) dk_tensor_free(t[i]);
    return 0;
}
