/* sampling.c: sampling from Lua with an exact denoiser (a Gaussian mixture
 * or a Lua function), and seeded normal draws.
 *
 *   local g = dk.gmm(means, stds, weights)   -- Tensors: [K, ...], [K], [K]
 *   g:denoise(x, sigma)                      -> Tensor D(x; sigma) (F64)
 *   g:sample(n, {seed = 0})                  -> n exact draws [n, ...] (F64)
 *   sampler:sample(x, sigmas, {denoise = g, seed = 0, noise = "iid"|"brownian"})
 *                                            -> x_out, number of noise draws
 *   dk.randn(shape, seed, stream)            -> F64 standard normals (Philox-4x32-10)
 *
 * x is the start point (noise already scaled by sigmas[1]); it is copied,
 * not modified. The denoiser is a Gaussian mixture (dk.gmm) or a Lua
 * function f(x, sigma_table) -> Tensor [, aux Tensor] (aux: the variance
 * channel ddpm_ancestral reads with variance = "learned"). Noise: "iid" (Philox, seed, stream 0)
 * or "brownian" (a Brownian tree per sample, seeds seed + b); deterministic
 * samplers draw nothing. (PNG grids: dk.image_grid in train.c.) */
#include "dkl.h"
#include "diffkit/gmm.h"
#include "diffkit/rng.h"
#include <string.h>

#define DKL_GMM "diffkit.GMM"

typedef struct dkl_gmm {
    dk_gmm *g;
    int64_t shape[DK_MAX_DIMS]; /* one sample's shape */
    int ndim;
} dkl_gmm;

static int gmm_release(lua_State *L) {
    dkl_gmm *u = luaL_checkudata(L, 1, DKL_GMM);
    dk_gmm_free(u->g);
    u->g = NULL;
    return 0;
}

static dkl_gmm *gmm_check(lua_State *L, int idx) {
    dkl_gmm *u = luaL_checkudata(L, idx, DKL_GMM);
    if (!u->g) luaL_argerror(L, idx, "mixture was released");
    return u;
}

static int l_gmm(lua_State *L) {
    dk_tensor *means = dkl_tensor_check(L, 1), *stds = dkl_tensor_check(L, 2), *weights = dkl_tensor_check(L, 3);
    dkl_gmm *u = lua_newuserdatauv(L, sizeof *u, 0);
    dk_error err;
    int d;
    memset(u, 0, sizeof *u);
    luaL_setmetatable(L, DKL_GMM);
    if (means->ndim < 2) return luaL_error(L, "dk.gmm: means must be [K, ...] with at least 2 dimensions");
    if (!(u->g = dk_gmm_from_tensors(means, stds, weights, &err))) return dkl_error(L, &err);
    u->ndim = means->ndim - 1;
    for (d = 1; d < means->ndim; d++) u->shape[d - 1] = means->shape[d];
    return 1;
}

/* An F64 copy of x with a batch dimension. */
static dk_tensor *f64_copy(lua_State *L, int idx) {
    dk_tensor *x = dkl_tensor_check(L, idx);
    dkl_tensor *u = dkl_tensor_push_empty(L);
    dk_error err;
    if (x->ndim < 1) luaL_error(L, "x must have a batch dimension");
    if (!(u->t = dk_tensor_to(x, DK_F64, &err))) dkl_error(L, &err);
    return u->t;
}

static int gmm_denoise(lua_State *L) {
    dkl_gmm *g = gmm_check(L, 1);
    dk_tensor *x = f64_copy(L, 2);
    double *sig;
    int64_t b, batch = x->shape[0];
    dk_error err;
    sig = lua_newuserdatauv(L, (size_t)(batch ? batch : 1) * sizeof *sig, 0);
    for (b = 0; b < batch; b++) sig[b] = luaL_checknumber(L, 3);
    if (x->numel != (size_t)batch * (size_t)g->g->d)
        return luaL_error(L, "gmm:denoise: x has %d values per sample, the mixture has dimension %d",
                          (int)(batch ? x->numel / (size_t)batch : 0), (int)g->g->d);
    if (dk_gmm_denoise(g->g, batch, dk_f64(x), sig, dk_f64(x), &err) != DK_OK) return dkl_error(L, &err);
    lua_pop(L, 1);
    return 1;
}

/* Exact draws: pick a component by weight, then mean + std * normal. */
static int gmm_sample(lua_State *L) {
    dkl_gmm *g = gmm_check(L, 1);
    lua_Integer n = luaL_checkinteger(L, 2), seed = 0;
    int64_t shape[DK_MAX_DIMS + 1];
    dkl_tensor *u;
    dk_noise *noise;
    dk_tensor *pick;
    dk_error err;
    int64_t i, j, k, one = 1;
    if (n < 1) return luaL_error(L, "gmm:sample needs n >= 1");
    if (lua_istable(L, 3)) {
        lua_getfield(L, 3, "seed");
        seed = luaL_optinteger(L, -1, 0);
        lua_pop(L, 1);
    }
    shape[0] = n;
    for (i = 0; i < g->ndim; i++) shape[i + 1] = g->shape[i];
    u = dkl_tensor_push_empty(L);
    if (!(u->t = dk_tensor_new(DK_F64, g->ndim + 1, shape, &err))) return dkl_error(L, &err);
    if (!(noise = dk_noise_iid((uint64_t)seed, 1, &err))) return dkl_error(L, &err);
    if (dk_noise_draw(noise, 1, 0, u->t, &err) != DK_OK || !(pick = dk_tensor_new(DK_F64, 1, &one, &err))) {
        dk_noise_free(noise);
        return dkl_error(L, &err);
    }
    for (i = 0; i < n; i++) {
        /* a uniform from the CDF of one more normal draw (Phi), inverse-CDF pick */
        double r, acc = 0, total = 0;
        if (dk_noise_draw(noise, 1, 0, pick, &err) != DK_OK) {
            dk_tensor_free(pick);
            dk_noise_free(noise);
            return dkl_error(L, &err);
        }
        r = 0.5 * erfc(-dk_f64(pick)[0] / sqrt(2.0));
        for (k = 0; k < g->g->k; k++) total += exp(g->g->log_w[k]);
        for (k = 0; k < g->g->k - 1; k++) {
            acc += exp(g->g->log_w[k]) / total;
            if (r < acc) break;
        }
        for (j = 0; j < g->g->d; j++) {
            double *v = &dk_f64(u->t)[i * g->g->d + j];
            *v = g->g->means[k * g->g->d + j] + g->g->stds[k] * *v;
        }
    }
    dk_tensor_free(pick);
    dk_noise_free(noise);
    return 1;
}

/* ---- sampler:sample ------------------------------------------------------ */

typedef struct lua_denoise_ctx {
    lua_State *L;
    int fn_idx; /* the Lua function on L's stack */
} lua_denoise_ctx;

static dk_status lua_denoise(void *ctx, const dk_tensor *x, const double *sigma, dk_tensor *denoised, dk_tensor *aux,
                             dk_error *err) {
    lua_denoise_ctx *c = ctx;
    lua_State *L = c->L;
    dkl_tensor *u;
    dk_tensor *got;
    int64_t b;
    dk_error e2;
    lua_pushvalue(L, c->fn_idx);
    u = dkl_tensor_push_empty(L);
    if (!(u->t = dk_tensor_clone(x, &e2))) {
        lua_pop(L, 2);
        return dk_error_set(err, e2.code, "%s", e2.msg);
    }
    lua_createtable(L, (int)x->shape[0], 0);
    for (b = 0; b < x->shape[0]; b++) {
        lua_pushnumber(L, sigma[b]);
        lua_rawseti(L, -2, b + 1);
    }
    if (lua_pcall(L, 2, 2, 0) != LUA_OK) {
        dk_error_set(err, DK_EINVAL, "denoise function: %s", lua_isstring(L, -1) ? lua_tostring(L, -1) : "(error object)");
        lua_pop(L, 1);
        return DK_EINVAL;
    }
    got = dkl_tensor_test(L, -2);
    if (!got || got->numel != denoised->numel) {
        lua_pop(L, 2);
        return dk_error_set(err, DK_ESHAPE, "denoise function must return a Tensor shaped like x");
    }
    if (dk_tensor_copy(denoised, got, err) != DK_OK) {
        lua_pop(L, 2);
        return err ? err->code : DK_ESHAPE;
    }
    /* an optional second Tensor: the auxiliary output (the variance channel v of
     * ddpm_learned_var, read by ddpm_ancestral) */
    if (aux && !lua_isnil(L, -1)) {
        dk_tensor *a2 = dkl_tensor_test(L, -1);
        if (!a2 || a2->numel != aux->numel) {
            lua_pop(L, 2);
            return dk_error_set(err, DK_ESHAPE, "denoise function: its second result (aux) must be a Tensor shaped like x");
        }
        if (dk_tensor_copy(aux, a2, err) != DK_OK) {
            lua_pop(L, 2);
            return err ? err->code : DK_ESHAPE;
        }
    }
    lua_pop(L, 2);
    return DK_OK;
}

typedef struct noise_box {
    dk_noise *n;
} noise_box;

static int noise_box_gc(lua_State *L) {
    noise_box *b = lua_touserdata(L, 1);
    if (b->n) dk_noise_free(b->n);
    b->n = NULL;
    return 0;
}

/* sampler:sample(x, sigmas, {denoise =, seed =, noise =}) */
static int m_sample(lua_State *L) {
    dk_instance *inst = dkl_plugin_check(L, 1, DK_KIND_SAMPLER);
    dk_tensor *x, *sig;
    dk_sampler_env env;
    lua_denoise_ctx lctx;
    noise_box *nb;
    const char *noise_kind = "iid";
    lua_Integer seed = 0;
    dk_error err;
    int64_t n_sig;
    lua_settop(L, 4);
    luaL_checktype(L, 4, LUA_TTABLE);
    memset(&env, 0, sizeof env);
    lua_getfield(L, 4, "seed"); /* 5 */
    seed = luaL_optinteger(L, 5, 0);
    lua_getfield(L, 4, "noise"); /* 6 */
    noise_kind = luaL_optstring(L, 6, "iid");
    lua_getfield(L, 4, "denoise"); /* 7 */
    x = f64_copy(L, 2); /* 8 */
    sig = dkl_tensor_check(L, 3);
    {
        dkl_tensor *su = dkl_tensor_push_empty(L); /* 9 */
        if (!(su->t = dk_tensor_to(sig, DK_F64, &err))) return dkl_error(L, &err);
        sig = su->t;
    }
    n_sig = (int64_t)sig->numel;
    if (luaL_testudata(L, 7, DKL_GMM)) {
        env.denoise = dk_gmm_denoise_fn;
        env.denoise_ctx = gmm_check(L, 7)->g;
    } else if (lua_isfunction(L, 7)) {
        lctx.L = L;
        lctx.fn_idx = 7;
        env.denoise = lua_denoise;
        env.denoise_ctx = &lctx;
    } else {
        return luaL_error(L, "sampler '%s': opts.denoise must be a dk.gmm mixture or a function(x, sigmas)", inst->plugin->name);
    }
    nb = lua_newuserdatauv(L, sizeof *nb, 0); /* 10 */
    nb->n = NULL;
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, noise_box_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    if (strcmp(noise_kind, "iid") == 0) {
        nb->n = dk_noise_iid((uint64_t)seed, 0, &err);
    } else if (strcmp(noise_kind, "brownian") == 0) {
        int64_t b, batch = x->shape[0];
        uint64_t *seeds = lua_newuserdatauv(L, (size_t)batch * sizeof *seeds, 0);
        double smin = n_sig >= 2 ? dk_tensor_get(sig, (size_t)n_sig - 2) : 0, smax = dk_tensor_get(sig, 0);
        for (b = 0; b < batch; b++) seeds[b] = (uint64_t)seed + (uint64_t)b;
        nb->n = dk_noise_brownian(seeds, batch, smin, smax, &err);
        lua_pop(L, 1);
    } else {
        return luaL_error(L, "unknown noise '%s': use \"iid\" or \"brownian\"", noise_kind);
    }
    if (!nb->n) return dkl_error(L, &err);
    env.noise = nb->n;
    if (dk_sampler_vt(inst)->sample(inst->self, &env, dk_f64(sig), n_sig, x, &err) != DK_OK) return dkl_error(L, &err);
    lua_pushvalue(L, 8);
    lua_pushinteger(L, (lua_Integer)nb->n->draws);
    return 2;
}

/* dk.randn(shape, seed, stream): the same numbers on every machine. */
static int l_randn(lua_State *L) {
    int64_t shape[DK_MAX_DIMS];
    int ndim = dkl_shape_check(L, 1, shape);
    lua_Integer seed = luaL_optinteger(L, 2, 0), stream = luaL_optinteger(L, 3, 0);
    dkl_tensor *u = dkl_tensor_push_empty(L);
    dk_noise *noise;
    dk_error err;
    dk_status st;
    if (!(u->t = dk_tensor_new(DK_F64, ndim, shape, &err))) return dkl_error(L, &err);
    if (!(noise = dk_noise_iid((uint64_t)seed, (uint64_t)stream, &err))) return dkl_error(L, &err);
    st = dk_noise_draw(noise, 1, 0, u->t, &err);
    dk_noise_free(noise);
    if (st != DK_OK) return dkl_error(L, &err);
    return 1;
}

static const luaL_Reg gmm_methods[] = {{"denoise", gmm_denoise}, {"sample", gmm_sample}, {"release", gmm_release}, {NULL, NULL}};
static const luaL_Reg funcs[] = {{"gmm", l_gmm}, {"randn", l_randn}, {NULL, NULL}};

static int open_sampling(lua_State *L) {
    if (luaL_newmetatable(L, DKL_GMM)) {
        lua_pushcfunction(L, gmm_release);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, gmm_release);
        lua_setfield(L, -2, "__close");
        luaL_newlib(L, gmm_methods);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    /* sampler instances get :sample */
    luaL_getmetatable(L, DKL_PLUGIN);
    if (lua_istable(L, -1)) {
        lua_getfield(L, -1, "__index");
        lua_pushcfunction(L, m_sample);
        lua_setfield(L, -2, "sample");
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    luaL_setfuncs(L, funcs, 0);
    return 0;
}
DKL_PART(sampling, open_sampling)
