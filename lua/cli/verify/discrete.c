/* discrete.c: `diffkit verify` section "discrete" (tests/data/golden/FORMAT.md section 2):
 * for every schedule S in metadata `schedules`, the DDPM tables of
 * S.dit_schedule_name with S.num_timesteps steps (diffkit/ddpm.h: betas,
 * alphas_cumprod, sigmas, the float32 sigmas of k-diffusion's
 * OpenAIDenoiser), DiscreteSchedule.sigma_to_t (interpolated and quantized)
 * and t_to_sigma at the file's query points, and get_sigmas(k) for every k
 * in S.get_sigmas_n through the `ddpm` schedule plugin. */
#include <math.h>
#include "components_common.h"
#include "diffkit/ddpm.h"
#include "diffkit/numeric.h"

/* Compares a computed array with tensor `name`; returns DK_OK unless the
 * tensor is missing or its size differs from n. */
static dk_status cmp(dk_verify *v, const char *name, const double *got, size_t n, double atol, double rtol, dk_error *err) {
    dk_tensor *want = dk_verify_get(v, name, DK_F64, err);
    if (!want) return err->code;
    if (want->numel != n) {
        dk_tensor_free(want);
        return dk_error_set(err, DK_EFORMAT, "%s: tensor '%s' has %zu values, expected %zu", v->path, name, want->numel, n);
    }
    dk_verify_compare_f64(v, name, got, want, atol, rtol);
    dk_tensor_free(want);
    return DK_OK;
}

static dk_status check_schedule(dk_verify *v, const char *name, dk_error *err) {
    char key[256], ks[64][128], S[128];
    size_t sl = strlen(name) < sizeof S - 1 ? strlen(name) : sizeof S - 1;
    memcpy(S, name, sl);
    S[sl] = '\0';
    long long T;
    dk_status st = DK_OK;
    snprintf(key, sizeof key, "%s.dit_schedule_name", S);
    const char *dit_name = dk_verify_meta_str(v, key, err);
    if (!dit_name) return err->code;
    const char *betas = strcmp(dit_name, "squaredcos_cap_v2") == 0 ? "cosine" : dit_name;
    snprintf(key, sizeof key, "%s.num_timesteps", S);
    DK_TRY(dk_verify_meta_int(v, key, &T, err));
    dk_ddpm d;
    if (dk_ddpm_init(&d, betas, T, NULL, err) != DK_OK) return dk_error_prefix(err, "%s: schedule '%s'", v->path, S);
    double *buf = malloc(((size_t)T + 1) * sizeof(double));
    float *f32 = malloc((size_t)T * sizeof(float));
    dk_tensor *q = NULL;
    if (!buf || !f32) {
        st = dk_error_set(err, DK_ENOMEM, "out of memory");
        goto done;
    }
    const double rt = 1e-12;
    snprintf(key, sizeof key, "%s.betas", S);
    if ((st = cmp(v, key, d.betas, (size_t)T, 0.0, rt, err)) != DK_OK) goto done;
    snprintf(key, sizeof key, "%s.alphas_cumprod", S);
    if ((st = cmp(v, key, d.alphas_cumprod, (size_t)T, 0.0, rt, err)) != DK_OK) goto done;
    snprintf(key, sizeof key, "%s.sigmas", S);
    if ((st = cmp(v, key, d.sigmas, (size_t)T, 0.0, rt, err)) != DK_OK) goto done;
    snprintf(key, sizeof key, "%s.sigmas_f32", S);
    if (dk_st_has(v->file, key)) {
        dk_ddpm_sigmas_f32(&d, f32);
        for (long long i = 0; i < T; i++) buf[i] = f32[i];
        if ((st = cmp(v, key, buf, (size_t)T, 0.0, 3e-6, err)) != DK_OK) goto done;
    }

    /* sigma_to_t at the query sigmas (interpolated: t in [0, T-1], so an
     * absolute 1e-12 too for t = 0) */
    snprintf(key, sizeof key, "%s.sigma_to_t.sigma", S);
    if (!(q = dk_verify_get(v, key, DK_F64, err))) {
        st = err->code;
        goto done;
    }
    double *qs = malloc(q->numel * sizeof(double) + 1);
    if (!qs) {
        st = dk_error_set(err, DK_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < q->numel; i++) qs[i] = dk_ddpm_sigma_to_t(&d, dk_f64(q)[i]);
    snprintf(key, sizeof key, "%s.sigma_to_t.t", S);
    st = cmp(v, key, qs, q->numel, 1e-12, rt, err);
    for (size_t i = 0; st == DK_OK && i < q->numel; i++) qs[i] = (double)dk_ddpm_sigma_to_t_quantized(&d, dk_f64(q)[i]);
    snprintf(key, sizeof key, "%s.sigma_to_t.t_quantized", S);
    if (st == DK_OK) st = cmp(v, key, qs, q->numel, 0.0, 0.0, err);
    free(qs);
    dk_tensor_free(q);
    q = NULL;
    if (st != DK_OK) goto done;

    /* t_to_sigma at the query timesteps, with the float32 cast of t */
    snprintf(key, sizeof key, "%s.t_to_sigma.t", S);
    if (!(q = dk_verify_get(v, key, DK_F64, err))) {
        st = err->code;
        goto done;
    }
    qs = malloc(q->numel * sizeof(double) + 1);
    if (!qs) {
        st = dk_error_set(err, DK_ENOMEM, "out of memory");
        goto done;
    }
    snprintf(key, sizeof key, "%s.t_to_sigma.t_as_f32", S);
    for (size_t i = 0; i < q->numel; i++) qs[i] = dk_round_f32(dk_f64(q)[i]);
    if (dk_st_has(v->file, key)) st = cmp(v, key, qs, q->numel, 0.0, 0.0, err);
    for (size_t i = 0; st == DK_OK && i < q->numel; i++) qs[i] = dk_ddpm_t_to_sigma(&d, dk_f64(q)[i]);
    snprintf(key, sizeof key, "%s.t_to_sigma.sigma", S);
    if (st == DK_OK) st = cmp(v, key, qs, q->numel, 0.0, rt, err);
    free(qs);
    if (st != DK_OK) goto done;

    /* get_sigmas(k) through the `ddpm` schedule plugin */
    snprintf(key, sizeof key, "%s.get_sigmas_n", S);
    const char *kl = dk_verify_meta_str(v, key, err);
    if (!kl) {
        st = err->code;
        goto done;
    }
    const dk_plugin *p = vc_find(v, DK_KIND_SCHEDULE, "ddpm", err);
    if (!p) {
        st = err->code;
        goto done;
    }
    int nk = vc_split(kl, ks, 64);
    for (int j = 0; j < nk && st == DK_OK; j++) {
        char *end;
        long long k = strtoll(ks[j], &end, 10);
        if (*end || k < 1) {
            st = dk_error_set(err, DK_EFORMAT, "%s: %s.get_sigmas_n has '%s', expected step counts >= 1", v->path, S, ks[j]);
            break;
        }
        dk_options *o = dk_options_new(p);
        if (!o) {
            st = dk_error_set(err, DK_ENOMEM, "out of memory");
            break;
        }
        if ((st = dk_options_set_str(o, "betas", betas, err)) != DK_OK ||
            (st = dk_options_set_int(o, "timesteps", T, err)) != DK_OK) {
            dk_options_free(o);
            break;
        }
        dk_instance *inst = vc_create(v, p, o, err);
        double *g = inst ? malloc(((size_t)k + 1) * sizeof(double)) : NULL;
        if (!inst) st = err->code;
        else if (!g) st = dk_error_set(err, DK_ENOMEM, "out of memory");
        else if ((st = dk_schedule_vt(inst)->sigmas(inst->self, k, g, err)) == DK_OK) {
            snprintf(key, sizeof key, "%s.get_sigmas.n%lld", S, k);
            st = cmp(v, key, g, (size_t)k + 1, 0.0, rt, err);
        }
        free(g);
        dk_instance_free(inst);
    }
done:
    dk_tensor_free(q);
    free(buf);
    free(f32);
    dk_ddpm_free(&d);
    return st;
}

static dk_status verify_discrete(dk_verify *v, dk_error *err) {
    char names[16][128];
    const char *list = dk_verify_meta_str(v, "schedules", err);
    if (!list) return err->code;
    int n = vc_split(list, names, 16);
    for (int i = 0; i < n; i++) DK_TRY(check_schedule(v, names[i], err));
    return DK_OK;
}

DK_VERIFY_SECTION("discrete", verify_discrete)
