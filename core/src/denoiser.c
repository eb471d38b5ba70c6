/* denoiser.c: model + preconditioner (+ classifier-free guidance) as a
 * sampler's denoise callback. See denoiser.h. */
#include "diffkit/denoiser.h"
#include "diffkit/cuda.h"
#include <stdlib.h>
#include <string.h>

struct dk_denoiser {
    dk_instance *model, *precond;
    dk_graph *g;
    dk_model_info info;
    dk_dtype dtype;
    int64_t *labels;   /* [n_labels] or NULL */
    int64_t n_labels;
    double cfg;
    uint64_t calls;
};

dk_denoiser *dk_denoiser_new(dk_instance *model, dk_instance *precond, dk_error *err) {
    if (!model || !precond || model->plugin->kind != DK_KIND_MODEL || precond->plugin->kind != DK_KIND_PRECOND) {
        dk_error_set(err, DK_EINVAL, "denoiser: needs a model instance and a precond instance");
        return NULL;
    }
    dk_denoiser *d = calloc(1, sizeof *d);
    if (!d) { dk_error_set(err, DK_ENOMEM, "denoiser: out of memory"); return NULL; }
    d->model = model;
    d->precond = precond;
    d->cfg = 1.0;
    d->dtype = model->params ? dk_params_dtype(model->params) : DK_F32;
    if (dk_model_vt(model)->describe) dk_model_vt(model)->describe(model->self, &d->info);
    d->g = dk_graph_new();
    if (!d->g) { free(d); dk_error_set(err, DK_ENOMEM, "denoiser: out of memory"); return NULL; }
    dk_graph_set_grad(d->g, 0);
    return d;
}

void dk_denoiser_free(dk_denoiser *d) {
    if (!d) return;
    dk_graph_free(d->g);
    free(d->labels);
    free(d);
}

dk_status dk_denoiser_set_labels(dk_denoiser *d, const int64_t *labels, int64_t batch, dk_error *err) {
    free(d->labels);
    d->labels = NULL;
    d->n_labels = 0;
    if (!labels) return DK_OK;
    if (d->info.num_classes <= 0)
        return dk_error_set(err, DK_EINVAL, "denoiser: class labels given but model '%s' is unconditional (num_classes = 0)",
                            d->model->plugin->name);
    for (int64_t i = 0; i < batch; i++)
        if (labels[i] < 0 || labels[i] > d->info.num_classes)
            return dk_error_set(err, DK_EINVAL, "denoiser: class label %lld at %lld is outside [0, %lld] (%lld = null label)",
                                (long long)labels[i], (long long)i, (long long)d->info.num_classes,
                                (long long)d->info.num_classes);
    d->labels = malloc((size_t)batch * sizeof *labels);
    if (!d->labels) return dk_error_set(err, DK_ENOMEM, "denoiser: out of memory");
    memcpy(d->labels, labels, (size_t)batch * sizeof *labels);
    d->n_labels = batch;
    return DK_OK;
}

dk_status dk_denoiser_set_cfg(dk_denoiser *d, double w, dk_error *err) {
    if (!(w == w)) return dk_error_set(err, DK_EINVAL, "denoiser: cfg scale is NaN");
    if (w != 1.0 && d->info.num_classes <= 0)
        return dk_error_set(err, DK_EINVAL, "denoiser: cfg scale %g needs a class-conditional model; '%s' has no classes (use cfg = 1)",
                            w, d->model->plugin->name);
    d->cfg = w;
    return DK_OK;
}

uint64_t dk_denoiser_calls(const dk_denoiser *d) { return d->calls; }

/* denoised[b] = c_skip[b] x[b] + c_out[b] out[b] for the first C channels of out. */
static void combine_default(const dk_tensor *x, const dk_tensor *out64, const double *c_skip, const double *c_out,
                            int64_t B, dk_tensor *den) {
    size_t P = x->numel / (size_t)B, Po = out64->numel / (size_t)B;
    const double *xs = dk_f64(x), *os = dk_f64(out64);
    double *ds = dk_f64(den);
    for (int64_t b = 0; b < B; b++)
        for (size_t i = 0; i < P; i++)
            ds[(size_t)b * P + i] = c_skip[b] * xs[(size_t)b * P + i] + c_out[b] * os[(size_t)b * Po + i];
}

dk_status dk_denoiser_denoise(void *ctx, const dk_tensor *x, const double *sigma, dk_tensor *denoised,
                              dk_tensor *aux, dk_error *err) {
    dk_denoiser *d = ctx;
    const dk_precond_vtable *pv = dk_precond_vt(d->precond);
    const dk_model_vtable *mv = dk_model_vt(d->model);
    dk_status st = DK_OK;
    if (x->dtype != DK_F64 || denoised->dtype != DK_F64 || !dk_tensor_same_shape(x, denoised) || x->ndim < 2)
        return dk_error_set(err, DK_ESHAPE, "denoiser: x and denoised must be F64 tensors of the same shape [B, ...]");
    int64_t B = x->shape[0];
    if (d->labels && d->n_labels != B)
        return dk_error_set(err, DK_ESHAPE, "denoiser: %lld class labels set for a batch of %lld",
                            (long long)d->n_labels, (long long)B);
    int guided = d->cfg != 1.0 && d->info.num_classes > 0;
    int64_t NB = guided ? 2 * B : B;
    size_t P = x->numel / (size_t)B;

    double *sc = malloc(sizeof(double) * 5 * (size_t)NB);
    int64_t *lab = NULL;
    dk_tensor *xin = NULL, *cn = NULL, *out64 = NULL, *x2 = NULL, *den2 = NULL, *aux2 = NULL;
    if (!sc) return dk_error_set(err, DK_ENOMEM, "denoiser: out of memory");
    double *c_skip = sc, *c_out = sc + NB, *c_in = sc + 2 * NB, *c_noise = sc + 3 * NB, *sig = sc + 4 * NB;
    for (int64_t b = 0; b < NB; b++) sig[b] = sigma[b % B];
    st = pv->scalings(d->precond->self, (size_t)NB, sig, c_skip, c_out, c_in, c_noise, err);
    if (!st) st = dk_precond_check_scalings(d->precond->plugin, (size_t)NB, sig, c_skip, c_out, c_in, c_noise, err);
    if (st) goto done;

    int64_t shp[DK_MAX_DIMS];
    memcpy(shp, x->shape, sizeof shp);
    shp[0] = NB;
    xin = dk_tensor_new(d->dtype, x->ndim, shp, err);
    cn = dk_tensor_new(d->dtype, 1, &NB, err);
    if (!xin || !cn) { st = err ? err->code : DK_ENOMEM; goto done; }
    for (int64_t b = 0; b < NB; b++) {
        const double *xs = dk_f64(x) + (size_t)(b % B) * P;
        if (d->dtype == DK_F32) {
            float *o = dk_f32(xin) + (size_t)b * P;
            for (size_t i = 0; i < P; i++) o[i] = (float)(c_in[b] * xs[i]);
            dk_f32(cn)[b] = (float)c_noise[b];
        } else {
            double *o = dk_f64(xin) + (size_t)b * P;
            for (size_t i = 0; i < P; i++) o[i] = c_in[b] * xs[i];
            dk_f64(cn)[b] = c_noise[b];
        }
    }
    if (d->info.num_classes > 0) {
        lab = malloc(sizeof(int64_t) * (size_t)NB);
        if (!lab) { st = dk_error_set(err, DK_ENOMEM, "denoiser: out of memory"); goto done; }
        for (int64_t b = 0; b < NB; b++)
            lab[b] = (b < B && d->labels) ? d->labels[b] : d->info.num_classes;
    }

    /* The sampler works in F64 on the host; the model runs on its parameters'
     * device: its two inputs go there and its output comes back (the one
     * crossing per model call). */
    dk_device dev = dk_params_device(d->model->params);
    if (dev != DK_CPU) {
        dk_tensor *xd = dk_tensor_to_device(xin, dev, err), *cd = xd ? dk_tensor_to_device(cn, dev, err) : NULL;
        dk_tensor_free(xin);
        dk_tensor_free(cn);
        xin = xd, cn = cd;
        if (!xin || !cn) { st = dk_error_prefix(err, "denoiser: model inputs to %s", dk_device_name(dev)); goto done; }
    }
    dk_graph_reset(d->g);
    dk_model_input in = {0};
    in.x = dk_graph_input(d->g, xin, 0);
    in.c_noise = dk_graph_input(d->g, cn, 0);
    in.class_labels = lab;
    dk_var *out = in.x && in.c_noise ? mv->forward(d->model->self, d->g, &in) : NULL;
    st = dk_graph_status(d->g, err);
    if (st == DK_OK && !out) st = dk_error_set(err, DK_ESTATE, "model '%s' returned no output", d->model->plugin->name);
    if (st) { dk_error_prefix(err, "denoiser: model '%s' forward", d->model->plugin->name); goto done; }
    d->calls++;
    if (out->value->ndim != x->ndim || out->value->shape[0] != NB) {
        char a[64], b2[64];
        st = dk_error_set(err, DK_ESHAPE, "denoiser: model '%s' returned %s for input %s",
                          d->model->plugin->name, dk_shape_str(out->value, a, sizeof a), dk_shape_str(xin, b2, sizeof b2));
        goto done;
    }
    if (dev != DK_CPU) {
        dk_tensor *host = dk_tensor_to_device(out->value, DK_CPU, err);
        out64 = host ? dk_tensor_to(host, DK_F64, err) : NULL;
        dk_tensor_free(host);
    } else
        out64 = dk_tensor_to(out->value, DK_F64, err);
    if (!out64) { st = err ? err->code : DK_ENOMEM; goto done; }

    dk_tensor *xx = (dk_tensor *)x, *dd = denoised, *aa = aux;
    if (guided) {
        x2 = dk_tensor_new(DK_F64, x->ndim, shp, err);
        den2 = dk_tensor_new(DK_F64, x->ndim, shp, err);
        if (!x2 || !den2) { st = err ? err->code : DK_ENOMEM; goto done; }
        memcpy(dk_f64(x2), dk_f64(x), x->numel * sizeof(double));
        memcpy(dk_f64(x2) + x->numel, dk_f64(x), x->numel * sizeof(double));
        if (aux) {
            int64_t ashp[DK_MAX_DIMS];
            memcpy(ashp, aux->shape, sizeof ashp);
            ashp[0] = NB;
            aux2 = dk_tensor_new(aux->dtype, aux->ndim, ashp, err);
            if (!aux2) { st = err ? err->code : DK_ENOMEM; goto done; }
        }
        xx = x2; dd = den2; aa = aux2;
    }
    if (pv->denoised) {
        st = pv->denoised(d->precond->self, xx, out64, sig, dd, aa, err);
        if (st) { dk_error_prefix(err, "precond '%s'", d->precond->plugin->name); goto done; }
    } else {
        if (out64->numel != xx->numel) {
            char a[64], b2[64];
            st = dk_error_set(err, DK_ESHAPE, "denoiser: model output %s does not match the input %s and precond '%s' has no custom denoised slot",
                              dk_shape_str(out64, a, sizeof a), dk_shape_str(xx, b2, sizeof b2), d->precond->plugin->name);
            goto done;
        }
        combine_default(xx, out64, c_skip, c_out, NB, dd);
    }
    if (guided) {
        /* D = D_u + w (D_c - D_u); aux comes from the conditional half. */
        const double *dc = dk_f64(den2), *du = dk_f64(den2) + x->numel;
        double *o = dk_f64(denoised);
        for (size_t i = 0; i < x->numel; i++) o[i] = du[i] + d->cfg * (dc[i] - du[i]);
        if (aux) memcpy(aux->data, aux2->data, aux->numel * dk_dtype_size(aux->dtype));
    }
    for (size_t i = 0; i < denoised->numel; i++) {
        double v = dk_f64(denoised)[i];
        if (!(v - v == 0.0)) {
            st = dk_error_set(err, DK_ENUMERIC, "denoiser: non-finite denoised value at element %zu (sigma %g): the model diverged or sigma is out of range",
                              i, sigma[i / P]);
            break;
        }
    }
done:
    free(sc);
    free(lab);
    dk_tensor_free(xin);
    dk_tensor_free(cn);
    dk_tensor_free(out64);
    dk_tensor_free(x2);
    dk_tensor_free(den2);
    dk_tensor_free(aux2);
    dk_graph_reset(d->g);
    return st;
}
