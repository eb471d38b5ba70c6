/* noise.c: the noise sources samplers draw from (noise.h).
 *
 *   iid      - Philox-4x32-10 Gaussian draws, one continuing (seed, stream);
 *   replay   - slices of a stored [M, B, ...] tensor, in order (golden parity);
 *   brownian - one seeded Brownian tree per sample, queried on [0, sigma_max].
 *
 * The Brownian tree (in the spirit of torchsde's BrownianTree, Li et al. 2020,
 * "Scalable gradients for SDEs", and Gaines & Lyons 1997 for Levy's
 * construction) gives a path W_b(t), t = sigma, that is a deterministic
 * function of (seed_b, t): W(0) = 0, W(sigma_max) ~ N(0, sigma_max I) keyed by
 * the root node, and every bisection midpoint m of a node [a, b] is the Brownian
 * bridge value
 *     W(m) = W(a) + (m - a)/(b - a) (W(b) - W(a)) + sqrt((m - a)(b - m)/(b - a)) z_node
 * with z_node drawn from Philox keyed by (seed_b, node index) (heap numbering:
 * root 1, children 2n and 2n+1). A query descends until the node holding t is
 * narrower than max(DK_BROWNIAN_RTOL * |t|, DK_BROWNIAN_ATOL * (t1 - t0)) (or
 * DK_BROWNIAN_MAX_DEPTH levels), then interpolates linearly inside that leaf.
 * Because W is a function of t alone, increments over any refined grid sum to
 * the coarse increment up to rounding, whatever the query order, and a sample's
 * path depends on its own seed only, never on its batch. The last few W(t)
 * are cached: a sampler's steps share their end points.
 *
 * The tree is rooted at [0, sigma_max] rather than [sigma_min, sigma_max]: the
 * increments inside [sigma_min, sigma_max] have the same law either way, the
 * path does not change when only sigma_min changes, and draws reaching down to
 * sigma 0 (churn noise on a last step) stay valid. sigma_min is checked only. */
#include "diffkit/noise.h"
#include "diffkit/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DK_BROWNIAN_RTOL 1e-7
#define DK_BROWNIAN_ATOL 1e-12
#define DK_BROWNIAN_MAX_DEPTH 60
#define DK_BROWNIAN_CACHE 3

dk_status dk_noise_draw(dk_noise *n, double sigma, double sigma_next, dk_tensor *out, dk_error *err) {
    if (!n || !out)
        return dk_error_set(err, DK_EINVAL, "dk_noise_draw: NULL %s", n ? "output tensor" : "noise source");
    if (out->dtype != DK_F64 && out->dtype != DK_F32)
        return dk_error_set(err, DK_EINVAL, "noise '%s': output must be F64 or F32, got %s",
                            n->kind, dk_dtype_name(out->dtype));
    dk_status s = n->draw(n, sigma, sigma_next, out, err);
    if (s == DK_OK) n->draws++;
    return s;
}

dk_status dk_noise_skip(dk_noise *n, double sigma, double sigma_next, dk_tensor *like, dk_error *err) {
    if (!n || !n->skip) return dk_noise_draw(n, sigma, sigma_next, like, err);
    if (!like) return dk_error_set(err, DK_EINVAL, "dk_noise_skip: NULL shape tensor");
    dk_status s = n->skip(n, like->numel, err);
    if (s == DK_OK) n->draws++;
    return s;
}

void dk_noise_free(dk_noise *n) {
    if (n && n->destroy) n->destroy(n);
}

/* ---- iid ------------------------------------------------------------------ */

typedef struct noise_iid {
    dk_noise base;
    dk_rng rng;
} noise_iid;

static dk_status iid_draw(dk_noise *self, double sigma, double sigma_next, dk_tensor *out, dk_error *err) {
    noise_iid *n = (noise_iid *)self;
    (void)sigma; (void)sigma_next; (void)err;
    if (out->dtype == DK_F64) dk_rng_fill_normal_f64(&n->rng, dk_f64(out), out->numel);
    else dk_rng_fill_normal_f32(&n->rng, dk_f32(out), out->numel);
    return DK_OK;
}

static dk_status iid_skip(dk_noise *self, size_t numel, dk_error *err) {
    (void)err;
    dk_rng_skip_normals(&((noise_iid *)self)->rng, numel);
    return DK_OK;
}

static void iid_destroy(dk_noise *self) { free(self); }

dk_noise *dk_noise_iid(uint64_t seed, uint64_t stream, dk_error *err) {
    noise_iid *n = calloc(1, sizeof *n);
    if (!n) {
        dk_error_set(err, DK_ENOMEM, "noise 'iid': out of memory");
        return NULL;
    }
    n->base.draw = iid_draw;
    n->base.skip = iid_skip;
    n->base.destroy = iid_destroy;
    n->base.kind = "iid";
    dk_rng_init(&n->rng, seed, stream);
    return &n->base;
}

/* ---- replay --------------------------------------------------------------- */

typedef struct noise_replay {
    dk_noise base;
    dk_tensor *stream; /* [M, B, ...] or NULL (M = 0) */
    int64_t m;
    size_t slice;      /* elements per slice */
} noise_replay;

/* The next slice exists and holds numel values. */
static dk_status replay_check(noise_replay *n, size_t numel, const dk_tensor *out, dk_error *err) {
    if ((int64_t)n->base.draws >= n->m)
        return dk_error_set(err, DK_ESTATE,
                            "noise stream ran out after %lld slices: the sampler drew more noise than the file records",
                            (long long)n->m);
    if (numel != n->slice) {
        char a[64] = "a tensor";
        if (out) dk_shape_str(out, a, sizeof a);
        return dk_error_set(err, DK_ESHAPE,
                            "noise 'replay': a slice holds %zu values but the sampler asked for %s (%zu values): "
                            "the stored stream does not match the sample's shape",
                            n->slice, a, numel);
    }
    return DK_OK;
}

static dk_status replay_skip(dk_noise *self, size_t numel, dk_error *err) {
    return replay_check((noise_replay *)self, numel, NULL, err);
}

static dk_status replay_draw(dk_noise *self, double sigma, double sigma_next, dk_tensor *out, dk_error *err) {
    noise_replay *n = (noise_replay *)self;
    (void)sigma; (void)sigma_next;
    DK_TRY(replay_check(n, out->numel, out, err));
    size_t off = (size_t)self->draws * n->slice;
    if (n->stream->dtype == DK_F64 && out->dtype == DK_F64) {
        memcpy(out->data, dk_f64(n->stream) + off, n->slice * sizeof(double));
    } else {
        for (size_t i = 0; i < n->slice; i++) dk_tensor_set(out, i, dk_tensor_get(n->stream, off + i));
    }
    return DK_OK;
}

static void replay_destroy(dk_noise *self) {
    noise_replay *n = (noise_replay *)self;
    dk_tensor_free(n->stream);
    free(n);
}

dk_noise *dk_noise_replay(dk_tensor *stream, dk_error *err) {
    if (stream) {
        if (stream->ndim < 2 || stream->shape[0] < 0) {
            char a[64];
            dk_error_set(err, DK_ESHAPE, "noise 'replay': the stream must be [M, B, ...] (at least 2 dims), got %s",
                         dk_shape_str(stream, a, sizeof a));
            return NULL;
        }
        if (stream->dtype != DK_F64 && stream->dtype != DK_F32) {
            dk_error_set(err, DK_EINVAL, "noise 'replay': the stream must be F64 or F32, got %s",
                         dk_dtype_name(stream->dtype));
            return NULL;
        }
    }
    noise_replay *n = calloc(1, sizeof *n);
    if (!n) {
        dk_error_set(err, DK_ENOMEM, "noise 'replay': out of memory");
        return NULL;
    }
    n->base.draw = replay_draw;
    n->base.skip = replay_skip;
    n->base.destroy = replay_destroy;
    n->base.kind = "replay";
    if (stream) {
        dk_tensor_retain(stream);
        n->stream = stream;
        n->m = stream->shape[0];
        n->slice = n->m > 0 ? stream->numel / (size_t)n->m : 0;
    }
    return &n->base;
}

/* ---- brownian ------------------------------------------------------------- */

typedef struct bt_cache {
    double t;
    double *w;       /* [B, D] */
    int valid;
    uint64_t used;   /* last use, for LRU replacement */
} bt_cache;

typedef struct noise_brownian {
    dk_noise base;
    int64_t batch;
    uint64_t *seeds;
    double t0, t1;
    size_t d;        /* values per sample (set by the first draw) */
    double *wa, *wb, *z; /* [D] scratch of the descent */
    bt_cache cache[DK_BROWNIAN_CACHE];
    uint64_t clock;
} noise_brownian;

/* z_node: D standard normals keyed by (seed, node). */
static void bt_node_normals(uint64_t seed, uint64_t node, double *z, size_t d) {
    dk_rng r;
    dk_rng_init(&r, seed, node);
    dk_rng_fill_normal_f64(&r, z, d);
}

/* W_b(t) for one sample into w [D]; t in [t0, t1]. */
static void bt_eval(noise_brownian *n, uint64_t seed, double t, double *w) {
    size_t d = n->d;
    double a = n->t0, b = n->t1;
    double *wa = n->wa, *wb = n->wb;
    double leaf = fmax(DK_BROWNIAN_RTOL * fabs(t), DK_BROWNIAN_ATOL * (n->t1 - n->t0));
    uint64_t node = 1;
    /* root: W(t0) = 0, W(t1) = sqrt(t1 - t0) z_1 */
    bt_node_normals(seed, node, n->z, d);
    double sd = sqrt(b - a);
    for (size_t k = 0; k < d; k++) {
        wa[k] = 0.0;
        wb[k] = sd * n->z[k];
    }
    for (int depth = 0;; depth++) {
        if (t == a) { memcpy(w, wa, d * sizeof *w); return; }
        if (t == b) { memcpy(w, wb, d * sizeof *w); return; }
        double m = a + 0.5 * (b - a);
        if (depth >= DK_BROWNIAN_MAX_DEPTH || b - a <= leaf || m <= a || m >= b) {
            double f = (t - a) / (b - a);
            for (size_t k = 0; k < d; k++) w[k] = wa[k] + f * (wb[k] - wa[k]);
            return;
        }
        /* Brownian bridge at the midpoint of [a, b]. */
        bt_node_normals(seed, node, n->z, d);
        double f = (m - a) / (b - a);
        double s = sqrt((m - a) * (b - m) / (b - a));
        if (t < m) {
            for (size_t k = 0; k < d; k++) wb[k] = wa[k] + f * (wb[k] - wa[k]) + s * n->z[k];
            b = m;
            node = 2 * node;
        } else {
            for (size_t k = 0; k < d; k++) wa[k] = wa[k] + f * (wb[k] - wa[k]) + s * n->z[k];
            a = m;
            node = 2 * node + 1;
        }
    }
}

/* W(t) for the whole batch, from the cache when possible. */
static const double *bt_batch(noise_brownian *n, double t) {
    bt_cache *slot = NULL;
    n->clock++;
    for (int i = 0; i < DK_BROWNIAN_CACHE; i++) {
        if (n->cache[i].valid && n->cache[i].t == t) {
            n->cache[i].used = n->clock;
            return n->cache[i].w;
        }
    }
    for (int i = 0; i < DK_BROWNIAN_CACHE; i++) {
        if (!n->cache[i].valid) {
            slot = &n->cache[i];
            break;
        }
        if (!slot || n->cache[i].used < slot->used) slot = &n->cache[i];
    }
    for (int64_t b = 0; b < n->batch; b++) bt_eval(n, n->seeds[b], t, slot->w + (size_t)b * n->d);
    slot->t = t;
    slot->valid = 1;
    slot->used = n->clock;
    return slot->w;
}

static void bt_free_buffers(noise_brownian *n) {
    free(n->wa);
    free(n->wb);
    free(n->z);
    n->wa = n->wb = n->z = NULL;
    for (int i = 0; i < DK_BROWNIAN_CACHE; i++) {
        free(n->cache[i].w);
        n->cache[i].w = NULL;
        n->cache[i].valid = 0;
    }
    n->d = 0;
}

static dk_status bt_clamp(noise_brownian *n, double *t, dk_error *err) {
    double slack = 1e-9 * (n->t1 - n->t0) + 1e-12 * fabs(n->t1);
    if (!(*t >= n->t0 - slack && *t <= n->t1 + slack))
        return dk_error_set(err, DK_EINVAL,
                            "noise 'brownian': sigma %.17g is outside the tree's range [%.17g, %.17g]: "
                            "create the noise source with the sampler's sigma_max",
                            *t, n->t0, n->t1);
    if (*t < n->t0) *t = n->t0;
    if (*t > n->t1) *t = n->t1;
    return DK_OK;
}

static dk_status bt_draw(dk_noise *self, double sigma, double sigma_next, dk_tensor *out, dk_error *err) {
    noise_brownian *n = (noise_brownian *)self;
    if (out->ndim < 1 || out->shape[0] != n->batch || out->numel % (size_t)n->batch != 0) {
        char a[64];
        return dk_error_set(err, DK_ESHAPE, "noise 'brownian': the tree was made for a batch of %lld, got a draw of %s",
                            (long long)n->batch, dk_shape_str(out, a, sizeof a));
    }
    double t0 = sigma, t1 = sigma_next;
    DK_TRY(bt_clamp(n, &t0, err));
    DK_TRY(bt_clamp(n, &t1, err));
    if (t0 == t1)
        return dk_error_set(err, DK_EINVAL,
                            "noise 'brownian': a draw from sigma %.17g to itself has no increment to normalise",
                            sigma);
    size_t d = out->numel / (size_t)n->batch;
    if (d != n->d) {
        bt_free_buffers(n);
        n->wa = malloc(d * sizeof(double));
        n->wb = malloc(d * sizeof(double));
        n->z = malloc(d * sizeof(double));
        int ok = n->wa && n->wb && n->z;
        for (int i = 0; i < DK_BROWNIAN_CACHE && ok; i++) {
            n->cache[i].w = malloc((size_t)n->batch * d * sizeof(double));
            ok = n->cache[i].w != NULL;
        }
        if (!ok) {
            bt_free_buffers(n);
            return dk_error_set(err, DK_ENOMEM, "noise 'brownian': out of memory for %zu values per sample", d);
        }
        n->d = d;
    }
    const double *wa = bt_batch(n, t0);
    const double *wb = bt_batch(n, t1);
    double scale = 1.0 / sqrt(fabs(t1 - t0));
    size_t total = out->numel;
    if (out->dtype == DK_F64) {
        double *o = dk_f64(out);
        for (size_t i = 0; i < total; i++) o[i] = (wb[i] - wa[i]) * scale;
    } else {
        float *o = dk_f32(out);
        for (size_t i = 0; i < total; i++) o[i] = (float)((wb[i] - wa[i]) * scale);
    }
    return DK_OK;
}

static void bt_destroy(dk_noise *self) {
    noise_brownian *n = (noise_brownian *)self;
    bt_free_buffers(n);
    free(n->seeds);
    free(n);
}

dk_noise *dk_noise_brownian(const uint64_t *seeds, int64_t batch, double sigma_min, double sigma_max,
                            dk_error *err) {
    if (!seeds || batch < 1) {
        dk_error_set(err, DK_EINVAL, "noise 'brownian': needs one seed per sample (batch %lld)", (long long)batch);
        return NULL;
    }
    if (!(sigma_min >= 0.0 && sigma_max > sigma_min && isfinite(sigma_max))) {
        dk_error_set(err, DK_EINVAL,
                     "noise 'brownian': the range must satisfy 0 <= sigma_min < sigma_max < inf, got [%g, %g]",
                     sigma_min, sigma_max);
        return NULL;
    }
    noise_brownian *n = calloc(1, sizeof *n);
    uint64_t *s = malloc((size_t)batch * sizeof *s);
    if (!n || !s) {
        free(n);
        free(s);
        dk_error_set(err, DK_ENOMEM, "noise 'brownian': out of memory");
        return NULL;
    }
    memcpy(s, seeds, (size_t)batch * sizeof *s);
    n->base.draw = bt_draw;
    n->base.destroy = bt_destroy;
    n->base.kind = "brownian";
    n->batch = batch;
    n->seeds = s;
    n->t0 = 0.0;
    n->t1 = sigma_max;
    return &n->base;
}
