/* test_samplers_hostile.c: option values that used to hang a sampler or give
 * NaN samples with no error (docs/reliability.md "Option validation"):
 *  - dpm_adaptive: the values (accept_safety 1.5, h_init / eta inf,
 *    huge pcoeff / dcoeff / accept_safety) are refused naming the option;
 *    p + i + d <= 0 is refused at create; in-range but hostile combinations
 *    (accept_safety 0.999, tolerances 1e-300, extreme PID coefficients) end
 *    within seconds, sampled or with the "no convergence" error; max_attempts
 *    caps the loop with an error naming it;
 *  - a huge finite s_noise overflows x: the error blames the sampler's
 *    update and its options, not the model. */
#include "dktest.h"
#include "diffkit/gmm.h"
#include "diffkit/sampling.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>

static dk_host *host;
static dk_gmm *gauss;
static const double MU[4] = {0.5, -1.0, 2.0, 0.0}, S = 0.5;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Sets options kv (name, value, ..., NULL); returns the first failure. */
static dk_status make(const char *name, const char *const *kv, dk_instance **inst, dk_error *err) {
    const dk_plugin *p = dk_host_find(host, DK_KIND_SAMPLER, name, err);
    dk_options *o;
    dk_status st = DK_OK;
    *inst = NULL;
    if (!p) return err->code;
    o = dk_options_new(p);
    for (; kv && *kv && st == DK_OK; kv += 2) st = dk_options_set(o, kv[0], kv[1], err);
    if (st == DK_OK) st = dk_instance_create(p, o, DK_F64, 0, inst, err);
    dk_options_free(o);
    return st;
}

static dk_status run(const char *name, const char *const *kv, dk_error *err) {
    static const double sig[3] = {80.0, 0.002, 0.0};
    int64_t shp[2] = {2, 4};
    dk_instance *inst;
    dk_status st = make(name, kv, &inst, err);
    dk_tensor *x;
    dk_noise *noise;
    if (st != DK_OK) return st;
    x = dk_tensor_new(DK_F64, 2, shp, err);
    noise = dk_noise_iid(1, 0, err);
    for (int i = 0; i < 8; i++) dk_f64(x)[i] = 80.0 * (0.3 * i - 1.0);
    {
        dk_sampler_env env = {.denoise = dk_gmm_denoise_fn, .denoise_ctx = gauss, .noise = noise};
        st = dk_sampler_vt(inst)->sample(inst->self, &env, sig, 3, x, err);
    }
    dk_noise_free(noise);
    dk_tensor_free(x);
    dk_instance_free(inst);
    return st;
}

static void refused(const char *opt, const char *val) {
    const char *kv[] = {opt, val, NULL};
    dk_error e;
    dk_instance *inst = NULL;
    dk_status st = make("dpm_adaptive", kv, &inst, &e);
    DK_CHECK(st == DK_EINVAL);
    if (st == DK_EINVAL) {
        char want[80];
        snprintf(want, sizeof want, "option '%s'", opt);
        DK_CHECK(strstr(e.msg, want) != NULL);
        printf("refused %s = %s: %s\n", opt, val, e.msg);
    } else {
        printf("NOT refused: dpm_adaptive %s = %s\n", opt, val);
    }
    dk_instance_free(inst);
}

static void test_adaptive_refused(void) {
    refused("accept_safety", "1.5");
    refused("accept_safety", "1");
    refused("accept_safety", "1e300");
    refused("h_init", "inf");
    refused("h_init", "1e300");
    refused("h_init", "1e-300");
    refused("rtol", "1e-300");
    refused("atol", "1e-300");
    refused("eta", "inf");
    refused("pcoeff", "1e300");
    refused("dcoeff", "1e300");
    refused("icoeff", "-1e300");
    {
        const char *kv[] = {"pcoeff", "-1", "icoeff", "0.5", NULL};
        dk_instance *inst = NULL;
        DK_CHECK_STATUS(make("dpm_adaptive", kv, &inst, &dk_test_err), DK_EINVAL);
        DK_CHECK(strstr(dk_test_err.msg, "must be > 0") != NULL);
        dk_instance_free(inst);
    }
}

/* In range, hostile: ends within a few seconds, sampled or "no convergence". */
static void test_adaptive_terminates(void) {
    static const char *const combos[][9] = {
        {"accept_safety", "0.999", "rtol", "1e-12", "atol", "1e-12", NULL},
        {"accept_safety", "0.999", "pcoeff", "10", "dcoeff", "-10", "icoeff", "0.001", NULL},
        {"pcoeff", "10", "icoeff", "10", "dcoeff", "10", NULL},
        {"pcoeff", "-10", "icoeff", "10", "dcoeff", "10", "h_init", "100", NULL},
        {"eta", "1e300", "s_noise", "0", NULL},
        {"h_init", "1e-8", "accept_safety", "0.2", NULL},
        {"h_init", "1e-8", "accept_safety", "0.999", "icoeff", "0.001", NULL},
    };
    for (size_t i = 0; i < sizeof combos / sizeof combos[0]; i++) {
        dk_error e;
        double t0 = now();
        dk_status st = run("dpm_adaptive", combos[i], &e);
        double took = now() - t0;
        printf("combo %zu: %s in %.2f s%s%s\n", i, dk_status_name(st), took, st ? ": " : "", st ? e.msg : "");
        DK_CHECK(took < 20.0);
        DK_CHECK(st == DK_OK || (st == DK_ENUMERIC && strstr(e.msg, "no convergence") && strstr(e.msg, "max_attempts")));
    }
    {
        const char *kv[] = {"max_attempts", "3", NULL};
        DK_CHECK_STATUS(run("dpm_adaptive", kv, &dk_test_err), DK_ENUMERIC);
        DK_CHECK(strstr(dk_test_err.msg, "no convergence after 3 attempts") != NULL);
        DK_CHECK(strstr(dk_test_err.msg, "max_attempts") != NULL);
    }
    DK_CHECK_OK(run("dpm_adaptive", NULL, &dk_test_err));
}

/* A huge finite s_noise: the sampler's own update overflows. */
static void test_blame(void) {
    const char *kv[] = {"s_noise", "1e308", NULL};
    DK_CHECK_STATUS(run("euler_ancestral", kv, &dk_test_err), DK_ENUMERIC);
    printf("s_noise 1e308: %s\n", dk_test_err.msg);
    DK_CHECK(strstr(dk_test_err.msg, "not the model") != NULL);
    DK_CHECK(strstr(dk_test_err.msg, "s_noise") != NULL);
    DK_CHECK(strstr(dk_test_err.msg, "check the model") == NULL);
}

int main(void) {
    host = dk_host_new(&dk_test_err);
    gauss = dk_gmm_new(1, 4, MU, &S, &(double){1.0}, &dk_test_err);
    test_adaptive_refused();
    test_adaptive_terminates();
    test_blame();
    dk_gmm_free(gauss);
    dk_host_free(host);
    return dk_test_finish();
}
