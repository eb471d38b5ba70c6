/* densities.c: `diffkit verify` section "densities" (tests/data/golden/FORMAT.md section 5):
 * for every case in metadata `cases`, the training density plugin of NAME.fn
 * (k-diffusion's rand_<name>) is created through the host with the case's
 * keyword arguments as options and fed the recorded draws NAME.u / NAME.n
 * through a replay source (stratified with NAME.stratified_group/_groups
 * when present) for N = metadata `N` samples. NAME.out is compared at rel
 * 1e-12 (lognormal 1e-9: erfinv near the tails), and exactly u_consumed
 * uniforms and n_consumed normals must have been used. */
#include <math.h>
#include "components_common.h"
#include "diffkit/draws.h"

/* k-diffusion utils.rand_* -> diffkit schedule plugin */
static const char *plugin_of(const char *fn) {
    static const char *const map[][2] = {
        {"rand_log_normal", "lognormal"},         {"rand_log_logistic", "loglogistic"},
        {"rand_log_uniform", "loguniform"},       {"rand_v_diffusion", "v-diffusion"},
        {"rand_split_log_normal", "split-lognormal"}, {"rand_cosine_interpolated", "cosine-interpolated"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(fn, map[i][0]) == 0) return map[i][1];
    return NULL;
}

static dk_status check_case(dk_verify *v, const char *name, long long N, dk_error *err) {
    char key[256];
    long long u_used = 0, n_used = 0, group = 0, groups = 0;
    snprintf(key, sizeof key, "%s.fn", name);
    const char *fn = dk_verify_meta_str(v, key, err);
    if (!fn) return err->code;
    const char *plugin = plugin_of(fn);
    if (!plugin)
        return dk_error_set(err, DK_EFORMAT, "%s: case '%s' has fn '%s', which diffkit has no density plugin for", v->path, name, fn);
    snprintf(key, sizeof key, "%s.u_consumed", name);
    if (dk_st_meta(v->file, key)) DK_TRY(dk_verify_meta_int(v, key, &u_used, err));
    snprintf(key, sizeof key, "%s.n_consumed", name);
    if (dk_st_meta(v->file, key)) DK_TRY(dk_verify_meta_int(v, key, &n_used, err));
    snprintf(key, sizeof key, "%s.stratified_groups", name);
    if (dk_st_meta(v->file, key)) {
        DK_TRY(dk_verify_meta_int(v, key, &groups, err));
        snprintf(key, sizeof key, "%s.stratified_group", name);
        DK_TRY(dk_verify_meta_int(v, key, &group, err));
    }
    const dk_plugin *p = vc_find(v, DK_KIND_SCHEDULE, plugin, err);
    if (!p) return err->code;
    dk_options *o = dk_options_new(p);
    if (!o) return dk_error_set(err, DK_ENOMEM, "out of memory");
    static const char *const skip[] = {"fn", "u_consumed", "n_consumed", "stratified_group", "stratified_groups", NULL};
    if (vc_set_options(v, o, name, skip, err) != DK_OK) {
        dk_options_free(o);
        return err->code;
    }
    dk_instance *inst = vc_create(v, p, o, err);
    if (!inst) return err->code;

    dk_tensor *u = NULL, *nrm = NULL, *want = NULL;
    double *got = malloc(((size_t)N + 1) * sizeof(double));
    dk_status st = DK_OK;
    snprintf(key, sizeof key, "%s.u", name);
    if (dk_st_has(v->file, key) && !(u = dk_verify_get(v, key, DK_F64, err))) st = err->code;
    snprintf(key, sizeof key, "%s.n", name);
    if (st == DK_OK && dk_st_has(v->file, key) && !(nrm = dk_verify_get(v, key, DK_F64, err))) st = err->code;
    snprintf(key, sizeof key, "%s.out", name);
    if (st == DK_OK && !(want = dk_verify_get(v, key, DK_F64, err))) st = err->code;
    if (st == DK_OK && !got) st = dk_error_set(err, DK_ENOMEM, "out of memory");
    if (st == DK_OK && want->numel != (size_t)N)
        st = dk_error_set(err, DK_EFORMAT, "%s: %s has %zu values, metadata N is %lld", v->path, key, want->numel, N);
    if (st == DK_OK) {
        dk_draws_src src;
        dk_draws_init_replay(&src, u ? dk_f64(u) : NULL, u ? u->numel : 0, nrm ? dk_f64(nrm) : NULL, nrm ? nrm->numel : 0);
        st = dk_draws_set_stratified(&src, group, groups, err);
        if (st == DK_OK) st = dk_schedule_vt(inst)->density(inst->self, (size_t)N, &src.base, got, err);
        if (st == DK_OK) {
            double rtol = strcmp(plugin, "lognormal") == 0 ? 1e-9 : 1e-12;
            dk_verify_compare_f64(v, key, got, want, 0.0, rtol);
            dk_verify_check(v, src.used_uniforms == (size_t)u_used && src.used_normals == (size_t)n_used,
                            "%s: draws used: %zu uniforms, %zu normals (file: %lld, %lld)", name, src.used_uniforms,
                            src.used_normals, u_used, n_used);
        }
    }
    free(got);
    dk_tensor_free(u);
    dk_tensor_free(nrm);
    dk_tensor_free(want);
    dk_instance_free(inst);
    return st;
}

static dk_status verify_densities(dk_verify *v, dk_error *err) {
    static char cases[512][128];
    long long N;
    const char *list = dk_verify_meta_str(v, "cases", err);
    if (!list) return err->code;
    DK_TRY(dk_verify_meta_int(v, "N", &N, err));
    if (N < 1) return dk_error_set(err, DK_EFORMAT, "%s: metadata N = %lld, expected >= 1", v->path, N);
    int n = vc_split(list, cases, 512);
    for (int i = 0; i < n; i++) DK_TRY(check_case(v, cases[i], N, err));
    return DK_OK;
}

DK_VERIFY_SECTION("densities", verify_densities)
