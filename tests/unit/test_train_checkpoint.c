/* test_train_checkpoint.c: checkpoint round trip (model, EMA, optimizer,
 * loader position, RNG states, step, config) bit for bit; `latest` after a
 * failed save; a truncated checkpoint is refused while the previous one still
 * loads and the model stays untouched; format version and shape-mismatch
 * messages. */
#include "dktest.h"
#include "diffkit/checkpoint.h"
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static dk_params *make_model(dk_dtype dt, int64_t qkv0, int64_t qkv1) {
    dk_params *p = dk_params_new(dt);
    int64_t qkv[2] = {qkv0, qkv1}, b[1] = {qkv0}, pos[2] = {4, 3};
    DK_CHECK(dk_params_add(p, "blocks.0.attn.qkv.weight", 2, qkv, DK_INIT_NORMAL, 0.02, 0, &dk_test_err) != NULL);
    DK_CHECK(dk_params_add(p, "blocks.0.attn.qkv.bias", 1, b, DK_INIT_ZEROS, 0, DK_PARAM_NO_DECAY, &dk_test_err) != NULL);
    DK_CHECK(dk_params_add(p, "pos_embed", 2, pos, DK_INIT_NORMAL, 1.0, DK_PARAM_FROZEN, &dk_test_err) != NULL);
    DK_CHECK_OK(dk_params_finalize(p, 42, &dk_test_err));
    return p;
}

static void random_grads(dk_params *p, dk_rng *r) {
    size_t n = dk_params_numel(p, 0);
    if (dk_params_dtype(p) == DK_F32) dk_rng_fill_normal_f32(r, dk_params_grad(p), n);
    else dk_rng_fill_normal_f64(r, dk_params_grad(p), n);
}

/* A tiny IDX dataset for the loader. */
static dk_dataset *tiny_dataset(const char *dir) {
    char ip[4400], lp[4400];
    unsigned char img[16 + 5 * 4] = {0, 0, 8, 3, 0, 0, 0, 5, 0, 0, 0, 2, 0, 0, 0, 2};
    unsigned char lab[8 + 5] = {0, 0, 8, 1, 0, 0, 0, 5, 0, 1, 2, 3, 4};
    for (int i = 0; i < 20; i++) img[16 + i] = (unsigned char)(i * 12);
    snprintf(ip, sizeof ip, "%s/i-idx3-ubyte", dir);
    snprintf(lp, sizeof lp, "%s/l-idx1-ubyte", dir);
    FILE *f = fopen(ip, "wb");
    if (f) { fwrite(img, 1, sizeof img, f); fclose(f); }
    f = fopen(lp, "wb");
    if (f) { fwrite(lab, 1, sizeof lab, f); fclose(f); }
    return dk_dataset_idx(ip, lp, 0, &dk_test_err);
}

static size_t bytes_of(dk_params *p) { return dk_params_numel(p, 0) * dk_dtype_size(dk_params_dtype(p)); }

static void test_roundtrip(dk_dtype dt) {
    const char *dir0 = dk_test_tmpdir(dt == DK_F32 ? "train_ckpt_f32" : "train_ckpt_f64");
    char dir[4200], path[4400], latest[4400];
    snprintf(dir, sizeof dir, "%s", dir0);
    dk_params *p = make_model(dt, 6, 4);
    dk_optim_config oc = dk_optim_config_default(DK_OPTIM_ADAMW);
    dk_optim *o = dk_optim_new(p, &oc, &dk_test_err);
    dk_ema_config ec = dk_ema_config_default(DK_EMA_WARMUP);
    dk_ema *e = dk_ema_new(p, &ec, &dk_test_err);
    dk_dataset *ds = tiny_dataset(dir);
    DK_CHECK(ds != NULL);
    if (!ds) return;
    dk_loader_config lc = {.batch = 3, .seed = 5, .shuffle = 1, .hflip = 0, .label_dropout = 0.2};
    dk_loader *l = dk_loader_new(ds, &lc, &dk_test_err);
    dk_rng gen, sig;
    dk_rng_init(&gen, 11, 1);
    dk_rng_init(&sig, 11, 2);
    int64_t xs[4] = {3, 1, 2, 2}, ys[1] = {3};
    dk_tensor *x = dk_tensor_new(DK_F32, 4, xs, &dk_test_err), *y = dk_tensor_new(DK_I64, 1, ys, &dk_test_err);
    for (int s = 0; s < 2; s++) {
        DK_CHECK_OK(dk_loader_next(l, x, y, &dk_test_err));
        random_grads(p, &gen);
        DK_CHECK_OK(dk_optim_step(o, &dk_test_err));
        dk_ema_update(e);
        (void)dk_rng_normal(&sig); /* leaves a partly used block */
    }
    const char *config = "{\"model\": \"dit\", \"note\": \"quotes \\\" and\nnewlines\ttabs\"}";
    const char *extra[2] = {"elapsed", "12.5"};
    dk_checkpoint_rng rngs[2] = {{"noise", &gen}, {"sigma", &sig}};
    dk_checkpoint c = {.params = p, .ema = e, .optim = o, .loader = l, .rngs = rngs, .n_rngs = 2,
                       .step = 2, .config = config, .extra = extra, .n_extra = 1};
    DK_CHECK_OK(dk_checkpoint_save_dir(dir, &c, path, sizeof path, &dk_test_err));
    DK_CHECK(strstr(path, "ckpt_00000002.safetensors") != NULL);
    /* snapshot of the saved state */
    size_t nb = bytes_of(p);
    void *snap_p = malloc(nb), *snap_e = malloc(nb);
    memcpy(snap_p, dk_params_data(p), nb);
    memcpy(snap_e, dk_ema_data(e), nb);
    dk_rng gen_saved = gen, sig_saved = sig;
    int64_t le, li;
    dk_loader_position(l, &le, &li);
    /* what comes next in the original run */
    DK_CHECK_OK(dk_loader_next(l, x, y, &dk_test_err));
    dk_tensor *x_next = dk_tensor_clone(x, &dk_test_err), *y_next = dk_tensor_clone(y, &dk_test_err);
    random_grads(p, &gen);
    void *g_next = malloc(nb);
    memcpy(g_next, dk_params_grad(p), nb);
    DK_CHECK_OK(dk_optim_step(o, &dk_test_err));
    dk_ema_update(e);
    void *p_next = malloc(nb), *e_next = malloc(nb);
    memcpy(p_next, dk_params_data(p), nb);
    memcpy(e_next, dk_ema_data(e), nb);
    double sig_next = dk_rng_normal(&sig);
    /* a later checkpoint at step 5 */
    c.step = 5;
    DK_CHECK_OK(dk_checkpoint_save_dir(dir, &c, NULL, 0, &dk_test_err));
    DK_CHECK_OK(dk_checkpoint_latest(dir, latest, sizeof latest, &dk_test_err));
    DK_CHECK(strstr(latest, "ckpt_00000005.safetensors") != NULL);

    /* restore step 2 into fresh objects (other init seed) and continue: identical */
    dk_params *q = dk_params_new(dt);
    {
        int64_t qkv[2] = {6, 4}, b[1] = {6}, pos[2] = {4, 3};
        dk_params_add(q, "blocks.0.attn.qkv.weight", 2, qkv, DK_INIT_NORMAL, 0.5, 0, &dk_test_err);
        dk_params_add(q, "blocks.0.attn.qkv.bias", 1, b, DK_INIT_ONES, 0, DK_PARAM_NO_DECAY, &dk_test_err);
        dk_params_add(q, "pos_embed", 2, pos, DK_INIT_ZEROS, 0, DK_PARAM_FROZEN, &dk_test_err);
        DK_CHECK_OK(dk_params_finalize(q, 7, &dk_test_err));
    }
    dk_optim *o2 = dk_optim_new(q, &oc, &dk_test_err);
    dk_ema *e2 = dk_ema_new(q, &ec, &dk_test_err);
    dk_loader *l2 = dk_loader_new(ds, &lc, &dk_test_err);
    dk_rng gen2, sig2;
    dk_rng_init(&gen2, 0, 0);
    dk_rng_init(&sig2, 0, 0);
    dk_checkpoint_rng rngs2[2] = {{"noise", &gen2}, {"sigma", &sig2}};
    dk_checkpoint c2 = {.params = q, .ema = e2, .optim = o2, .loader = l2, .rngs = rngs2, .n_rngs = 2};
    char *cfg = NULL;
    DK_CHECK_OK(dk_checkpoint_load(path, &c2, &cfg, &dk_test_err));
    DK_CHECK(c2.step == 2);
    DK_CHECK(cfg && strcmp(cfg, config) == 0);
    free(cfg);
    DK_CHECK(memcmp(dk_params_data(q), snap_p, nb) == 0);
    DK_CHECK(memcmp(dk_ema_data(e2), snap_e, nb) == 0);
    DK_CHECK(dk_optim_steps(o2) == 2 && dk_ema_steps(e2) == 2);
    DK_CHECK(memcmp(&gen2, &gen_saved, sizeof gen2) == 0 && memcmp(&sig2, &sig_saved, sizeof sig2) == 0);
    int64_t e2p, i2p;
    dk_loader_position(l2, &e2p, &i2p);
    DK_CHECK(e2p == le && i2p == li);
    DK_CHECK_OK(dk_loader_next(l2, x, y, &dk_test_err));
    DK_CHECK(memcmp(x->data, x_next->data, x->numel * sizeof(float)) == 0);
    DK_CHECK(memcmp(y->data, y_next->data, y->numel * sizeof(int64_t)) == 0);
    random_grads(q, &gen2);
    DK_CHECK(memcmp(dk_params_grad(q), g_next, nb) == 0);
    DK_CHECK_OK(dk_optim_step(o2, &dk_test_err));
    dk_ema_update(e2);
    DK_CHECK(memcmp(dk_params_data(q), p_next, nb) == 0);
    DK_CHECK(memcmp(dk_ema_data(e2), e_next, nb) == 0);
    DK_CHECK(dk_rng_normal(&sig2) == sig_next);
    {
        dk_st_file *f = dk_st_open(path, &dk_test_err);
        DK_CHECK(f && dk_st_meta(f, "elapsed") && strcmp(dk_st_meta(f, "elapsed"), "12.5") == 0);
        DK_CHECK(f && dk_st_has(f, "optim.m.blocks.0.attn.qkv.weight") && dk_st_has(f, "ema.pos_embed"));
        DK_CHECK(f && !dk_st_has(f, "optim.m.pos_embed"));
        dk_st_close(f);
    }

    /* a failed save (the target name is taken by a folder) leaves `latest` alone */
    char blocker[4400];
    snprintf(blocker, sizeof blocker, "%s/ckpt_00000009.safetensors", dir);
    mkdir(blocker, 0755);
    c.step = 9;
    DK_CHECK(dk_checkpoint_save_dir(dir, &c, NULL, 0, &dk_test_err) != DK_OK);
    DK_CHECK_OK(dk_checkpoint_latest(dir, latest, sizeof latest, &dk_test_err));
    DK_CHECK(strstr(latest, "ckpt_00000005.safetensors") != NULL);

    /* a truncated checkpoint is refused; the model is untouched; the previous one loads */
    char trunc[4400];
    snprintf(trunc, sizeof trunc, "%s/ckpt_00000005.safetensors", dir);
    struct stat st;
    DK_CHECK(stat(trunc, &st) == 0);
    memcpy(snap_p, dk_params_data(q), nb);
    /* cut inside the tensor data (header intact), then inside the header */
    off_t cuts[2] = {st.st_size - 8, st.st_size / 2};
    for (int k = 0; k < 2; k++) {
        DK_CHECK(truncate(trunc, cuts[k]) == 0);
        dk_status s = dk_checkpoint_load(trunc, &c2, NULL, &dk_test_err);
        DK_CHECK(s == DK_EFORMAT);
        printf("truncated: %s\n", dk_test_err.msg);
        DK_CHECK(memcmp(dk_params_data(q), snap_p, nb) == 0);
    }
    DK_CHECK_OK(dk_checkpoint_load(path, &c2, NULL, &dk_test_err));

    free(snap_p); free(snap_e); free(g_next); free(p_next); free(e_next);
    dk_tensor_free(x_next); dk_tensor_free(y_next); dk_tensor_free(x); dk_tensor_free(y);
    dk_loader_free(l); dk_loader_free(l2);
    dk_optim_free(o); dk_optim_free(o2);
    dk_ema_free(e); dk_ema_free(e2);
    dk_params_free(p); dk_params_free(q);
    dk_dataset_free(ds);
}

static void test_mismatch(void) {
    const char *dir0 = dk_test_tmpdir("train_ckpt_mismatch");
    char path[4400], msg[6000];
    snprintf(path, sizeof path, "%s/small.safetensors", dir0);
    dk_params *small = make_model(DK_F32, 96, 32);
    dk_checkpoint c = {.params = small, .step = 1};
    DK_CHECK_OK(dk_checkpoint_save(path, &c, &dk_test_err));
    dk_params *big = make_model(DK_F32, 192, 64);
    dk_checkpoint cb = {.params = big};
    DK_CHECK_STATUS(dk_checkpoint_load(path, &cb, NULL, &dk_test_err), DK_ESHAPE);
    snprintf(msg, sizeof msg,
             "checkpoint '%s': parameter 'blocks.0.attn.qkv.weight' has shape [96, 32], the model has [192, 64]: "
             "was it written by another configuration?", path);
    DK_CHECK(strstr(dk_test_err.msg, msg) != NULL);
    printf("mismatch: %s\n", dk_test_err.msg);
    /* asking for EMA / optimizer state the file lacks */
    dk_params *same = make_model(DK_F32, 96, 32);
    dk_ema_config ec = dk_ema_config_default(DK_EMA_FIXED);
    dk_ema *e = dk_ema_new(same, &ec, &dk_test_err);
    dk_checkpoint ce = {.params = same, .ema = e};
    DK_CHECK_STATUS(dk_checkpoint_load(path, &ce, NULL, &dk_test_err), DK_ENOTFOUND);
    ce.ema = NULL;
    DK_CHECK_OK(dk_checkpoint_load(path, &ce, NULL, &dk_test_err));
    dk_ema_free(e);
    /* a model with a parameter the file lacks, and a file with a parameter the model lacks */
    dk_params *more = dk_params_new(DK_F32);
    int64_t one[1] = {1};
    dk_params_add(more, "extra.scale", 1, one, DK_INIT_ONES, 0, 0, &dk_test_err);
    DK_CHECK_OK(dk_params_finalize(more, 0, &dk_test_err));
    dk_checkpoint cm = {.params = more};
    DK_CHECK_STATUS(dk_checkpoint_load(path, &cm, NULL, &dk_test_err), DK_ENOTFOUND);
    DK_CHECK(strstr(dk_test_err.msg, "'extra.scale'") != NULL);
    dk_params_free(more);
    /* format version */
    char p2[4400];
    snprintf(p2, sizeof p2, "%s/future.safetensors", dir0);
    dk_st_writer *w = dk_st_writer_new();
    dk_st_writer_meta(w, "diffkit.format", "2", &dk_test_err);
    dk_st_writer_meta(w, "step", "3", &dk_test_err);
    DK_CHECK_OK(dk_st_writer_save(w, p2, &dk_test_err));
    dk_st_writer_free(w);
    DK_CHECK_STATUS(dk_checkpoint_load(p2, &ce, NULL, &dk_test_err), DK_EFORMAT);
    DK_CHECK(strstr(dk_test_err.msg, "has format 2, expected 1") != NULL);
    /* bare weights are not a checkpoint */
    w = dk_st_writer_new();
    DK_CHECK_OK(dk_st_writer_save(w, p2, &dk_test_err));
    dk_st_writer_free(w);
    DK_CHECK_STATUS(dk_checkpoint_load(p2, &ce, NULL, &dk_test_err), DK_EFORMAT);
    DK_CHECK(strstr(dk_test_err.msg, "not a diffkit checkpoint") != NULL);
    /* no latest */
    DK_CHECK_STATUS(dk_checkpoint_latest(dir0, p2, sizeof p2, &dk_test_err), DK_ENOTFOUND);
    dk_params_free(small);
    dk_params_free(big);
    dk_params_free(same);
}

int main(void) {
    test_roundtrip(DK_F32);
    test_roundtrip(DK_F64);
    test_mismatch();
    return dk_test_finish();
}
