/* schedules.c: `diffkit verify` section "schedules" (tests/data/golden/FORMAT.md section 1):
 * for every case in metadata `cases`, the sampling schedule plugin named by
 * NAME.fn (get_sigmas_<plugin>) is created through the host with the case's
 * arguments as options, asked for NAME.n steps, and compared with
 * NAME.sigmas (float64, rel 1e-12) and, when present, NAME.sigmas_f32 with
 * the plugin's float32=true (rel 3e-6; vp 5e-2, whose float32 values carry
 * cancellation error and are not a parity target). */
#include <math.h>
#include "components_common.h"

static dk_status check_case(dk_verify *v, const char *name, dk_error *err) {
    char key[256], plugin[128];
    long long n;
    snprintf(key, sizeof key, "%s.fn", name);
    const char *fn = dk_verify_meta_str(v, key, err);
    if (!fn) return err->code;
    if (strncmp(fn, "get_sigmas_", 11) != 0)
        return dk_error_set(err, DK_EFORMAT, "%s: case '%s' has fn '%s', expected get_sigmas_<schedule>", v->path, name, fn);
    snprintf(plugin, sizeof plugin, "%s", fn + 11);
    snprintf(key, sizeof key, "%s.n", name);
    DK_TRY(dk_verify_meta_int(v, key, &n, err));
    const dk_plugin *p = vc_find(v, DK_KIND_SCHEDULE, plugin, err);
    if (!p) return err->code;
    static const char *const skip[] = {"fn", "n", NULL};
    for (int f32 = 0; f32 < 2; f32++) {
        snprintf(key, sizeof key, "%s.%s", name, f32 ? "sigmas_f32" : "sigmas");
        if (f32 && !dk_st_has(v->file, key)) continue;
        dk_tensor *want = dk_verify_get(v, key, DK_F64, err);
        if (!want) return err->code;
        if (want->numel != (size_t)n + 1) {
            dk_tensor_free(want);
            return dk_error_set(err, DK_EFORMAT, "%s: %s has %zu values, expected n+1 = %lld", v->path, key, want->numel, n + 1);
        }
        dk_options *o = dk_options_new(p);
        if (!o) {
            dk_tensor_free(want);
            return dk_error_set(err, DK_ENOMEM, "out of memory");
        }
        dk_status st = vc_set_options(v, o, name, skip, err);
        if (st == DK_OK && f32) st = dk_options_set_bool(o, "float32", 1, err);
        dk_instance *inst = st == DK_OK ? vc_create(v, p, o, err) : (dk_options_free(o), NULL);
        double *got = malloc(((size_t)n + 1) * sizeof(double));
        if (inst && got) {
            st = dk_schedule_vt(inst)->sigmas(inst->self, n, got, err);
            if (st == DK_OK) {
                double rtol = f32 ? (strcmp(plugin, "vp") == 0 ? 5e-2 : 3e-6) : 1e-12;
                dk_verify_compare_f64(v, key, got, want, 0.0, rtol);
            }
        } else if (!got) {
            st = dk_error_set(err, DK_ENOMEM, "out of memory");
        } else {
            st = err->code;
        }
        free(got);
        dk_instance_free(inst);
        dk_tensor_free(want);
        DK_TRY(st);
    }
    return DK_OK;
}

static dk_status verify_schedules(dk_verify *v, dk_error *err) {
    static char cases[512][128];
    const char *list = dk_verify_meta_str(v, "cases", err);
    if (!list) return err->code;
    int n = vc_split(list, cases, 512);
    for (int i = 0; i < n; i++) DK_TRY(check_case(v, cases[i], err));
    return DK_OK;
}

DK_VERIFY_SECTION("schedules", verify_schedules)
