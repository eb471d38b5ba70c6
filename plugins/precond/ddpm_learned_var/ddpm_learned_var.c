/* ddpm_learned_var.c: DiT's own diffusion objective as a preconditioner (the
 * paper's R1 path; facebookresearch/DiT gaussian_diffusion.py
 * with EPSILON mean, LEARNED_RANGE variance, LossType.MSE).
 *
 * The network outputs 2C channels: eps (the first C) and the variance values
 * v (the last C). Scalings are those of ddpm_eps (k-diffusion
 * DiscreteEpsDDPMDenoiser): c_skip = 1, c_out = -sigma,
 * c_in = 1/sqrt(sigma^2 + 1), c_noise = t = sigma_to_t(sigma), quantized to
 * the nearest integer timestep by default (DiT trains and samples on integer t).
 *
 * Loss per sample (DiT training_losses):
 *   mse = mean_{C,H,W} (eps_hat - n)^2
 *   vb  = mean_{C,H,W} KL(q(x_{t-1}|x_t,x0) || p(x_{t-1}|x_t)) / ln 2   (t > 0)
 *       = -mean_{C,H,W} log p_disc(x0 | mean_p, Sigma) / ln 2          (t = 0)
 *   loss = mse + vb
 * with the model mean built from eps_hat's VALUES (DiT's frozen_out =
 * cat([eps.detach(), v])), so vb trains only v, and mse only eps.
 *
 * Frames. diffkit's training input is y = x0 + sigma n (VE); DiT's is
 * x_t = sqrt(abar) x0 + sqrt(1 - abar) n. With abar = 1/(1 + sigma^2),
 * x_t = y / sqrt(1 + sigma^2) = y c_in, so the VP formulas apply to x_t = c_in y:
 *   pred_x0 = x_t / sqrt(abar) - sqrt(1/abar - 1) eps_hat   (= y - sigma eps_hat)
 *   mean_q  = coef1 x0 + coef2 x_t,   log var_q = log post_var_clipped(t)
 *   mean_p  = coef1 pred_x0 + coef2 x_t,
 *   log var_p = frac log beta_t + (1 - frac) log post_var_clipped(t), frac = (v+1)/2
 * (coefficients in learned_var.h). t is the nearest timestep of sigma
 * (exact for sigmas of the table, e.g. from the ddpm-uniform-t density).
 *
 * Sampling (custom denoised slot): denoised = y - sigma eps_hat (no clipping,
 * DiT's clip_denoised=False) and aux = v for the ddpm_ancestral sampler. */
#include "diffkit/ddpm.h"
#include "diffkit/ops.h"
#include "diffkit/plugin.h"
#include "learned_var.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct lv_precond {
    dk_ddpm table;
    int quantize;
    double *log_beta;          /* (T) */
    double *log_post_clipped;  /* (T) */
    double *coef1, *coef2;     /* (T) */
} lv_precond;

static const dk_option_spec lv_options[] = {
    {"betas", DK_OPT_ENUM, "linear", -INFINITY, INFINITY, "linear|cosine",
     "beta schedule: DiT linear (1e-4..0.02, scaled by 1000/T) or cosine (squaredcos_cap_v2)", 0},
    {"timesteps", DK_OPT_INT, "1000", 2, 1e7, NULL, "number of training timesteps T", 0},
    {"quantize", DK_OPT_BOOL, "true", -INFINITY, INFINITY, NULL,
     "condition the model on the nearest integer timestep (DiT) instead of the log-sigma interpolated t", 0},
};

static void lv_destroy(void *self) {
    lv_precond *p = self;
    if (!p) return;
    dk_ddpm_free(&p->table);
    free(p->log_beta);
    free(p);
}

static dk_status lv_create(const dk_options *o, void **self, dk_error *err) {
    lv_precond *p = calloc(1, sizeof *p);
    if (!p) return dk_error_set(err, DK_ENOMEM, "precond 'ddpm_learned_var': out of memory");
    dk_status st = dk_ddpm_init(&p->table, dk_opt_str(o, "betas"), dk_opt_int(o, "timesteps"), "", err);
    if (st != DK_OK) {
        free(p);
        return dk_error_prefix(err, "precond 'ddpm_learned_var'");
    }
    p->quantize = dk_opt_bool(o, "quantize");
    const int64_t T = p->table.T;
    p->log_beta = malloc(4 * (size_t)T * sizeof(double));
    if (!p->log_beta) {
        lv_destroy(p);
        return dk_error_set(err, DK_ENOMEM, "precond 'ddpm_learned_var': out of memory");
    }
    p->log_post_clipped = p->log_beta + T;
    p->coef1 = p->log_beta + 2 * T;
    p->coef2 = p->log_beta + 3 * T;
    for (int64_t t = 0; t < T; t++) {
        const double *ab = p->table.alphas_cumprod;
        dk_lv_post q = dk_lv_posterior(ab[t], t > 0 ? ab[t - 1] : 1.0, p->table.betas[t]);
        p->log_beta[t] = log(q.beta);
        p->coef1[t] = q.coef1;
        p->coef2[t] = q.coef2;
        p->log_post_clipped[t] = log(q.post_var); /* t = 0 is replaced below */
    }
    /* DiT: log(append(posterior_variance[1], posterior_variance[1:])) */
    p->log_post_clipped[0] = p->log_post_clipped[1];
    *self = p;
    return DK_OK;
}

static dk_status lv_scalings(void *self, size_t n, const double *sigma, double *c_skip, double *c_out, double *c_in,
                             double *c_noise, dk_error *err) {
    const lv_precond *p = self;
    for (size_t i = 0; i < n; i++) {
        double s = sigma[i];
        if (!(s >= 0.0) || isinf(s))
            return dk_error_set(err, DK_EINVAL, "precond 'ddpm_learned_var': sigma[%zu] = %g must be finite and >= 0", i, s);
        c_skip[i] = 1.0;
        c_out[i] = -s;
        c_in[i] = 1.0 / sqrt(s * s + 1.0);
        c_noise[i] = p->quantize ? (double)dk_ddpm_sigma_to_t_quantized(&p->table, s) : dk_ddpm_sigma_to_t(&p->table, s);
    }
    return DK_OK;
}

static int lv_out_channel_factor(void *self) { return 2; }

/* ---- channel slice: x [B, Ct, ...] -> x[:, c0:c0+nc] (a custom graph op) -------- */

typedef struct cslice {
    int64_t B, Ct, c0, nc;
    size_t inner; /* elements per channel */
} cslice;

static void cslice_copy(const cslice *c, dk_dtype dt, void *dst, const void *src, int backward) {
    const size_t es = dk_dtype_size(dt), run = (size_t)c->nc * c->inner;
    for (int64_t b = 0; b < c->B; b++) {
        size_t so = ((size_t)b * (size_t)c->Ct + (size_t)c->c0) * c->inner, oo = (size_t)b * run;
        if (!backward) {
            memcpy((char *)dst + oo * es, (const char *)src + so * es, run * es);
        } else if (dt == DK_F32) {
            float *d = (float *)dst + so;
            const float *s = (const float *)src + oo;
            for (size_t i = 0; i < run; i++) d[i] += s[i];
        } else {
            double *d = (double *)dst + so;
            const double *s = (const double *)src + oo;
            for (size_t i = 0; i < run; i++) d[i] += s[i];
        }
    }
}

static dk_status cslice_backward(void *ctx, dk_var *out, dk_var **in, int n, dk_error *err) {
    if (!in[0]->requires_grad || !out->grad) return DK_OK;
    if (!in[0]->grad) DK_TRY(dk_var_zero_grad(in[0], err));
    cslice_copy(ctx, in[0]->value->dtype, in[0]->grad->data, out->grad->data, 1);
    return DK_OK;
}

static dk_var *channel_slice(dk_graph *g, dk_var *x, int64_t c0, int64_t nc) {
    if (!x) return NULL;
    const dk_tensor *v = x->value;
    cslice *c = malloc(sizeof *c);
    if (!c) return dk_graph_fail(g, DK_ENOMEM, "ddpm_learned_var: out of memory");
    c->B = v->shape[0];
    c->Ct = v->shape[1];
    c->c0 = c0;
    c->nc = nc;
    c->inner = v->numel / (size_t)(c->B * c->Ct);
    int64_t shp[DK_MAX_DIMS];
    memcpy(shp, v->shape, sizeof shp);
    shp[1] = nc;
    dk_var *out = dk_graph_new_var(g, v->dtype, v->ndim, shp);
    if (!out) {
        free(c);
        return NULL;
    }
    cslice_copy(c, v->dtype, out->value->data, v->data, 0);
    return dk_graph_custom(g, out, &x, 1, cslice_backward, c, free);
}

/* ---- the loss ------------------------------------------------------------------ */

/* A constant graph input of dtype dt and the given shape, filled from vals. */
static dk_var *const_input(dk_graph *g, dk_dtype dt, int nd, const int64_t *shape, const double *vals) {
    dk_error e;
    dk_tensor *t = dk_tensor_new(dt, nd, shape, &e);
    if (!t) return dk_graph_fail(g, e.code, "ddpm_learned_var: %s", e.msg);
    for (size_t i = 0; i < t->numel; i++) dk_tensor_set(t, i, vals[i]);
    dk_var *v = dk_graph_input(g, t, 0);
    dk_tensor_free(t);
    return v;
}

static dk_var *lv_loss(void *self, dk_graph *g, const dk_precond_loss_args *a) {
    const lv_precond *p = self;
    if (!a || !a->model_out || !a->x || !a->noise || !a->y || !a->sigma)
        return dk_graph_fail(g, DK_EINVAL, "precond 'ddpm_learned_var': loss arguments are incomplete");
    const dk_tensor *mo = a->model_out->value, *x0 = a->x;
    const int64_t B = (int64_t)a->batch;
    if (x0->ndim < 2 || x0->shape[0] != B || mo->ndim != x0->ndim || mo->shape[0] != B ||
        mo->shape[1] != 2 * x0->shape[1] || mo->numel != 2 * x0->numel || a->noise->numel != x0->numel ||
        a->y->numel != x0->numel) {
        char s1[96], s2[96];
        return dk_graph_fail(g, DK_ESHAPE,
                             "precond 'ddpm_learned_var': model output %s must have twice the channels of the data %s "
                             "(eps and variance): build the model with learn_sigma = true",
                             dk_shape_str(mo, s1, sizeof s1), dk_shape_str(x0, s2, sizeof s2));
    }
    const dk_dtype dt = mo->dtype;
    const int64_t C = x0->shape[1];
    const size_t P = x0->numel / (size_t)B; /* C*H*W */
    int64_t bshape[DK_MAX_DIMS] = {B}, xshape[DK_MAX_DIMS];
    memcpy(xshape, x0->shape, sizeof xshape);
    for (int i = 1; i < x0->ndim; i++) bshape[i] = 1;

    dk_var *eps = channel_slice(g, a->model_out, 0, C); /* (B, C, H, W) */
    dk_var *v = channel_slice(g, a->model_out, C, C);

    /* mse against the unit noise */
    dk_tensor *nz = a->noise->dtype == dt ? (dk_tensor *)a->noise : dk_tensor_to(a->noise, dt, NULL);
    if (!nz) return dk_graph_fail(g, DK_ENOMEM, "precond 'ddpm_learned_var': out of memory");
    dk_var *mse = dk_mse(g, eps, dk_graph_input(g, nz, 0));
    if (nz != a->noise) dk_tensor_free(nz);
    if (!eps || !v || !mse) return NULL;

    /* per-sample tables at the integer timestep of sigma */
    double *buf = calloc(4 * (size_t)B + 3 * x0->numel, sizeof(double));
    if (!buf) return dk_graph_fail(g, DK_ENOMEM, "precond 'ddpm_learned_var': out of memory");
    double *min_log = buf, *half_range = buf + B, *mask_kl = buf + 2 * B, *mask_nll = buf + 3 * B;
    double *mean_q = buf + 4 * B, *mean_p = mean_q + x0->numel, *logvar_q = mean_p + x0->numel;
    int any_kl = 0, any_nll = 0;
    for (int64_t b = 0; b < B; b++) {
        const double s = a->sigma[b], c_in = 1.0 / sqrt(s * s + 1.0);
        const int64_t t = dk_ddpm_sigma_to_t_quantized(&p->table, s);
        const double abar = p->table.alphas_cumprod[t];
        const double sr = sqrt(1.0 / abar), srm1 = sqrt(1.0 / abar - 1.0);
        min_log[b] = p->log_post_clipped[t];
        half_range[b] = 0.5 * (p->log_beta[t] - p->log_post_clipped[t]);
        mask_kl[b] = t > 0;
        mask_nll[b] = t == 0;
        any_kl |= t > 0;
        any_nll |= t == 0;
        for (size_t i = 0; i < P; i++) {
            const size_t k = (size_t)b * P, ke = (size_t)b * 2 * P;
            double xt = dk_tensor_get(a->y, k + i) * c_in;         /* x_t = c_in y (VP) */
            double e = dk_tensor_get(mo, ke + i);                    /* eps_hat, stop-gradient */
            double px0 = sr * xt - srm1 * e;                         /* _predict_xstart_from_eps */
            mean_q[k + i] = p->coef1[t] * dk_tensor_get(x0, k + i) + p->coef2[t] * xt;
            mean_p[k + i] = p->coef1[t] * px0 + p->coef2[t] * xt;
            logvar_q[k + i] = p->log_post_clipped[t];
        }
    }
    /* log var_p = min_log + (v + 1)/2 (max_log - min_log) */
    dk_var *lvp = dk_add(g, dk_mul(g, dk_add_scalar(g, v, 1.0), const_input(g, dt, x0->ndim, bshape, half_range)),
                         const_input(g, dt, x0->ndim, bshape, min_log));
    dk_var *mp = const_input(g, dt, x0->ndim, xshape, mean_p);
    dk_var *vb = NULL;
    const double inv_ln2 = 1.0 / log(2.0);
    if (any_kl) {
        dk_var *kl = dk_normal_kl(g, const_input(g, dt, x0->ndim, xshape, mean_q),
                                  const_input(g, dt, x0->ndim, xshape, logvar_q), mp, lvp);
        kl = dk_scale(g, dk_mean_last(g, kl, x0->ndim - 1), inv_ln2);           /* (B) bits */
        vb = dk_mul(g, kl, const_input(g, dt, 1, &B, mask_kl));
    }
    if (any_nll) {
        dk_tensor *xt0 = dk_tensor_to(x0, dt, NULL);
        dk_var *x0v = xt0 ? dk_graph_input(g, xt0, 0)
                          : dk_graph_fail(g, DK_ENOMEM, "precond 'ddpm_learned_var': out of memory");
        dk_tensor_free(xt0);
        dk_var *ll = dk_discretized_gaussian_loglik(g, x0v, mp, dk_scale(g, lvp, 0.5));
        dk_var *nll = dk_scale(g, dk_mean_last(g, ll, x0->ndim - 1), -inv_ln2); /* (B) bits */
        nll = dk_mul(g, nll, const_input(g, dt, 1, &B, mask_nll));
        vb = vb ? dk_add(g, vb, nll) : nll;
    }
    free(buf);
    return dk_add(g, mse, vb);
}

/* ---- sampling: denoised and aux from the 2C output channels --------------------- */

static dk_status lv_denoised(void *self, const dk_tensor *x, const dk_tensor *out, const double *sigma,
                             dk_tensor *denoised, dk_tensor *aux, dk_error *err) {
    const int64_t B = x->shape[0];
    const size_t P = x->numel / (size_t)B;
    if (out->numel != 2 * x->numel || out->shape[0] != B || x->dtype != DK_F64 || out->dtype != DK_F64 ||
        denoised->numel != x->numel || (aux && aux->numel != x->numel)) {
        char s1[96], s2[96];
        return dk_error_set(err, DK_ESHAPE,
                            "model output %s must be F64 with twice the channels of x %s (eps and variance; "
                            "learn_sigma = true), and denoised/aux like x",
                            dk_shape_str(out, s1, sizeof s1), dk_shape_str(x, s2, sizeof s2));
    }
    const double *xs = dk_f64(x), *os = dk_f64(out);
    double *ds = dk_f64(denoised);
    for (int64_t b = 0; b < B; b++) {
        const double *e = os + (size_t)b * 2 * P, *xb = xs + (size_t)b * P;
        for (size_t i = 0; i < P; i++) ds[(size_t)b * P + i] = xb[i] - sigma[b] * e[i]; /* c_skip x + c_out eps */
        if (aux)
            for (size_t i = 0; i < P; i++) dk_tensor_set(aux, (size_t)b * P + i, e[P + i]);
    }
    return DK_OK;
}

static const dk_precond_vtable lv_vtable = {
    .struct_size = sizeof(dk_precond_vtable),
    .create = lv_create,
    .destroy = lv_destroy,
    .scalings = lv_scalings,
    .weight = NULL,
    .loss = lv_loss,
    .out_channel_factor = lv_out_channel_factor,
    .denoised = lv_denoised,
};

static const dk_plugin lv_plugin = {
    .abi_version = DK_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(dk_plugin),
    .kind = DK_KIND_PRECOND,
    .name = "ddpm_learned_var",
    .version = "1.0",
    .summary = "DiT's objective: eps prediction + learned-range variance, loss MSE(eps) + VLB in bits (mean stop-gradiented)",
    .options = lv_options,
    .n_options = sizeof lv_options / sizeof lv_options[0],
    .vtable = &lv_vtable,
};

DK_PLUGIN_EXPORT const dk_plugin *diffkit_plugin(void) { return &lv_plugin; }
