/* trainer.c: one k-diffusion-style training step (see trainer.h). */
#include "diffkit/trainer.h"
#include "backend/backend.h"
#include "diffkit/cuda.h"
#include "diffkit/dist.h"
#include "diffkit/draws.h"
#include "diffkit/log.h"
#include "diffkit/ops.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct dk_trainer {
    dk_trainer_setup s;
    dk_optim *optim;
    dk_ema *ema;
    dk_graph *g;
    dk_rng rng_sigma, rng_noise;
    dk_dtype dtype;
    int64_t step;
    int64_t B, C, H, W;
    dk_tensor *x, *labels, *noise, *y, *xin, *cn, *target, *weight;
    double *sigma, *c_skip, *c_out, *c_in, *c_noise, *w;
    void *swap;            /* saved trained weights while the EMA ones are in use (on dev) */
    /* the model's device: the batch is prepared on the host (loader, draws,
     * scalings: the same numbers on any device) and its inputs copied there */
    dk_device dev;
    const dk_backend *be;
    dk_tensor *d_xin, *d_cn, *d_target, *d_weight; /* on dev (NULL on the CPU) */
    /* data parallelism (trainer.h): rank of world; M = grad_accum * world
     * micro-batches per step; acc (on dev) sums the micro-batches' gradients
     * in the order of k when M > 1; the sigma and noise streams of the
     * micro-batches of other ranks are drawn (sigma, into sig_skip) or
     * skipped (noise) so every rank's streams stay where one process's are */
    int world, rank, M;
    void *acc;
    double *sig_skip;
    int sig_next, noise_next;   /* micro-batches of this step whose sigma / noise draws are done */
    int64_t epoch0, index0;     /* the loader position at the start of the step */
    /* overlap (dk_trainer_setup.overlap): buckets [b_lo, b_hi) of the grad
     * block, started in the order nb-1 .. 0 as their parameters become final */
    int overlap;
    size_t nb, np, n_order, cursor;
    size_t *b_lo, *b_hi, *b_pending, *p_bucket, *p_lw, *p_order;
    dk_dist_sum **b_op;
    long next_start;            /* the next bucket to start (nb-1 down to 0; -1: all started) */
    long to_gather;             /* the last bucket started: its all-gather starts before the next bucket */
    dk_status ov_status;
    dk_error ov_err;
};

static void overlap_free(dk_trainer *t) {
    if (t->b_op)
        for (size_t b = 0; b < t->nb; b++) dk_dist_sum_wait(t->b_op[b], NULL);
    free(t->b_lo); free(t->b_hi); free(t->b_pending); free(t->p_bucket); free(t->p_lw); free(t->p_order); free(t->b_op);
    t->b_lo = t->b_hi = t->b_pending = t->p_bucket = t->p_lw = t->p_order = NULL;
    t->b_op = NULL;
    t->overlap = 0;
}

static void trainer_free_buffers(dk_trainer *t) {
    dk_tensor *ts[] = {t->x, t->labels, t->noise, t->y, t->xin, t->cn, t->target, t->weight,
                       t->d_xin, t->d_cn, t->d_target, t->d_weight};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) dk_tensor_free(ts[i]);
    free(t->sigma);
    free(t->sig_skip);
    if (t->acc && t->be) t->be->free(t->acc);
    overlap_free(t);
}

void dk_trainer_free(dk_trainer *t) {
    if (!t) return;
    if (t->swap) dk_trainer_use_ema(t, 0, NULL);
    dk_optim_free(t->optim);
    dk_ema_free(t->ema);
    dk_graph_free(t->g);
    trainer_free_buffers(t);
    free(t);
}

dk_trainer *dk_trainer_new(const dk_trainer_setup *s, dk_error *err) {
    if (!s->model || !s->precond || !s->density || !s->loader) {
        dk_error_set(err, DK_EINVAL, "trainer: model, precond, density and loader are all required");
        return NULL;
    }
    if (s->model->plugin->kind != DK_KIND_MODEL || s->precond->plugin->kind != DK_KIND_PRECOND ||
        s->density->plugin->kind != DK_KIND_SCHEDULE) {
        dk_error_set(err, DK_EINVAL, "trainer: expected a model, a precond and a schedule (density) plugin");
        return NULL;
    }
    if (!dk_schedule_vt(s->density)->density) {
        dk_error_set(err, DK_EINVAL, "trainer: schedule '%s' has no training density (it only gives sampling sigmas): use e.g. lognormal or cosine-interpolated",
                     s->density->plugin->name);
        return NULL;
    }
    if (s->grad_accum < 1) {
        dk_error_set(err, DK_EINVAL, "trainer: grad_accum = %d, must be >= 1", s->grad_accum);
        return NULL;
    }
    int world = s->world > 0 ? s->world : 1;
    if (s->rank < 0 || s->rank >= world) {
        dk_error_set(err, DK_EINVAL, "trainer: rank %d is outside the world of %d ranks", s->rank, world);
        return NULL;
    }
    if ((int64_t)s->grad_accum * world > 1 << 20) {
        dk_error_set(err, DK_EINVAL, "trainer: grad_accum %d x %d ranks is too many micro-batches", s->grad_accum, world);
        return NULL;
    }
    dk_trainer *t = calloc(1, sizeof *t);
    if (!t) { dk_error_set(err, DK_ENOMEM, "trainer: out of memory"); return NULL; }
    t->s = *s;
    t->world = world;
    t->rank = s->rank;
    t->M = s->grad_accum * world;
    t->dtype = dk_params_dtype(s->model->params);
    const dk_dataset *ds = dk_loader_dataset(s->loader);
    t->B = dk_loader_config_of(s->loader)->batch;
    t->C = ds->channels; t->H = ds->height; t->W = ds->width;
    int64_t shp[4] = {t->B, t->C, t->H, t->W};
    t->x = dk_tensor_new(t->dtype, 4, shp, err);
    t->noise = dk_tensor_new(t->dtype, 4, shp, err);
    t->y = dk_tensor_new(t->dtype, 4, shp, err);
    t->xin = dk_tensor_new(t->dtype, 4, shp, err);
    t->target = dk_tensor_new(t->dtype, 4, shp, err);
    t->labels = dk_tensor_new(DK_I64, 1, &t->B, err);
    t->cn = dk_tensor_new(t->dtype, 1, &t->B, err);
    t->weight = dk_tensor_new(t->dtype, 1, &t->B, err);
    t->sigma = calloc((size_t)t->B * 6, sizeof(double));
    t->sig_skip = calloc((size_t)t->B, sizeof(double));
    if (!t->sig_skip || !t->x || !t->noise || !t->y || !t->xin || !t->target || !t->labels || !t->cn || !t->weight || !t->sigma) {
        if (err && err->code == DK_OK) dk_error_set(err, DK_ENOMEM, "trainer: out of memory");
        dk_trainer_free(t);
        return NULL;
    }
    t->c_skip = t->sigma + t->B; t->c_out = t->sigma + 2 * t->B; t->c_in = t->sigma + 3 * t->B;
    t->c_noise = t->sigma + 4 * t->B; t->w = t->sigma + 5 * t->B;
    t->dev = dk_params_device(s->model->params);
    t->be = dk_backend_get(t->dev, err);
    if (!t->be) { dk_trainer_free(t); return NULL; }
    if (t->dev != DK_CPU) {
        if (dk_precond_vt(s->precond)->loss) {
            dk_error_set(err, DK_EUNSUPPORTED,
                         "trainer: precond '%s' computes its own loss on the host, which does not run on %s yet: "
                         "train this experiment with device = \"cpu\"", s->precond->plugin->name,
                         dk_device_name(t->dev));
            dk_trainer_free(t);
            return NULL;
        }
        t->d_xin = dk_tensor_new_device(t->dtype, 4, shp, t->dev, err);
        t->d_target = t->d_xin ? dk_tensor_new_device(t->dtype, 4, shp, t->dev, err) : NULL;
        t->d_cn = t->d_target ? dk_tensor_new_device(t->dtype, 1, &t->B, t->dev, err) : NULL;
        t->d_weight = t->d_cn ? dk_tensor_new_device(t->dtype, 1, &t->B, t->dev, err) : NULL;
        if (!t->d_weight) {
            dk_error_prefix(err, "trainer: the batch buffers on %s", dk_device_name(t->dev));
            dk_trainer_free(t);
            return NULL;
        }
    }
    if (t->M > 1) {
        size_t bytes = dk_params_numel(s->model->params, 0) * dk_dtype_size(t->dtype);
        t->acc = t->be->alloc(bytes ? bytes : 1, err);
        if (!t->acc) {
            dk_error_prefix(err, "trainer: the gradient accumulator of %d micro-batches", t->M);
            dk_trainer_free(t);
            return NULL;
        }
    }
    if (s->overlap && world > 1 && t->dev == DK_CPU && t->acc) {
        /* buckets: parameters in block order, cut at a parameter's start
         * once a bucket holds >= 2^20 elements (DDP cuts at 25 MB) */
        dk_params *pp = s->model->params;
        size_t np = dk_params_count(pp), total = dk_params_numel(pp, 0),
               target = s->bucket_elems ? s->bucket_elems : (size_t)1 << 20;
        t->np = np;
        t->b_lo = calloc(np + 1, sizeof(size_t));
        t->b_hi = calloc(np + 1, sizeof(size_t));
        t->b_pending = calloc(np + 1, sizeof(size_t));
        t->p_bucket = calloc(np + 1, sizeof(size_t));
        t->p_lw = calloc(np + 1, sizeof(size_t));
        t->p_order = calloc(np + 1, sizeof(size_t));
        t->b_op = calloc(np + 1, sizeof *t->b_op);
        int ok = t->b_lo && t->b_hi && t->b_pending && t->p_bucket && t->p_lw && t->p_order && t->b_op;
        size_t nb = 0, fill = 0;
        for (size_t q = 0; ok && q < np; q++) {
            dk_param *prm = dk_params_at(pp, q);
            if (q > 0 && prm->offset < dk_params_at(pp, q - 1)->offset) ok = 0; /* not in block order: no overlap */
            if (nb == 0 || fill >= target) {
                if (nb > 0) t->b_hi[nb - 1] = prm->offset;
                t->b_lo[nb] = nb == 0 ? 0 : prm->offset;
                nb++;
                fill = 0;
            }
            t->p_bucket[q] = nb - 1;
            fill += prm->var.value->numel;
        }
        if (nb > 0) t->b_hi[nb - 1] = total;
        if (nb > 0) t->b_lo[0] = 0;
        for (size_t b = 0; ok && b < nb; b++) ok = t->b_hi[b] >= t->b_lo[b] && t->b_hi[b] - t->b_lo[b] <= ((size_t)1 << 24);
        t->nb = nb;
        if (ok && nb > 0) t->overlap = 1;
        else overlap_free(t);
    }
    t->g = dk_graph_new();
    t->optim = dk_optim_new(s->model->params, &s->optim, err);
    if (!t->g || !t->optim) { dk_trainer_free(t); return NULL; }
    if (dk_optim_set_schedule(t->optim, &s->lr_sched, err)) { dk_trainer_free(t); return NULL; }
    if (s->use_ema) {
        t->ema = dk_ema_new(s->model->params, &s->ema, err);
        if (!t->ema) { dk_trainer_free(t); return NULL; }
    }
    dk_rng_init(&t->rng_sigma, s->seed, DK_STREAM_SIGMA);
    dk_rng_init(&t->rng_noise, s->seed, DK_STREAM_NOISE);
    return t;
}

int64_t dk_trainer_steps(const dk_trainer *t) { return t->step; }
dk_optim *dk_trainer_optim(dk_trainer *t) { return t->optim; }
dk_ema *dk_trainer_ema(dk_trainer *t) { return t->ema; }

static double tget(const dk_tensor *t, size_t i) {
    return t->dtype == DK_F32 ? (double)dk_f32(t)[i] : dk_f64(t)[i];
}
static void tset(dk_tensor *t, size_t i, double v) {
    if (t->dtype == DK_F32) dk_f32(t)[i] = (float)v; else dk_f64(t)[i] = v;
}

/* The sigma draws of micro-batch k (group k of M when stratified) into out. */
static dk_status draw_sigma(dk_trainer *t, int k, double *out, dk_error *err) {
    dk_draws_src src;
    dk_draws_init_rng(&src, &t->rng_sigma);
    if (t->s.stratified) DK_TRY(dk_draws_set_stratified(&src, k, t->M, err));
    dk_status s = dk_schedule_vt(t->s.density)->density(t->s.density->self, (size_t)t->B, &src.base, out, err);
    if (s) return dk_error_prefix(err, "sigma density '%s'", t->s.density->plugin->name);
    return DK_OK;
}

/* Moves the sigma and noise streams to the start of micro-batch k of this
 * step: the micro-batches of the other ranks before k are drawn (sigma: a
 * density may take any number of draws) or skipped (noise: a fixed count). */
static dk_status streams_to(dk_trainer *t, int k, dk_error *err) {
    for (; t->sig_next < k; t->sig_next++) DK_TRY(draw_sigma(t, t->sig_next, t->sig_skip, err));
    for (; t->noise_next < k; t->noise_next++) dk_rng_skip_normals(&t->rng_noise, t->noise->numel);
    return DK_OK;
}

/* The loader position off images after (e, i). */
static void position_add(const dk_loader *l, int64_t e, int64_t i, int64_t off, int64_t *eo, int64_t *io) {
    int64_t n = dk_loader_dataset(l)->count;
    int64_t j = i + off;
    *eo = e + j / n;
    *io = j % n;
}

/* ---- overlap: gradient buckets summed during backward (PyTorch DDP) ---- */

/* The collectives in a fixed order on every rank: gather(previous) just
 * before start(b), so the order never depends on when a transfer completes. */
static void bucket_start(dk_trainer *t, size_t b) {
    if (t->b_op[b] || t->ov_status) return;
    if (t->to_gather >= 0) {
        t->ov_status = dk_dist_sum_gather(t->b_op[t->to_gather], &t->ov_err);
        t->to_gather = -1;
        if (t->ov_status) return;
    }
    t->to_gather = (long)b;
    size_t es = dk_dtype_size(t->dtype);
    char *g = dk_params_grad(t->s.model->params);
    t->ov_status = dk_dist_sum_start((char *)t->acc + t->b_lo[b] * es, g + t->b_lo[b] * es, t->b_hi[b] - t->b_lo[b],
                                     t->dtype, &t->b_op[b], &t->ov_err);
}

/* Starts the buckets that are ready, in the fixed order nb-1 .. 0 (every
 * rank posts the same collectives in the same order), and moves the ones in
 * flight on (MPI progresses inside MPI calls only). */
static void buckets_advance(dk_trainer *t, int all) {
    while (t->next_start >= 0 && (all || t->b_pending[t->next_start] == 0)) bucket_start(t, (size_t)t->next_start--);
    for (size_t b = 0; b < t->nb && !t->ov_status; b++) {
        int done = 0;
        if (t->b_op[b]) t->ov_status = dk_dist_sum_poll(t->b_op[b], &done, &t->ov_err);
    }
}

static void backward_hook(void *ctx, size_t entry) {
    dk_trainer *t = ctx;
    int changed = 0;
    for (; t->cursor < t->n_order && t->p_lw[t->p_order[t->cursor]] >= entry; t->cursor++) {
        t->b_pending[t->p_bucket[t->p_order[t->cursor]]]--;
        changed = 1;
    }
    if (changed) buckets_advance(t, 0); /* polls at parameter boundaries only: MPI_Test may yield the CPU */
}

static const dk_trainer *g_sort_t; /* qsort has no context argument */
static int cmp_lw_desc(const void *a, const void *b) {
    size_t x = g_sort_t->p_lw[*(const size_t *)a], y = g_sort_t->p_lw[*(const size_t *)b];
    return x > y ? -1 : x < y;
}

/* After the forward pass: which parameters become final after which tape entry. */
static void buckets_prepare(dk_trainer *t) {
    dk_params *pp = t->s.model->params;
    dk_graph_param_last_writers(t->g, pp, t->p_lw);
    for (size_t b = 0; b < t->nb; b++) t->b_pending[b] = 0;
    t->n_order = 0;
    /* a parameter no tape entry takes as an input (unused, or reached by an
     * op some other way) keeps its bucket pending until backward has ended */
    for (size_t q = 0; q < t->np; q++) {
        t->b_pending[t->p_bucket[q]]++;
        if (t->p_lw[q] != SIZE_MAX) t->p_order[t->n_order++] = q;
    }
    g_sort_t = t;
    qsort(t->p_order, t->n_order, sizeof(size_t), cmp_lw_desc);
    t->cursor = 0;
    buckets_advance(t, 0);
}

/* After backward (or a failure anywhere in the micro-batch): every bucket is
 * started, in the fixed order, and finished. */
static dk_status buckets_finish(dk_trainer *t, dk_error *err) {
    buckets_advance(t, 1);
    if (t->to_gather >= 0 && !t->ov_status) t->ov_status = dk_dist_sum_gather(t->b_op[t->to_gather], &t->ov_err);
    t->to_gather = -1;
    for (size_t b = 0; b < t->nb; b++) {
        dk_error e2;
        dk_status s = dk_dist_sum_wait(t->b_op[b], &e2);
        t->b_op[b] = NULL;
        if (s && !t->ov_status) { t->ov_status = s; t->ov_err = e2; }
    }
    if (t->ov_status && err) *err = t->ov_err;
    return t->ov_status;
}

/* One micro-batch (number k of the step's M): forward, loss, backward. Returns the mean loss in *loss. */
static dk_status micro_batch(dk_trainer *t, int k, dk_train_stats *st, double *loss, dk_error *err) {
    const dk_precond_vtable *pv = dk_precond_vt(t->s.precond);
    const dk_model_vtable *mv = dk_model_vt(t->s.model);
    int64_t B = t->B;
    size_t P = t->x->numel / (size_t)B;
    if (t->M > 1) { /* micro-batch k starts k*B images into the step (a no-op in sequence) */
        int64_t e, i, ce, ci;
        position_add(t->s.loader, t->epoch0, t->index0, (int64_t)k * B, &e, &i);
        dk_loader_position(t->s.loader, &ce, &ci);
        if (e != ce || i != ci) DK_TRY(dk_loader_seek(t->s.loader, e, i, err));
    }
    DK_TRY(dk_loader_next(t->s.loader, t->x, t->labels, err));

    DK_TRY(streams_to(t, k, err));
    DK_TRY(draw_sigma(t, k, t->sigma, err));
    t->sig_next = k + 1;
    dk_status s;
    for (int64_t b = 0; b < B; b++) {
        if (!(t->sigma[b] > 0) || !isfinite(t->sigma[b]))
            return dk_error_set(err, DK_ENUMERIC, "density '%s' drew sigma = %g (must be finite and > 0): check its min/max options",
                                t->s.density->plugin->name, t->sigma[b]);
        st->sigma_min = fmin(st->sigma_min, t->sigma[b]);
        st->sigma_max = fmax(st->sigma_max, t->sigma[b]);
        st->sigma_mean_log += log(t->sigma[b]);
    }
    if (t->dtype == DK_F32) dk_rng_fill_normal_f32(&t->rng_noise, dk_f32(t->noise), t->noise->numel);
    else dk_rng_fill_normal_f64(&t->rng_noise, dk_f64(t->noise), t->noise->numel);
    t->noise_next = k + 1;

    DK_TRY(pv->scalings(t->s.precond->self, (size_t)B, t->sigma, t->c_skip, t->c_out, t->c_in, t->c_noise, err));
    DK_TRY(dk_precond_check_scalings(t->s.precond->plugin, (size_t)B, t->sigma, t->c_skip, t->c_out, t->c_in, t->c_noise, err));
    for (int64_t b = 0; b < B; b++) t->w[b] = 1.0;
    if (pv->weight) DK_TRY(pv->weight(t->s.precond->self, (size_t)B, t->sigma, t->w, err));
    for (int64_t b = 0; b < B; b++) {
        for (size_t i = 0; i < P; i++) {
            size_t e = (size_t)b * P + i;
            double xv = tget(t->x, e), yv = xv + t->sigma[b] * tget(t->noise, e);
            tset(t->y, e, yv);
            tset(t->xin, e, t->c_in[b] * yv);
            tset(t->target, e, (xv - t->c_skip[b] * yv) / t->c_out[b]);
        }
        tset(t->cn, (size_t)b, t->c_noise[b]);
        tset(t->weight, (size_t)b, t->w[b]);
    }

    dk_tensor *xin = t->xin, *cn = t->cn, *target = t->target, *weight = t->weight;
    if (t->dev != DK_CPU) { /* the model's inputs to its device */
        size_t es = dk_dtype_size(t->dtype);
        DK_TRY(t->be->from_host(t->d_xin->data, xin->data, xin->numel * es, err));
        DK_TRY(t->be->from_host(t->d_target->data, target->data, target->numel * es, err));
        DK_TRY(t->be->from_host(t->d_cn->data, cn->data, cn->numel * es, err));
        DK_TRY(t->be->from_host(t->d_weight->data, weight->data, weight->numel * es, err));
        xin = t->d_xin, cn = t->d_cn, target = t->d_target, weight = t->d_weight;
    }
    dk_graph *g = t->g;
    dk_graph_reset(g);
    dk_graph_set_grad(g, 1);
    dk_model_input in = {0};
    in.x = dk_graph_input(g, xin, 0);
    in.c_noise = dk_graph_input(g, cn, 0);
    dk_model_info info = {0};
    if (mv->describe) mv->describe(t->s.model->self, &info);
    in.class_labels = info.num_classes > 0 ? dk_i64(t->labels) : NULL;
    dk_var *out = mv->forward(t->s.model->self, g, &in);
    dk_var *per_sample;
    if (pv->loss) {
        dk_precond_loss_args a = {out, t->x, t->noise, t->y, t->sigma, t->c_skip, t->c_out, t->c_in, t->c_noise, (size_t)B};
        per_sample = out ? pv->loss(t->s.precond->self, g, &a) : NULL;
        if (per_sample && pv->weight) per_sample = dk_mul(g, per_sample, dk_graph_input(g, weight, 0));
    } else {
        per_sample = dk_mse(g, out, dk_graph_input(g, target, 0));
        per_sample = dk_mul(g, per_sample, dk_graph_input(g, weight, 0));
    }
    dk_var *mean = dk_mean_all(g, per_sample);
    dk_var *scaled = dk_scale(g, mean, 1.0 / t->M);
    s = dk_graph_status(g, err);
    if (s) return dk_error_prefix(err, "forward");
    if (t->dev == DK_CPU) *loss = tget(mean->value, 0);
    else { /* one number back to the host (this waits for the forward pass) */
        float f = 0;
        double d = 0;
        DK_TRY(t->be->to_host(t->dtype == DK_F32 ? (void *)&f : (void *)&d, mean->value->data, dk_dtype_size(t->dtype), err));
        *loss = t->dtype == DK_F32 ? (double)f : d;
    }
    if (!isfinite(*loss))
        return dk_error_set(err, DK_ENUMERIC, "loss is %g: training diverged; the weights were not updated (lower the lr or check the data)",
                            *loss);
    if (t->overlap) {
        buckets_prepare(t);
        dk_graph_set_backward_hook(g, backward_hook, t);
    }
    s = dk_graph_backward(g, scaled, err);
    dk_graph_set_backward_hook(g, NULL, NULL);
    if (s) return dk_error_prefix(err, "backward");
    return DK_OK;
}

/* Micro-batch k's results of every rank, gathered in rank order (k order
 * within the round): a rank that failed makes every rank stop the step, so
 * no rank is left waiting in the gradient sum. */
typedef struct round_rec { double ok, loss, smin, smax, slog; } round_rec;

dk_status dk_trainer_step(dk_trainer *t, dk_train_stats *stats, dk_error *err) {
    dk_train_stats st;
    memset(&st, 0, sizeof st);
    st.sigma_min = INFINITY;
    st.sigma_max = 0;
    double t0 = dk_time_now(), comm0 = dk_dist_comm_seconds();
    if (t->swap) return dk_error_set(err, DK_ESTATE, "trainer: the EMA weights are swapped in; call use_ema(false) before training");
    dk_params *p = t->s.model->params;
    size_t np = dk_params_numel(p, 0), bytes = np * dk_dtype_size(t->dtype);
    dk_params_zero_grad(p);
    if (t->acc) t->be->zero(t->acc, bytes ? bytes : 1);
    dk_loader_position(t->s.loader, &t->epoch0, &t->index0);
    t->sig_next = t->noise_next = 0;
    double loss_sum = 0;
    round_rec *all = NULL;
    if (t->world > 1 && !(all = malloc(sizeof *all * (size_t)t->world)))
        return dk_error_set(err, DK_ENOMEM, "trainer: out of memory");
    for (int a = 0; a < t->s.grad_accum; a++) {
        int k = a * t->world + t->rank;
        double l = 0;
        dk_train_stats mst;
        memset(&mst, 0, sizeof mst);
        mst.sigma_min = INFINITY;
        if (t->acc && a > 0) dk_params_zero_grad(p);
        if (t->overlap) {
            t->next_start = (long)t->nb - 1;
            t->to_gather = -1;
            t->ov_status = DK_OK;
            for (size_t b = 0; b < t->nb; b++) t->b_pending[b] = (size_t)-1 / 2; /* not ready before the forward is done */
        }
        dk_status s = micro_batch(t, k, &mst, &l, err);
        dk_graph_reset(t->g);
        if (t->overlap) { /* every rank completes every bucket, even after a failure here, so none waits forever */
            dk_error e3;
            dk_status s3 = buckets_finish(t, &e3);
            if (s3 && !s) { s = s3; *err = e3; }
        }
        round_rec mine = {s == DK_OK, l, mst.sigma_min, mst.sigma_max, mst.sigma_mean_log};
        int nrec = 1;
        if (t->world > 1) {
            dk_error e2;
            dk_status s2 = dk_dist_allgather(&mine, sizeof mine, all, &e2);
            if (s2 && !s) { *err = e2; s = s2; }
            for (int r = 0; r < t->world && !s; r++)
                if (!(all[r].ok > 0))
                    s = dk_error_set(err, DK_ESTATE, "micro-batch %d failed on rank %d of %d (its message is in that rank's output)",
                                     a * t->world + r, r, t->world);
            nrec = t->world;
        } else {
            all = &mine;
        }
        for (int r = 0; r < nrec && !s; r++) { /* in the order of k, as one process adds them */
            loss_sum += all[r].loss;
            st.sigma_min = fmin(st.sigma_min, all[r].smin);
            st.sigma_max = fmax(st.sigma_max, all[r].smax);
            st.sigma_mean_log += all[r].slog;
        }
        if (t->world == 1) all = NULL;
        /* the micro-batches' gradients, in the order of k: acc + g_k for one
         * process, acc + g_(a*R) + ... + g_(a*R+R-1) in rank order for R ranks */
        if (!s && t->acc && !t->overlap) s = dk_dist_sum_ordered(t->acc, dk_params_grad(p), np, t->dtype, t->dev, err);
        if (s) {
            free(all);
            dk_params_zero_grad(p);
            return dk_error_prefix(err, "training step %lld", (long long)t->step + 1);
        }
    }
    free(all);
    if (t->acc && bytes) {
        dk_status s = t->be->copy(dk_params_grad(p), t->acc, bytes, err);
        if (s) return dk_error_prefix(err, "training step %lld", (long long)t->step + 1);
    }
    /* every rank ends the step where one process does: the draws of all M
     * micro-batches taken, the loader M*B images on */
    if (t->M > 1) {
        dk_status s = streams_to(t, t->M, err);
        int64_t e, i;
        position_add(t->s.loader, t->epoch0, t->index0, (int64_t)t->M * t->B, &e, &i);
        if (!s) s = dk_loader_seek(t->s.loader, e, i, err);
        if (s) return dk_error_prefix(err, "training step %lld", (long long)t->step + 1);
    }
    const char *bad = NULL;
    if (!dk_grad_all_finite(p, &bad)) {
        dk_params_zero_grad(p);
        /* clipping cannot repair a non-finite gradient, but it keeps finite ones from blowing up the next steps */
        if (t->s.clip_norm > 0)
            return dk_error_set(err, DK_ENUMERIC, "training step %lld: gradient of '%s' is NaN or Inf: the weights were not updated "
                                "(clipping at clip_norm = %g is on and cannot repair a NaN/Inf gradient: lower the lr, or check "
                                "the data and the loss weighting)",
                                (long long)t->step + 1, bad ? bad : "?", t->s.clip_norm);
        return dk_error_set(err, DK_ENUMERIC, "training step %lld: gradient of '%s' is NaN or Inf: the weights were not updated "
                            "(clipping is off: lower the lr or enable clipping, e.g. clip_norm = 1)",
                            (long long)t->step + 1, bad ? bad : "?");
    }
    st.grad_norm = t->s.clip_norm > 0 ? dk_grad_clip(p, t->s.clip_norm) : dk_grad_norm(p);
    st.lr = dk_optim_current_lr(t->optim);
    if (dk_optim_step(t->optim, err)) return dk_error_prefix(err, "training step %lld", (long long)t->step + 1);
    st.ema_decay = t->ema ? dk_ema_update(t->ema) : NAN;
    t->step++;
    st.step = t->step;
    st.loss = loss_sum / t->M;
    st.sigma_mean_log /= (double)(t->B * t->M);
    st.seconds = dk_time_now() - t0;
    st.comm_seconds = dk_dist_comm_seconds() - comm0;
    if (stats) *stats = st;
    return DK_OK;
}

dk_status dk_trainer_use_ema(dk_trainer *t, int on, dk_error *err) {
    dk_params *p = t->s.model->params;
    size_t bytes = dk_params_numel(p, 0) * dk_dtype_size(t->dtype);
    if (on) {
        if (!t->ema) return dk_error_set(err, DK_ESTATE, "trainer: no EMA configured (set ema = {...} in the experiment)");
        if (t->swap) return DK_OK;
        t->swap = t->be->alloc(bytes ? bytes : 1, err);
        if (!t->swap) return dk_error_prefix(err, "trainer: room for the trained weights while the EMA ones are in use");
        DK_TRY(t->be->copy(t->swap, dk_params_data(p), bytes, err));
        DK_TRY(t->be->copy(dk_params_data(p), dk_ema_data(t->ema), bytes, err));
    } else if (t->swap) {
        dk_status s = t->be->copy(dk_params_data(p), t->swap, bytes, err);
        t->be->free(t->swap);
        t->swap = NULL;
        DK_TRY(s);
    }
    return DK_OK;
}

static void fill_checkpoint(dk_trainer *t, dk_checkpoint *c, dk_checkpoint_rng *rngs) {
    memset(c, 0, sizeof *c);
    rngs[0].name = "sigma"; rngs[0].rng = &t->rng_sigma;
    rngs[1].name = "noise"; rngs[1].rng = &t->rng_noise;
    c->params = t->s.model->params;
    c->ema = t->ema;
    c->optim = t->optim;
    c->loader = t->s.loader;
    c->rngs = rngs;
    c->n_rngs = 2;
    c->step = t->step;
}

dk_status dk_trainer_save(dk_trainer *t, const char *dir, const char *config, char *path_out, size_t path_n,
                          dk_error *err) {
    if (t->swap) return dk_error_set(err, DK_ESTATE, "trainer: cannot checkpoint while the EMA weights are swapped in");
    dk_checkpoint c;
    dk_checkpoint_rng rngs[2];
    fill_checkpoint(t, &c, rngs);
    c.config = config;
    return dk_checkpoint_save_dir(dir, &c, path_out, path_n, err);
}

dk_status dk_trainer_load(dk_trainer *t, const char *path, char **config_out, dk_error *err) {
    if (t->swap) return dk_error_set(err, DK_ESTATE, "trainer: cannot load while the EMA weights are swapped in");
    dk_checkpoint c;
    dk_checkpoint_rng rngs[2];
    fill_checkpoint(t, &c, rngs);
    DK_TRY(dk_checkpoint_load(path, &c, config_out, err));
    t->step = c.step;
    return DK_OK;
}
