/* test_train_ema.c: EMA decay values of k-diffusion's EMAWarmup at known
 * steps (its docstring: power 3/4 reaches 0.999 at ~10k steps), the fixed
 * DiT decay, the update rule, frozen parameters, and the save/load round trip. */
#include "dktest.h"
#include "diffkit/ema.h"
#include <math.h>
#include <string.h>

static void test_decay_values(void) {
    dk_ema_config c = dk_ema_config_default(DK_EMA_WARMUP);
    c.power = 0.75;
    DK_CHECK(dk_ema_decay_at(&c, 0) == 0.0);                            /* first update copies */
    DK_CHECK_NEAR(dk_ema_decay_at(&c, 1), 0.4053964424986395, 0, 1e-15); /* 1 - 2**-0.75 */
    DK_CHECK_NEAR(dk_ema_decay_at(&c, 9999), 0.999, 0, 1e-15);           /* 1 - 10000**-0.75 */
    DK_CHECK_NEAR(dk_ema_decay_at(&c, 215443), 0.9999, 0, 1e-8);         /* ~215.4k: reaches max */
    DK_CHECK(dk_ema_decay_at(&c, 10000000) == 0.9999);                   /* clamped at max_value */
    c.power = 2.0 / 3.0;
    DK_CHECK_NEAR(dk_ema_decay_at(&c, 31622), 0.999, 0, 1e-7); /* docstring: 0.999 at 31.6k */
    DK_CHECK_NEAR(dk_ema_decay_at(&c, 7), 0.75, 0, 1e-15);      /* 1 - 8**(-2/3) = 1 - 1/4 */
    c.start_at = 10;
    DK_CHECK(dk_ema_decay_at(&c, 5) == 0.0);
    DK_CHECK(dk_ema_decay_at(&c, 10) == 0.0);
    DK_CHECK_NEAR(dk_ema_decay_at(&c, 17), 0.75, 0, 1e-15);
    c.start_at = 0;
    c.inv_gamma = 2.0;
    DK_CHECK_NEAR(dk_ema_decay_at(&c, 14), 0.75, 0, 1e-15); /* 1 + 14/2 = 8 */
    c.min_value = 0.8;
    DK_CHECK(dk_ema_decay_at(&c, 14) == 0.8);
    dk_ema_config f = dk_ema_config_default(DK_EMA_FIXED);
    DK_CHECK(dk_ema_decay_at(&f, 0) == 0.9999 && dk_ema_decay_at(&f, 123456) == 0.9999);
    c.max_value = 1.5;
    DK_CHECK_STATUS(dk_ema_config_check(&c, &dk_test_err), DK_EINVAL);
}

static dk_params *make_store(dk_dtype dt) {
    dk_params *p = dk_params_new(dt);
    int64_t two[1] = {2}, one[1] = {1};
    DK_CHECK(dk_params_add(p, "x", 1, two, DK_INIT_CONST, 1.0, 0, &dk_test_err) != NULL);
    DK_CHECK(dk_params_add(p, "buf", 1, one, DK_INIT_CONST, 5.0, DK_PARAM_FROZEN, &dk_test_err) != NULL);
    DK_CHECK_OK(dk_params_finalize(p, 0, &dk_test_err));
    return p;
}

static void test_update(dk_dtype dt, double rtol) {
    dk_params *p = make_store(dt);
    dk_tensor *x = dk_params_find(p, "x")->var.value, *b = dk_params_find(p, "buf")->var.value;
    dk_ema_config c = dk_ema_config_default(DK_EMA_WARMUP);
    c.power = 0.75;
    dk_ema *e = dk_ema_new(p, &c, &dk_test_err);
    DK_CHECK(e != NULL);
    if (!e) return;
    /* update 0 (decay 0) copies the model */
    dk_tensor_set(x, 0, 3.0);
    dk_tensor_set(x, 1, -1.0);
    DK_CHECK(dk_ema_update(e) == 0.0);
    const char *eb = dk_ema_data(e);
    size_t es = dk_dtype_size(dt);
#define EMA_AT(i) (dt == DK_F32 ? (double)((const float *)eb)[i] : ((const double *)eb)[i])
    DK_CHECK(EMA_AT(0) == 3.0 && EMA_AT(1) == -1.0);
    /* update 1: decay d = 1 - 2^-0.75: ema = 3d + 7(1-d) */
    dk_tensor_set(x, 0, 7.0);
    dk_tensor_set(b, 0, 9.0);
    double d = dk_ema_update(e);
    DK_CHECK_NEAR(d, 0.4053964424986395, 0, 1e-15);
    DK_CHECK_NEAR(EMA_AT(0), 3.0 * d + 7.0 * (1.0 - d), 0, rtol);
    DK_CHECK_NEAR(EMA_AT(1), -1.0, 0, rtol);
    DK_CHECK(EMA_AT(2) == 9.0); /* frozen buffer: copied */
    DK_CHECK(dk_ema_steps(e) == 2);
    DK_CHECK_NEAR(dk_ema_next_decay(e), 1.0 - pow(3.0, -0.75), 0, 1e-15);
    (void)es;

    /* save / load round trip into a fresh EMA: bit-exact, step kept */
    const char *dir = dk_test_tmpdir(dt == DK_F32 ? "train_ema_f32" : "train_ema_f64");
    char path[4200];
    snprintf(path, sizeof path, "%s/ema.safetensors", dir);
    dk_st_writer *w = dk_st_writer_new();
    DK_CHECK_OK(dk_ema_save(e, w, &dk_test_err));
    DK_CHECK_OK(dk_st_writer_save(w, path, &dk_test_err));
    dk_st_writer_free(w);
    dk_params *q = make_store(dt);
    dk_ema *e2 = dk_ema_new(q, &c, &dk_test_err);
    dk_st_file *f = dk_st_open(path, &dk_test_err);
    DK_CHECK(f && dk_st_has(f, "ema.x") && dk_st_has(f, "ema.buf"));
    if (f) {
        DK_CHECK_OK(dk_ema_load(e2, f, &dk_test_err));
        dk_st_close(f);
    }
    DK_CHECK(dk_ema_steps(e2) == 2);
    DK_CHECK(memcmp(dk_ema_data(e2), dk_ema_data(e), 3 * dk_dtype_size(dt)) == 0);
    /* copy into an inference store */
    DK_CHECK_OK(dk_ema_copy_to(e2, q, &dk_test_err));
    DK_CHECK_NEAR(dk_tensor_get(dk_params_find(q, "x")->var.value, 0), EMA_AT(0), 0, 0);
    dk_ema_free(e2);
    dk_params_free(q);

    /* fixed decay (DiT): starts as a copy, then ema = 0.9999 ema + 0.0001 p */
    dk_ema_config fc = dk_ema_config_default(DK_EMA_FIXED);
    dk_tensor_set(x, 0, 1.0);
    dk_ema *ef = dk_ema_new(p, &fc, &dk_test_err);
    dk_tensor_set(x, 0, 2.0);
    DK_CHECK(dk_ema_update(ef) == 0.9999);
    eb = dk_ema_data(ef);
    DK_CHECK_NEAR(EMA_AT(0), 1.0001, 0, dt == DK_F32 ? 1e-7 : 1e-15);
    dk_ema_free(ef);
#undef EMA_AT
    dk_ema_free(e);
    dk_params_free(p);
}

int main(void) {
    test_decay_values();
    test_update(DK_F64, 1e-15);
    test_update(DK_F32, 1e-7);
    return dk_test_finish();
}
