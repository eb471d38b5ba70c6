/* sampler.c: `diffkit verify` section "sampler" (tests/data/golden/FORMAT.md section 4.2-4.5).
 *
 * Everything comes from the file: the sampler plugin is metadata `sampler`
 * without its "sample_" prefix; every metadata key opt.<name> is set as option
 * <name> through the host (text values, as written); the model is the `gmm`
 * plugin reading gmm.* from the file itself, behind the `identity`
 * preconditioner and the host's denoiser (float64); x0 follows `x0_rule`
 * ("x0 = noise_init * sigmas[0]" or "* <metadata key>"); the sigmas are the
 * file's `sigmas`, or for samplers that use only their ends (dpm_fast,
 * dpm_adaptive) [schedule.sigma_max, schedule.sigma_min, 0] with dpm_fast's
 * NFE budget `nfe` = schedule.n. Noise is replayed from `noise_stream`.
 *
 * Checks: x_final, and traj / calls.x / calls.sigma / calls.denoised when
 * present, at abs + rel 1e-10 (1e-9 for dpm_adaptive); the number of noise
 * slices drawn equals noise_slices_consumed exactly; nfe and n_steps; for
 * dpm_adaptive also info.{steps,nfe,n_accept,n_reject} and adaptive.t /
 * adaptive.accept; when the schedule plugin named by `schedule` exists, the
 * file's sigmas against it (rel 1e-12). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "diffkit/denoiser.h"
#include "verify.h"

typedef struct run_log {
    /* model calls */
    dk_denoiser *den;
    double *calls_x, *calls_sigma, *calls_den; /* grown per call */
    size_t n_calls, cap_calls;
    size_t per;       /* values per call (B * D) */
    int64_t batch;
    /* step reports */
    double *traj;     /* x at the top of each step */
    double *step_sigma, *step_sigma_next;
    size_t n_steps, cap_steps;
    int oom;
} run_log;

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q) return -1;
    *p = q;
    *cap = c;
    return 0;
}

/* The denoise callback handed to the sampler: the host's denoiser, recorded. */
static dk_status record_denoise(void *ctx, const dk_tensor *x, const double *sigma, dk_tensor *denoised,
                                dk_tensor *aux, dk_error *err) {
    run_log *r = ctx;
    DK_TRY(dk_denoiser_denoise(r->den, x, sigma, denoised, aux, err));
    size_t n = r->n_calls + 1, c = r->cap_calls;
    if (grow((void **)&r->calls_x, &c, n, r->per * sizeof(double)) ||
        (c = r->cap_calls, grow((void **)&r->calls_den, &c, n, r->per * sizeof(double))) ||
        (c = r->cap_calls, grow((void **)&r->calls_sigma, &c, n, (size_t)r->batch * sizeof(double)))) {
        r->oom = 1;
        return dk_error_set(err, DK_ENOMEM, "verify sampler: out of memory recording model calls");
    }
    r->cap_calls = c;
    memcpy(r->calls_x + r->n_calls * r->per, x->data, r->per * sizeof(double));
    memcpy(r->calls_den + r->n_calls * r->per, denoised->data, r->per * sizeof(double));
    memcpy(r->calls_sigma + r->n_calls * (size_t)r->batch, sigma, (size_t)r->batch * sizeof(double));
    r->n_calls = n;
    return DK_OK;
}

static int record_step(void *ctx, const dk_step_info *info) {
    run_log *r = ctx;
    size_t n = r->n_steps + 1, c = r->cap_steps;
    if (grow((void **)&r->traj, &c, n, r->per * sizeof(double)) ||
        (c = r->cap_steps, grow((void **)&r->step_sigma, &c, n, sizeof(double))) ||
        (c = r->cap_steps, grow((void **)&r->step_sigma_next, &c, n, sizeof(double)))) {
        r->oom = 1;
        return 1;
    }
    r->cap_steps = c;
    memcpy(r->traj + r->n_steps * r->per, info->x->data, r->per * sizeof(double));
    r->step_sigma[r->n_steps] = info->sigma;
    r->step_sigma_next[r->n_steps] = info->sigma_next;
    r->n_steps = n;
    return 0;
}

static void run_log_free(run_log *r) {
    free(r->calls_x);
    free(r->calls_sigma);
    free(r->calls_den);
    free(r->traj);
    free(r->step_sigma);
    free(r->step_sigma_next);
}

/* An instance of kind/name with the given (name, text) options. */
static dk_instance *make_instance(dk_verify *v, dk_plugin_kind kind, const char *name, const char *const *kv,
                                  size_t n_kv, dk_dtype dtype, dk_error *err) {
    const dk_plugin *p = dk_host_find(v->host, kind, name, err);
    if (!p) {
        dk_error_prefix(err, "%s", v->path);
        return NULL;
    }
    dk_options *o = dk_options_new(p);
    if (!o) {
        dk_error_set(err, DK_ENOMEM, "out of memory");
        return NULL;
    }
    dk_instance *inst = NULL;
    dk_status st = DK_OK;
    for (size_t i = 0; i < n_kv && st == DK_OK; i++) st = dk_options_set(o, kv[2 * i], kv[2 * i + 1], err);
    if (st == DK_OK) st = dk_options_finish(o, err);
    if (st == DK_OK) st = dk_instance_create(p, o, dtype, 0, &inst, err);
    if (st != DK_OK) {
        dk_error_prefix(err, "%s: %s '%s'", v->path, dk_kind_name(kind), name);
        inst = NULL;
    }
    dk_options_free(o);
    return inst;
}

/* Every metadata key "<prefix><name>" as option <name> of p. */
static dk_status set_prefixed(dk_verify *v, dk_options *o, const char *prefix, const char *skip, dk_error *err) {
    size_t plen = strlen(prefix);
    for (size_t i = 0; i < dk_st_meta_count(v->file); i++) {
        const char *key = dk_st_meta_key(v->file, i);
        if (strncmp(key, prefix, plen) != 0) continue;
        if (skip && strcmp(key + plen, skip) == 0) continue;
        if (dk_options_set(o, key + plen, dk_st_meta_value(v->file, i), err) != DK_OK)
            return dk_error_prefix(err, "%s: metadata '%s'", v->path, key);
    }
    return DK_OK;
}

/* The factor of x0_rule: "x0 = noise_init * sigmas[0]" or "... * <metadata key>". */
static dk_status x0_scale(dk_verify *v, const dk_tensor *sigmas, double *out, dk_error *err) {
    const char *rule = dk_verify_meta_str(v, "x0_rule", err);
    if (!rule) return err->code;
    const char *star = strrchr(rule, '*');
    if (!strstr(rule, "noise_init") || !star)
        return dk_error_set(err, DK_EFORMAT, "%s: x0_rule '%s' is not of the form 'x0 = noise_init * <factor>'", v->path,
                            rule);
    char key[128];
    const char *p = star + 1;
    while (*p == ' ') p++;
    snprintf(key, sizeof key, "%s", p);
    for (size_t n = strlen(key); n > 0 && key[n - 1] == ' '; n--) key[n - 1] = '\0';
    if (strcmp(key, "sigmas[0]") == 0) {
        if (!sigmas) return dk_error_set(err, DK_EFORMAT, "%s: x0_rule uses sigmas[0] but there is no 'sigmas'", v->path);
        *out = dk_tensor_get(sigmas, 0);
        return DK_OK;
    }
    return dk_verify_meta_double(v, key, out, err);
}

/* The file's sigmas against the schedule plugin (when it exists). */
static dk_status check_schedule(dk_verify *v, const dk_tensor *sigmas, dk_error *err) {
    const char *sched = dk_st_meta(v->file, "schedule");
    if (!sched || strcmp(sched, "none") == 0 || !sigmas) return DK_OK;
    dk_error e;
    const dk_plugin *p = dk_host_find(v->host, DK_KIND_SCHEDULE, sched, &e);
    if (!p) {
        printf("  (schedule '%s' not checked: no such plugin)\n", sched);
        return DK_OK;
    }
    long long n;
    DK_TRY(dk_verify_meta_int(v, "schedule.n", &n, err));
    dk_options *o = dk_options_new(p);
    if (!o) return dk_error_set(err, DK_ENOMEM, "out of memory");
    dk_instance *inst = NULL;
    dk_status st = set_prefixed(v, o, "schedule.", "n", err);
    if (st == DK_OK) st = dk_options_finish(o, err);
    if (st == DK_OK) st = dk_instance_create(p, o, DK_F64, 0, &inst, err);
    dk_options_free(o);
    double *got = malloc(((size_t)n + 1) * sizeof(double));
    if (st == DK_OK && !got) st = dk_error_set(err, DK_ENOMEM, "out of memory");
    if (st == DK_OK && (size_t)n + 1 != sigmas->numel)
        st = dk_error_set(err, DK_EFORMAT, "%s: schedule.n = %lld but sigmas has %zu values", v->path, n, sigmas->numel);
    if (st == DK_OK && dk_schedule_vt(inst)->sigmas) {
        st = dk_schedule_vt(inst)->sigmas(inst->self, n, got, err);
        if (st == DK_OK) dk_verify_compare_f64(v, "sigmas (schedule plugin)", got, sigmas, 0.0, 1e-12);
    }
    free(got);
    dk_instance_free(inst);
    if (st != DK_OK) dk_error_prefix(err, "%s: schedule '%s'", v->path, sched);
    return st;
}

/* Compare `name` ([N, ...] in the file) with n rows of got. */
static void compare_rows(dk_verify *v, const char *name, const double *got, size_t n_rows, size_t per, double tol,
                         dk_error *err) {
    if (!dk_st_has(v->file, name)) return;
    dk_tensor *want = dk_verify_get(v, name, DK_F64, err);
    if (!want) {
        dk_verify_check(v, 0, "%s: %s", name, err->msg);
        return;
    }
    if (want->numel != n_rows * per) {
        dk_verify_check(v, 0, "%s: the file has %lld rows, the run produced %zu", name,
                        (long long)(want->ndim ? want->shape[0] : 0), n_rows);
    } else {
        dk_verify_compare_f64(v, name, got, want, tol, tol);
    }
    dk_tensor_free(want);
}

static dk_status verify_sampler(dk_verify *v, dk_error *err) {
    const char *fn = dk_verify_meta_str(v, "sampler", err);
    if (!fn) return err->code;
    char name[128];
    snprintf(name, sizeof name, "%s", strncmp(fn, "sample_", 7) == 0 ? fn + 7 : fn);
    int adaptive = strcmp(name, "dpm_adaptive") == 0;
    double tol = adaptive ? 1e-9 : 1e-10;
    printf("  sampler %s (case %s)\n", name, dk_st_meta(v->file, "case") ? dk_st_meta(v->file, "case") : "?");

    dk_status st = DK_OK;
    dk_tensor *sigmas_t = NULL, *noise_init = NULL, *stream = NULL, *x = NULL, *want = NULL;
    dk_instance *sampler = NULL, *model = NULL, *precond = NULL;
    dk_options *o = NULL;
    dk_noise *noise = NULL;
    run_log r = {0};
    double *sigmas = NULL;
    int64_t n_sigmas = 0;

    /* the sampler and its options */
    const dk_plugin *sp = dk_host_find(v->host, DK_KIND_SAMPLER, name, err);
    if (!sp) return dk_error_prefix(err, "%s", v->path);
    const dk_sampler_vtable *svt = sp->vtable;
    if (!(o = dk_options_new(sp))) return dk_error_set(err, DK_ENOMEM, "out of memory");
    st = set_prefixed(v, o, "opt.", NULL, err);

    /* sigmas */
    if (st == DK_OK && dk_st_has(v->file, "sigmas")) {
        if (!(sigmas_t = dk_verify_get(v, "sigmas", DK_F64, err))) st = err->code;
        else {
            n_sigmas = (int64_t)sigmas_t->numel;
            sigmas = malloc((size_t)n_sigmas * sizeof *sigmas);
            if (!sigmas) st = dk_error_set(err, DK_ENOMEM, "out of memory");
            else memcpy(sigmas, sigmas_t->data, (size_t)n_sigmas * sizeof *sigmas);
        }
    } else if (st == DK_OK) {
        double smin, smax;
        if ((st = dk_verify_meta_double(v, "schedule.sigma_min", &smin, err)) == DK_OK &&
            (st = dk_verify_meta_double(v, "schedule.sigma_max", &smax, err)) == DK_OK) {
            n_sigmas = 3;
            sigmas = malloc(3 * sizeof *sigmas);
            if (!sigmas) st = dk_error_set(err, DK_ENOMEM, "out of memory");
            else {
                sigmas[0] = smax;
                sigmas[1] = smin;
                sigmas[2] = 0.0;
            }
        }
        if (st == DK_OK && !(svt->flags & DK_SAMPLER_OWN_SIGMAS))
            st = dk_error_set(err, DK_EFORMAT, "%s: no 'sigmas' tensor, but sampler '%s' needs a schedule", v->path, name);
    }
    /* dpm_fast's NFE budget is k-diffusion's argument n, recorded as schedule.n */
    if (st == DK_OK && strcmp(name, "dpm_fast") == 0) {
        const char *nfe = dk_verify_meta_str(v, "schedule.n", err);
        st = nfe ? dk_options_set(o, "nfe", nfe, err) : err->code;
    }
    if (st == DK_OK) st = dk_options_finish(o, err);
    if (st == DK_OK) st = dk_instance_create(sp, o, DK_F64, 0, &sampler, err);
    if (st != DK_OK) {
        dk_error_prefix(err, "%s: sampler '%s'", v->path, name);
        goto done;
    }
    if ((st = check_schedule(v, sigmas_t, err))) goto done;

    /* the model: gmm from this very file, identity preconditioning, float64 */
    {
        const char *mkv[] = {"file", v->path};
        if (!(model = make_instance(v, DK_KIND_MODEL, "gmm", mkv, 1, DK_F64, err)) ||
            !(precond = make_instance(v, DK_KIND_PRECOND, "identity", NULL, 0, DK_F64, err))) {
            st = err->code;
            goto done;
        }
        if (!(r.den = dk_denoiser_new(model, precond, err))) {
            st = err->code;
            goto done;
        }
    }

    /* x0 and the noise */
    double scale;
    if ((st = x0_scale(v, sigmas_t, &scale, err))) goto done;
    if (!(noise_init = dk_verify_get(v, "noise_init", DK_F64, err)) || !(x = dk_tensor_clone(noise_init, err))) {
        st = err->code;
        goto done;
    }
    for (size_t i = 0; i < x->numel; i++) dk_f64(x)[i] = dk_f64(noise_init)[i] * scale;
    if (dk_st_has(v->file, "noise_stream") && !(stream = dk_verify_get(v, "noise_stream", DK_F64, err))) {
        st = err->code;
        goto done;
    }
    if (!(noise = dk_noise_replay(stream, err))) {
        st = err->code;
        goto done;
    }
    r.batch = x->shape[0];
    r.per = x->numel;

    /* run */
    dk_sampler_env env = {.denoise = record_denoise, .denoise_ctx = &r, .noise = noise,
                          .on_step = record_step, .step_ctx = &r};
    st = svt->sample(sampler->self, &env, sigmas, n_sigmas, x, err);
    if (r.oom) st = dk_error_set(err, DK_ENOMEM, "verify sampler: out of memory");
    if (st != DK_OK) {
        dk_error_prefix(err, "%s: sampler '%s'", v->path, name);
        goto done;
    }

    /* compare */
    if (!(want = dk_verify_get(v, "x_final", DK_F64, err))) {
        st = err->code;
        goto done;
    }
    dk_verify_compare(v, "x_final", x, want, tol, tol);
    {
        /* traj = the x of every step report, then x_final */
        size_t rows = r.n_steps + 1;
        double *traj = malloc(rows * r.per * sizeof(double));
        if (!traj) {
            st = dk_error_set(err, DK_ENOMEM, "out of memory");
            goto done;
        }
        if (r.n_steps) memcpy(traj, r.traj, r.n_steps * r.per * sizeof(double));
        memcpy(traj + r.n_steps * r.per, x->data, r.per * sizeof(double));
        compare_rows(v, "traj", traj, rows, r.per, tol, err);
        free(traj);
    }
    compare_rows(v, "calls.x", r.calls_x, r.n_calls, r.per, tol, err);
    compare_rows(v, "calls.sigma", r.calls_sigma, r.n_calls, (size_t)r.batch, tol, err);
    compare_rows(v, "calls.denoised", r.calls_den, r.n_calls, r.per, tol, err);

    long long m, nfe, n_steps;
    if ((st = dk_verify_meta_int(v, "noise_slices_consumed", &m, err))) goto done;
    dk_verify_check(v, (long long)noise->draws == m, "noise slices drawn: %llu, file: %lld",
                    (unsigned long long)noise->draws, m);
    if ((st = dk_verify_meta_int(v, "nfe", &nfe, err))) goto done;
    dk_verify_check(v, (long long)r.n_calls == nfe, "model evaluations: %zu, file: %lld", r.n_calls, nfe);
    if ((st = dk_verify_meta_int(v, "n_steps", &n_steps, err))) goto done;
    dk_verify_check(v, (long long)r.n_steps == n_steps, "steps: %zu, file: %lld", r.n_steps, n_steps);

    if (adaptive) {
        long long i_steps, i_nfe, i_acc, i_rej, acc = 0;
        for (size_t i = 0; i < r.n_steps; i++) acc += r.step_sigma_next[i] != r.step_sigma[i];
        if ((st = dk_verify_meta_int(v, "info.steps", &i_steps, err)) ||
            (st = dk_verify_meta_int(v, "info.nfe", &i_nfe, err)) ||
            (st = dk_verify_meta_int(v, "info.n_accept", &i_acc, err)) ||
            (st = dk_verify_meta_int(v, "info.n_reject", &i_rej, err)))
            goto done;
        dk_verify_check(v, (long long)r.n_steps == i_steps, "info.steps: %zu, file: %lld", r.n_steps, i_steps);
        dk_verify_check(v, (long long)r.n_calls == i_nfe, "info.nfe: %zu, file: %lld", r.n_calls, i_nfe);
        dk_verify_check(v, acc == i_acc, "info.n_accept: %lld, file: %lld", acc, i_acc);
        dk_verify_check(v, (long long)r.n_steps - acc == i_rej, "info.n_reject: %lld, file: %lld",
                        (long long)r.n_steps - acc, i_rej);
        double *t = malloc((r.n_steps + 1) * sizeof(double)), *a = malloc((r.n_steps + 1) * sizeof(double));
        if (!t || !a) {
            free(t);
            free(a);
            st = dk_error_set(err, DK_ENOMEM, "out of memory");
            goto done;
        }
        for (size_t i = 0; i < r.n_steps; i++) {
            t[i] = -log(r.step_sigma_next[i]);
            a[i] = r.step_sigma_next[i] != r.step_sigma[i];
        }
        compare_rows(v, "adaptive.t", t, r.n_steps, 1, tol, err);
        compare_rows(v, "adaptive.accept", a, r.n_steps, 1, 0.0, err);
        free(t);
        free(a);
    }

done:
    run_log_free(&r);
    dk_denoiser_free(r.den);
    dk_noise_free(noise);
    dk_instance_free(sampler);
    dk_instance_free(model);
    dk_instance_free(precond);
    dk_options_free(o);
    dk_tensor_free(sigmas_t);
    dk_tensor_free(noise_init);
    dk_tensor_free(stream);
    dk_tensor_free(x);
    dk_tensor_free(want);
    free(sigmas);
    return st;
}

DK_VERIFY_SECTION("sampler", verify_sampler)
