/* torchfile.c: PyTorch torch.save files from Lua (the restricted reader of
 * core/src/torchfile.c; docs/interop.md).
 *
 *   local obj = dk.torch_load(path)          -- the saved object as Lua values
 *   local sd  = dk.torch_state_dict(path, key) -- {["0.weight"] = Tensor, ...}
 *   dk.torch_none                            -- the value that stands for None
 *
 * torch_load mirrors the tree: dicts, OrderedDicts and argparse.Namespace
 * objects become tables with their keys (str keys as strings, int keys as
 * integers, float and bool keys as themselves, other keys as their JSON
 * text); lists and tuples become arrays (1-based); str and bytes become
 * strings, ints integers, floats numbers, bools booleans; None becomes
 * dk.torch_none (a unique table, so it survives in arrays and as a dict
 * value, unlike nil). A value shared in the pickle (or a cycle) is one
 * shared Lua table. Tensors become Tensor userdata: F32, F64 and I64 stay,
 * F16 and BF16 become F32, I32, U8 and bool become I64.
 * torch_state_dict lists every tensor leaf under key (nil or "" = the whole
 * file; a dotted path like "opt.state" works) with dotted names.
 * Errors (missing, truncated or refused files) are Lua errors with the
 * reader's one-line message. */
#include "dkl.h"
#include "diffkit/torchfile.h"
#include <stdlib.h>
#include <string.h>

#define DKL_TORCH_NONE "diffkit.torch_none"

typedef struct pt_box {
    dk_pt_file *f;
    dk_pt_named *a;
    size_t n;
} pt_box;

static int pt_box_gc(lua_State *L) {
    pt_box *b = lua_touserdata(L, 1);
    if (b) {
        dk_pt_named_free(b->a, b->n);
        b->a = NULL;
        b->n = 0;
        dk_pt_close(b->f);
        b->f = NULL;
    }
    return 0;
}

static pt_box *push_box(lua_State *L) {
    pt_box *b = lua_newuserdatauv(L, sizeof *b, 0);
    memset(b, 0, sizeof *b);
    if (luaL_newmetatable(L, "diffkit.TorchFile")) {
        lua_pushcfunction(L, pt_box_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    return b;
}

/* pushes the tensor v as F32/F64/I64 */
static void push_tensor(lua_State *L, const dk_pv *v) {
    dk_error err;
    dk_dtype dt;
    dkl_tensor *u = dkl_tensor_push_empty(L);
    if (dk_pv_tensor_info(v, &dt, NULL, NULL, &err) != DK_OK) dkl_error(L, &err);
    if (dt == DK_F16 || dt == DK_BF16) dt = DK_F32;
    else if (dt == DK_I32 || dt == DK_U8) dt = DK_I64;
    if (!(u->t = dk_pv_tensor_as(v, dt, &err))) dkl_error(L, &err);
}

static void push_none(lua_State *L) { lua_getfield(L, LUA_REGISTRYINDEX, DKL_TORCH_NONE); }

/* pushes the Lua mirror of v; `seen` (a table at index seen) maps each
 * container already converted (by address) to its table */
static void push_value(lua_State *L, const dk_pv *v, int seen, int depth) {
    size_t n, i;
    if (depth > 200) luaL_error(L, "torch_load: the object is nested deeper than 200 levels");
    luaL_checkstack(L, 6, "torch_load");
    switch (dk_pv_kind_of(v)) {
    case DK_PV_NONE: push_none(L); return;
    case DK_PV_BOOL: {
        int b = 0;
        dk_pv_bool(v, &b);
        lua_pushboolean(L, b);
        return;
    }
    case DK_PV_INT: {
        int64_t x = 0;
        dk_pv_int(v, &x);
        lua_pushinteger(L, (lua_Integer)x);
        return;
    }
    case DK_PV_FLOAT: {
        double x = 0;
        dk_pv_float(v, &x);
        lua_pushnumber(L, x);
        return;
    }
    case DK_PV_STR:
    case DK_PV_BYTES: {
        const char *s = dk_pv_str(v, &n);
        lua_pushlstring(L, s, n);
        return;
    }
    default: break;
    }
    if (lua_rawgetp(L, seen, v) != LUA_TNIL) return; /* shared: the same Lua value */
    lua_pop(L, 1);
    if (dk_pv_kind_of(v) == DK_PV_TENSOR) {
        push_tensor(L, v);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, seen, v);
        return;
    }
    n = dk_pv_len(v);
    dk_pv_kind k = dk_pv_kind_of(v);
    int seq = k == DK_PV_LIST || k == DK_PV_TUPLE;
    lua_createtable(L, seq ? (int)n : 0, seq ? 0 : (int)n);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, seen, v);
    if (k == DK_PV_OBJECT && !dk_pv_key(v, 0) && dk_pv_class(v)) {
        /* a class or storage object with no attributes: {__class = name} */
        lua_pushstring(L, dk_pv_class(v));
        lua_setfield(L, -2, "__class");
        return;
    }
    for (i = 0; i < n; i++) {
        if (seq) {
            push_value(L, dk_pv_item(v, i), seen, depth + 1);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
            continue;
        }
        const dk_pv *key = dk_pv_key(v, i);
        switch (dk_pv_kind_of(key)) {
        case DK_PV_STR:
        case DK_PV_BYTES:
        case DK_PV_INT:
        case DK_PV_BOOL:
            push_value(L, key, seen, depth + 1);
            break;
        case DK_PV_FLOAT: {
            double x = 0;
            dk_pv_float(key, &x);
            if (x != x) continue; /* NaN cannot be a Lua key */
            lua_pushnumber(L, x);
            break;
        }
        default: {
            char *js = NULL;
            dk_error err;
            if (dk_pv_json(key, &js, &err) != DK_OK) dkl_error(L, &err);
            lua_pushstring(L, js);
            free(js);
        }
        }
        push_value(L, dk_pv_item(v, i), seen, depth + 1);
        lua_rawset(L, -3);
    }
}

static int l_torch_load(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    dk_error err;
    pt_box *box = push_box(L);
    if (!(box->f = dk_pt_open(path, &err))) return dkl_error(L, &err);
    lua_newtable(L);
    int seen = lua_gettop(L);
    push_value(L, dk_pt_root(box->f), seen, 0);
    return 1;
}

static int l_torch_state_dict(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    const char *key = luaL_optstring(L, 2, NULL);
    dk_error err;
    pt_box *box = push_box(L);
    if (!(box->f = dk_pt_open(path, &err))) return dkl_error(L, &err);
    if (dk_pt_state_dict(box->f, key, &box->a, &box->n, &err) != DK_OK) return dkl_error(L, &err);
    lua_createtable(L, 0, (int)box->n);
    for (size_t i = 0; i < box->n; i++) {
        push_tensor(L, box->a[i].value);
        lua_setfield(L, -2, box->a[i].name);
    }
    return 1;
}

static int none_tostring(lua_State *L) {
    lua_pushliteral(L, "None");
    return 1;
}

static const luaL_Reg funcs[] = {{"torch_load", l_torch_load}, {"torch_state_dict", l_torch_state_dict}, {NULL, NULL}};

static int open_torchfile(lua_State *L) {
    luaL_setfuncs(L, funcs, 0);
    if (lua_getfield(L, LUA_REGISTRYINDEX, DKL_TORCH_NONE) == LUA_TNIL) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_createtable(L, 0, 1);
        lua_pushcfunction(L, none_tostring);
        lua_setfield(L, -2, "__tostring");
        lua_setmetatable(L, -2);
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, DKL_TORCH_NONE);
    }
    lua_setfield(L, -2, "torch_none");
    return 0;
}
DKL_PART(torchfile, open_torchfile)
