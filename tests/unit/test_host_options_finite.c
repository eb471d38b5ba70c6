/* test_host_options_finite.c: every float option of every built plugin is
 * given inf, -inf, nan and 1e309 (as text and as a number); each must be
 * refused with an error naming the option, except +inf on an option flagged
 * DK_OPT_ALLOW_INF whose range includes it (s_tmax, loglogistic and
 * v-diffusion max_value: "no bound"). Before, every "> 0" option took inf
 * and gave NaN/inf sigmas, scalings or samples with no error
 * (docs/reliability.md "Option validation"). Also: a schedule whose finite
 * options give a non-finite sigma, and a precond whose scalings overflow,
 * are errors naming the plugin. */
#include "dktest.h"
#include <string.h>

static int n_cases, n_refused;

static void one(const dk_plugin *p, const dk_option_spec *s, const char *text, double v) {
    int may = (s->flags & DK_OPT_ALLOW_INF) && v == INFINITY && v <= s->max;
    for (int how = 0; how < 2; how++) {
        dk_options *o = dk_options_new(p);
        dk_error e;
        dk_status st = how == 0 ? dk_options_set(o, s->name, text, &e) : dk_options_set_float(o, s->name, v, &e);
        char want[96];
        n_cases++;
        snprintf(want, sizeof want, "'%s'", s->name);
        if (may) {
            DK_CHECK(st == DK_OK);
        } else {
            DK_CHECK(st == DK_EINVAL);
            if (st != DK_OK) {
                n_refused++;
                DK_CHECK(strstr(e.msg, want) != NULL);
                if (!strstr(e.msg, want)) printf("message does not name %s: %s\n", want, e.msg);
            } else {
                printf("ACCEPTED: %s '%s' option %s = %s (%s)\n", dk_kind_name(p->kind), p->name, s->name, text,
                       how ? "number" : "text");
            }
        }
        dk_options_free(o);
    }
}

static void test_every_float_option(void) {
    dk_host *h = dk_host_new(&dk_test_err);
    size_t n = dk_host_count(h), n_float = 0;
    DK_CHECK(n >= 30);
    for (size_t i = 0; i < n; i++) {
        const dk_plugin *p = dk_host_at(h, i);
        for (size_t j = 0; j < p->n_options; j++) {
            const dk_option_spec *s = &p->options[j];
            if (s->type != DK_OPT_FLOAT && s->type != DK_OPT_FLOAT_LIST) continue;
            n_float++;
            one(p, s, "inf", INFINITY);
            one(p, s, "-inf", -INFINITY);
            one(p, s, "nan", NAN);
            one(p, s, "1e309", INFINITY);
        }
    }
    printf("%zu plugins, %zu float options, %d cases, %d refused\n", n, n_float, n_cases, n_refused);
    DK_CHECK(n_float >= 50);
    dk_host_free(h);
}

static const dk_plugin *find(dk_host *h, dk_plugin_kind k, const char *name) {
    const dk_plugin *p = dk_host_find(h, k, name, &dk_test_err);
    DK_CHECK(p != NULL);
    return p;
}

/* Finite options with a non-finite result: blamed on the plugin. */
static void test_output_checks(void) {
    dk_host *h = dk_host_new(&dk_test_err);
    const dk_plugin *sch = find(h, DK_KIND_SCHEDULE, "karras"), *pre = find(h, DK_KIND_PRECOND, "edm");
    double sig[3] = {80, NAN, 0}, one_sigma = 1.0, cs = 1, co = INFINITY, ci = 1, cn = 0;
    DK_CHECK_STATUS(dk_schedule_check_sigmas(sch, sig, 3, &dk_test_err), DK_ENUMERIC);
    DK_CHECK(strstr(dk_test_err.msg, "schedule 'karras'") && strstr(dk_test_err.msg, "rho"));
    DK_CHECK_STATUS(dk_precond_check_scalings(pre, 1, &one_sigma, &cs, &co, &ci, &cn, &dk_test_err), DK_ENUMERIC);
    DK_CHECK(strstr(dk_test_err.msg, "precond 'edm'") && strstr(dk_test_err.msg, "sigma_data"));
    sig[1] = 1.0;
    DK_CHECK_OK(dk_schedule_check_sigmas(sch, sig, 3, &dk_test_err));
    /* karras with rho = 1e308: finite options, NaN sigmas before */
    {
        dk_options *o = dk_options_new(sch);
        dk_instance *inst = NULL;
        double out[5];
        DK_CHECK_OK(dk_options_set(o, "rho", "1e308", &dk_test_err));
        DK_CHECK_OK(dk_instance_create(sch, o, DK_F64, 0, &inst, &dk_test_err));
        if (inst) {
            dk_status st = dk_schedule_vt(inst)->sigmas(inst->self, 4, out, &dk_test_err);
            if (st == DK_OK) st = dk_schedule_check_sigmas(sch, out, 5, &dk_test_err);
            printf("karras rho = 1e308: %s %s\n", dk_status_name(st), st ? dk_test_err.msg : "(finite sigmas)");
            for (int i = 0; st == DK_OK && i < 5; i++) DK_CHECK(isfinite(out[i]));
        }
        dk_instance_free(inst);
        dk_options_free(o);
    }
    dk_host_free(h);
}

int main(void) {
    test_every_float_option();
    test_output_checks();
    return dk_test_finish();
}
