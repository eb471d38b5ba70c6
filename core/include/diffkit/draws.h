/* draws.h: the two dk_draws sources (plugin.h) that training densities read:
 *
 *   rng    - uniforms and normals from a Philox dk_rng (borrowed; its stream
 *            position advances), for training;
 *   replay - uniforms and normals taken in order from two recorded arrays
 *            (golden parity); asking for more than was recorded is DK_ESTATE.
 *
 * Either can be stratified as k-diffusion's enable_stratified does
 * (k_diffusion/utils.py, stratified_uniform): a call for n uniforms in group g
 * of G (one group per process and gradient-accumulation step) returns
 * u_i <- (g + i*G + u_i) / (n*G), i = 0..n-1, so the n*G draws of one global
 * batch fall one per interleaved stratum of [0, 1). Normals are never
 * stratified.
 *
 * Usage: dk_draws_src d; dk_draws_init_rng(&d, &rng); density(self, n, &d.base, ...). */
#ifndef DIFFKIT_DRAWS_H
#define DIFFKIT_DRAWS_H

#include <stddef.h>
#include <stdint.h>
#include "diffkit/plugin.h"
#include "diffkit/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dk_draws_src {
    dk_draws base;              /* first member: hand &src.base to a density */
    dk_rng *rng;                /* rng source (borrowed), NULL for replay */
    const double *uniforms;     /* replay: (n_uniforms), borrowed */
    const double *normals;      /* replay: (n_normals), borrowed */
    size_t n_uniforms, n_normals;
    size_t used_uniforms, used_normals; /* draws handed out so far (both kinds of source) */
    int64_t group, groups;      /* groups > 0: stratified uniforms, group in [0, groups) */
} dk_draws_src;

/* A Philox source. */
void dk_draws_init_rng(dk_draws_src *d, dk_rng *rng);
/* A replay source over recorded arrays (either may be NULL with count 0). */
void dk_draws_init_replay(dk_draws_src *d, const double *uniforms, size_t n_uniforms,
                          const double *normals, size_t n_normals);
/* Turn stratification on (groups >= 1, 0 <= group < groups) or off (groups = 0). */
dk_status dk_draws_set_stratified(dk_draws_src *d, int64_t group, int64_t groups, dk_error *err);

#ifdef __cplusplus
}
#endif
#endif
