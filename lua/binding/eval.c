/* eval.c: evaluation from Lua (docs/evaluation.md): the feature network,
 * FID and KID. Experiment:evaluate (lua/diffkit/experiment.lua) builds on these.
 *
 *   dk.featnet_default{ train = Dataset, test = Dataset|nil, tag = "fmnist", verbose = true }
 *       -> FeatNet, path   (the shipped data/featnet/<tag>-cnn-v2.safetensors when it was trained on this
 *          dataset by the default recipe, SHA-256 checked; else loads <cache>/features/<tag>-cnn-v2-<hash>.safetensors,
 *          or trains and saves it; docs/evaluation.md)
 *   dk.featnet_load(path) -> FeatNet          (a feature network file, featnet.h format)
 *   dk.featnet_train{ train =, test =, name =, steps =, batch =, train_limit =, test_limit =, seed =, verbose = }
 *       -> FeatNet (the own recipe with changes; for tests)
 *   FeatNet: net:name(), net:dim(), net:accuracy() (stored test accuracy or nil), net:layers(),
 *            net:features(images [N, C, H, W], batch = 100) -> F64 [N, dim],
 *            net:dataset_features(ds, n, seed = nil, batch = 100) -> F64 [n, dim]
 *                (the first n images of a seeded permutation of ds; without seed the first n),
 *            net:classify(ds, limit = 0) -> accuracy, net:save(path), net:train_seconds()
 *   dk.inception_load(path) -> Inception (pytorch-fid's FID Inception, diffkit/inception.h; .safetensors
 *       of the pt_inception-2015-12-05 state dict): net:name() = "inception-2015-12-05", net:dim() = 2048,
 *       net:path(), net:digest() (16 hex digits of the folded weights), net:accuracy() = nil, net:features(images, batch = 50), net:dataset_features(ds, n, seed, batch)
 *       (the same subset rule as FeatNet's), net:release()
 *   dk.fid(feats_a, feats_b) -> number ; dk.kid(feats_a, feats_b, max_size = 5000) -> number
 *   dk.st_meta(path) -> { key = value } (a safetensors file's metadata only)
 *   dk.cache_dir() -> folder ; dk.hash(string) -> 16 hex digits
 *   dk.cat0{ t1, t2, ... } -> F64 tensor: the tensors joined along dim 0 (same trailing shape) */
#include "dkl.h"
#include "diffkit/featnet.h"
#include "diffkit/inception.h"
#include "diffkit/metrics.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

#define DKL_FEATNET "diffkit.FeatNet"
#define DKL_INCEPTION "diffkit.Inception"
#define DKL_DATASET_NAME "diffkit.Dataset" /* train.c's Dataset userdata: { dk_dataset *ds } */

typedef struct dkl_dataset_view { dk_dataset *ds; } dkl_dataset_view;
typedef struct dkl_featnet { dk_featnet *n; } dkl_featnet;

static dk_dataset *dataset_at(lua_State *L, int idx) {
    dkl_dataset_view *u = luaL_checkudata(L, idx, DKL_DATASET_NAME);
    if (!u->ds) luaL_argerror(L, idx, "dataset was already released");
    return u->ds;
}

static dk_featnet *featnet_at(lua_State *L, int idx) {
    dkl_featnet *u = luaL_checkudata(L, idx, DKL_FEATNET);
    if (!u->n) luaL_argerror(L, idx, "feature net was already released");
    return u->n;
}

static int featnet_release(lua_State *L) {
    dkl_featnet *u = luaL_checkudata(L, 1, DKL_FEATNET);
    dk_featnet_free(u->n);
    u->n = NULL;
    return 0;
}

static dkl_featnet *featnet_push(lua_State *L) {
    dkl_featnet *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->n = NULL;
    luaL_setmetatable(L, DKL_FEATNET);
    return u;
}

static double field_num(lua_State *L, int t, const char *k, double def) {
    lua_getfield(L, t, k);
    double v = lua_isnil(L, -1) ? def : luaL_checknumber(L, -1);
    lua_pop(L, 1);
    return v;
}

static dk_dataset *field_dataset(lua_State *L, int t, const char *k, int required) {
    lua_getfield(L, t, k);
    dk_dataset *ds = NULL;
    if (!lua_isnil(L, -1)) ds = dataset_at(L, -1);
    else if (required) luaL_error(L, "'%s' (a Dataset from dk.dataset) is required", k);
    lua_pop(L, 1); /* the caller's table keeps it alive */
    return ds;
}

static int l_featnet_default(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    dk_dataset *train = field_dataset(L, 1, "train", 1), *test = field_dataset(L, 1, "test", 0);
    lua_getfield(L, 1, "tag");
    const char *tag = luaL_optstring(L, -1, "data");
    lua_getfield(L, 1, "verbose");
    int verbose = lua_isnil(L, -1) ? 1 : lua_toboolean(L, -1);
    lua_pop(L, 1);
    dkl_featnet *u = featnet_push(L);
    char path[4700];
    dk_error err;
    if (!(u->n = dk_featnet_default(train, test, tag, verbose, path, sizeof path, &err))) return dkl_error(L, &err);
    lua_pushstring(L, path);
    return 2;
}

static int l_featnet_load(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    dkl_featnet *u = featnet_push(L);
    dk_error err;
    if (!(u->n = dk_featnet_load(path, &err))) return dkl_error(L, &err);
    return 1;
}

static int l_featnet_train(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    dk_dataset *train = field_dataset(L, 1, "train", 1), *test = field_dataset(L, 1, "test", 0);
    dk_featnet_recipe r = dk_featnet_recipe_default();
    r.steps = (int64_t)field_num(L, 1, "steps", (double)r.steps);
    r.batch = (int64_t)field_num(L, 1, "batch", (double)r.batch);
    r.train_limit = (int64_t)field_num(L, 1, "train_limit", 0);
    r.test_limit = (int64_t)field_num(L, 1, "test_limit", 0);
    r.seed = (uint64_t)field_num(L, 1, "seed", 0);
    lua_getfield(L, 1, "verbose");
    r.verbose = lua_toboolean(L, -1);
    lua_getfield(L, 1, "name");
    const char *name = luaL_optstring(L, -1, "data-" DK_FEATNET_ARCH);
    dkl_featnet *u = featnet_push(L);
    dk_error err;
    if (!(u->n = dk_featnet_train(train, test, &r, name, &err))) return dkl_error(L, &err);
    return 1;
}

static int fn_name(lua_State *L) { lua_pushstring(L, dk_featnet_name(featnet_at(L, 1))); return 1; }
static int fn_dim(lua_State *L) { lua_pushinteger(L, dk_featnet_dim(featnet_at(L, 1))); return 1; }
static int fn_layers(lua_State *L) { lua_pushstring(L, dk_featnet_layers(featnet_at(L, 1))); return 1; }
static int fn_accuracy(lua_State *L) {
    double a = dk_featnet_test_accuracy(featnet_at(L, 1));
    if (isnan(a)) lua_pushnil(L);
    else lua_pushnumber(L, a);
    return 1;
}
static int fn_train_seconds(lua_State *L) {
    double s = dk_featnet_train_seconds(featnet_at(L, 1));
    if (isnan(s)) lua_pushnil(L);
    else lua_pushnumber(L, s);
    return 1;
}

static int fn_features(lua_State *L) {
    dk_featnet *n = featnet_at(L, 1);
    dk_tensor *img = dkl_tensor_check(L, 2);
    lua_Integer batch = luaL_optinteger(L, 3, 100);
    dkl_tensor *o = dkl_tensor_push_empty(L);
    dk_error err;
    if (!(o->t = dk_featnet_features(n, img, (int64_t)batch, &err))) return dkl_error(L, &err);
    return 1;
}

/* dataset_features(ds, n, seed, batch): checks n, returns the image indices
 * (the first n of a seeded permutation, kept on the Lua stack; NULL without seed) */
static int64_t *subset(lua_State *L, dk_dataset *ds, lua_Integer count) {
    if (count < 2 || count > ds->count)
        luaL_error(L, "dataset_features: n = %d, must be in [2, %d] (the dataset's size)", (int)count, (int)ds->count);
    if (lua_isnoneornil(L, 4)) return NULL;
    lua_Integer seed = luaL_checkinteger(L, 4);
    int64_t *perm = lua_newuserdatauv(L, sizeof(int64_t) * (size_t)ds->count, 0);
    dk_rng r;
    dk_rng_init(&r, (uint64_t)seed, 0x45560001u); /* evaluation subset stream */
    dk_rng_permutation(&r, perm, (size_t)ds->count);
    return perm;
}

static int fn_dataset_features(lua_State *L) {
    dk_featnet *n = featnet_at(L, 1);
    dk_dataset *ds = dataset_at(L, 2);
    lua_Integer count = luaL_checkinteger(L, 3);
    int64_t *idx = subset(L, ds, count);
    lua_Integer batch = luaL_optinteger(L, 5, 100);
    dkl_tensor *o = dkl_tensor_push_empty(L);
    dk_error err;
    if (!(o->t = dk_featnet_dataset_features(n, ds, idx, (int64_t)count, (int64_t)batch, &err))) return dkl_error(L, &err);
    return 1;
}

static int fn_classify(lua_State *L) {
    dk_featnet *n = featnet_at(L, 1);
    dk_dataset *ds = dataset_at(L, 2);
    double acc = 0;
    dk_error err;
    if (dk_featnet_accuracy(n, ds, (int64_t)luaL_optinteger(L, 3, 0), &acc, &err) != DK_OK) return dkl_error(L, &err);
    lua_pushnumber(L, acc);
    return 1;
}

static int fn_save(lua_State *L) {
    dk_error err;
    if (dk_featnet_save(featnet_at(L, 1), luaL_checkstring(L, 2), &err) != DK_OK) return dkl_error(L, &err);
    return 0;
}

/* ---- Inception (pytorch-fid's FID network) ---- */
typedef struct dkl_inception { dk_inception *n; } dkl_inception;

static dk_inception *inception_at(lua_State *L, int idx) {
    dkl_inception *u = luaL_checkudata(L, idx, DKL_INCEPTION);
    if (!u->n) luaL_argerror(L, idx, "inception network was already released");
    return u->n;
}

static int inception_release(lua_State *L) {
    dkl_inception *u = luaL_checkudata(L, 1, DKL_INCEPTION);
    dk_inception_free(u->n);
    u->n = NULL;
    return 0;
}

static int l_inception_load(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    dkl_inception *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->n = NULL;
    luaL_setmetatable(L, DKL_INCEPTION);
    dk_error err;
    if (!(u->n = dk_inception_load(path, &err))) return dkl_error(L, &err);
    return 1;
}

static int in_name(lua_State *L) { lua_pushstring(L, dk_inception_name(inception_at(L, 1))); return 1; }
static int in_dim(lua_State *L) { lua_pushinteger(L, dk_inception_dim(inception_at(L, 1))); return 1; }
static int in_path(lua_State *L) { lua_pushstring(L, dk_inception_path(inception_at(L, 1))); return 1; }
static int in_digest(lua_State *L) { lua_pushstring(L, dk_inception_digest(inception_at(L, 1))); return 1; }
static int in_accuracy(lua_State *L) { inception_at(L, 1); lua_pushnil(L); return 1; }

static int in_features(lua_State *L) {
    dk_inception *n = inception_at(L, 1);
    dk_tensor *img = dkl_tensor_check(L, 2);
    lua_Integer batch = luaL_optinteger(L, 3, 50);
    dkl_tensor *o = dkl_tensor_push_empty(L);
    dk_error err;
    if (!(o->t = dk_inception_features(n, img, (int64_t)batch, &err))) return dkl_error(L, &err);
    return 1;
}

static int in_dataset_features(lua_State *L) {
    dk_inception *n = inception_at(L, 1);
    dk_dataset *ds = dataset_at(L, 2);
    lua_Integer count = luaL_checkinteger(L, 3);
    int64_t *idx = subset(L, ds, count);
    lua_Integer batch = luaL_optinteger(L, 5, 50);
    dkl_tensor *o = dkl_tensor_push_empty(L);
    dk_error err;
    if (!(o->t = dk_inception_dataset_features(n, ds, idx, (int64_t)count, (int64_t)batch, &err)))
        return dkl_error(L, &err);
    return 1;
}

static const luaL_Reg inception_methods[] = {{"name", in_name}, {"dim", in_dim}, {"path", in_path}, {"digest", in_digest},
                                             {"accuracy", in_accuracy}, {"features", in_features},
                                             {"dataset_features", in_dataset_features}, {"release", inception_release},
                                             {NULL, NULL}};

static int l_fid(lua_State *L) {
    double f = 0;
    dk_error err;
    if (dk_fid(dkl_tensor_check(L, 1), dkl_tensor_check(L, 2), &f, &err) != DK_OK) return dkl_error(L, &err);
    lua_pushnumber(L, f);
    return 1;
}

static int l_kid(lua_State *L) {
    double k = 0;
    dk_error err;
    if (dk_kid(dkl_tensor_check(L, 1), dkl_tensor_check(L, 2), (int64_t)luaL_optinteger(L, 3, DK_KID_MAX_SIZE), &k, &err) !=
        DK_OK)
        return dkl_error(L, &err);
    lua_pushnumber(L, k);
    return 1;
}

static int l_st_meta(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    dk_error err;
    dk_st_file *f = dk_st_open(path, &err);
    if (!f) return dkl_error(L, &err);
    lua_createtable(L, 0, (int)dk_st_meta_count(f));
    for (size_t i = 0; i < dk_st_meta_count(f); i++) {
        lua_pushstring(L, dk_st_meta_value(f, i));
        lua_setfield(L, -2, dk_st_meta_key(f, i));
    }
    dk_st_close(f);
    return 1;
}

static int l_cache_dir(lua_State *L) {
    char buf[4096];
    dk_error err;
    if (dk_cache_dir(buf, sizeof buf, &err) != DK_OK) return dkl_error(L, &err);
    lua_pushstring(L, buf);
    return 1;
}

static int l_hash(lua_State *L) {
    char buf[32];
    snprintf(buf, sizeof buf, "%016llx", (unsigned long long)dk_hash_str(luaL_checkstring(L, 1)));
    lua_pushstring(L, buf);
    return 1;
}

static int l_cat0(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_Integer k = (lua_Integer)lua_rawlen(L, 1);
    if (k < 1) return luaL_error(L, "dk.cat0: give a non-empty list of tensors");
    int64_t rows = 0, shp[DK_MAX_DIMS];
    int nd = 0;
    for (lua_Integer i = 1; i <= k; i++) {
        lua_rawgeti(L, 1, i);
        dk_tensor *t = dkl_tensor_check(L, -1);
        lua_pop(L, 1);
        if (i == 1) {
            nd = t->ndim;
            memcpy(shp, t->shape, sizeof shp);
        } else if (t->ndim != nd || memcmp(t->shape + 1, shp + 1, sizeof(int64_t) * (size_t)(nd - 1)))
            return luaL_error(L, "dk.cat0: tensor %d has another trailing shape than tensor 1", (int)i);
        rows += t->shape[0];
    }
    shp[0] = rows;
    dkl_tensor *o = dkl_tensor_push_empty(L);
    dk_error err;
    if (!(o->t = dk_tensor_new(DK_F64, nd, shp, &err))) return dkl_error(L, &err);
    size_t at = 0;
    for (lua_Integer i = 1; i <= k; i++) {
        lua_rawgeti(L, 1, i);
        dk_tensor *t = dkl_tensor_check(L, -1);
        for (size_t j = 0; j < t->numel; j++) dk_f64(o->t)[at++] = dk_tensor_get(t, j);
        lua_pop(L, 1);
    }
    return 1;
}

static const luaL_Reg featnet_methods[] = {{"name", fn_name}, {"dim", fn_dim}, {"layers", fn_layers},
                                           {"accuracy", fn_accuracy}, {"train_seconds", fn_train_seconds},
                                           {"features", fn_features}, {"dataset_features", fn_dataset_features},
                                           {"classify", fn_classify}, {"save", fn_save}, {"release", featnet_release},
                                           {NULL, NULL}};
static const luaL_Reg funcs[] = {{"featnet_default", l_featnet_default}, {"featnet_load", l_featnet_load},
                                 {"featnet_train", l_featnet_train}, {"inception_load", l_inception_load}, {"fid", l_fid}, {"kid", l_kid},
                                 {"st_meta", l_st_meta}, {"cache_dir", l_cache_dir}, {"hash", l_hash}, {"cat0", l_cat0},
                                 {NULL, NULL}};

static int open_eval(lua_State *L) {
    luaL_newmetatable(L, DKL_FEATNET);
    lua_newtable(L);
    luaL_setfuncs(L, featnet_methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, featnet_release);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    luaL_newmetatable(L, DKL_INCEPTION);
    lua_newtable(L);
    luaL_setfuncs(L, inception_methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, inception_release);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    luaL_setfuncs(L, funcs, 0);
    return 0;
}
DKL_PART(eval, open_eval)
