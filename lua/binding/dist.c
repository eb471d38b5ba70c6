/* dist.c: data-parallel ranks from Lua (docs/distributed.md).
 *
 *   dk.dist.rank() / world() / local_rank() / host() -> this process's place
 *       (rank 0 of 1 without mpirun or in a build without MPI)
 *   dk.dist.built() / nccl_built() -> booleans
 *   dk.dist.nccl_available() -> true | false, why (libnccl is opened at run time)
 *   dk.dist.barrier()
 *   dk.dist.bcast_tensor(t | nil, root) -> the root's tensor on every rank (a
 *       new tensor, dtype and shape included; on the root a copy of t)
 *   dk.dist.bcast_string(s | nil, root) -> the root's string on every rank
 *   dk.dist.abort(message) ends every rank, naming this one
 *   dk.dist.comm_seconds() -> seconds spent summing gradients so far
 *   dk.dist.sum_bench(n, reps) -> seconds per fixed-order sum of n F32 elements
 *       (host memory; every rank calls it: bench/dist.lua's bandwidth line) */
#include "dkl.h"
#include "diffkit/dist.h"
#include "diffkit/log.h"
#include <stdlib.h>
#include <string.h>

static int d_rank(lua_State *L) { lua_pushinteger(L, dk_dist_rank()); return 1; }
static int d_world(lua_State *L) { lua_pushinteger(L, dk_dist_world()); return 1; }
static int d_local_rank(lua_State *L) { lua_pushinteger(L, dk_dist_local_rank()); return 1; }
static int d_host(lua_State *L) { lua_pushstring(L, dk_dist_host()); return 1; }
static int d_built(lua_State *L) { lua_pushboolean(L, dk_dist_built()); return 1; }
static int d_nccl_built(lua_State *L) { lua_pushboolean(L, dk_dist_nccl_built()); return 1; }
static int d_nccl_available(lua_State *L) {
    char why[512] = "";
    int ok = dk_dist_nccl_available(why, sizeof why);
    lua_pushboolean(L, ok);
    if (ok) return 1;
    lua_pushstring(L, why);
    return 2;
}
static int d_comm_seconds(lua_State *L) { lua_pushnumber(L, dk_dist_comm_seconds()); return 1; }

static int d_barrier(lua_State *L) {
    dk_error err;
    if (dk_dist_barrier(&err) != DK_OK) return dkl_error(L, &err);
    return 0;
}

static int check_root(lua_State *L, int idx) {
    lua_Integer root = luaL_checkinteger(L, idx);
    if (root < 0 || root >= dk_dist_world())
        return luaL_error(L, "dk.dist: root %d is not a rank of this world of %d", (int)root, dk_dist_world());
    return (int)root;
}

static int d_bcast_tensor(lua_State *L) {
    int root = check_root(L, 2);
    dk_error err;
    int me = dk_dist_rank() == root;
    dk_tensor *src = me ? dkl_tensor_check(L, 1) : NULL;
    int64_t hdr[2 + DK_MAX_DIMS] = {0};
    if (me) {
        hdr[0] = (int64_t)src->dtype;
        hdr[1] = src->ndim;
        for (int i = 0; i < src->ndim; i++) hdr[2 + i] = src->shape[i];
    }
    if (dk_dist_bcast(hdr, sizeof hdr, root, &err) != DK_OK) return dkl_error(L, &err);
    dkl_tensor *u = dkl_tensor_push_empty(L);
    if (!(u->t = dk_tensor_new((dk_dtype)hdr[0], (int)hdr[1], hdr + 2, &err))) return dkl_error(L, &err);
    size_t bytes = u->t->numel * dk_dtype_size(u->t->dtype);
    if (me && bytes) memcpy(u->t->data, src->data, bytes);
    if (dk_dist_bcast(u->t->data, bytes, root, &err) != DK_OK) return dkl_error(L, &err);
    return 1;
}

static int d_bcast_string(lua_State *L) {
    int root = check_root(L, 2);
    dk_error err;
    int me = dk_dist_rank() == root;
    size_t n = 0;
    const char *s = me ? luaL_checklstring(L, 1, &n) : NULL;
    uint64_t len = n;
    if (dk_dist_bcast(&len, sizeof len, root, &err) != DK_OK) return dkl_error(L, &err);
    char *buf = malloc(len ? len : 1);
    if (!buf) return luaL_error(L, "dk.dist.bcast_string: out of memory");
    if (me && len) memcpy(buf, s, len);
    if (dk_dist_bcast(buf, len, root, &err) != DK_OK) { free(buf); return dkl_error(L, &err); }
    lua_pushlstring(L, buf, len);
    free(buf);
    return 1;
}

static int d_sum_bench(lua_State *L) {
    lua_Integer n = luaL_checkinteger(L, 1), reps = luaL_optinteger(L, 2, 5);
    if (n < 1 || reps < 1) return luaL_error(L, "dk.dist.sum_bench: n and reps must be >= 1");
    float *acc = calloc((size_t)n, sizeof(float)), *g = calloc((size_t)n, sizeof(float));
    if (!acc || !g) { free(acc); free(g); return luaL_error(L, "dk.dist.sum_bench: out of memory"); }
    for (lua_Integer i = 0; i < n; i++) g[i] = (float)(i % 7);
    dk_error err;
    dk_status st = dk_dist_barrier(&err);
    double t0 = dk_time_now();
    for (lua_Integer r = 0; r < reps && !st; r++) st = dk_dist_sum_ordered(acc, g, (size_t)n, DK_F32, DK_CPU, &err);
    double dt = (dk_time_now() - t0) / (double)reps;
    free(acc);
    free(g);
    if (st) return dkl_error(L, &err);
    lua_pushnumber(L, dt);
    return 1;
}

static int d_abort(lua_State *L) {
    const char *msg = luaL_optstring(L, 1, "aborted");
    dk_dist_abort(1, "%s", msg);
    return 0;
}

static const luaL_Reg dist_funcs[] = {{"rank", d_rank}, {"world", d_world}, {"local_rank", d_local_rank},
                                      {"host", d_host}, {"built", d_built}, {"nccl_built", d_nccl_built}, {"nccl_available", d_nccl_available},
                                      {"barrier", d_barrier}, {"bcast_tensor", d_bcast_tensor},
                                      {"bcast_string", d_bcast_string}, {"abort", d_abort},
                                      {"comm_seconds", d_comm_seconds}, {"sum_bench", d_sum_bench}, {NULL, NULL}};

static int open_dist(lua_State *L) {
    lua_newtable(L);
    luaL_setfuncs(L, dist_funcs, 0);
    lua_setfield(L, -2, "dist");
    return 0;
}
DKL_PART(dist, open_dist)
