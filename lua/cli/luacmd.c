/* luacmd.c: what the commands that run Lua share (cli.h):
 *  - dk_cli_lua_paths: package.path with the diffkit Lua folders (the source
 *    tree's, DIFFKIT_LUA_BUILD_DIR, then the install tree's) after an
 *    optional first folder, and package.preload["diffkit.core"];
 *  - dk_cli_msghandler: the message handler of lua_pcall: an error raised
 *    with dk.fail (a diffkit.UserError: a bad input, a full disk) prints its
 *    message alone; any other error gets a traceback, as lua.c does;
 *  - dk_cli_lua_module: `diffkit COMMAND ARGS...` implemented in Lua as
 *    require(MODULE).main(ARGS...). */
#include "cli.h"
#include "dkl.h"
#include <lualib.h>
#include <stdio.h>
#include <string.h>

#ifndef DIFFKIT_LUA_BUILD_DIR
#define DIFFKIT_LUA_BUILD_DIR ""
#endif
#ifndef DIFFKIT_LUA_INSTALL_DIR
#define DIFFKIT_LUA_INSTALL_DIR ""
#endif

int dk_cli_msghandler(lua_State *L) {
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL && luaL_getmetafield(L, 1, "__name") == LUA_TSTRING) {
        int user = strcmp(lua_tostring(L, -1), "diffkit.UserError") == 0;
        lua_pop(L, 1);
        if (user && lua_getfield(L, 1, "message") == LUA_TSTRING) return 1;
        if (user) lua_pop(L, 1);
    }
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

void dk_cli_lua_paths(lua_State *L, const char *first, size_t first_len) {
    luaL_Buffer b;
    const char *dirs[2] = {DIFFKIT_LUA_BUILD_DIR, DIFFKIT_LUA_INSTALL_DIR};
    lua_getglobal(L, "package");
    luaL_buffinit(L, &b);
    if (first) {
        luaL_addlstring(&b, first, first_len);
        luaL_addstring(&b, "/?.lua;");
    }
    for (int i = 0; i < 2; i++) {
        if (!dirs[i][0]) continue;
        luaL_addstring(&b, dirs[i]);
        luaL_addstring(&b, "/?.lua;");
        luaL_addstring(&b, dirs[i]);
        luaL_addstring(&b, "/?/init.lua;");
    }
    lua_getfield(L, -2, "path");
    luaL_addvalue(&b);
    luaL_pushresult(&b);
    lua_setfield(L, -2, "path");
    lua_getfield(L, -1, "preload");
    lua_pushcfunction(L, luaopen_diffkit);
    lua_setfield(L, -2, "diffkit.core");
    lua_pop(L, 2);
}

typedef struct module_args {
    const char *cmd, *module;
    int argc;
    char **argv;
    int status;
} module_args;

static int module_main(lua_State *L) {
    module_args *a = lua_touserdata(L, 1);
    luaL_openlibs(L);
    dk_cli_lua_paths(L, NULL, 0);
    lua_pushcfunction(L, dk_cli_msghandler);
    int h = lua_gettop(L);
    lua_getglobal(L, "require");
    lua_pushstring(L, a->module);
    if (lua_pcall(L, 1, 1, h) != LUA_OK) {
        fprintf(stderr, "diffkit %s: %s\n", a->cmd, lua_tostring(L, -1));
        return 0;
    }
    lua_getfield(L, -1, "main");
    luaL_checkstack(L, a->argc + 2, "too many arguments");
    for (int i = 1; i < a->argc; i++) lua_pushstring(L, a->argv[i]);
    if (lua_pcall(L, a->argc - 1, 1, h) != LUA_OK) {
        fprintf(stderr, "diffkit %s: %s\n", a->cmd, lua_tostring(L, -1));
        return 0;
    }
    a->status = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : 0;
    return 0;
}

int dk_cli_lua_module(const char *cmd, const char *module, int argc, char **argv) {
    module_args a = {cmd, module, argc, argv, 1};
    lua_State *L = luaL_newstate();
    if (!L) {
        fprintf(stderr, "diffkit %s: cannot create a Lua state: out of memory\n", cmd);
        return 1;
    }
    lua_pushcfunction(L, module_main);
    lua_pushlightuserdata(L, &a);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        fprintf(stderr, "diffkit %s: %s\n", cmd, lua_tostring(L, -1));
        a.status = 1;
    }
    lua_close(L);
    return a.status;
}
