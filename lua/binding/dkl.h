/* dkl.h (internal): shared pieces of the Lua binding (every .c file in lua/binding/).
 *
 * The C module is `diffkit.core` (luaopen_diffkit, preloaded by the host
 * binary); lua/diffkit/init.lua requires it and re-exports it as `diffkit`.
 * Each binding file adds its functions to the module table through a
 * DKL_PART registration, so a new area (experiment builder, training) is a
 * new file and needs no edit elsewhere:
 *
 *     static int open_mine(lua_State *L) { luaL_setfuncs(L, funcs, 0); return 0; }
 *     DKL_PART(mine, open_mine)
 *
 * The part function is called with the module table on top of the stack and
 * must leave the stack as it found it. Errors go through dkl_error (never a
 * message as a format string). */
#ifndef DIFFKIT_DKL_H
#define DIFFKIT_DKL_H

#include <lauxlib.h>
#include <lua.h>
#include "diffkit/diffkit.h"

#define DKL_TENSOR "diffkit.Tensor"
#define DKL_PLUGIN "diffkit.Plugin"

/* ---- module parts ------------------------------------------------------- */
typedef struct dkl_part {
    const char *name;
    int (*open)(lua_State *L);
    struct dkl_part *next;
} dkl_part;
void dkl_register_part(dkl_part *p);
#define DKL_PART(NAME, FN)                                                   \
    static dkl_part dkl__part_##NAME = {#NAME, FN, 0};                        \
    __attribute__((constructor)) static void dkl__reg_##NAME(void) { dkl_register_part(&dkl__part_##NAME); }

int luaopen_diffkit(lua_State *L);

/* ---- errors ------------------------------------------------------------- */
/* Raises a Lua error with err's message (never returns). */
int dkl_error(lua_State *L, const dk_error *err);

/* ---- tensors ------------------------------------------------------------ */
typedef struct dkl_tensor {
    dk_tensor *t; /* NULL until filled, and after release */
} dkl_tensor;

/* Pushes a new empty Tensor userdata (metatable set, t = NULL): create it
 * BEFORE acquiring the dk_tensor, then store the tensor into ->t. */
dkl_tensor *dkl_tensor_push_empty(lua_State *L);
/* Pushes t as a Tensor; takes over the caller's reference. On allocation
 * failure of the userdata, Lua raises (t is leaked only in that case; use
 * dkl_tensor_push_empty first where that matters). */
void dkl_tensor_push(lua_State *L, dk_tensor *t);
/* The tensor at idx, or a Lua error naming the argument. */
dk_tensor *dkl_tensor_check(lua_State *L, int idx);
dk_tensor *dkl_tensor_test(lua_State *L, int idx); /* NULL if not a Tensor */
/* Reads a shape table {2, 3} at idx; returns ndim. */
int dkl_shape_check(lua_State *L, int idx, int64_t shape[DK_MAX_DIMS]);
/* A dtype name ("F32", "f64", ...) at idx, or def if none/nil. */
dk_dtype dkl_dtype_opt(lua_State *L, int idx, dk_dtype def);

/* ---- plugins ------------------------------------------------------------ */
/* The process's plugin host (created on first use, never freed: plugin code
 * must stay mapped while any instance lives). */
dk_host *dkl_host(lua_State *L);
/* Builds validated, finished options for plugin p from the table at idx
 * (nil = defaults). Pushes the object that owns them (and any Lua function
 * options) onto the stack; they live as long as it does. Raises on a bad
 * option with the builder's message. */
dk_options *dkl_options_from_table(lua_State *L, int idx, const dk_plugin *p);

typedef struct dkl_plugin {
    dk_instance *inst; /* NULL after release */
} dkl_plugin;
dk_instance *dkl_plugin_check(lua_State *L, int idx, dk_plugin_kind kind);

#endif
