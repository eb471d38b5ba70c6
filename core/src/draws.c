/* draws.c: Philox and replay sources of uniform / normal draws for training
 * densities, with k-diffusion's stratification (see draws.h). */
#include "diffkit/draws.h"

#include <string.h>

static void stratify(const dk_draws_src *d, size_t n, double *u) {
    if (d->groups <= 0) return;
    /* k-diffusion utils.stratified_uniform: (arange(g, n*G, G) + U) / (n*G) */
    const double total = (double)n * (double)d->groups;
    for (size_t i = 0; i < n; i++)
        u[i] = ((double)d->group + (double)i * (double)d->groups + u[i]) / total;
}

static dk_status rng_uniform(dk_draws *self, size_t n, double *out, dk_error *err) {
    dk_draws_src *d = (dk_draws_src *)self;
    (void)err;
    dk_rng_fill_uniform_f64(d->rng, out, n);
    d->used_uniforms += n;
    stratify(d, n, out);
    return DK_OK;
}

static dk_status rng_normal(dk_draws *self, size_t n, double *out, dk_error *err) {
    dk_draws_src *d = (dk_draws_src *)self;
    (void)err;
    dk_rng_fill_normal_f64(d->rng, out, n);
    d->used_normals += n;
    return DK_OK;
}

static dk_status replay_uniform(dk_draws *self, size_t n, double *out, dk_error *err) {
    dk_draws_src *d = (dk_draws_src *)self;
    if (n > d->n_uniforms - d->used_uniforms)
        return dk_error_set(err, DK_ESTATE,
                            "draws replay: asked for %zu uniforms but only %zu of the %zu recorded "
                            "are left; record a longer stream or draw fewer samples",
                            n, d->n_uniforms - d->used_uniforms, d->n_uniforms);
    memcpy(out, d->uniforms + d->used_uniforms, n * sizeof(double));
    d->used_uniforms += n;
    stratify(d, n, out);
    return DK_OK;
}

static dk_status replay_normal(dk_draws *self, size_t n, double *out, dk_error *err) {
    dk_draws_src *d = (dk_draws_src *)self;
    if (n > d->n_normals - d->used_normals)
        return dk_error_set(err, DK_ESTATE,
                            "draws replay: asked for %zu normals but only %zu of the %zu recorded "
                            "are left; record a longer stream or draw fewer samples",
                            n, d->n_normals - d->used_normals, d->n_normals);
    memcpy(out, d->normals + d->used_normals, n * sizeof(double));
    d->used_normals += n;
    return DK_OK;
}

void dk_draws_init_rng(dk_draws_src *d, dk_rng *rng) {
    memset(d, 0, sizeof *d);
    d->base.uniform = rng_uniform;
    d->base.normal = rng_normal;
    d->rng = rng;
}

void dk_draws_init_replay(dk_draws_src *d, const double *uniforms, size_t n_uniforms,
                          const double *normals, size_t n_normals) {
    memset(d, 0, sizeof *d);
    d->base.uniform = replay_uniform;
    d->base.normal = replay_normal;
    d->uniforms = uniforms;
    d->n_uniforms = uniforms ? n_uniforms : 0;
    d->normals = normals;
    d->n_normals = normals ? n_normals : 0;
}

dk_status dk_draws_set_stratified(dk_draws_src *d, int64_t group, int64_t groups, dk_error *err) {
    if (groups == 0) {
        d->group = d->groups = 0;
        return DK_OK;
    }
    if (groups < 0 || group < 0 || group >= groups)
        return dk_error_set(err, DK_EINVAL,
                            "draws: stratified group %lld of %lld is invalid: need groups >= 1 and "
                            "0 <= group < groups", (long long)group, (long long)groups);
    d->group = group;
    d->groups = groups;
    return DK_OK;
}
