/* optim.c: AdamW and SGD over a dk_params store, gradient clipping and
 * accumulation, and k-diffusion's learning-rate schedules.
 *
 * Update formulas (torch.optim semantics, evaluated per element in the
 * parameters' dtype T, scalar coefficients computed in double and rounded to T):
 *   AdamW (Loshchilov & Hutter 2019, Alg. 2, torch form), t = step + 1:
 *     p  <- p * (1 - lr*wd)                       decoupled weight decay
 *     m  <- lerp(m, g, 1 - beta1)                 first moment
 *     v  <- v*beta2 + (1 - beta2)*g*g              second moment
 *     p  <- p - (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 *   SGD (torch.optim.SGD):
 *     d  <- g + wd*p
 *     b  <- d (first step) | b*momentum + (1 - dampening)*d
 *     d  <- d + momentum*b (nesterov) | b
 *     p  <- p - lr*d
 * Each step walks the parameters in store order; parameters tagged
 * DK_PARAM_FROZEN are skipped; DK_PARAM_NO_DECAY ones use weight decay 0. */
#include "diffkit/optim.h"
#include "backend/backend.h"
#include "diffkit/checkpoint.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- learning-rate schedules ---------------------------------------------- */

dk_lr_sched dk_lr_sched_default(dk_lr_kind kind) {
    dk_lr_sched s;
    memset(&s, 0, sizeof s);
    s.kind = kind;
    s.warmup = 0.0;
    s.min_lr = 0.0;
    s.inv_gamma = 1.0;
    s.power = 1.0;
    s.num_steps = 0.0;
    s.decay = 0.5;
    return s;
}

const char *dk_lr_kind_name(dk_lr_kind k) {
    switch (k) {
    case DK_LR_CONSTANT: return "constant";
    case DK_LR_INVERSE: return "inverse";
    case DK_LR_EXPONENTIAL: return "exponential";
    }
    return "?";
}

int dk_lr_kind_from_name(const char *name, dk_lr_kind *out) {
    static const dk_lr_kind all[] = {DK_LR_CONSTANT, DK_LR_INVERSE, DK_LR_EXPONENTIAL};
    if (!name) return -1;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (strcmp(name, dk_lr_kind_name(all[i])) == 0) {
            if (out) *out = all[i];
            return 0;
        }
    }
    return -1;
}

dk_status dk_lr_sched_check(const dk_lr_sched *s, dk_error *err) {
    if (!s) return dk_error_set(err, DK_EINVAL, "lr schedule: NULL schedule");
    if (!(s->warmup >= 0.0 && s->warmup < 1.0))
        return dk_error_set(err, DK_EINVAL,
                            "lr schedule '%s': warmup = %g is outside [0, 1): use 0 to disable the "
                            "warmup, 0.99 for about 100 steps of warmup",
                            dk_lr_kind_name(s->kind), s->warmup);
    if (!(s->min_lr >= 0.0))
        return dk_error_set(err, DK_EINVAL, "lr schedule '%s': min_lr = %g must be >= 0",
                            dk_lr_kind_name(s->kind), s->min_lr);
    switch (s->kind) {
    case DK_LR_CONSTANT: return DK_OK;
    case DK_LR_INVERSE:
        if (!(s->inv_gamma > 0.0) || !isfinite(s->inv_gamma))
            return dk_error_set(err, DK_EINVAL, "lr schedule 'inverse': inv_gamma = %g must be > 0",
                                s->inv_gamma);
        if (!isfinite(s->power))
            return dk_error_set(err, DK_EINVAL, "lr schedule 'inverse': power = %g must be finite",
                                s->power);
        return DK_OK;
    case DK_LR_EXPONENTIAL:
        if (!(s->num_steps > 0.0) || !isfinite(s->num_steps))
            return dk_error_set(err, DK_EINVAL,
                                "lr schedule 'exponential': num_steps = %g must be > 0 (the number "
                                "of steps over which lr is multiplied by decay)",
                                s->num_steps);
        if (!(s->decay > 0.0) || !isfinite(s->decay))
            return dk_error_set(err, DK_EINVAL, "lr schedule 'exponential': decay = %g must be > 0",
                                s->decay);
        return DK_OK;
    }
    return dk_error_set(err, DK_EINVAL, "lr schedule: unknown kind %d", (int)s->kind);
}

/* k_diffusion/utils.py: InverseLR, ExponentialLR, ConstantLRWithWarmup
 * (_get_closed_form_lr with last_epoch = step). */
double dk_lr_sched_value(const dk_lr_sched *s, double base, int64_t step) {
    double warm = 1.0 - pow(s->warmup, (double)step + 1.0);
    double v;
    switch (s->kind) {
    case DK_LR_INVERSE: {
        double mult = pow(1.0 + (double)step / s->inv_gamma, -s->power);
        v = base * mult;
        break;
    }
    case DK_LR_EXPONENTIAL: {
        double mult = pow(pow(s->decay, 1.0 / s->num_steps), (double)step);
        v = base * mult;
        break;
    }
    case DK_LR_CONSTANT:
    default: return warm * base;
    }
    return warm * (v < s->min_lr ? s->min_lr : v);
}

/* ---- optimizer ------------------------------------------------------------ */

struct dk_optim {
    dk_params *params;
    dk_optim_config cfg;
    int has_sched;
    dk_lr_sched sched;
    int64_t step;
    size_t numel;   /* whole block */
    void *m;        /* AdamW exp_avg | SGD momentum buffer; NULL if unused */
    void *v;        /* AdamW exp_avg_sq */
    dk_device dev;  /* where m and v live: the parameters' device when the optimizer was made */
};

dk_optim_config dk_optim_config_default(dk_optim_kind kind) {
    dk_optim_config c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    c.lr = 1e-3;
    c.beta1 = 0.9;
    c.beta2 = 0.999;
    c.eps = 1e-8;
    c.weight_decay = kind == DK_OPTIM_ADAMW ? 1e-2 : 0.0;
    c.momentum = 0.0;
    c.dampening = 0.0;
    c.nesterov = 0;
    return c;
}

const char *dk_optim_kind_name(dk_optim_kind k) {
    switch (k) {
    case DK_OPTIM_ADAMW: return "adamw";
    case DK_OPTIM_SGD: return "sgd";
    }
    return "?";
}

int dk_optim_kind_from_name(const char *name, dk_optim_kind *out) {
    if (!name) return -1;
    if (strcmp(name, "adamw") == 0) {
        if (out) *out = DK_OPTIM_ADAMW;
        return 0;
    }
    if (strcmp(name, "sgd") == 0) {
        if (out) *out = DK_OPTIM_SGD;
        return 0;
    }
    return -1;
}

static dk_status check_config(const dk_optim_config *c, dk_error *err) {
    const char *k = dk_optim_kind_name(c->kind);
    if (c->kind != DK_OPTIM_ADAMW && c->kind != DK_OPTIM_SGD)
        return dk_error_set(err, DK_EINVAL, "optimizer: unknown kind %d (adamw or sgd)", (int)c->kind);
    if (!(c->lr >= 0.0) || !isfinite(c->lr))
        return dk_error_set(err, DK_EINVAL, "optimizer '%s': lr = %g must be >= 0", k, c->lr);
    if (!(c->weight_decay >= 0.0) || !isfinite(c->weight_decay))
        return dk_error_set(err, DK_EINVAL, "optimizer '%s': weight_decay = %g must be >= 0", k,
                            c->weight_decay);
    if (c->kind == DK_OPTIM_ADAMW) {
        if (!(c->beta1 >= 0.0 && c->beta1 < 1.0) || !(c->beta2 >= 0.0 && c->beta2 < 1.0))
            return dk_error_set(err, DK_EINVAL,
                                "optimizer 'adamw': betas = {%g, %g} must each be in [0, 1)",
                                c->beta1, c->beta2);
        if (!(c->eps >= 0.0))
            return dk_error_set(err, DK_EINVAL, "optimizer 'adamw': eps = %g must be >= 0", c->eps);
    } else {
        if (!(c->momentum >= 0.0) || !isfinite(c->momentum))
            return dk_error_set(err, DK_EINVAL, "optimizer 'sgd': momentum = %g must be >= 0",
                                c->momentum);
        if (!isfinite(c->dampening))
            return dk_error_set(err, DK_EINVAL, "optimizer 'sgd': dampening = %g must be finite",
                                c->dampening);
        if (c->nesterov && (c->momentum <= 0.0 || c->dampening != 0.0))
            return dk_error_set(err, DK_EINVAL,
                                "optimizer 'sgd': nesterov needs momentum > 0 and dampening 0 "
                                "(got momentum %g, dampening %g)",
                                c->momentum, c->dampening);
    }
    return DK_OK;
}

dk_optim *dk_optim_new(dk_params *params, const dk_optim_config *cfg, dk_error *err) {
    if (!params || !cfg) {
        dk_error_set(err, DK_EINVAL, "optimizer: NULL parameter store or config");
        return NULL;
    }
    if (check_config(cfg, err) != DK_OK) return NULL;
    dk_dtype dt = dk_params_dtype(params);
    if (dt != DK_F32 && dt != DK_F64) {
        dk_error_set(err, DK_EINVAL, "optimizer '%s': parameters are %s; only F32 and F64 are supported",
                     dk_optim_kind_name(cfg->kind), dk_dtype_name(dt));
        return NULL;
    }
    if (!dk_params_data(params) || !dk_params_grad(params)) {
        dk_error_set(err, DK_ESTATE,
                     "optimizer '%s': the parameter store is not finalized: call dk_params_finalize first",
                     dk_optim_kind_name(cfg->kind));
        return NULL;
    }
    dk_optim *o = calloc(1, sizeof *o);
    if (!o) {
        dk_error_set(err, DK_ENOMEM, "optimizer: out of memory");
        return NULL;
    }
    o->params = params;
    o->cfg = *cfg;
    o->numel = dk_params_numel(params, 0);
    size_t bytes = o->numel * dk_dtype_size(dt);
    int need_m = cfg->kind == DK_OPTIM_ADAMW || cfg->momentum != 0.0;
    int need_v = cfg->kind == DK_OPTIM_ADAMW;
    o->dev = dk_params_device(params); /* the state lives beside the parameters */
    const dk_backend *be = dk_backend_get(o->dev, err);
    if (!be) goto fail;
    if (need_m && !(o->m = be->alloc(bytes, err))) goto fail;
    if (need_v && !(o->v = be->alloc(bytes, err))) goto fail;
    return o;
fail:
    dk_error_prefix(err, "optimizer '%s': the state of %zu parameters on %s", dk_optim_kind_name(cfg->kind), o->numel,
                    dk_device_name(o->dev));
    dk_optim_free(o);
    return NULL;
}

void dk_optim_free(dk_optim *o) {
    if (!o) return;
    const dk_backend *be = dk_backend_get(o->dev, NULL);
    if (be) {
        be->free(o->m);
        be->free(o->v);
    }
    free(o);
}

const dk_optim_config *dk_optim_config_of(const dk_optim *o) { return &o->cfg; }

dk_status dk_optim_set_schedule(dk_optim *o, const dk_lr_sched *s, dk_error *err) {
    if (!s) {
        o->has_sched = 0;
        return DK_OK;
    }
    DK_TRY(dk_lr_sched_check(s, err));
    o->sched = *s;
    o->has_sched = 1;
    return DK_OK;
}

void dk_optim_set_lr(dk_optim *o, double lr) { o->cfg.lr = lr; }

static double group_lr(const dk_optim *o, double lr_scale) {
    double base = o->cfg.lr * lr_scale;
    return o->has_sched ? dk_lr_sched_value(&o->sched, base, o->step) : base;
}

double dk_optim_current_lr(const dk_optim *o) { return group_lr(o, 1.0); }

int64_t dk_optim_steps(const dk_optim *o) { return o->step; }

static int trainable(const dk_param *p) { return !(p->tags & DK_PARAM_FROZEN); }

/* ---- the kernels run on the parameters' device (backend/<device>/k_train) ---- */

/* The backend of the store's device (it exists: the store was moved there). */
static const dk_backend *backend_of(dk_params *ps) { return dk_backend_get(dk_params_device(ps), NULL); }
#define TCALL(be, dt, fn, ...) ((dt) == DK_F32 ? (be)->f32->fn(__VA_ARGS__) : (be)->f64->fn(__VA_ARGS__))

int dk_grad_all_finite(dk_params *ps, const char **name) {
    dk_dtype dt = dk_params_dtype(ps);
    size_t es = dk_dtype_size(dt);
    char *gb = dk_params_grad(ps);
    const dk_backend *be = backend_of(ps);
    size_t np = dk_params_count(ps);
    for (size_t k = 0; k < np; k++) {
        dk_param *p = dk_params_at(ps, k);
        if (!trainable(p)) continue;
        if (!TCALL(be, dt, dk_k_all_finite, (void *)(gb + p->offset * es), p->var.value->numel)) {
            if (name) *name = p->var.name;
            return 0;
        }
    }
    return 1;
}

dk_status dk_optim_step(dk_optim *o, dk_error *err) {
    dk_params *ps = o->params;
    if (dk_params_device(ps) != o->dev)
        return dk_error_set(err, DK_ESTATE, "optimizer '%s': its state is on %s but the parameters are on %s: move the "
                            "parameters before making the optimizer", dk_optim_kind_name(o->cfg.kind),
                            dk_device_name(o->dev), dk_device_name(dk_params_device(ps)));
    const char *bad = NULL;
    if (!dk_grad_all_finite(ps, &bad))
        return dk_error_set(err, DK_ENUMERIC,
                            "optimizer '%s' step %lld: the gradient of '%s' contains NaN or Inf; "
                            "no parameter was changed (lower the lr, clip gradients, or check the loss)",
                            dk_optim_kind_name(o->cfg.kind), (long long)o->step, bad ? bad : "?");
    dk_dtype dt = dk_params_dtype(ps);
    size_t es = dk_dtype_size(dt);
    char *pb = dk_params_data(ps), *gb = dk_params_grad(ps);
    char *mb = o->m, *vb = o->v;
    const dk_backend *be = backend_of(ps);
    size_t np = dk_params_count(ps);
    int64_t t = o->step + 1;
    for (size_t k = 0; k < np; k++) {
        dk_param *p = dk_params_at(ps, k);
        if (!trainable(p)) continue;
        size_t n = p->var.value->numel, off = p->offset * es;
        double lr = group_lr(o, p->lr_scale);
        double wd = (p->tags & DK_PARAM_NO_DECAY) ? 0.0 : o->cfg.weight_decay;
        if (o->cfg.kind == DK_OPTIM_ADAMW)
            TCALL(be, dt, dk_k_adamw, (void *)(pb + off), (void *)(gb + off), (void *)(mb + off), (void *)(vb + off), n,
                  lr, wd, o->cfg.beta1, o->cfg.beta2, o->cfg.eps, t);
        else
            TCALL(be, dt, dk_k_sgd, (void *)(pb + off), (void *)(gb + off), mb ? (void *)(mb + off) : NULL, n, lr, wd,
                  o->cfg.momentum, o->cfg.dampening, o->cfg.nesterov, o->step == 0);
    }
    o->step = t;
    return DK_OK;
}

/* ---- groups ---- */

static size_t collect_groups(const dk_optim *o, dk_optim_group_info *out, size_t cap) {
    dk_params *ps = o->params;
    size_t ng = 0, np = dk_params_count(ps);
    dk_optim_group_info tmp[64];
    dk_optim_group_info *g = out ? out : tmp;
    if (!out) cap = sizeof tmp / sizeof tmp[0];
    for (size_t k = 0; k < np; k++) {
        dk_param *p = dk_params_at(ps, k);
        if (!trainable(p)) continue;
        double wd = (p->tags & DK_PARAM_NO_DECAY) ? 0.0 : o->cfg.weight_decay;
        size_t j = 0;
        for (; j < ng && j < cap; j++)
            if (g[j].weight_decay == wd && g[j].lr_scale == p->lr_scale) break;
        if (j == ng) {
            if (ng >= cap) continue; /* more distinct groups than a log needs */
            g[ng].weight_decay = wd;
            g[ng].lr_scale = p->lr_scale;
            g[ng].n_params = 0;
            g[ng].numel = 0;
            ng++;
        }
        g[j].n_params++;
        g[j].numel += p->var.value->numel;
    }
    return ng;
}

size_t dk_optim_group_count(const dk_optim *o) { return collect_groups(o, NULL, 0); }

dk_status dk_optim_group(const dk_optim *o, size_t i, dk_optim_group_info *out, dk_error *err) {
    dk_optim_group_info g[64];
    size_t n = collect_groups(o, g, 64);
    if (i >= n)
        return dk_error_set(err, DK_EINVAL, "optimizer: group %zu does not exist (%zu groups)", i, n);
    *out = g[i];
    return DK_OK;
}

/* ---- state save / load ---- */

static dk_status state_name(char *buf, size_t n, const char *what, const char *param, dk_error *err) {
    int k = snprintf(buf, n, "optim.%s.%s", what, param);
    if (k < 0 || (size_t)k >= n)
        return dk_error_set(err, DK_EINVAL, "optimizer: parameter name '%s' is too long", param);
    return DK_OK;
}

/* host <-> state copies through the backend of the state's device */
static dk_status copy_state(void *dst, const void *src, size_t bytes, dk_device dev, int to_host, dk_error *err) {
    const dk_backend *be = dk_backend_get(dev, err);
    if (!be) return err ? err->code : DK_EUNSUPPORTED;
    return to_host ? be->to_host(dst, src, bytes, err) : be->from_host(dst, src, bytes, err);
}

/* Adds a copy of the state slice of parameter p to the writer. */
static dk_status add_slice(dk_st_writer *w, const char *name, const dk_param *p, const char *block,
                           dk_dtype dt, dk_device dev, dk_error *err) {
    const dk_tensor *pv = p->var.value;
    dk_tensor *t = dk_tensor_new(dt, pv->ndim, pv->shape, err);
    if (!t) return err ? err->code : DK_ENOMEM;
    dk_status s = copy_state(t->data, block + p->offset * dk_dtype_size(dt), pv->numel * dk_dtype_size(dt), dev, 1, err);
    if (!s) s = dk_st_writer_add(w, name, t, err);
    dk_tensor_free(t); /* the writer keeps its own reference */
    return s;
}

dk_status dk_optim_save(const dk_optim *o, dk_st_writer *w, dk_error *err) {
    dk_params *ps = o->params;
    dk_dtype dt = dk_params_dtype(ps);
    char name[1024], num[32];
    size_t np = dk_params_count(ps);
    for (size_t k = 0; k < np; k++) {
        dk_param *p = dk_params_at(ps, k);
        if (!trainable(p)) continue;
        if (o->cfg.kind == DK_OPTIM_ADAMW) {
            DK_TRY(state_name(name, sizeof name, "m", p->var.name, err));
            DK_TRY(add_slice(w, name, p, o->m, dt, o->dev, err));
            DK_TRY(state_name(name, sizeof name, "v", p->var.name, err));
            DK_TRY(add_slice(w, name, p, o->v, dt, o->dev, err));
        } else if (o->m) {
            DK_TRY(state_name(name, sizeof name, "momentum", p->var.name, err));
            DK_TRY(add_slice(w, name, p, o->m, dt, o->dev, err));
        }
    }
    DK_TRY(dk_st_writer_meta(w, "optim.kind", dk_optim_kind_name(o->cfg.kind), err));
    snprintf(num, sizeof num, "%lld", (long long)o->step);
    return dk_st_writer_meta(w, "optim.step", num, err);
}

static dk_status load_slice(const dk_st_file *f, const char *name, const dk_param *p, char *block,
                            dk_dtype dt, dk_device dev, dk_error *err) {
    dk_tensor *t = dk_st_get_as(f, name, dt, err);
    if (!t) return err ? err->code : DK_EFORMAT;
    dk_status s = copy_state(block + p->offset * dk_dtype_size(dt), t->data, t->numel * dk_dtype_size(dt), dev, 0, err);
    dk_tensor_free(t);
    return s;
}

/* The state names of this optimizer's kind (NULL-terminated) and their blocks. */
static int state_kinds(const dk_optim *o, const char *whats[2], char *blocks[2]) {
    whats[0] = whats[1] = NULL;
    blocks[0] = blocks[1] = NULL;
    if (o->cfg.kind == DK_OPTIM_ADAMW) {
        whats[0] = "m"; blocks[0] = o->m;
        whats[1] = "v"; blocks[1] = o->v;
        return 2;
    }
    if (o->m) {
        whats[0] = "momentum"; blocks[0] = o->m;
        return 1;
    }
    return 0;
}

dk_status dk_optim_check(const dk_optim *o, const dk_st_file *f, dk_error *err) {
    dk_params *ps = o->params;
    const char *kind = dk_st_meta(f, "optim.kind");
    if (!kind)
        return dk_error_set(err, DK_ENOTFOUND,
                            "checkpoint '%s' has no optimizer state (metadata 'optim.kind' missing)",
                            dk_st_label(f));
    if (strcmp(kind, dk_optim_kind_name(o->cfg.kind)) != 0)
        return dk_error_set(err, DK_EINVAL,
                            "checkpoint '%s' holds '%s' optimizer state, the run uses '%s': resume "
                            "with the same optimizer or start the optimizer afresh",
                            dk_st_label(f), kind, dk_optim_kind_name(o->cfg.kind));
    long long step;
    DK_TRY(dk_st_meta_int(f, "optim.step", &step, err));
    if (step < 0)
        return dk_error_set(err, DK_EFORMAT, "checkpoint '%s': optim.step = %lld is negative",
                            dk_st_label(f), step);
    char name[1024];
    const char *whats[2];
    char *blocks[2];
    int nk = state_kinds(o, whats, blocks);
    size_t np = dk_params_count(ps);
    for (size_t k = 0; k < np; k++) {
        dk_param *p = dk_params_at(ps, k);
        if (!trainable(p)) continue;
        for (int j = 0; j < nk; j++) {
            DK_TRY(state_name(name, sizeof name, whats[j], p->var.name, err));
            DK_TRY(dk_checkpoint_check_entry(f, name, p->var.value, "optimizer state", err));
        }
    }
    return DK_OK;
}

dk_status dk_optim_load(dk_optim *o, const dk_st_file *f, dk_error *err) {
    dk_params *ps = o->params;
    dk_dtype dt = dk_params_dtype(ps);
    DK_TRY(dk_optim_check(o, f, err)); /* validate everything first: a failed load changes nothing */
    long long step;
    DK_TRY(dk_st_meta_int(f, "optim.step", &step, err));
    char name[1024];
    const char *whats[2];
    char *blocks[2];
    int nk = state_kinds(o, whats, blocks);
    size_t np = dk_params_count(ps);
    for (size_t k = 0; k < np; k++) {
        dk_param *p = dk_params_at(ps, k);
        if (!trainable(p)) continue;
        for (int j = 0; j < nk; j++) {
            DK_TRY(state_name(name, sizeof name, whats[j], p->var.name, err));
            DK_TRY(load_slice(f, name, p, blocks[j], dt, o->dev, err));
        }
    }
    o->step = step;
    return DK_OK;
}
/* ---- gradients ---- */

double dk_grad_norm(dk_params *ps) {
    dk_dtype dt = dk_params_dtype(ps);
    size_t es = dk_dtype_size(dt);
    const char *gb = dk_params_grad(ps);
    const dk_backend *be = backend_of(ps);
    size_t np = dk_params_count(ps);
    double sum = 0.0;
    for (size_t k = 0; k < np; k++) {
        dk_param *p = dk_params_at(ps, k);
        if (trainable(p)) sum = TCALL(be, dt, dk_k_sumsq, (const void *)(gb + p->offset * es), p->var.value->numel, sum);
    }
    return sqrt(sum);
}

void dk_grad_scale(dk_params *ps, double s) {
    dk_dtype dt = dk_params_dtype(ps);
    size_t es = dk_dtype_size(dt);
    char *gb = dk_params_grad(ps);
    const dk_backend *be = backend_of(ps);
    size_t np = dk_params_count(ps);
    for (size_t k = 0; k < np; k++) {
        dk_param *p = dk_params_at(ps, k);
        if (trainable(p)) TCALL(be, dt, dk_k_scale, (void *)(gb + p->offset * es), p->var.value->numel, s);
    }
}

double dk_grad_clip(dk_params *ps, double max_norm) {
    double norm = dk_grad_norm(ps);
    if (!isfinite(norm)) return norm;
    double coef = max_norm / (norm + 1e-6);
    if (coef < 1.0) dk_grad_scale(ps, coef);
    return norm;
}

void dk_grad_accum_finish(dk_params *ps, int k) {
    if (k > 1) dk_grad_scale(ps, 1.0 / (double)k);
}
