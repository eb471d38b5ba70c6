/* train.c: datasets, the trainer and sampling from Lua.
 *
 *   dk.dataset{ "fashion_mnist", split = "train", pad = 2, dir = nil }
 *   dk.dataset{ "image_folder", path = "...", size = 64, channels = 3 }
 *   dk.dataset{ "idx", images = "...", labels = "...", pad = 0 }
 *       -> Dataset: ds:count(), ds:shape() -> {C, H, W}, ds:num_classes(),
 *          ds:get(i) -> image Tensor F32 [C, H, W], label  (i from 0)
 *   dk.trainer{ model =, precond =, density =, data = Dataset, batch =, seed =,
 *               shuffle = true, hflip = false, label_dropout = 0,
 *               optim = { "adamw", lr =, betas = {b1, b2}, eps =, weight_decay =,
 *                         momentum =, nesterov = },
 *               lr_sched = { "constant" | "inverse" | "exponential", warmup =, ... },
 *               ema = { power =, max =, min =, inv_gamma = } | { decay = } | false,
 *                     (decay = false in a table selects the warmup rule),
 *               grad_accum = 1, clip_norm = 1.0 (0 = off), stratified = true,
 *               distributed = true (under mpirun: this rank's share of each step) }
 *       -> Trainer: tr:step() -> stats table, tr:steps(), tr:save(dir, config) -> path,
 *          tr:load(path) -> config, tr:use_ema(bool), tr:lr(), tr:param_count()
 *   dk.sample{ model =, precond =, sampler =, sigmas = Tensor|array, n =,
 *              shape = {C, H, W}, labels = {..} | Tensor, cfg = 1, seed = 0,
 *              noise = "iid" | "brownian" | Tensor [M, n, C, H, W] (replayed: draw k
 *              takes slice k), x = Tensor (start noise, unit), offset = 0 (index of the
 *              first image in a longer run: the start noise is read from that position
 *              of the seed's stream and Brownian trees are keyed by image index, so
 *              image i does not depend on the batch size), noise_stream = 0 (iid step
 *              noise: a separate stream per batch of a longer run),
 *              on_step = function(info) } -> Tensor F64 [n, C, H, W], model calls
 *   dk.model_info(model) -> { params =, trainable =, macs = (for h, w), num_classes = ... }
 *   dk.load_weights(model, path [, prefix]) ; dk.save_weights(model, path [, meta])
 *       (path: safetensors, or a torch.save .pt/.pth: prefix "model_ema." picks a
 *       k-diffusion checkpoint's EMA weights)
 *   dk.load_state_dict(model, {name = Tensor}, source) -> parameter count
 *   dk.image_grid(images, path, cols) writes a PNG grid of [N, C, H, W] images in [-1, 1]
 *   dk.progress(label, total) -> p:update(done, extra), p:finish(extra) ; dk.time()
 */
#include "dkl.h"
#include "diffkit/cuda.h"
#include "diffkit/denoiser.h"
#include "diffkit/dist.h"
#include "diffkit/trainer.h"
#include "diffkit/log.h"
#include "diffkit/image.h"
#include "diffkit/torchfile.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DKL_DATASET "diffkit.Dataset"
#define DKL_TRAINER "diffkit.Trainer"

/* ---- small table readers -------------------------------------------------- */

static double opt_num(lua_State *L, int t, const char *k, double def) {
    double v = def;
    lua_getfield(L, t, k);
    if (!lua_isnil(L, -1)) {
        if (!lua_isnumber(L, -1)) luaL_error(L, "field '%s' must be a number, got %s", k, luaL_typename(L, -1));
        v = lua_tonumber(L, -1);
    }
    lua_pop(L, 1);
    return v;
}
static int opt_bool(lua_State *L, int t, const char *k, int def) {
    int v = def;
    lua_getfield(L, t, k);
    if (!lua_isnil(L, -1)) {
        if (!lua_isboolean(L, -1)) luaL_error(L, "field '%s' must be a boolean, got %s", k, luaL_typename(L, -1));
        v = lua_toboolean(L, -1);
    }
    lua_pop(L, 1);
    return v;
}
static const char *opt_str(lua_State *L, int t, const char *k, const char *def) {
    const char *v = def;
    lua_getfield(L, t, k);
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "field '%s' must be a string, got %s", k, luaL_typename(L, -1));
        v = lua_tostring(L, -1);
    }
    lua_pop(L, 1); /* the string stays alive: it is referenced by the table */
    return v;
}
/* Rejects keys not in `allowed` (NULL-terminated), naming the closest. */
static void check_keys(lua_State *L, int t, const char *what, const char *const *allowed) {
    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) == LUA_TNUMBER && lua_tointeger(L, -1) == 1) continue;
        if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "%s: keys must be names", what);
        const char *k = lua_tostring(L, -1);
        int ok = 0;
        for (size_t i = 0; allowed[i]; i++) ok |= strcmp(allowed[i], k) == 0;
        if (!ok) {
            luaL_Buffer b;
            luaL_buffinit(L, &b);
            for (size_t i = 0; allowed[i]; i++) {
                if (i) luaL_addstring(&b, ", ");
                luaL_addstring(&b, allowed[i]);
            }
            luaL_pushresult(&b);
            luaL_error(L, "%s: unknown field '%s' (known: %s)", what, k, lua_tostring(L, -1));
        }
    }
}

/* ---- datasets ------------------------------------------------------------- */

typedef struct dkl_dataset { dk_dataset *ds; } dkl_dataset;

static dk_dataset *dataset_check(lua_State *L, int idx) {
    dkl_dataset *u = luaL_checkudata(L, idx, DKL_DATASET);
    if (!u->ds) luaL_argerror(L, idx, "dataset was already released");
    return u->ds;
}

static int dataset_release(lua_State *L) {
    dkl_dataset *u = luaL_checkudata(L, 1, DKL_DATASET);
    if (u->ds) { dk_dataset_free(u->ds); u->ds = NULL; }
    return 0;
}

static int l_dataset(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_rawgeti(L, 1, 1);
    const char *kind = lua_tostring(L, -1);
    lua_pop(L, 1);
    if (!kind) return luaL_error(L, "dk.dataset: the first entry names the kind: fashion_mnist, image_folder or idx");
    dkl_dataset *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->ds = NULL;
    luaL_setmetatable(L, DKL_DATASET);
    dk_error err;
    if (strcmp(kind, "fashion_mnist") == 0) {
        static const char *const keys[] = {"split", "pad", "dir", NULL};
        check_keys(L, 1, "dk.dataset fashion_mnist", keys);
        dk_fashion_mnist_options o = {opt_str(L, 1, "dir", NULL), opt_str(L, 1, "split", "train"), (int)opt_num(L, 1, "pad", 0)};
        u->ds = dk_dataset_fashion_mnist(&o, &err);
    } else if (strcmp(kind, "image_folder") == 0) {
        static const char *const keys[] = {"path", "size", "channels", NULL};
        check_keys(L, 1, "dk.dataset image_folder", keys);
        const char *path = opt_str(L, 1, "path", NULL);
        if (!path) return luaL_error(L, "dk.dataset image_folder: 'path' (a folder of images or class sub-folders) is required");
        dk_image_folder_options o = {path, (int)opt_num(L, 1, "size", 64), (int)opt_num(L, 1, "channels", 3)};
        u->ds = dk_dataset_image_folder(&o, &err);
    } else if (strcmp(kind, "idx") == 0) {
        static const char *const keys[] = {"images", "labels", "pad", NULL};
        check_keys(L, 1, "dk.dataset idx", keys);
        const char *im = opt_str(L, 1, "images", NULL), *lb = opt_str(L, 1, "labels", NULL);
        if (!im || !lb) return luaL_error(L, "dk.dataset idx: 'images' and 'labels' (IDX file paths) are required");
        u->ds = dk_dataset_idx(im, lb, (int)opt_num(L, 1, "pad", 0), &err);
    } else {
        return luaL_error(L, "dk.dataset: unknown kind '%s': use fashion_mnist, image_folder or idx", kind);
    }
    if (!u->ds) return dkl_error(L, &err);
    return 1;
}

static int ds_count(lua_State *L) { lua_pushinteger(L, dataset_check(L, 1)->count); return 1; }
static int ds_num_classes(lua_State *L) { lua_pushinteger(L, dataset_check(L, 1)->num_classes); return 1; }
static int ds_name(lua_State *L) { lua_pushstring(L, dataset_check(L, 1)->name); return 1; }
static int ds_shape(lua_State *L) {
    dk_dataset *ds = dataset_check(L, 1);
    lua_createtable(L, 3, 0);
    lua_pushinteger(L, ds->channels); lua_rawseti(L, -2, 1);
    lua_pushinteger(L, ds->height); lua_rawseti(L, -2, 2);
    lua_pushinteger(L, ds->width); lua_rawseti(L, -2, 3);
    return 1;
}
static int ds_get(lua_State *L) {
    dk_dataset *ds = dataset_check(L, 1);
    lua_Integer i = luaL_checkinteger(L, 2);
    int64_t shp[3] = {ds->channels, ds->height, ds->width};
    int64_t label = 0;
    dk_error err;
    dkl_tensor *t = dkl_tensor_push_empty(L);
    if (!(t->t = dk_tensor_new(DK_F32, 3, shp, &err))) return dkl_error(L, &err);
    if (dk_dataset_get(ds, (int64_t)i, dk_f32(t->t), &label, &err) != DK_OK) return dkl_error(L, &err);
    lua_pushinteger(L, label);
    return 2;
}

/* ---- trainer -------------------------------------------------------------- */

typedef struct dkl_trainer {
    dk_trainer *t;
    dk_loader *loader;
} dkl_trainer;

static dkl_trainer *trainer_check(lua_State *L, int idx) {
    dkl_trainer *u = luaL_checkudata(L, idx, DKL_TRAINER);
    if (!u->t) luaL_argerror(L, idx, "trainer was already released");
    return u;
}

static int trainer_release(lua_State *L) {
    dkl_trainer *u = luaL_checkudata(L, 1, DKL_TRAINER);
    dk_trainer_free(u->t);
    dk_loader_free(u->loader);
    u->t = NULL;
    u->loader = NULL;
    return 0;
}

static dk_instance *field_plugin(lua_State *L, int t, const char *k, dk_plugin_kind kind, int uv_idx, int uv_slot) {
    lua_getfield(L, t, k);
    if (lua_isnil(L, -1)) luaL_error(L, "dk.trainer: field '%s' (a %s plugin instance) is required", k, dk_kind_name(kind));
    dk_instance *inst = dkl_plugin_check(L, -1, kind);
    lua_setiuservalue(L, uv_idx, uv_slot); /* keep it alive as long as the trainer */
    return inst;
}

static int l_trainer(lua_State *L) {
    static const char *const keys[] = {"model", "precond", "density", "data", "batch", "seed", "shuffle", "hflip",
                                       "label_dropout", "optim", "lr_sched", "ema", "grad_accum", "clip_norm",
                                       "stratified", "distributed", "overlap", NULL};
    luaL_checktype(L, 1, LUA_TTABLE);
    check_keys(L, 1, "dk.trainer", keys);
    dkl_trainer *u = lua_newuserdatauv(L, sizeof *u, 4);
    int ui = lua_gettop(L);
    u->t = NULL;
    u->loader = NULL;
    luaL_setmetatable(L, DKL_TRAINER);
    dk_trainer_setup s;
    memset(&s, 0, sizeof s);
    dk_error err;
    s.model = field_plugin(L, 1, "model", DK_KIND_MODEL, ui, 1);
    s.precond = field_plugin(L, 1, "precond", DK_KIND_PRECOND, ui, 2);
    s.density = field_plugin(L, 1, "density", DK_KIND_SCHEDULE, ui, 3);
    lua_getfield(L, 1, "data");
    dk_dataset *ds = dataset_check(L, -1);
    lua_setiuservalue(L, ui, 4);
    s.seed = (uint64_t)opt_num(L, 1, "seed", 0);
    dk_loader_config lc = {(int64_t)opt_num(L, 1, "batch", 32), s.seed, opt_bool(L, 1, "shuffle", 1),
                           opt_bool(L, 1, "hflip", 0), opt_num(L, 1, "label_dropout", 0)};
    s.grad_accum = (int)opt_num(L, 1, "grad_accum", 1);
    s.clip_norm = opt_num(L, 1, "clip_norm", 1.0);
    s.stratified = opt_bool(L, 1, "stratified", 1);
    /* Data parallelism (docs/distributed.md): a step is grad_accum
     * micro-batches of batch images (global batch G = batch x grad_accum) in
     * one process. With R ranks it is M = lcm(grad_accum, R) micro-batches of
     * G / M images, each rank computing M / R of them: when R divides
     * grad_accum, these are the config's own micro-batches and the run is
     * bit-identical for every such R (a checkpoint resumes on any of them bit
     * for bit); otherwise each micro-batch is split in R / gcd shards, and the
     * run equals one process with that (smaller) micro-batch, bit for bit. */
    s.world = opt_bool(L, 1, "distributed", 1) ? dk_dist_world() : 1;
    s.rank = s.world > 1 ? dk_dist_rank() : 0;
    /* overlap the gradient sum with backward (DDP); DIFFKIT_DIST_OVERLAP=0 turns it off (bench/dist.sh) */
    const char *ov = getenv("DIFFKIT_DIST_OVERLAP");
    s.overlap = opt_bool(L, 1, "overlap", !(ov && strcmp(ov, "0") == 0));
    const char *bk = getenv("DIFFKIT_DIST_BUCKET"); /* elements per bucket (tests: many small buckets) */
    s.bucket_elems = bk ? (size_t)strtoull(bk, NULL, 10) : 0;
    if (s.world > 1 && s.grad_accum >= 1) {
        int a = s.grad_accum, b = s.world;
        while (b) { int c = a % b; a = b; b = c; } /* a = gcd */
        int split = s.world / a;
        if (lc.batch % split != 0)
            return luaL_error(L, "dk.trainer: batch = %d cannot be split over %d ranks: with grad_accum = %d each "
                              "micro-batch is cut in %d shards (lcm(grad_accum, ranks) / grad_accum), which must divide "
                              "batch; use a number of ranks that divides grad_accum (bit-identical for any of them) or "
                              "whose shard count divides %d",
                              (int)lc.batch, s.world, s.grad_accum, split, (int)lc.batch);
        lc.batch /= split;
        s.grad_accum = s.grad_accum * split / s.world; /* micro-batches per rank */
    }

    /* optimizer */
    s.optim = dk_optim_config_default(DK_OPTIM_ADAMW);
    lua_getfield(L, 1, "optim");
    if (!lua_isnil(L, -1)) {
        int o = lua_gettop(L);
        luaL_checktype(L, o, LUA_TTABLE);
        static const char *const okeys[] = {"lr", "betas", "eps", "weight_decay", "momentum", "dampening", "nesterov", NULL};
        check_keys(L, o, "optim", okeys);
        lua_rawgeti(L, o, 1);
        const char *kind = lua_isnil(L, -1) ? "adamw" : lua_tostring(L, -1);
        lua_pop(L, 1);
        dk_optim_kind ok;
        if (!kind || dk_optim_kind_from_name(kind, &ok) != 0) return luaL_error(L, "optim: unknown optimizer '%s': use adamw or sgd", kind ? kind : "?");
        s.optim = dk_optim_config_default(ok);
        s.optim.lr = opt_num(L, o, "lr", s.optim.lr);
        s.optim.eps = opt_num(L, o, "eps", s.optim.eps);
        s.optim.weight_decay = opt_num(L, o, "weight_decay", s.optim.weight_decay);
        s.optim.momentum = opt_num(L, o, "momentum", s.optim.momentum);
        s.optim.dampening = opt_num(L, o, "dampening", s.optim.dampening);
        s.optim.nesterov = opt_bool(L, o, "nesterov", s.optim.nesterov);
        lua_getfield(L, o, "betas");
        if (!lua_isnil(L, -1)) {
            luaL_checktype(L, -1, LUA_TTABLE);
            lua_rawgeti(L, -1, 1); s.optim.beta1 = luaL_checknumber(L, -1); lua_pop(L, 1);
            lua_rawgeti(L, -1, 2); s.optim.beta2 = luaL_checknumber(L, -1); lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    /* lr schedule */
    s.lr_sched = dk_lr_sched_default(DK_LR_CONSTANT);
    lua_getfield(L, 1, "lr_sched");
    if (!lua_isnil(L, -1)) {
        int o = lua_gettop(L);
        luaL_checktype(L, o, LUA_TTABLE);
        static const char *const lkeys[] = {"warmup", "min_lr", "inv_gamma", "power", "num_steps", "decay", NULL};
        check_keys(L, o, "lr_sched", lkeys);
        lua_rawgeti(L, o, 1);
        const char *kind = lua_isnil(L, -1) ? "constant" : lua_tostring(L, -1);
        lua_pop(L, 1);
        dk_lr_kind lk;
        if (!kind || dk_lr_kind_from_name(kind, &lk) != 0) return luaL_error(L, "lr_sched: unknown schedule '%s': use constant, inverse or exponential", kind ? kind : "?");
        s.lr_sched = dk_lr_sched_default(lk);
        s.lr_sched.warmup = opt_num(L, o, "warmup", s.lr_sched.warmup);
        s.lr_sched.min_lr = opt_num(L, o, "min_lr", s.lr_sched.min_lr);
        s.lr_sched.inv_gamma = opt_num(L, o, "inv_gamma", s.lr_sched.inv_gamma);
        s.lr_sched.power = opt_num(L, o, "power", s.lr_sched.power);
        s.lr_sched.num_steps = opt_num(L, o, "num_steps", s.lr_sched.num_steps);
        s.lr_sched.decay = opt_num(L, o, "decay", s.lr_sched.decay);
        if (dk_lr_sched_check(&s.lr_sched, &err) != DK_OK) return dkl_error(L, &err);
    }
    lua_pop(L, 1);
    /* EMA */
    lua_getfield(L, 1, "ema");
    if (lua_isnil(L, -1) || (lua_isboolean(L, -1) && lua_toboolean(L, -1))) {
        s.use_ema = 1;
        s.ema = dk_ema_config_default(DK_EMA_WARMUP);
    } else if (lua_istable(L, -1)) {
        int o = lua_gettop(L);
        static const char *const ekeys[] = {"power", "max", "min", "inv_gamma", "start_at", "decay", NULL};
        check_keys(L, o, "ema", ekeys);
        s.use_ema = 1;
        lua_getfield(L, o, "decay");
        /* decay = false selects the warmup rule (a row can switch from a fixed-decay parent) */
        int fixed = !lua_isnil(L, -1) && !(lua_isboolean(L, -1) && !lua_toboolean(L, -1));
        lua_pop(L, 1);
        s.ema = dk_ema_config_default(fixed ? DK_EMA_FIXED : DK_EMA_WARMUP);
        if (fixed) s.ema.decay = opt_num(L, o, "decay", s.ema.decay);
        s.ema.power = opt_num(L, o, "power", s.ema.power);
        s.ema.max_value = opt_num(L, o, "max", s.ema.max_value);
        s.ema.min_value = opt_num(L, o, "min", s.ema.min_value);
        s.ema.inv_gamma = opt_num(L, o, "inv_gamma", s.ema.inv_gamma);
        s.ema.start_at = (int64_t)opt_num(L, o, "start_at", (double)s.ema.start_at);
        if (dk_ema_config_check(&s.ema, &err) != DK_OK) return dkl_error(L, &err);
    } else {
        s.use_ema = 0;
    }
    lua_pop(L, 1);

    if (!(u->loader = dk_loader_new(ds, &lc, &err))) return dkl_error(L, &err);
    s.loader = u->loader;
    if (!(u->t = dk_trainer_new(&s, &err))) return dkl_error(L, &err);
    lua_settop(L, ui);
    return 1;
}

static void set_num(lua_State *L, const char *k, double v) { lua_pushnumber(L, v); lua_setfield(L, -2, k); }

static int tr_step(lua_State *L) {
    dkl_trainer *u = trainer_check(L, 1);
    dk_train_stats st;
    dk_error err;
    if (dk_trainer_step(u->t, &st, &err) != DK_OK) return dkl_error(L, &err);
    lua_createtable(L, 0, 9);
    lua_pushinteger(L, st.step); lua_setfield(L, -2, "step");
    set_num(L, "loss", st.loss);
    set_num(L, "grad_norm", st.grad_norm);
    set_num(L, "lr", st.lr);
    set_num(L, "ema_decay", st.ema_decay);
    set_num(L, "sigma_min", st.sigma_min);
    set_num(L, "sigma_max", st.sigma_max);
    set_num(L, "sigma_mean_log", st.sigma_mean_log);
    set_num(L, "seconds", st.seconds);
    set_num(L, "comm_seconds", st.comm_seconds);
    return 1;
}
static int tr_steps(lua_State *L) { lua_pushinteger(L, dk_trainer_steps(trainer_check(L, 1)->t)); return 1; }
static int tr_lr(lua_State *L) { lua_pushnumber(L, dk_optim_current_lr(dk_trainer_optim(trainer_check(L, 1)->t))); return 1; }
static int tr_save(lua_State *L) {
    dkl_trainer *u = trainer_check(L, 1);
    const char *dir = luaL_checkstring(L, 2);
    const char *config = luaL_optstring(L, 3, NULL);
    char path[4096];
    dk_error err;
    if (dk_trainer_save(u->t, dir, config, path, sizeof path, &err) != DK_OK) return dkl_error(L, &err);
    lua_pushstring(L, path);
    return 1;
}
static int tr_load(lua_State *L) {
    dkl_trainer *u = trainer_check(L, 1);
    const char *path = luaL_checkstring(L, 2);
    char *config = NULL;
    dk_error err;
    if (dk_trainer_load(u->t, path, &config, &err) != DK_OK) return dkl_error(L, &err);
    if (config) { lua_pushstring(L, config); free(config); } else lua_pushnil(L);
    return 1;
}
static int tr_use_ema(lua_State *L) {
    dkl_trainer *u = trainer_check(L, 1);
    dk_error err;
    if (dk_trainer_use_ema(u->t, lua_toboolean(L, 2), &err) != DK_OK) return dkl_error(L, &err);
    return 0;
}

/* ---- sampling ------------------------------------------------------------- */

typedef struct step_ctx { lua_State *L; int fn; } step_ctx;

static int on_step_cb(void *ctx, const dk_step_info *info) {
    step_ctx *c = ctx;
    lua_State *L = c->L;
    lua_pushvalue(L, c->fn);
    lua_createtable(L, 0, 6);
    lua_pushinteger(L, info->step); lua_setfield(L, -2, "step");
    lua_pushinteger(L, info->n_steps); lua_setfield(L, -2, "n_steps");
    set_num(L, "sigma", info->sigma);
    set_num(L, "sigma_next", info->sigma_next);
    if (info->denoised) {
        dk_tensor *d = dk_tensor_clone(info->denoised, NULL);
        if (d) { dkl_tensor_push(L, d); lua_setfield(L, -2, "denoised"); }
    }
    lua_call(L, 1, 1); /* a Lua error propagates (the sampler's buffers are freed by __gc of their owners) */
    int stop = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return stop;
}

static int l_sample(lua_State *L) {
    static const char *const keys[] = {"model", "precond", "sampler", "sigmas", "n", "shape", "labels", "cfg",
                                       "seed", "noise", "x", "on_step", "offset", "noise_stream", NULL};
    luaL_checktype(L, 1, LUA_TTABLE);
    check_keys(L, 1, "dk.sample", keys);
    dk_error err;
    lua_getfield(L, 1, "model");
    dk_instance *model = dkl_plugin_check(L, -1, DK_KIND_MODEL);
    lua_getfield(L, 1, "precond");
    dk_instance *precond = dkl_plugin_check(L, -1, DK_KIND_PRECOND);
    lua_getfield(L, 1, "sampler");
    dk_instance *sampler = dkl_plugin_check(L, -1, DK_KIND_SAMPLER);
    lua_pop(L, 3);
    /* sigmas */
    lua_getfield(L, 1, "sigmas");
    dk_tensor *sg = dkl_tensor_test(L, -1);
    int64_t ns;
    double *sigmas;
    if (sg) {
        ns = (int64_t)sg->numel;
        sigmas = lua_newuserdatauv(L, sizeof(double) * (size_t)(ns ? ns : 1), 0);
        for (int64_t i = 0; i < ns; i++) sigmas[i] = dk_tensor_get(sg, (size_t)i);
    } else if (lua_istable(L, -1)) {
        ns = (int64_t)lua_rawlen(L, -1);
        sigmas = lua_newuserdatauv(L, sizeof(double) * (size_t)(ns ? ns : 1), 0);
        for (int64_t i = 0; i < ns; i++) {
            lua_rawgeti(L, -2, i + 1);
            sigmas[i] = luaL_checknumber(L, -1);
            lua_pop(L, 1);
        }
    } else {
        return luaL_error(L, "dk.sample: 'sigmas' (a Tensor or array, descending, ending in 0: e.g. sched:sigmas(50)) is required");
    }
    if (ns < 2) return luaL_error(L, "dk.sample: sigmas needs at least 2 values (got %d)", (int)ns);
    for (int64_t i = 0; i + 1 < ns; i++)
        if (!(sigmas[i] > sigmas[i + 1]))
        {
            char msg[256];
            snprintf(msg, sizeof msg, "dk.sample: sigmas must be strictly descending: sigmas[%d] = %g, sigmas[%d] = %g",
                     (int)i + 1, sigmas[i], (int)i + 2, sigmas[i + 1]);
            return luaL_error(L, "%s", msg);
        }
    if (sigmas[ns - 1] != 0.0) {
        char msg[128];
        snprintf(msg, sizeof msg, "dk.sample: the last sigma must be 0 (got %g)", sigmas[ns - 1]);
        return luaL_error(L, "%s", msg);
    }

    dk_model_info info = {0};
    if (dk_model_vt(model)->describe) dk_model_vt(model)->describe(model->self, &info);
    int64_t n = (int64_t)opt_num(L, 1, "n", 1);
    if (n < 1) return luaL_error(L, "dk.sample: n = %d, must be >= 1", (int)n);
    int64_t shp[4] = {n, info.in_channels, info.image_size, info.image_size};
    lua_getfield(L, 1, "shape");
    if (!lua_isnil(L, -1)) {
        luaL_checktype(L, -1, LUA_TTABLE);
        for (int i = 0; i < 3; i++) { lua_rawgeti(L, -1, i + 1); shp[i + 1] = (int64_t)luaL_checkinteger(L, -1); lua_pop(L, 1); }
    }
    lua_pop(L, 1);
    if (shp[1] <= 0 || shp[2] <= 0 || shp[3] <= 0) return luaL_error(L, "dk.sample: model '%s' does not fix the image size: give shape = {C, H, W}", model->plugin->name);
    /* labels */
    int64_t *labels = NULL;
    lua_getfield(L, 1, "labels");
    if (!lua_isnil(L, -1)) {
        int li = lua_gettop(L);
        dk_tensor *lt = dkl_tensor_test(L, li);
        labels = lua_newuserdatauv(L, sizeof(int64_t) * (size_t)n, 0);
        int64_t have = lt ? (int64_t)lt->numel : (int64_t)lua_rawlen(L, li);
        if (have != n) return luaL_error(L, "dk.sample: %d labels for n = %d samples", (int)have, (int)n);
        for (int64_t i = 0; i < n; i++) {
            if (lt) labels[i] = (int64_t)dk_tensor_get(lt, (size_t)i);
            else { lua_rawgeti(L, li, i + 1); labels[i] = (int64_t)luaL_checkinteger(L, -1); lua_pop(L, 1); }
        }
    }
    /* noise and start point */
    uint64_t seed = (uint64_t)opt_num(L, 1, "seed", 0);
    double off = opt_num(L, 1, "offset", 0);
    if (off < 0 || off != floor(off) || off >= 9007199254740992.0)
        return luaL_error(L, "dk.sample: offset = %g, must be a whole number >= 0", off);
    lua_getfield(L, 1, "noise");
    dk_tensor *replay = dkl_tensor_test(L, -1); /* stays on the stack (in the args table) */
    lua_pop(L, 1);
    const char *noise_kind = replay ? "replay" : opt_str(L, 1, "noise", "iid");
    dkl_tensor *xu = dkl_tensor_push_empty(L);
    int xi = lua_gettop(L);
    if (!(xu->t = dk_tensor_new(DK_F64, 4, shp, &err))) return dkl_error(L, &err);
    lua_getfield(L, 1, "x");
    dk_tensor *x0 = dkl_tensor_test(L, -1);
    lua_pop(L, 1);
    if (x0) {
        if (x0->numel != xu->t->numel) return luaL_error(L, "dk.sample: x has %d elements, expected n*C*H*W = %d", (int)x0->numel, (int)xu->t->numel);
        for (size_t i = 0; i < x0->numel; i++) dk_f64(xu->t)[i] = dk_tensor_get(x0, i);
    } else {
        /* offset: the index of the first image in a longer run (diffkit
         * sample in batches): the start noise is read from that position of
         * the stream, so image i starts from the same noise for any batch size */
        dk_rng r;
        dk_rng_init(&r, seed, DK_STREAM_SAMPLE);
        dk_rng_skip_normals(&r, (uint64_t)off * (uint64_t)(xu->t->numel / (size_t)n));
        dk_rng_fill_normal_f64(&r, dk_f64(xu->t), xu->t->numel);
    }
    for (size_t i = 0; i < xu->t->numel; i++) dk_f64(xu->t)[i] *= sigmas[0];
    dk_noise *noise = NULL;
    if (replay) {
        noise = dk_noise_replay(replay, &err);
    } else if (strcmp(noise_kind, "iid") == 0) {
        /* noise_stream: one more stream per batch of a longer run (diffkit sample) */
        double ns_ = opt_num(L, 1, "noise_stream", 0);
        if (ns_ < 0 || ns_ != floor(ns_) || ns_ >= 4294967296.0)
            return luaL_error(L, "dk.sample: noise_stream = %g, must be a whole number in [0, 2^32)", ns_);
        noise = dk_noise_iid(seed, DK_STREAM_NOISE + 1 + ((uint64_t)ns_ << 32), &err);
    } else if (strcmp(noise_kind, "brownian") == 0) {
        uint64_t *seeds = malloc(sizeof(uint64_t) * (size_t)n);
        if (!seeds) return luaL_error(L, "dk.sample: out of memory");
        /* one Brownian tree per image, keyed by its index in the run (offset + i):
         * the same image gets the same tree for any batch size */
        for (int64_t i = 0; i < n; i++) seeds[i] = seed * 1000003u + (uint64_t)off + (uint64_t)i;
        double smin = sigmas[ns - 2];
        noise = dk_noise_brownian(seeds, n, smin, sigmas[0], &err);
        free(seeds);
    } else {
        return luaL_error(L, "dk.sample: unknown noise '%s': use iid, brownian or a Tensor of draws to replay", noise_kind);
    }
    if (!noise) return dkl_error(L, &err);

    dk_denoiser *den = dk_denoiser_new(model, precond, &err);
    dk_status st = den ? DK_OK : err.code;
    if (!st) st = dk_denoiser_set_labels(den, labels, n, &err);
    if (!st) st = dk_denoiser_set_cfg(den, opt_num(L, 1, "cfg", 1.0), &err);
    step_ctx sc = {L, 0};
    dk_sampler_env env = {dk_denoiser_denoise, den, noise, NULL, NULL};
    lua_getfield(L, 1, "on_step");
    if (lua_isfunction(L, -1)) { sc.fn = lua_gettop(L); env.on_step = on_step_cb; env.step_ctx = &sc; }
    if (!st) st = dk_sampler_vt(sampler)->sample(sampler->self, &env, sigmas, ns, xu->t, &err);
    uint64_t calls = den ? dk_denoiser_calls(den) : 0;
    dk_denoiser_free(den);
    dk_noise_free(noise);
    if (st) {
        dk_error_prefix(&err, "sampler '%s'", sampler->plugin->name);
        return dkl_error(L, &err);
    }
    lua_pushvalue(L, xi);
    lua_pushinteger(L, (lua_Integer)calls);
    return 2;
}

/* ---- model helpers -------------------------------------------------------- */

static int l_model_info(lua_State *L) {
    dk_instance *m = dkl_plugin_check(L, 1, DK_KIND_MODEL);
    dk_model_info info = {0};
    if (dk_model_vt(m)->describe) dk_model_vt(m)->describe(m->self, &info);
    int64_t h = (int64_t)luaL_optinteger(L, 2, info.image_size), w = (int64_t)luaL_optinteger(L, 3, h);
    lua_createtable(L, 0, 8);
    lua_pushinteger(L, (lua_Integer)dk_params_numel(m->params, 0)); lua_setfield(L, -2, "params");
    lua_pushinteger(L, (lua_Integer)dk_params_numel(m->params, 1)); lua_setfield(L, -2, "trainable");
    lua_pushinteger(L, info.in_channels); lua_setfield(L, -2, "in_channels");
    lua_pushinteger(L, info.out_channels); lua_setfield(L, -2, "out_channels");
    lua_pushinteger(L, info.image_size); lua_setfield(L, -2, "image_size");
    lua_pushinteger(L, info.num_classes); lua_setfield(L, -2, "num_classes");
    if (h > 0 && dk_model_vt(m)->macs) {
        uint64_t macs = 0;
        dk_error err;
        if (dk_model_vt(m)->macs(m->self, h, w, &macs, &err) != DK_OK) return dkl_error(L, &err);
        lua_pushinteger(L, (lua_Integer)macs);
        lua_setfield(L, -2, "macs");
    }
    return 1;
}

/* "cpu" | "cuda" | "cuda:N" -> device (and index), or a Lua error naming the choices */
static dk_device check_device(lua_State *L, int i, int *index) {
    const char *d = luaL_checkstring(L, i);
    *index = 0;
    if (!strcmp(d, "cpu")) return DK_CPU;
    if (!strncmp(d, "cuda", 4) && (d[4] == 0 || (d[4] == ':' && d[5] >= '0' && d[5] <= '9'))) {
        if (d[4] == ':') *index = atoi(d + 5);
        return DK_CUDA;
    }
    luaL_error(L, "device '%s' is not known: use \"cpu\", \"cuda\" or \"cuda:N\"", d);
    return DK_CPU;
}

/* dk.model_to_device(model, "cpu"|"cuda"|"cuda:N"): moves the parameters
 * (before a trainer is made); the model then runs there unchanged. */
static int l_model_to_device(lua_State *L) {
    dk_instance *m = dkl_plugin_check(L, 1, DK_KIND_MODEL);
    int index;
    dk_device dev = check_device(L, 2, &index);
    dk_error err;
    if (dev == DK_CUDA && dk_cuda_select(index, &err) != DK_OK) return dkl_error(L, &err);
    if (dk_params_to_device(m->params, dev, &err) != DK_OK) return dkl_error(L, &err);
    return 0;
}

/* dk.model_device(model) -> "cpu" | "cuda" */
static int l_model_device(lua_State *L) {
    dk_instance *m = dkl_plugin_check(L, 1, DK_KIND_MODEL);
    lua_pushstring(L, dk_device_name(dk_params_device(m->params)));
    return 1;
}

/* dk.device_info() -> { cuda_built =, cuda_devices =, cuda = "<description or why none>" } */
static int l_device_info(lua_State *L) {
    char buf[512];
    dk_status st = dk_cuda_describe(buf, sizeof buf);
    lua_createtable(L, 0, 3);
    lua_pushboolean(L, dk_cuda_built());
    lua_setfield(L, -2, "cuda_built");
    lua_pushinteger(L, dk_cuda_device_count());
    lua_setfield(L, -2, "cuda_devices");
    lua_pushstring(L, buf);
    lua_setfield(L, -2, st == DK_OK ? "cuda" : "cuda_unavailable");
    return 1;
}

/* A PyTorch torch.save file (zip archive or legacy pickle), by its first bytes. */
static int is_torch_file(const char *path) {
    unsigned char h[4] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t k = fread(h, 1, 4, f);
    fclose(f);
    return k == 4 && ((h[0] == 'P' && h[1] == 'K' && h[2] == 3 && h[3] == 4) || h[0] == 0x80);
}

/* The tensor `name` of an open file, checked against the parameter `like`
 * (shape; converted to its dtype). One per file format of dk.load_weights. */
typedef dk_tensor *(*weight_get_fn)(const void *file, const char *label, const char *name, const dk_tensor *like,
                                    dk_error *err);

static dk_tensor *weight_get_st(const void *file, const char *label, const char *name, const dk_tensor *like,
                                dk_error *err) {
    (void)label;
    if (dk_checkpoint_check_entry(file, name, like, "parameter", err) != DK_OK) return NULL;
    return dk_st_get_as(file, name, like->dtype, err);
}

static dk_tensor *weight_get_pt(const void *file, const char *label, const char *name, const dk_tensor *like,
                                dk_error *err) {
    const dk_pv *v = NULL;
    if (dk_pt_find(file, name, &v, err) != DK_OK) return NULL;
    dk_tensor *t = dk_pv_tensor_as(v, like->dtype, err);
    if (t && !dk_tensor_same_shape(t, like)) {
        char a[96], b[96];
        dk_error_set(err, DK_ESHAPE, "%s: '%s' is %s, the model's parameter is %s", label, name, dk_shape_str(t, a, sizeof a),
                     dk_shape_str(like, b, sizeof b));
        dk_tensor_free(t);
        return NULL;
    }
    return t;
}

/* Copies the tensor prefix..name of each parameter from the file. */
static dk_status load_params(dk_instance *m, const char *prefix, weight_get_fn get, const void *file, const char *label,
                             dk_error *err) {
    for (size_t i = 0; i < dk_params_count(m->params); i++) {
        dk_param *p = dk_params_at(m->params, i);
        char name[512];
        snprintf(name, sizeof name, "%s%s", prefix, p->var.name);
        dk_tensor *t = get(file, label, name, p->var.value, err);
        if (!t) return err->code;
        dk_status st = dk_tensor_copy(p->var.value, t, err);
        dk_tensor_free(t);
        if (st) return st;
    }
    return DK_OK;
}

/* dk.load_weights(model, path [, prefix]): a safetensors file, or a
 * torch.save file (prefix e.g. "model_ema." for a k-diffusion checkpoint). */
static int l_load_weights(lua_State *L) {
    dk_instance *m = dkl_plugin_check(L, 1, DK_KIND_MODEL);
    const char *path = luaL_checkstring(L, 2);
    const char *prefix = luaL_optstring(L, 3, "");
    dk_error err;
    dk_status st;
    if (is_torch_file(path)) {
        dk_pt_file *f = dk_pt_open(path, &err);
        if (!f) return dkl_error(L, &err);
        st = load_params(m, prefix, weight_get_pt, f, path, &err);
        dk_pt_close(f);
    } else {
        dk_st_file *f = dk_st_open(path, &err);
        if (!f) return dkl_error(L, &err);
        st = load_params(m, prefix, weight_get_st, f, path, &err);
        dk_st_close(f);
    }
    if (st) return dkl_error(L, &err);
    return 0;
}

/* dk.load_state_dict(model, tensors, source) -> count: copies a state dict
 * (a table name -> Tensor, e.g. from dk.torch_load) into the model's
 * parameters, converting the dtype. Every parameter must be there with its
 * shape, and every tensor must be a parameter: a state dict of another
 * configuration is refused, naming what is missing or extra. */
static int l_load_state_dict(lua_State *L) {
    dk_instance *m = dkl_plugin_check(L, 1, DK_KIND_MODEL);
    luaL_checktype(L, 2, LUA_TTABLE);
    const char *source = luaL_optstring(L, 3, "state dict");
    dk_error err;
    size_t np = dk_params_count(m->params);
    luaL_Buffer missing;
    int nmissing = 0;
    luaL_buffinit(L, &missing);
    for (size_t i = 0; i < np; i++) {
        dk_param *p = dk_params_at(m->params, i);
        lua_getfield(L, 2, p->var.name);
        dk_tensor *t = dkl_tensor_test(L, -1);
        if (!t) {
            lua_pop(L, 1);
            if (nmissing++ < 8) { luaL_addstring(&missing, nmissing > 1 ? ", " : ""); luaL_addstring(&missing, p->var.name); }
            continue;
        }
        if (t->numel != p->var.value->numel || t->ndim != p->var.value->ndim || !dk_tensor_same_shape(t, p->var.value)) {
            char a[96], b[96];
            return luaL_error(L, "%s: '%s' is %s, the model's parameter is %s: the checkpoint is of another configuration",
                              source, p->var.name, dk_shape_str(t, a, sizeof a), dk_shape_str(p->var.value, b, sizeof b));
        }
        if (dk_tensor_copy(p->var.value, t, &err) != DK_OK) return dkl_error(L, &err);
        lua_pop(L, 1);
    }
    luaL_pushresult(&missing);
    if (nmissing) return luaL_error(L, "%s: %d parameters of the model are missing (%s%s): the checkpoint is of another configuration",
                                    source, nmissing, lua_tostring(L, -1), nmissing > 8 ? ", ..." : "");
    lua_pop(L, 1);
    /* extra tensors: names the model does not have */
    int nextra = 0;
    lua_pushnil(L);
    while (lua_next(L, 2)) {
        if (lua_type(L, -2) == LUA_TSTRING && dkl_tensor_test(L, -1)) {
            const char *name = lua_tostring(L, -2);
            int found = 0;
            for (size_t i = 0; i < np && !found; i++) found = strcmp(dk_params_at(m->params, i)->var.name, name) == 0;
            if (!found && nextra++ < 8) {
                lua_pushfstring(L, "%s%s", nextra > 1 ? ", " : "", name);
                lua_insert(L, -3); /* below the key and value of lua_next */
            }
        }
        lua_pop(L, 1);
    }
    if (nextra) {
        lua_concat(L, nextra < 8 ? nextra : 8);
        return luaL_error(L, "%s: %d tensors are not parameters of the model (%s%s): the checkpoint is of another configuration",
                          source, nextra, lua_tostring(L, -1), nextra > 8 ? ", ..." : "");
    }
    lua_pushinteger(L, (lua_Integer)np);
    return 1;
}

static int l_save_weights(lua_State *L) {
    dk_instance *m = dkl_plugin_check(L, 1, DK_KIND_MODEL);
    const char *path = luaL_checkstring(L, 2);
    dk_error err;
    dk_st_writer *w = dk_st_writer_new();
    dk_status st = w ? DK_OK : DK_ENOMEM;
    for (size_t i = 0; i < dk_params_count(m->params) && !st; i++) {
        dk_param *p = dk_params_at(m->params, i);
        st = dk_st_writer_add(w, p->var.name, p->var.value, &err);
    }
    if (!st && lua_istable(L, 3)) {
        lua_pushnil(L);
        while (!st && lua_next(L, 3)) {
            if (lua_type(L, -2) == LUA_TSTRING) st = dk_st_writer_meta(w, lua_tostring(L, -2), luaL_tolstring(L, -1, NULL), &err), lua_pop(L, 1);
            lua_pop(L, 1);
        }
    }
    if (!st) st = dk_st_writer_meta(w, "diffkit.model", m->plugin->name, &err);
    if (!st) st = dk_st_writer_save(w, path, &err);
    dk_st_writer_free(w);
    if (st) return dkl_error(L, &err);
    return 0;
}

/* ---- progress line -------------------------------------------------------- */

#define DKL_PROGRESS "diffkit.Progress"
typedef struct dkl_progress { dk_progress p; int open; } dkl_progress;

static int l_progress(lua_State *L) {
    const char *label = luaL_checkstring(L, 1);
    lua_Integer total = luaL_optinteger(L, 2, 0);
    dkl_progress *u = lua_newuserdatauv(L, sizeof *u, 1);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1); /* keeps the label string alive */
    luaL_setmetatable(L, DKL_PROGRESS);
    dk_progress_begin(&u->p, stderr, label, (int64_t)total);
    u->open = 1;
    return 1;
}
static int pr_update(lua_State *L) {
    dkl_progress *u = luaL_checkudata(L, 1, DKL_PROGRESS);
    if (u->open) dk_progress_update(&u->p, (int64_t)luaL_checkinteger(L, 2), luaL_optstring(L, 3, NULL));
    return 0;
}
static int pr_finish(lua_State *L) {
    dkl_progress *u = luaL_checkudata(L, 1, DKL_PROGRESS);
    if (u->open) { dk_progress_end(&u->p, luaL_optstring(L, 2, NULL)); u->open = 0; }
    return 0;
}
/* dk.image_grid(images [N, C, H, W] in [-1, 1], path, cols) writes a PNG grid. */
static int l_image_grid(lua_State *L) {
    dk_tensor *t = dkl_tensor_check(L, 1);
    const char *path = luaL_checkstring(L, 2);
    lua_Integer cols = luaL_optinteger(L, 3, 8);
    dk_error err;
    if (cols < 1) return luaL_error(L, "dk.image_grid: cols = %d, must be >= 1", (int)cols);
    if (dk_image_grid(path, t, (int)cols, &err) != DK_OK) return dkl_error(L, &err);
    return 0;
}
static int l_time(lua_State *L) { lua_pushnumber(L, dk_time_now()); return 1; }

static const luaL_Reg progress_methods[] = {{"update", pr_update}, {"finish", pr_finish}, {NULL, NULL}};

static const luaL_Reg dataset_methods[] = {{"count", ds_count}, {"shape", ds_shape}, {"num_classes", ds_num_classes},
                                           {"name", ds_name}, {"get", ds_get}, {"release", dataset_release}, {NULL, NULL}};
static const luaL_Reg trainer_methods[] = {{"step", tr_step}, {"steps", tr_steps}, {"lr", tr_lr}, {"save", tr_save},
                                           {"load", tr_load}, {"use_ema", tr_use_ema}, {"release", trainer_release},
                                           {NULL, NULL}};
static const luaL_Reg funcs[] = {{"dataset", l_dataset}, {"trainer", l_trainer}, {"sample", l_sample},
                                 {"model_info", l_model_info}, {"load_weights", l_load_weights}, {"load_state_dict", l_load_state_dict},
                                 {"save_weights", l_save_weights}, {"progress", l_progress},
                                 {"time", l_time}, {"image_grid", l_image_grid},
                                 {"model_to_device", l_model_to_device}, {"model_device", l_model_device},
                                 {"device_info", l_device_info}, {NULL, NULL}};

static void new_class(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction gc) {
    luaL_newmetatable(L, name);
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, gc);
    lua_setfield(L, -2, "__close");
    lua_pop(L, 1);
}

static int open_train(lua_State *L) {
    new_class(L, DKL_DATASET, dataset_methods, dataset_release);
    new_class(L, DKL_TRAINER, trainer_methods, trainer_release);
    new_class(L, DKL_PROGRESS, progress_methods, pr_finish);
    luaL_setfuncs(L, funcs, 0);
    return 0;
}
DKL_PART(train, open_train)
