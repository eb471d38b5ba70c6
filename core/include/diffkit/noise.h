/* noise.h: noise sources for samplers.
 *
 * A sampler draws noise only through a dk_noise: each draw fills a tensor of
 * the sample's shape [B, ...] with standard normals for the step from sigma
 * to sigma_next. Kinds:
 *   iid      - Philox Gaussian draws (seed, stream): reproducible everywhere;
 *   replay   - slices of a stored tensor [M, B, ...], in order (golden tests);
 *              running out is DK_ESTATE, naming how many slices there were;
 *   brownian - a seeded Brownian tree per sample (SDE samplers): the draw for
 *              (sigma, sigma_next) is (W(t1) - W(t0)) / sqrt(|t1 - t0|), t = sigma,
 *              consistent across step counts; per-sample seeds, so a sample
 *              does not depend on the batch it is in. */
#ifndef DIFFKIT_NOISE_H
#define DIFFKIT_NOISE_H

#include <stdint.h>
#include "diffkit/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dk_noise dk_noise;

struct dk_noise {
    /* Fill out (F64 or F32, [B, ...]) with standard normals. */
    dk_status (*draw)(dk_noise *self, double sigma, double sigma_next, dk_tensor *out, dk_error *err);
    void (*destroy)(dk_noise *self);
    const char *kind;   /* "iid", "replay", "brownian" */
    uint64_t draws;     /* number of draws so far */
    /* Optional: count a draw of `numel` values that the sampler would throw
     * away (k-diffusion draws some it does not use, e.g. every Euler step),
     * leaving the source exactly where draw() would; NULL: draw() into a
     * scratch tensor. */
    dk_status (*skip)(dk_noise *self, size_t numel, dk_error *err);
};

dk_status dk_noise_draw(dk_noise *n, double sigma, double sigma_next, dk_tensor *out, dk_error *err);
/* A draw whose values are not needed: the source advances (and counts it)
 * as dk_noise_draw would; `like` gives the shape (and is the scratch output
 * of sources without a skip). */
dk_status dk_noise_skip(dk_noise *n, double sigma, double sigma_next, dk_tensor *like, dk_error *err);
void dk_noise_free(dk_noise *n);

dk_noise *dk_noise_iid(uint64_t seed, uint64_t stream, dk_error *err);
/* stream: [M, B, ...]; retained. */
dk_noise *dk_noise_replay(dk_tensor *stream, dk_error *err);
/* One tree per sample: seeds[b] (B entries, copied); the tree spans
 * [sigma_min, sigma_max]. */
dk_noise *dk_noise_brownian(const uint64_t *seeds, int64_t batch, double sigma_min,
                            double sigma_max, dk_error *err);

#ifdef __cplusplus
}
#endif
#endif
