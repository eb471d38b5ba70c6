/* io.c: safetensors files from Lua.
 *
 *   local tensors, meta = dk.load(path)     -- name -> Tensor (stored dtype), key -> string
 *   dk.save(path, tensors, meta)            -- meta optional; values tostring'd
 *
 * Errors (missing file, truncated or corrupt file, wrong dtype) are Lua
 * errors carrying the reader's one-line message. */
#include "dkl.h"
#include <stdlib.h>
#include <string.h>

typedef struct st_box {
    dk_st_file *f;
} st_box;

static int st_box_gc(lua_State *L) {
    st_box *b = lua_touserdata(L, 1);
    if (b && b->f) {
        dk_st_close(b->f);
        b->f = NULL;
    }
    return 0;
}

/* A userdata that owns an open file until the end of the call (so a Lua
 * error half way does not leak it). */
static st_box *push_box(lua_State *L) {
    st_box *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->f = NULL;
    if (luaL_newmetatable(L, "diffkit.SafetensorsFile")) {
        lua_pushcfunction(L, st_box_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    return b;
}

static int l_load(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    st_box *box = push_box(L);
    dk_error err;
    size_t i, n;
    if (!(box->f = dk_st_open(path, &err))) return dkl_error(L, &err);
    n = dk_st_count(box->f);
    lua_createtable(L, 0, (int)n);
    for (i = 0; i < n; i++) {
        const char *name = dk_st_name(box->f, i);
        dkl_tensor *u = dkl_tensor_push_empty(L);
        if (!(u->t = dk_st_get(box->f, name, &err))) return dkl_error(L, &err);
        lua_setfield(L, -2, name);
    }
    n = dk_st_meta_count(box->f);
    lua_createtable(L, 0, (int)n);
    for (i = 0; i < n; i++) {
        lua_pushstring(L, dk_st_meta_value(box->f, i));
        lua_setfield(L, -2, dk_st_meta_key(box->f, i));
    }
    dk_st_close(box->f);
    box->f = NULL;
    return 2;
}

typedef struct writer_box {
    dk_st_writer *w;
} writer_box;

static int writer_gc(lua_State *L) {
    writer_box *b = lua_touserdata(L, 1);
    if (b && b->w) {
        dk_st_writer_free(b->w);
        b->w = NULL;
    }
    return 0;
}

static int l_save(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    writer_box *box;
    dk_error err;
    lua_settop(L, 3);
    luaL_checktype(L, 2, LUA_TTABLE);
    if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TTABLE);
    box = lua_newuserdatauv(L, sizeof *box, 0);
    box->w = NULL;
    if (luaL_newmetatable(L, "diffkit.SafetensorsWriter")) {
        lua_pushcfunction(L, writer_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    if (!(box->w = dk_st_writer_new())) return luaL_error(L, "out of memory creating a safetensors writer for %s", path);
    lua_pushnil(L);
    while (lua_next(L, 2)) {
        dk_tensor *t;
        if (lua_type(L, -2) != LUA_TSTRING) return luaL_error(L, "dk.save(%s): tensor names must be strings", path);
        t = dkl_tensor_test(L, -1);
        if (!t) return luaL_error(L, "dk.save(%s): '%s' is a %s, not a Tensor", path, lua_tostring(L, -2), luaL_typename(L, -1));
        if (dk_st_writer_add(box->w, lua_tostring(L, -2), t, &err) != DK_OK) return dkl_error(L, &err);
        lua_pop(L, 1);
    }
    if (!lua_isnoneornil(L, 3)) {
        lua_pushnil(L);
        while (lua_next(L, 3)) {
            const char *v;
            if (lua_type(L, -2) != LUA_TSTRING) return luaL_error(L, "dk.save(%s): metadata keys must be strings", path);
            v = luaL_tolstring(L, -1, NULL);
            if (dk_st_writer_meta(box->w, lua_tostring(L, -3), v, &err) != DK_OK) return dkl_error(L, &err);
            lua_pop(L, 2);
        }
    }
    if (dk_st_writer_save(box->w, path, &err) != DK_OK) return dkl_error(L, &err);
    dk_st_writer_free(box->w);
    box->w = NULL;
    return 0;
}

static const luaL_Reg funcs[] = {{"load", l_load}, {"save", l_save}, {NULL, NULL}};

static int open_io(lua_State *L) {
    luaL_setfuncs(L, funcs, 0);
    return 0;
}
DKL_PART(io, open_io)
