/* module.c: luaopen_diffkit, the C module `diffkit.core`. It builds the
 * module table from every registered part (DKL_PART in each binding file),
 * in name order so the result does not depend on link order. */
#include "dkl.h"
#include <string.h>

static dkl_part *parts = NULL;

void dkl_register_part(dkl_part *p) {
    dkl_part **at = &parts;
    while (*at && strcmp((*at)->name, p->name) < 0) at = &(*at)->next;
    p->next = *at;
    *at = p;
}

int dkl_error(lua_State *L, const dk_error *err) {
    return luaL_error(L, "%s", err && err->msg[0] ? err->msg : "unknown diffkit error");
}

int luaopen_diffkit(lua_State *L) {
    dkl_part *p;
    lua_newtable(L);
    for (p = parts; p; p = p->next) {
        int top = lua_gettop(L);
        lua_pushcfunction(L, p->open);
        lua_pushvalue(L, -2);
        lua_call(L, 1, 0);
        lua_settop(L, top);
    }
    return 1;
}
