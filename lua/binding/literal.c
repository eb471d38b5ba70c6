/* literal.c: stored text read back as data (diffkit/literal.h).
 *
 *   dk.parse_literal(text [, what]) -> value   -- one Lua literal: nil, booleans,
 *                                                 numbers, strings, tables
 *   dk.parse_config(text [, what]) -> table    -- "path = value" config text
 *
 * Neither ever runs code: Experiment.parse_config_text and the paper table's
 * metrics.lua reader use them instead of load(). Errors are Lua errors with
 * the parser's line (what, line, column, key). */
#include "dkl.h"
#include "diffkit/literal.h"

typedef struct lit_box {
    dk_literal *v;
} lit_box;

static int lit_box_gc(lua_State *L) {
    lit_box *b = lua_touserdata(L, 1);
    if (b && b->v) {
        dk_literal_free(b->v);
        b->v = NULL;
    }
    return 0;
}

static lit_box *push_box(lua_State *L) {
    lit_box *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->v = NULL;
    if (luaL_newmetatable(L, "diffkit.LiteralTree")) {
        lua_pushcfunction(L, lit_box_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    return b;
}

static void push_value(lua_State *L, const dk_literal *v) {
    size_t i;
    luaL_checkstack(L, 4, "stored table nested too deep");
    switch (v->type) {
    case DK_LIT_NIL: lua_pushnil(L); break;
    case DK_LIT_BOOL: lua_pushboolean(L, v->b); break;
    case DK_LIT_INT: lua_pushinteger(L, (lua_Integer)v->i); break;
    case DK_LIT_FLOAT: lua_pushnumber(L, (lua_Number)v->f); break;
    case DK_LIT_STRING: lua_pushlstring(L, v->s, v->len); break;
    case DK_LIT_TABLE:
        lua_createtable(L, 0, v->n > 1000 ? 1000 : (int)v->n);
        for (i = 0; i < v->n; i++) {
            const dk_literal_entry *e = &v->e[i];
            if (e->key_is_int) lua_pushinteger(L, (lua_Integer)e->key_int);
            else lua_pushlstring(L, e->key_str, e->key_len);
            push_value(L, &e->value);
            lua_rawset(L, -3);
        }
        break;
    }
}

static int parse(lua_State *L, int config) {
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    const char *what = luaL_optstring(L, 2, config ? "stored config" : "stored value");
    lit_box *box = push_box(L);
    dk_error err;
    dk_status st = config ? dk_config_parse(text, len, what, &box->v, &err) : dk_literal_parse(text, len, what, &box->v, &err);
    if (st != DK_OK) return dkl_error(L, &err);
    push_value(L, box->v);
    dk_literal_free(box->v);
    box->v = NULL;
    return 1;
}

static int l_parse_literal(lua_State *L) { return parse(L, 0); }
static int l_parse_config(lua_State *L) { return parse(L, 1); }

static const luaL_Reg funcs[] = {{"parse_literal", l_parse_literal}, {"parse_config", l_parse_config}, {NULL, NULL}};

static int open_literal(lua_State *L) {
    luaL_setfuncs(L, funcs, 0);
    return 0;
}
DKL_PART(literal, open_literal)
