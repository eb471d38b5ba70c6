/* run.c: `diffkit run SCRIPT.lua [ARGS...]` — runs a Lua script in a fresh
 * Lua 5.4 state with the diffkit module available.
 *
 *  - package.preload["diffkit.core"] is the C binding; `require "diffkit"`
 *    loads lua/diffkit/init.lua from the source tree (DIFFKIT_LUA_BUILD_DIR)
 *    or the install tree (DIFFKIT_LUA_INSTALL_DIR). The script's own folder
 *    comes first in package.path, so an experiment can require its neighbours.
 *  - `arg` is set as lua.c does: arg[0] = script, arg[1..n] = ARGS,
 *    arg[-1] = "run", arg[-2] = the binary; the chunk also receives ARGS as `...`.
 *  - Strict globals: reading a global that was never assigned raises
 *    "undefined global 'x'" at the reading line. Assigning new globals is
 *    allowed (a script may define functions or hooks); test for an optional
 *    global with rawget(_G, "name").
 *  - Everything runs under lua_pcall with a traceback handler; an error prints
 *    "file:line: message" and the traceback. Exit 0 ok, 1 script error
 *    (including a missing or unparsable script), 2 usage error. */
#include "cli.h"
#include "dkl.h"
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static const char run_help[] =
    "usage: diffkit run [--device cpu|cuda|cuda:N] [--] SCRIPT.lua [ARGS...]\n"
    "\n"
    "Runs SCRIPT.lua in a fresh Lua 5.4 state. `require \"diffkit\"` gives the\n"
    "diffkit module (tensors, safetensors files, plugins; see docs/lua-api.md).\n"
    "The script sees its arguments in `arg` (arg[0] = SCRIPT.lua, arg[1..] = ARGS)\n"
    "and as `...`.\n"
    "\n"
    "Reading an undefined global is an error (\"undefined global 'x'\"); assigning\n"
    "a new global is allowed. Use rawget(_G, \"x\") to test for an optional one.\n"
    "\n"
    "On an error the message (\"file:line: message\") and a traceback go to stderr;\n"
    "an error raised with dk.fail(message) (a bad input, a full disk, a run folder\n"
    "in use) prints the message alone.\n"
    "\n"
    "SCRIPT.lua --help: the diffkit scripts print their usage and exit 0.\n"
    "\n"
    "--device sets DIFFKIT_DEVICE, the device of the script's experiments\n"
    "(dk.experiment's `device`; docs/cuda.md).\n"
    "\n"
    "Under mpirun (mpirun -np 4 diffkit run SCRIPT.lua) every rank runs the\n"
    "script; training and evaluation split their work over the ranks and rank 0\n"
    "writes the run folder (docs/distributed.md).\n"
    "\n"
    "exit status: 0 success, 1 script error (runtime, syntax, missing file),\n"
    "             2 usage error\n";

/* __index of the global table: reading a global nobody assigned. */
static int strict_index(lua_State *L) {
    luaL_where(L, 1); /* level 0 is this metamethod; 1 is the reading code */
    if (lua_type(L, 2) == LUA_TSTRING) lua_pushfstring(L, "undefined global '%s'", lua_tostring(L, 2));
    else lua_pushfstring(L, "undefined global (a %s key)", luaL_typename(L, 2));
    lua_concat(L, 2);
    return lua_error(L);
}

static void set_strict(lua_State *L) {
    lua_pushglobaltable(L);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, strict_index);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
    lua_pop(L, 1);
}

/* package.path = <script dir>/?.lua;<lua dirs>;<default path> */
static void set_paths(lua_State *L, const char *script) {
    const char *slash = strrchr(script, '/');
    if (slash) dk_cli_lua_paths(L, script, (size_t)(slash - script));
    else dk_cli_lua_paths(L, ".", 1);
}

/* Everything that may raise runs in here, under lua_pcall. */
typedef struct run_args {
    int argc;      /* of the command: argv[0] = command, argv[first] = script */
    char **argv;
    int first;
    int status;    /* exit status */
} run_args;

static int pmain(lua_State *L) {
    run_args *a = lua_touserdata(L, 1);
    const char *script = a->argv[a->first];
    int i, nargs = a->argc - a->first - 1, st;
    luaL_openlibs(L);
    set_paths(L, script);
    /* arg table as lua.c */
    lua_createtable(L, nargs, a->first + 1);
    for (i = 0; i < a->argc; i++) {
        lua_pushstring(L, a->argv[i]);
        lua_rawseti(L, -2, i - a->first);
    }
    lua_setglobal(L, "arg");
    set_strict(L);
    st = luaL_loadfile(L, script);
    if (st != LUA_OK) {
        if (st == LUA_ERRFILE) fprintf(stderr, "diffkit: %s: check the path of the script\n", lua_tostring(L, -1));
        else fprintf(stderr, "%s\n", lua_tostring(L, -1));
        a->status = 1;
        return 0;
    }
    luaL_checkstack(L, nargs + 3, "too many script arguments");
    lua_pushcfunction(L, dk_cli_msghandler);
    lua_insert(L, -2);
    for (i = a->first + 1; i < a->argc; i++) lua_pushstring(L, a->argv[i]);
    st = lua_pcall(L, nargs, 0, lua_gettop(L) - nargs - 1);
    if (st != LUA_OK) {
        fprintf(stderr, "%s\n", lua_tostring(L, -1));
        a->status = 1;
        return 0;
    }
    a->status = 0;
    return 0;
}

static int cmd_run(int argc, char **argv) {
    run_args a;
    lua_State *L;
    int st;
    a.argc = argc;
    a.argv = argv;
    a.first = 1;
    a.status = 1;
    if (a.first + 1 < argc && strcmp(argv[a.first], "--device") == 0) { /* the default device of the script's experiments */
        const char *d = argv[a.first + 1];
        if (strcmp(d, "cpu") && strncmp(d, "cuda", 4))
            return dk_cli_usage_error("run", "--device '%s': use cpu, cuda or cuda:N", d);
        setenv("DIFFKIT_DEVICE", d, 1);
        a.first += 2;
    }
    if (a.first < argc && strcmp(argv[a.first], "--") == 0) a.first++;
    if (a.first >= argc) return dk_cli_usage_error("run", "no script given");
    if (argv[a.first][0] == '-' && argv[a.first][1] && strcmp(argv[a.first - 1], "--") != 0)
        return dk_cli_usage_error("run", "unknown option '%s'", argv[a.first]);
    L = luaL_newstate();
    if (!L) {
        fputs("diffkit: cannot create a Lua state: out of memory\n", stderr);
        return 1;
    }
    lua_pushcfunction(L, pmain);
    lua_pushlightuserdata(L, &a);
    st = lua_pcall(L, 1, 0, 0);
    if (st != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        fprintf(stderr, "diffkit: %s\n", msg ? msg : "(error without a message)");
        a.status = 1;
    }
    lua_close(L);
    return a.status;
}

DK_CLI_COMMAND("run", "run a Lua experiment script: diffkit run SCRIPT.lua [ARGS...]", run_help, cmd_run)
