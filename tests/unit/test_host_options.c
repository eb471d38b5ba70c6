/* test_host_options.c: option parsing, range checks and messages (options.c),
 * and descriptor validation (host.c dk_plugin_validate) on a static plugin. */
#include "dktest.h"
#include <string.h>

static dk_status t_create(const dk_options *o, void **self, dk_error *err) { *self = (void *)o; return DK_OK; }
static void t_destroy(void *self) { (void)self; }
static dk_status t_sigmas(void *self, int64_t n, double *out, dk_error *err) {
    for (int64_t i = 0; i <= n; i++) out[i] = (double)(n - i);
    return DK_OK;
}

static const dk_schedule_vtable vt = {sizeof(dk_schedule_vtable), t_create, t_destroy, t_sigmas, NULL};

static const dk_option_spec specs[] = {
    {"sigma_min", DK_OPT_FLOAT, "0.002", 0, INFINITY, NULL, "smallest sigma", DK_OPT_MIN_EXCLUSIVE},
    {"sigma_max", DK_OPT_FLOAT, "80", 0, INFINITY, NULL, "largest sigma", DK_OPT_MIN_EXCLUSIVE},
    {"rho", DK_OPT_FLOAT, "7", 0, INFINITY, NULL, "warp exponent", 0},
    {"steps", DK_OPT_INT, "10", 1, 1000, NULL, "number of steps", 0},
    {"flip", DK_OPT_BOOL, "false", -INFINITY, INFINITY, NULL, "reverse", 0},
    {"mode", DK_OPT_ENUM, "karras", -INFINITY, INFINITY, "karras|snr|min-snr", "weighting", 0},
    {"widths", DK_OPT_INT_LIST, "[128,256]", 1, INFINITY, NULL, "widths per level", 0},
    {"betas", DK_OPT_FLOAT_LIST, "0.9, 0.95", 0, 1, NULL, "Adam betas", DK_OPT_MAX_EXCLUSIVE},
    {"attn", DK_OPT_STRING_LIST, "[neighborhood,global]", -INFINITY, INFINITY, "neighborhood|global|none", "attention per level", 0},
    {"label", DK_OPT_STRING, NULL, -INFINITY, INFINITY, NULL, "a free label", DK_OPT_OPTIONAL},
    {"needed", DK_OPT_FLOAT, NULL, -INFINITY, INFINITY, NULL, "a required value", DK_OPT_ALLOW_INF},
    {"fn", DK_OPT_FUNCTION, NULL, -INFINITY, INFINITY, NULL, "a function", DK_OPT_OPTIONAL},
};

static const dk_plugin plug = {DK_PLUGIN_ABI_VERSION, sizeof(dk_plugin), DK_KIND_SCHEDULE, "karras", "1.0",
                               "test schedule", specs, sizeof specs / sizeof specs[0], &vt};

static dk_status fn_double(void *ctx, size_t n, const double *in, double *out, dk_error *err) {
    for (size_t i = 0; i < n; i++) out[i] = 2 * in[i];
    return DK_OK;
}

#define CHECK_MSG(substr) do { dk_test_checks++; if (!strstr(dk_test_err.msg, substr)) \
    dk_test_fail(__FILE__, __LINE__, "message '%s' lacks '%s'", dk_test_err.msg, substr); } while (0)

int main(void) {
    dk_options *o;
    dk_plugin_kind k;

    DK_CHECK(strcmp(dk_kind_name(DK_KIND_SAMPLER), "sampler") == 0);
    DK_CHECK(dk_kind_from_name("precond", &k) == 0 && k == DK_KIND_PRECOND);
    DK_CHECK(dk_kind_from_name("samplers", &k) != 0);

    DK_CHECK_OK(dk_plugin_validate(&plug, "test", &dk_test_err));
    o = dk_options_new(&plug);
    DK_CHECK(o != NULL);

    /* defaults */
    DK_CHECK_NEAR(dk_opt_float(o, "sigma_min"), 0.002, 0, 0);
    DK_CHECK(dk_opt_int(o, "steps") == 10);
    DK_CHECK(dk_opt_bool(o, "flip") == 0);
    DK_CHECK(strcmp(dk_opt_str(o, "mode"), "karras") == 0);
    DK_CHECK(dk_opt_len(o, "widths") == 2 && dk_opt_int_at(o, "widths", 1) == 256);
    DK_CHECK(dk_opt_len(o, "betas") == 2);
    DK_CHECK_NEAR(dk_opt_float_at(o, "betas", 1), 0.95, 0, 0);
    DK_CHECK(dk_opt_len(o, "attn") == 2 && strcmp(dk_opt_str_at(o, "attn", 1), "global") == 0);
    DK_CHECK(!dk_opt_has(o, "label") && dk_opt_str(o, "label") == NULL);
    DK_CHECK(dk_opt_func(o, "fn") == NULL);

    /* required option missing */
    DK_CHECK_STATUS(dk_options_finish(o, &dk_test_err), DK_EINVAL);
    CHECK_MSG("option 'needed' is required");

    /* text values */
    DK_CHECK_OK(dk_options_set(o, "needed", "-inf", &dk_test_err));
    DK_CHECK(isinf(dk_opt_float(o, "needed")) && dk_opt_float(o, "needed") < 0);
    DK_CHECK_OK(dk_options_set(o, "sigma_min", "1e-3", &dk_test_err));
    DK_CHECK_NEAR(dk_opt_float(o, "sigma_min"), 1e-3, 0, 0);
    /* numbers must be finite unless the option says DK_OPT_ALLOW_INF ("needed" above) */
    DK_CHECK_STATUS(dk_options_set(o, "sigma_max", "inf", &dk_test_err), DK_EINVAL);
    DK_CHECK(strcmp(dk_test_err.msg, "plugin schedule 'karras': option 'sigma_max' = inf is not finite: give a finite number > 0 (sigma_max: largest sigma)") == 0);
    DK_CHECK_STATUS(dk_options_set_float(o, "sigma_max", -INFINITY, &dk_test_err), DK_EINVAL);
    CHECK_MSG("option 'sigma_max' = -inf is not finite");
    DK_CHECK_NEAR(dk_opt_float(o, "sigma_max"), 80, 0, 0);
    DK_CHECK_OK(dk_options_set(o, "flip", "true", &dk_test_err));
    DK_CHECK(dk_opt_bool(o, "flip") == 1);
    DK_CHECK_OK(dk_options_set(o, "steps", "1e2", &dk_test_err));
    DK_CHECK(dk_opt_int(o, "steps") == 100);
    DK_CHECK_OK(dk_options_set(o, "widths", "64, 128 ,256", &dk_test_err));
    DK_CHECK(dk_opt_len(o, "widths") == 3 && dk_opt_int_at(o, "widths", 2) == 256);
    DK_CHECK_OK(dk_options_set(o, "widths", "[]", &dk_test_err));
    DK_CHECK(dk_opt_len(o, "widths") == 0);
    DK_CHECK_OK(dk_options_set(o, "attn", "[\"global\"]", &dk_test_err));
    DK_CHECK(dk_opt_len(o, "attn") == 1 && strcmp(dk_opt_str_at(o, "attn", 0), "global") == 0);
    DK_CHECK_OK(dk_options_set(o, "mode", "min-snr", &dk_test_err));
    DK_CHECK(strcmp(dk_opt_str(o, "mode"), "min-snr") == 0);
    DK_CHECK_OK(dk_options_finish(o, &dk_test_err));

    /* out of range, exclusive bound, with the exact message */
    DK_CHECK_STATUS(dk_options_set(o, "sigma_min", "-1", &dk_test_err), DK_EINVAL);
    DK_CHECK(strcmp(dk_test_err.msg, "plugin schedule 'karras': option 'sigma_min' = -1 is out of range: must be > 0 (sigma_min: smallest sigma)") == 0);
    DK_CHECK_STATUS(dk_options_set_float(o, "sigma_min", 0.0, &dk_test_err), DK_EINVAL);
    CHECK_MSG("must be > 0");
    DK_CHECK_OK(dk_options_set_float(o, "rho", 0.0, &dk_test_err)); /* inclusive bound */
    DK_CHECK_STATUS(dk_options_set_int(o, "steps", 1001, &dk_test_err), DK_EINVAL);
    CHECK_MSG("must be in [1, 1000]");
    DK_CHECK_STATUS(dk_options_set(o, "betas", "[0.9, 1]", &dk_test_err), DK_EINVAL);
    CHECK_MSG("must be in [0, 1)");
    /* a failed set keeps the previous value */
    DK_CHECK_NEAR(dk_opt_float(o, "sigma_min"), 1e-3, 0, 0);

    /* unknown option with a suggestion */
    DK_CHECK_STATUS(dk_options_set(o, "sigmamin", "1", &dk_test_err), DK_EINVAL);
    CHECK_MSG("unknown option 'sigmamin' for schedule 'karras' (did you mean 'sigma_min'");
    CHECK_MSG("options: sigma_min, sigma_max, rho, steps");

    /* wrong types */
    DK_CHECK_STATUS(dk_options_set(o, "rho", "abc", &dk_test_err), DK_EINVAL);
    DK_CHECK(strcmp(dk_test_err.msg, "option 'rho' of schedule 'karras' expects a float, got 'abc'") == 0);
    DK_CHECK_STATUS(dk_options_set(o, "steps", "2.5", &dk_test_err), DK_EINVAL);
    CHECK_MSG("expects an int");
    DK_CHECK_STATUS(dk_options_set(o, "rho", "nan", &dk_test_err), DK_EINVAL);
    DK_CHECK_STATUS(dk_options_set(o, "flip", "maybe", &dk_test_err), DK_EINVAL);
    DK_CHECK_STATUS(dk_options_set(o, "mode", "snr2", &dk_test_err), DK_EINVAL);
    CHECK_MSG("expects one of karras|snr|min-snr, got 'snr2' (did you mean 'snr'");
    DK_CHECK_STATUS(dk_options_set(o, "attn", "global,local", &dk_test_err), DK_EINVAL);
    DK_CHECK_STATUS(dk_options_set(o, "widths", "[1,2", &dk_test_err), DK_EINVAL);
    DK_CHECK_STATUS(dk_options_set_bool(o, "rho", 1, &dk_test_err), DK_EINVAL);
    DK_CHECK_STATUS(dk_options_set_float(o, "steps", 2.5, &dk_test_err), DK_EINVAL);
    DK_CHECK_STATUS(dk_options_set(o, "fn", "x", &dk_test_err), DK_EINVAL);

    /* typed setters and conversions */
    DK_CHECK_OK(dk_options_set_float(o, "steps", 20.0, &dk_test_err));
    DK_CHECK(dk_opt_int(o, "steps") == 20);
    DK_CHECK_OK(dk_options_set_int(o, "rho", 3, &dk_test_err));
    DK_CHECK_NEAR(dk_opt_float(o, "rho"), 3.0, 0, 0);
    {
        double w[2] = {32, 64};
        int64_t b[1] = {0};
        const char *a[2] = {"none", "neighborhood"};
        DK_CHECK_OK(dk_options_set_float_list(o, "widths", w, 2, &dk_test_err));
        DK_CHECK(dk_opt_int_at(o, "widths", 0) == 32);
        DK_CHECK_OK(dk_options_set_int_list(o, "betas", b, 1, &dk_test_err));
        DK_CHECK(dk_opt_len(o, "betas") == 1 && dk_opt_float_at(o, "betas", 0) == 0.0);
        DK_CHECK_OK(dk_options_set_str_list(o, "attn", a, 2, &dk_test_err));
        DK_CHECK(strcmp(dk_opt_str_at(o, "attn", 0), "none") == 0);
        a[1] = "bogus";
        DK_CHECK_STATUS(dk_options_set_str_list(o, "attn", a, 2, &dk_test_err), DK_EINVAL);
    }
    {
        dk_opt_fn f = {fn_double, NULL};
        double in = 1.5, out = 0;
        DK_CHECK_OK(dk_options_set_fn(o, "fn", f, &dk_test_err));
        DK_CHECK(dk_opt_func(o, "fn") != NULL);
        DK_CHECK_OK(dk_opt_func(o, "fn")->call(dk_opt_func(o, "fn")->ctx, 1, &in, &out, &dk_test_err));
        DK_CHECK(out == 3.0);
    }
    dk_options_free(o);

    /* range strings */
    {
        char buf[64];
        dk_option_range_str(&specs[0], buf, sizeof buf);
        DK_CHECK(strcmp(buf, "> 0") == 0);
        dk_option_range_str(&specs[3], buf, sizeof buf);
        DK_CHECK(strcmp(buf, "in [1, 1000]") == 0);
        dk_option_range_str(&specs[5], buf, sizeof buf);
        DK_CHECK(strcmp(buf, "karras|snr|min-snr") == 0);
        dk_option_range_str(&specs[4], buf, sizeof buf);
        DK_CHECK(buf[0] == '\0');
    }

    /* descriptor validation */
    {
        dk_plugin bad = plug;
        bad.abi_version = 2;
        DK_CHECK_STATUS(dk_plugin_validate(&bad, "/x/y.so", &dk_test_err), DK_EABI);
        CHECK_MSG("plugin /x/y.so was built for diffkit plugin ABI 2 (descriptor size");
        CHECK_MSG("this host has ABI 1 (size");
        bad = plug;
        bad.struct_size = 8;
        DK_CHECK_STATUS(dk_plugin_validate(&bad, "/x/y.so", &dk_test_err), DK_EABI);
        CHECK_MSG("(descriptor size 8)");
        bad = plug;
        bad.kind = (dk_plugin_kind)9;
        DK_CHECK_STATUS(dk_plugin_validate(&bad, "/x/y.so", &dk_test_err), DK_EINVAL);
        bad = plug;
        bad.name = "has space";
        DK_CHECK_STATUS(dk_plugin_validate(&bad, "/x/y.so", &dk_test_err), DK_EINVAL);
    }
    {
        dk_schedule_vtable small = vt;
        dk_plugin bad = plug;
        small.struct_size = 8;
        bad.vtable = &small;
        DK_CHECK_STATUS(dk_plugin_validate(&bad, "/x/y.so", &dk_test_err), DK_EABI);
        CHECK_MSG("struct_size 8");
        small = vt;
        small.sigmas = NULL;
        DK_CHECK_STATUS(dk_plugin_validate(&bad, "/x/y.so", &dk_test_err), DK_EINVAL);
        CHECK_MSG("sigmas or density");
    }
    {
        dk_option_spec bad_specs[2] = {specs[0], specs[1]};
        dk_plugin bad = plug;
        bad.options = bad_specs;
        bad.n_options = 2;
        bad_specs[1].default_value = "-3";
        DK_CHECK_STATUS(dk_plugin_validate(&bad, "/x/y.so", &dk_test_err), DK_EINVAL);
        CHECK_MSG("the default '-3' of option 'sigma_max' is invalid");
        bad_specs[1] = specs[0];
        DK_CHECK_STATUS(dk_plugin_validate(&bad, "/x/y.so", &dk_test_err), DK_EINVAL);
        CHECK_MSG("declared twice");
        bad_specs[1] = specs[5];
        bad_specs[1].choices = NULL;
        DK_CHECK_STATUS(dk_plugin_validate(&bad, "/x/y.so", &dk_test_err), DK_EINVAL);
        CHECK_MSG("choices");
    }

    /* instances from a static descriptor */
    {
        dk_instance *inst = NULL;
        dk_options *oo = dk_options_new(&plug);
        double s[4];
        DK_CHECK_STATUS(dk_instance_create(&plug, oo, DK_F64, 0, &inst, &dk_test_err), DK_EINVAL); /* 'needed' missing */
        DK_CHECK(inst == NULL);
        DK_CHECK_OK(dk_options_set(oo, "needed", "1", &dk_test_err));
        DK_CHECK_OK(dk_instance_create(&plug, oo, DK_F64, 0, &inst, &dk_test_err));
        DK_CHECK(inst && inst->plugin == &plug && inst->params == NULL);
        if (inst) {
            DK_CHECK_OK(dk_schedule_vt(inst)->sigmas(inst->self, 3, s, &dk_test_err));
            DK_CHECK(s[0] == 3 && s[3] == 0);
        }
        dk_instance_free(inst);
        dk_options_free(oo);
    }
    return dk_test_finish();
}
