/* export.c: samples out to the files other evaluators read (diffkit/export.h).
 *
 *   local z = dk.npz_writer(path, n, h, w, c)  -- arr_0 uint8 [n, h, w, c]
 *   z:append(images)                           -- [B, C, H, W] in [-1, 1]
 *   z:finish(labels)                           -- labels: Tensor or array of n ints -> arr_1; nil: none
 *   z:abort()                                  -- removes the temporary file
 *   dk.save_pngs(images, dir, first)           -- dir/%06d.png from index first (default 0)
 *
 * A writer that is garbage-collected unfinished aborts: no partial .npz is
 * ever left under the final name. */
#include "dkl.h"
#include "diffkit/export.h"
#include "diffkit/image.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DKL_NPZ "diffkit.NpzWriter"

typedef struct npz_box {
    dk_npz_writer *z;
    int64_t n;
} npz_box;

static npz_box *check_npz(lua_State *L) {
    npz_box *b = luaL_checkudata(L, 1, DKL_NPZ);
    if (!b->z) luaL_error(L, "npz writer: already finished or aborted");
    return b;
}

static int npz_gc(lua_State *L) {
    npz_box *b = luaL_checkudata(L, 1, DKL_NPZ);
    if (b->z) dk_npz_abort(b->z);
    b->z = NULL;
    return 0;
}

static int npz_append(lua_State *L) {
    npz_box *b = check_npz(L);
    dk_error err;
    if (dk_npz_append(b->z, dkl_tensor_check(L, 2), &err) != DK_OK) return dkl_error(L, &err);
    return 0;
}

static int npz_finish(lua_State *L) {
    npz_box *b = check_npz(L);
    int64_t *labels = NULL;
    if (!lua_isnoneornil(L, 2)) {
        dk_tensor *lt = dkl_tensor_test(L, 2);
        int64_t have = lt ? (int64_t)lt->numel : (lua_istable(L, 2) ? (int64_t)lua_rawlen(L, 2) : -1);
        if (have != b->n) return luaL_error(L, "npz writer: %d labels for %d images", (int)have, (int)b->n);
        labels = lua_newuserdatauv(L, sizeof(int64_t) * (size_t)(b->n ? b->n : 1), 0);
        for (int64_t i = 0; i < b->n; i++) {
            if (lt) labels[i] = (int64_t)dk_tensor_get(lt, (size_t)i);
            else { lua_rawgeti(L, 2, i + 1); labels[i] = (int64_t)luaL_checkinteger(L, -1); lua_pop(L, 1); }
        }
    }
    dk_error err;
    dk_npz_writer *z = b->z;
    b->z = NULL; /* finish frees it in every case */
    if (dk_npz_finish(z, labels, &err) != DK_OK) return dkl_error(L, &err);
    return 0;
}

static int npz_abort(lua_State *L) { return npz_gc(L); }

static int l_npz_writer(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    int64_t n = luaL_checkinteger(L, 2), h = luaL_checkinteger(L, 3), w = luaL_checkinteger(L, 4),
            c = luaL_checkinteger(L, 5);
    npz_box *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->z = NULL;
    b->n = n;
    if (luaL_newmetatable(L, DKL_NPZ)) {
        static const luaL_Reg m[] = {{"append", npz_append}, {"finish", npz_finish}, {"abort", npz_abort}, {NULL, NULL}};
        lua_pushcfunction(L, npz_gc);
        lua_setfield(L, -2, "__gc");
        luaL_newlib(L, m);
        lua_setfield(L, -2, "__index");
    }
    lua_setmetatable(L, -2);
    dk_error err;
    if (!(b->z = dk_npz_begin(path, n, h, w, c, &err))) return dkl_error(L, &err);
    return 1;
}

static int l_save_pngs(lua_State *L) {
    dk_tensor *images = dkl_tensor_check(L, 1);
    const char *dir = luaL_checkstring(L, 2);
    lua_Integer first = luaL_optinteger(L, 3, 0);
    dk_error err;
    dkl_tensor *u = dkl_tensor_push_empty(L); /* owns the pixels until the end of the call */
    if (!(u->t = dk_images_to_u8_nhwc(images, &err))) return dkl_error(L, &err);
    int64_t n = u->t->shape[0], h = u->t->shape[1], w = u->t->shape[2], c = u->t->shape[3];
    size_t per = (size_t)(h * w * c);
    for (int64_t i = 0; i < n; i++) {
        char path[4096];
        if ((size_t)snprintf(path, sizeof path, "%s/%06lld.png", dir, (long long)(first + i)) >= sizeof path)
            return luaL_error(L, "dk.save_pngs: the folder name '%s' is too long", dir);
        if (dk_image_write_png(path, (const uint8_t *)u->t->data + per * (size_t)i, (int)w, (int)h, (int)c, &err) != DK_OK)
            return dkl_error(L, &err);
    }
    return 0;
}

static const luaL_Reg funcs[] = {{"npz_writer", l_npz_writer}, {"save_pngs", l_save_pngs}, {NULL, NULL}};

static int open_export(lua_State *L) {
    luaL_setfuncs(L, funcs, 0);
    return 0;
}
DKL_PART(export, open_export)
