/* ema.c: EMA of a parameter store with k-diffusion's inverse-power warmup
 * (EMAWarmup) or a fixed decay (DiT). Formulas in ema.h. */
#include "diffkit/ema.h"
#include "backend/backend.h"
#include "diffkit/checkpoint.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dk_ema {
    dk_params *params;
    dk_ema_config cfg;
    int64_t step;
    size_t numel;
    void *data;           /* on dev */
    dk_device dev;        /* the parameters' device when the EMA was made */
    const dk_backend *be; /* its backend */
};

dk_ema_config dk_ema_config_default(dk_ema_kind kind) {
    dk_ema_config c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    c.inv_gamma = 1.0;
    c.power = 2.0 / 3.0;
    c.min_value = 0.0;
    c.max_value = 0.9999;
    c.start_at = 0;
    c.decay = 0.9999;
    return c;
}

dk_status dk_ema_config_check(const dk_ema_config *c, dk_error *err) {
    if (!c) return dk_error_set(err, DK_EINVAL, "ema: NULL config");
    if (c->kind == DK_EMA_FIXED) {
        if (!(c->decay >= 0.0 && c->decay <= 1.0))
            return dk_error_set(err, DK_EINVAL, "ema: decay = %g is outside [0, 1] (DiT uses 0.9999)",
                                c->decay);
        return DK_OK;
    }
    if (c->kind != DK_EMA_WARMUP)
        return dk_error_set(err, DK_EINVAL, "ema: unknown kind %d (warmup or fixed)", (int)c->kind);
    if (!(c->inv_gamma > 0.0) || !isfinite(c->inv_gamma))
        return dk_error_set(err, DK_EINVAL, "ema: inv_gamma = %g must be > 0 (k-diffusion uses 1)",
                            c->inv_gamma);
    if (!(c->power > 0.0) || !isfinite(c->power))
        return dk_error_set(err, DK_EINVAL, "ema: power = %g must be > 0 (typical: 2/3 or 3/4)", c->power);
    if (!(c->min_value >= 0.0 && c->min_value <= c->max_value && c->max_value <= 1.0))
        return dk_error_set(err, DK_EINVAL,
                            "ema: need 0 <= min_value <= max_value <= 1 (got min %g, max %g)",
                            c->min_value, c->max_value);
    if (c->start_at < 0)
        return dk_error_set(err, DK_EINVAL, "ema: start_at = %lld must be >= 0", (long long)c->start_at);
    return DK_OK;
}

/* k_diffusion/utils.py EMAWarmup.get_value with last_epoch = step. */
double dk_ema_decay_at(const dk_ema_config *c, int64_t step) {
    if (c->kind == DK_EMA_FIXED) return c->decay;
    int64_t s = step - c->start_at;
    if (s < 0) s = 0;
    double v = 1.0 - pow(1.0 + (double)s / c->inv_gamma, -c->power);
    if (v < c->min_value) v = c->min_value;
    if (v > c->max_value) v = c->max_value;
    return v;
}

dk_ema *dk_ema_new(dk_params *params, const dk_ema_config *c, dk_error *err) {
    if (!params) {
        dk_error_set(err, DK_EINVAL, "ema: NULL parameter store");
        return NULL;
    }
    if (dk_ema_config_check(c, err) != DK_OK) return NULL;
    dk_dtype dt = dk_params_dtype(params);
    if (dt != DK_F32 && dt != DK_F64) {
        dk_error_set(err, DK_EINVAL, "ema: parameters are %s; only F32 and F64 are supported",
                     dk_dtype_name(dt));
        return NULL;
    }
    if (!dk_params_data(params)) {
        dk_error_set(err, DK_ESTATE, "ema: the parameter store is not finalized: call dk_params_finalize first");
        return NULL;
    }
    dk_ema *e = calloc(1, sizeof *e);
    if (!e) {
        dk_error_set(err, DK_ENOMEM, "ema: out of memory");
        return NULL;
    }
    e->params = params;
    e->cfg = *c;
    e->numel = dk_params_numel(params, 0);
    e->dev = dk_params_device(params); /* the average lives beside the parameters */
    e->be = dk_backend_get(e->dev, err);
    e->data = e->be ? e->be->alloc(e->numel * dk_dtype_size(dt), err) : NULL;
    if (!e->data) {
        dk_error_prefix(err, "ema: the average of %zu parameters on %s", e->numel, dk_device_name(e->dev));
        free(e);
        return NULL;
    }
    dk_ema_reset(e);
    return e;
}

void dk_ema_free(dk_ema *e) {
    if (!e) return;
    e->be->free(e->data);
    free(e);
}

void dk_ema_reset(dk_ema *e) {
    e->be->copy(e->data, dk_params_data(e->params), e->numel * dk_dtype_size(dk_params_dtype(e->params)), NULL);
}

int64_t dk_ema_steps(const dk_ema *e) { return e->step; }
double dk_ema_next_decay(const dk_ema *e) { return dk_ema_decay_at(&e->cfg, e->step); }
void *dk_ema_data(dk_ema *e) { return e->data; }

double dk_ema_update(dk_ema *e) {
    if (!e) return NAN;
    double decay = dk_ema_decay_at(&e->cfg, e->step);
    dk_params *ps = e->params;
    dk_dtype dt = dk_params_dtype(ps);
    size_t es = dk_dtype_size(dt), np = dk_params_count(ps);
    const char *pb = dk_params_data(ps);
    char *eb = e->data;
    for (size_t k = 0; k < np; k++) {
        dk_param *p = dk_params_at(ps, k);
        size_t n = p->var.value->numel, off = p->offset * es;
        if (p->tags & DK_PARAM_FROZEN)
            e->be->copy(eb + off, pb + off, n * es, NULL);
        else if (dt == DK_F32)
            e->be->f32->dk_k_ema((float *)(eb + off), (const float *)(pb + off), n, decay);
        else
            e->be->f64->dk_k_ema((double *)(eb + off), (const double *)(pb + off), n, decay);
    }
    e->step++;
    return decay;
}

dk_status dk_ema_copy_to(const dk_ema *e, dk_params *dst, dk_error *err) {
    dk_params *src = e->params;
    size_t np = dk_params_count(src);
    if (dk_params_dtype(dst) != dk_params_dtype(src) || dk_params_count(dst) != np ||
        dk_params_numel(dst, 0) != e->numel)
        return dk_error_set(err, DK_ESHAPE,
                            "ema: the target store has %zu parameters (%zu values, %s), the EMA has "
                            "%zu (%zu values, %s): copy into a store of the same model",
                            dk_params_count(dst), dk_params_numel(dst, 0),
                            dk_dtype_name(dk_params_dtype(dst)), np, e->numel,
                            dk_dtype_name(dk_params_dtype(src)));
    for (size_t k = 0; k < np; k++) {
        dk_param *a = dk_params_at(src, k), *b = dk_params_at(dst, k);
        if (a->offset != b->offset || !dk_tensor_same_shape(a->var.value, b->var.value) ||
            strcmp(a->var.name, b->var.name) != 0)
            return dk_error_set(err, DK_ESHAPE,
                                "ema: parameter %zu is '%s' in the EMA and '%s' in the target store: "
                                "copy into a store of the same model",
                                k, a->var.name, b->var.name);
    }
    if (dk_params_device(dst) != e->dev)
        return dk_error_set(err, DK_EINVAL, "ema: the average is on %s, the target store on %s: move the store first",
                            dk_device_name(e->dev), dk_device_name(dk_params_device(dst)));
    return e->be->copy(dk_params_data(dst), e->data, e->numel * dk_dtype_size(dk_params_dtype(src)), err);
}

static dk_status ema_name(char *buf, size_t n, const char *param, dk_error *err) {
    int k = snprintf(buf, n, "ema.%s", param);
    if (k < 0 || (size_t)k >= n)
        return dk_error_set(err, DK_EINVAL, "ema: parameter name '%s' is too long", param);
    return DK_OK;
}

dk_status dk_ema_save(const dk_ema *e, dk_st_writer *w, dk_error *err) {
    dk_params *ps = e->params;
    dk_dtype dt = dk_params_dtype(ps);
    size_t es = dk_dtype_size(dt), np = dk_params_count(ps);
    char name[1024], num[32];
    for (size_t k = 0; k < np; k++) {
        dk_param *p = dk_params_at(ps, k);
        DK_TRY(ema_name(name, sizeof name, p->var.name, err));
        dk_tensor *t = dk_tensor_new(dt, p->var.value->ndim, p->var.value->shape, err);
        if (!t) return err ? err->code : DK_ENOMEM;
        dk_status s = e->be->to_host(t->data, (const char *)e->data + p->offset * es, t->numel * es, err);
        if (!s) s = dk_st_writer_add(w, name, t, err);
        dk_tensor_free(t);
        DK_TRY(s);
    }
    snprintf(num, sizeof num, "%lld", (long long)e->step);
    return dk_st_writer_meta(w, "ema.step", num, err);
}

dk_status dk_ema_check(const dk_ema *e, const dk_st_file *f, dk_error *err) {
    dk_params *ps = e->params;
    size_t np = dk_params_count(ps);
    char name[1024];
    long long step;
    if (!dk_st_meta(f, "ema.step"))
        return dk_error_set(err, DK_ENOTFOUND, "checkpoint '%s' has no EMA (metadata 'ema.step' missing)",
                            dk_st_label(f));
    DK_TRY(dk_st_meta_int(f, "ema.step", &step, err));
    if (step < 0)
        return dk_error_set(err, DK_EFORMAT, "checkpoint '%s': ema.step = %lld is negative",
                            dk_st_label(f), step);
    for (size_t k = 0; k < np; k++) {
        dk_param *p = dk_params_at(ps, k);
        DK_TRY(ema_name(name, sizeof name, p->var.name, err));
        DK_TRY(dk_checkpoint_check_entry(f, name, p->var.value, "EMA parameter", err));
    }
    return DK_OK;
}

dk_status dk_ema_load(dk_ema *e, const dk_st_file *f, dk_error *err) {
    dk_params *ps = e->params;
    dk_dtype dt = dk_params_dtype(ps);
    size_t es = dk_dtype_size(dt), np = dk_params_count(ps);
    char name[1024];
    long long step;
    DK_TRY(dk_ema_check(e, f, err));
    DK_TRY(dk_st_meta_int(f, "ema.step", &step, err));
    for (size_t k = 0; k < np; k++) {
        dk_param *p = dk_params_at(ps, k);
        DK_TRY(ema_name(name, sizeof name, p->var.name, err));
        dk_tensor *t = dk_st_get_as(f, name, dt, err);
        if (!t) return err ? err->code : DK_EFORMAT;
        dk_status s = e->be->from_host((char *)e->data + p->offset * es, t->data, t->numel * es, err);
        dk_tensor_free(t);
        DK_TRY(s);
    }
    e->step = step;
    return DK_OK;
}
