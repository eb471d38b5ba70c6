/* test_host_loader.c: loading real .so files — the example plugin through a
 * search folder (lookup, suggestions, instances, values) and each broken test
 * plugin rejected by dk_plugin_load_file with its reason. */
#include "dktest.h"
#include <stdlib.h>
#include <string.h>

#define CHECK_MSG(substr) do { dk_test_checks++; if (!strstr(dk_test_err.msg, substr)) \
    dk_test_fail(__FILE__, __LINE__, "message '%s' lacks '%s'", dk_test_err.msg, substr); } while (0)

static void expect_broken(const char *file, dk_status want, const char *substr) {
    char path[1024];
    const dk_plugin *p = NULL;
    void *handle = NULL;
    snprintf(path, sizeof path, "%s/%s", DK_BROKEN_PLUGIN_DIR, file);
    DK_CHECK_STATUS(dk_plugin_load_file(path, &p, &handle, &dk_test_err), want);
    DK_CHECK(p == NULL && handle == NULL);
    CHECK_MSG(path);
    CHECK_MSG(substr);
}

static dk_status fixed_uniform(dk_draws *self, size_t n, double *out, dk_error *err) {
    for (size_t i = 0; i < n; i++) out[i] = (double)i / (double)(n - 1); /* 0 .. 1 */
    return DK_OK;
}

int main(void) {
    dk_host *h;
    const dk_plugin *p;
    size_t i, n_problems = 0;

    /* every broken plugin with its reason */
    expect_broken("broken_noentry.so", DK_EFORMAT, "has no entry point 'diffkit_plugin'");
    expect_broken("broken_abi.so", DK_EABI, "was built for diffkit plugin ABI 2 (descriptor size");
    expect_broken("broken_abi.so", DK_EABI, "rebuild it against this diffkit");
    expect_broken("broken_size.so", DK_EABI, "this host has ABI 1 (size");
    expect_broken("broken_options.so", DK_EINVAL, "the default '-7' of option 'rho' is invalid");
    expect_broken("broken_vtable.so", DK_EABI, "has struct_size 8");
    expect_broken("does_not_exist.so", DK_EIO, "cannot load plugin");

    /* a host searching only the test folders (the build tree adds more) */
    h = dk_host_new(&dk_test_err);
    DK_CHECK(h != NULL);
    DK_CHECK_OK(dk_host_add_path(h, DK_EXAMPLE_PLUGIN_DIR, &dk_test_err));
    DK_CHECK_OK(dk_host_add_path(h, DK_BROKEN_PLUGIN_DIR, &dk_test_err));
    DK_CHECK_OK(dk_host_scan(h, &dk_test_err));
    DK_CHECK(dk_host_path_count(h) >= 2 && strcmp(dk_host_path(h, 0), DK_EXAMPLE_PLUGIN_DIR) == 0);
    for (i = 0; i < dk_host_problem_count(h); i++)
        if (strstr(dk_host_problem(h, i), DK_BROKEN_PLUGIN_DIR)) n_problems++;
    DK_CHECK(n_problems == 5); /* each broken plugin remembered, none listed */
    for (i = 0; i < dk_host_count(h); i++) DK_CHECK(strncmp(dk_host_at(h, i)->name, "broken", 6) != 0);

    p = dk_host_find(h, DK_KIND_SCHEDULE, "cosine-example", &dk_test_err);
    DK_CHECK(p != NULL);
    if (p) {
        const char *path = dk_host_path_of(h, p);
        DK_CHECK(path && strstr(path, "/schedule/cosine-example.so"));
    }
    DK_CHECK(dk_host_find(h, DK_KIND_SCHEDULE, "cosine", &dk_test_err) == NULL);
    DK_CHECK(dk_test_err.code == DK_ENOTFOUND);
    CHECK_MSG("no schedule plugin named 'cosine' (did you mean 'cosine-example'");
    DK_CHECK(dk_host_find(h, DK_KIND_SAMPLER, "cosine-example", &dk_test_err) == NULL);
    CHECK_MSG("'cosine-example' is a schedule plugin");
    DK_CHECK(dk_host_find(h, DK_KIND_SCHEDULE, "broken_abi", &dk_test_err) == NULL);
    CHECK_MSG("schedule plugin 'broken_abi' is not available: plugin ");
    CHECK_MSG("ABI 2");

    if (p) {
        dk_options *o = dk_options_new(p);
        dk_instance *inst = NULL;
        double s[4], d[3];
        dk_draws draws = {fixed_uniform, NULL};
        DK_CHECK_OK(dk_options_set(o, "sigma_min", "0.5", &dk_test_err));
        DK_CHECK_OK(dk_options_set_float(o, "sigma_max", 2.0, &dk_test_err));
        DK_CHECK_OK(dk_instance_create(p, o, DK_F64, 0, &inst, &dk_test_err));
        if (inst) {
            DK_CHECK_OK(dk_schedule_vt(inst)->sigmas(inst->self, 3, s, &dk_test_err));
            DK_CHECK_NEAR(s[0], 2.0, 1e-15, 1e-15);
            DK_CHECK_NEAR(s[2], 0.5, 1e-15, 1e-15);
            DK_CHECK(s[3] == 0.0);
            /* middle sigma: tan of the mean of atan(2) and atan(0.5) = tan(pi/4) = 1 */
            DK_CHECK_NEAR(s[1], 1.0, 1e-15, 1e-15);
            DK_CHECK_OK(dk_schedule_vt(inst)->density(inst->self, 3, &draws, d, &dk_test_err));
            DK_CHECK_NEAR(d[0], 0.5, 1e-15, 1e-15);
            DK_CHECK_NEAR(d[1], 1.0, 1e-15, 1e-15);
            DK_CHECK_NEAR(d[2], 2.0, 1e-15, 1e-15);
        }
        dk_instance_free(inst);
        /* the plugin's own check of a relation between options */
        DK_CHECK_OK(dk_options_set(o, "sigma_min", "3", &dk_test_err));
        DK_CHECK_STATUS(dk_instance_create(p, o, DK_F64, 0, &inst, &dk_test_err), DK_EINVAL);
        CHECK_MSG("sigma_min (3) must be below sigma_max (2)");
        dk_options_free(o);
    }
    dk_host_free(h);
    return dk_test_finish();
}
