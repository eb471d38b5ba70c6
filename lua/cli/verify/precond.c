/* precond.c: `diffkit verify` section "precond" (tests/data/golden/FORMAT.md section 3).
 *
 * Scalings, weights, wrapper forward passes and per-sample losses of the
 * preconditioner plugins, created through the host:
 *   EDM tags (metadata `edm_tags`, TAG.sigma_data)  -> `edm`
 *   eps_q0 / eps_q1 (quantize false / true)          -> `ddpm_eps`
 *   v_q0 / v_q1                                      -> `ddpm_v`
 *   vcont                                            -> `vdiff`
 * (discrete tags are found by their TAG.c_noise_t tensors; their DDPM table
 * is read from metadata `discrete_alphas_cumprod`: "linear" or "cosine",
 * "<T> steps"). The wrapper outputs use the file's toy inner model
 * (metadata `toy_inner`) F(x, c) = 0.5 tanh(x) + 0.01 c, computed here:
 *   forward D = F(c_in x, c) c_out + x c_skip,
 *   loss = mean_CHW((F(c_in y, c) - (x - c_skip y)/c_out)^2) w(sigma), y = x + noise sigma
 * (the host's default loss). c is what the reference handed the inner model:
 * sigma itself for EDM (k-diffusion's Denoiser; its models take ln(sigma)/4
 * inside, which is the plugin's c_noise), the plugin's c_noise otherwise. */
#include <ctype.h>
#include <math.h>
#include "components_common.h"

typedef struct batch {
    dk_tensor *sigma, *x, *noise, *bsigma; /* (P), (B,C,H,W), (B,C,H,W), (B) */
    size_t B, D;                            /* batch, C*H*W */
} batch;

static double toy(double x, double c) { return 0.5 * tanh(x) + 0.01 * c; }

/* Instance of precond `name` with options from (key, value) pairs. */
static dk_instance *make(dk_verify *v, const char *name, const char *const *kv, dk_error *err) {
    const dk_plugin *p = vc_find(v, DK_KIND_PRECOND, name, err);
    if (!p) return NULL;
    dk_options *o = dk_options_new(p);
    if (!o) {
        dk_error_set(err, DK_ENOMEM, "out of memory");
        return NULL;
    }
    for (; kv && kv[0]; kv += 2)
        if (dk_options_set(o, kv[0], kv[1], err) != DK_OK) {
            dk_options_free(o);
            dk_error_prefix(err, "%s", v->path);
            return NULL;
        }
    return vc_create(v, p, o, err);
}

/* Compares got (n values) with tensor `name` if the file has it. */
static void cmp_opt(dk_verify *v, const char *name, const double *got, double atol, double rtol) {
    dk_error e;
    if (!dk_st_has(v->file, name)) return;
    dk_tensor *want = dk_verify_get(v, name, DK_F64, &e);
    if (!want) {
        dk_verify_check(v, 0, "%s: %s", name, e.msg);
        return;
    }
    dk_verify_compare_f64(v, name, got, want, atol, rtol);
    dk_tensor_free(want);
}

/* Scalings at the shared sigma vector, compared with TAG.c_*. */
static dk_status check_scalings(dk_verify *v, const batch *b, dk_instance *inst, const char *tag, dk_error *err) {
    size_t P = b->sigma->numel;
    double *s = malloc(4 * P * sizeof(double));
    char key[256];
    if (!s) return dk_error_set(err, DK_ENOMEM, "out of memory");
    if (dk_precond_vt(inst)->scalings(inst->self, P, dk_f64(b->sigma), s, s + P, s + 2 * P, s + 3 * P, err) != DK_OK) {
        free(s);
        return err->code;
    }
    static const char *const names[4] = {"c_skip", "c_out", "c_in", "c_noise"};
    for (int k = 0; k < 4; k++) {
        snprintf(key, sizeof key, "%s.%s", tag, names[k]);
        cmp_opt(v, key, s + k * P, 1e-15, 1e-12);
        if (k == 3) {
            snprintf(key, sizeof key, "%s.c_noise_t", tag);
            cmp_opt(v, key, s + 3 * P, 1e-12, 1e-12);
        }
    }
    free(s);
    return DK_OK;
}

/* Forward and loss on the batch with the toy inner model (weighted when
 * want_weight and the plugin has a weight). Compared with abs 1e-13 + rel
 * 1e-12: the forward entries can cancel to ~0. */
static dk_status wrapper(dk_verify *v, const batch *b, dk_instance *inst, int cond_sigma, double *fwd, double *loss,
                         int want_weight, dk_error *err) {
    const dk_precond_vtable *vt = dk_precond_vt(inst);
    size_t B = b->B, D = b->D;
    double *s = malloc(5 * B * sizeof(double));
    if (!s) return dk_error_set(err, DK_ENOMEM, "out of memory");
    double *c_skip = s, *c_out = s + B, *c_in = s + 2 * B, *c_noise = s + 3 * B, *w = s + 4 * B;
    const double *sg = dk_f64(b->bsigma);
    dk_status st = vt->scalings(inst->self, B, sg, c_skip, c_out, c_in, c_noise, err);
    for (size_t i = 0; i < B; i++) w[i] = 1.0;
    if (st == DK_OK && want_weight && vt->weight) st = vt->weight(inst->self, B, sg, w, err);
    if (st != DK_OK) {
        free(s);
        return err->code;
    }
    const double *x = dk_f64(b->x), *n = dk_f64(b->noise);
    for (size_t i = 0; i < B; i++) {
        double c = cond_sigma ? sg[i] : c_noise[i], acc = 0.0;
        for (size_t j = 0; j < D; j++) {
            double xi = x[i * D + j];
            if (fwd) fwd[i * D + j] = toy(xi * c_in[i], c) * c_out[i] + xi * c_skip[i];
            double y = xi + n[i * D + j] * sg[i];
            double target = (xi - c_skip[i] * y) / c_out[i];
            double e = toy(y * c_in[i], c) - target;
            acc += e * e;
        }
        if (loss) loss[i] = acc / (double)D * w[i];
    }
    free(s);
    return DK_OK;
}

static dk_status check_edm(dk_verify *v, const batch *b, const char *tag, dk_error *err) {
    char key[256], sd[64];
    snprintf(key, sizeof key, "%s.sigma_data", tag);
    const char *sds = dk_verify_meta_str(v, key, err);
    if (!sds) return err->code;
    snprintf(sd, sizeof sd, "%s", sds);
    printf(" %s (edm, sigma_data %s)\n", tag, sd);
    const char *kv[] = {"sigma_data", sd, NULL, NULL, NULL};
    dk_instance *inst = make(v, "edm", kv, err);
    if (!inst) return err->code;
    dk_status st = check_scalings(v, b, inst, tag, err);
    double *fwd = malloc(b->B * b->D * sizeof(double)), *loss = malloc(b->B * sizeof(double)),
           *wt = malloc(b->sigma->numel * sizeof(double));
    if (st == DK_OK && (!fwd || !loss || !wt)) st = dk_error_set(err, DK_ENOMEM, "out of memory");
    snprintf(key, sizeof key, "%s.batch.forward", tag);
    if (st == DK_OK && dk_st_has(v->file, key)) {
        st = wrapper(v, b, inst, 1, fwd, NULL, 0, err);
        if (st == DK_OK) cmp_opt(v, key, fwd, 1e-13, 1e-12);
    }
    dk_instance_free(inst);
    /* every weighting the file has: TAG.weight_<w> and TAG.batch.loss_<w>, '_' for '-' */
    size_t tl = strlen(tag);
    for (size_t i = 0; st == DK_OK && i < dk_st_count(v->file); i++) {
        const char *tn = dk_st_name(v->file, i), *wn = NULL;
        int is_loss = 0;
        if (strncmp(tn, tag, tl) != 0 || tn[tl] != '.') continue;
        if (strncmp(tn + tl + 1, "weight_", 7) == 0) wn = tn + tl + 8;
        else if (strncmp(tn + tl + 1, "batch.loss_", 11) == 0) wn = tn + tl + 12, is_loss = 1;
        if (!wn) continue;
        char wname[64];
        snprintf(wname, sizeof wname, "%s", wn);
        for (char *c = wname; *c; c++)
            if (*c == '_') *c = '-';
        const char *kv2[] = {"sigma_data", sd, "weighting", wname, NULL, NULL};
        dk_instance *wi = make(v, "edm", kv2, err);
        if (!wi) {
            st = err->code;
            break;
        }
        if (is_loss) {
            st = wrapper(v, b, wi, 1, NULL, loss, 1, err);
            if (st == DK_OK) cmp_opt(v, tn, loss, 1e-13, 1e-12);
        } else {
            const dk_precond_vtable *vt = dk_precond_vt(wi);
            size_t P = b->sigma->numel;
            if (vt->weight) st = vt->weight(wi->self, P, dk_f64(b->sigma), wt, err);
            else
                for (size_t k = 0; k < P; k++) wt[k] = 1.0;
            if (st == DK_OK) cmp_opt(v, tn, wt, 1e-15, 1e-12);
        }
        dk_instance_free(wi);
    }
    free(fwd);
    free(loss);
    free(wt);
    return st;
}

static dk_status check_discrete(dk_verify *v, const batch *b, const char *tag, const char *betas, const char *steps,
                                dk_error *err) {
    const char *plugin;
    char q[8] = "false";
    if (strcmp(tag, "vcont") == 0) plugin = "vdiff";
    else if (strncmp(tag, "eps", 3) == 0) plugin = "ddpm_eps";
    else if (strncmp(tag, "v_", 2) == 0) plugin = "ddpm_v";
    else return dk_error_set(err, DK_EFORMAT, "%s: wrapper tag '%s' is not one of eps_q*, v_q*, vcont", v->path, tag);
    const char *qs = strstr(tag, "_q");
    if (qs && qs[2] == '1') snprintf(q, sizeof q, "true");
    int discrete = strcmp(plugin, "vdiff") != 0;
    const char *kv[] = {"betas", betas, "timesteps", steps, "quantize", q, NULL, NULL};
    printf(" %s (%s%s%s)\n", tag, plugin, discrete ? ", quantize " : "", discrete ? q : "");
    dk_instance *inst = make(v, plugin, discrete ? kv : NULL, err);
    if (!inst) return err->code;
    dk_status st = check_scalings(v, b, inst, tag, err);
    double *fwd = malloc(b->B * b->D * sizeof(double)), *loss = malloc(b->B * sizeof(double));
    if (st == DK_OK && (!fwd || !loss)) st = dk_error_set(err, DK_ENOMEM, "out of memory");
    if (st == DK_OK) st = wrapper(v, b, inst, 0, fwd, loss, 1, err);
    if (st == DK_OK) {
        char key[256];
        snprintf(key, sizeof key, "%s.batch.forward", tag);
        cmp_opt(v, key, fwd, 1e-13, 1e-12);
        snprintf(key, sizeof key, "%s.batch.loss", tag);
        cmp_opt(v, key, loss, 1e-13, 1e-12);
    }
    free(fwd);
    free(loss);
    dk_instance_free(inst);
    return st;
}

static dk_status verify_precond(dk_verify *v, dk_error *err) {
    batch b = {0};
    dk_status st = DK_OK;
    if (!(b.sigma = dk_verify_get(v, "sigma", DK_F64, err)) || !(b.x = dk_verify_get(v, "batch.x", DK_F64, err)) ||
        !(b.noise = dk_verify_get(v, "batch.noise", DK_F64, err)) ||
        !(b.bsigma = dk_verify_get(v, "batch.sigma", DK_F64, err))) {
        st = err->code;
        goto done;
    }
    b.B = b.bsigma->numel;
    if (b.x->ndim < 2 || (size_t)b.x->shape[0] != b.B || !dk_tensor_same_shape(b.x, b.noise)) {
        st = dk_error_set(err, DK_EFORMAT, "%s: batch.x, batch.noise and batch.sigma do not agree on the batch", v->path);
        goto done;
    }
    b.D = b.x->numel / b.B;

    /* EDM tags */
    char tags[64][128];
    const char *el = dk_st_meta(v->file, "edm_tags");
    int ne = el ? vc_split(el, tags, 64) : 0;
    for (int i = 0; i < ne && st == DK_OK; i++) st = check_edm(v, &b, tags[i], err);

    /* discrete / continuous wrappers: every TAG with a TAG.c_noise_t tensor */
    char betas[16] = "linear", steps[32] = "1000";
    const char *desc = dk_st_meta(v->file, "discrete_alphas_cumprod");
    if (desc) {
        if (strstr(desc, "cosine") || strstr(desc, "squaredcos")) snprintf(betas, sizeof betas, "cosine");
        /* "<T> steps": the digits just before the first " steps" */
        const char *at = strstr(desc, " steps");
        if (at) {
            const char *p = at;
            while (p > desc && isdigit((unsigned char)p[-1])) p--;
            if (p < at) snprintf(steps, sizeof steps, "%.*s", (int)(at - p), p);
        }
    }
    for (size_t i = 0; i < dk_st_count(v->file) && st == DK_OK; i++) {
        const char *tn = dk_st_name(v->file, i);
        const char *dot = strstr(tn, ".c_noise_t");
        if (!dot || strcmp(dot, ".c_noise_t") != 0) continue;
        char tag[128];
        snprintf(tag, sizeof tag, "%.*s", (int)(dot - tn), tn);
        st = check_discrete(v, &b, tag, betas, steps, err);
    }
done:
    dk_tensor_free(b.sigma);
    dk_tensor_free(b.x);
    dk_tensor_free(b.noise);
    dk_tensor_free(b.bsigma);
    return st;
}

DK_VERIFY_SECTION("precond", verify_precond)
