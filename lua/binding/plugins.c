/* plugins.c: plugins from Lua — listing, descriptions, options from tables,
 * and instances ("diffkit.Plugin" userdata).
 *
 *   dk.plugins([kind])                -> array of plugin descriptions
 *   dk.plugin_info(kind, name)        -> one description (error suggests names)
 *   dk.plugin_problems()              -> array of messages for .so files skipped
 *   dk.add_plugin_path(dir)           -> search dir first (rescans)
 *   dk.plugin(kind, name, opts, {dtype = "F32", seed = 0}) -> instance
 *   inst:kind(), inst:name(), inst:info()
 *   sched:sigmas(n)                   -> F64 Tensor of n+1 sigmas (schedules)
 *   pre:scalings(sigmas)              -> c_skip, c_out, c_in, c_noise Tensors (preconds)
 *   pre:weight(sigmas)                -> Tensor of loss weights (preconds)
 *
 * Option tables map names to values: numbers, booleans, strings (parsed as
 * text: "inf", "1e-3"), arrays for list options, and functions for function
 * options (called once per value: f(sigma) -> number). */
#include "dkl.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DKL_OPTIONS "diffkit.Options"
#define DKL_FNCTX "diffkit.OptionFunction"

dk_host *dkl_host(lua_State *L) {
    static dk_host *host = NULL;
    if (!host) {
        dk_error err;
        if (!(host = dk_host_new(&err))) dkl_error(L, &err);
        if (dk_host_scan(host, &err) != DK_OK) dkl_error(L, &err);
    }
    return host;
}

static dk_plugin_kind check_kind(lua_State *L, int idx) {
    const char *s = luaL_checkstring(L, idx);
    dk_plugin_kind k;
    if (dk_kind_from_name(s, &k) != 0)
        luaL_error(L, "unknown plugin kind '%s': use model, precond, schedule or sampler", s);
    return k;
}

/* ---- descriptions ------------------------------------------------------- */

static void push_description(lua_State *L, dk_host *h, const dk_plugin *p) {
    size_t i;
    const char *path = dk_host_path_of(h, p);
    lua_createtable(L, 0, 7);
    lua_pushstring(L, dk_kind_name(p->kind));
    lua_setfield(L, -2, "kind");
    lua_pushstring(L, p->name);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, p->version);
    lua_setfield(L, -2, "version");
    lua_pushstring(L, p->summary);
    lua_setfield(L, -2, "summary");
    lua_pushstring(L, path ? path : "(static)");
    lua_setfield(L, -2, "path");
    lua_createtable(L, (int)p->n_options, 0);
    for (i = 0; i < p->n_options; i++) {
        const dk_option_spec *s = &p->options[i];
        char range[256];
        dk_option_range_str(s, range, sizeof range);
        lua_createtable(L, 0, 7);
        lua_pushstring(L, s->name);
        lua_setfield(L, -2, "name");
        lua_pushstring(L, dk_opt_type_name(s->type));
        lua_setfield(L, -2, "type");
        if (s->default_value) {
            lua_pushstring(L, s->default_value);
            lua_setfield(L, -2, "default");
        }
        lua_pushstring(L, range);
        lua_setfield(L, -2, "range");
        if (s->choices) {
            lua_pushstring(L, s->choices);
            lua_setfield(L, -2, "choices");
        }
        lua_pushstring(L, s->doc ? s->doc : "");
        lua_setfield(L, -2, "doc");
        lua_pushboolean(L, !s->default_value && !(s->flags & DK_OPT_OPTIONAL));
        lua_setfield(L, -2, "required");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_setfield(L, -2, "options");
}

static int cmp_plugins(const void *a, const void *b) {
    const dk_plugin *p = *(const dk_plugin *const *)a, *q = *(const dk_plugin *const *)b;
    if (p->kind != q->kind) return (int)p->kind - (int)q->kind;
    return strcmp(p->name, q->name);
}

static int l_plugins(lua_State *L) {
    dk_host *h = dkl_host(L);
    int filter = !lua_isnoneornil(L, 1);
    dk_plugin_kind kind = filter ? check_kind(L, 1) : DK_KIND_MODEL;
    size_t i, n = dk_host_count(h), m = 0;
    const dk_plugin **list = lua_newuserdatauv(L, (n ? n : 1) * sizeof *list, 0);
    for (i = 0; i < n; i++) {
        const dk_plugin *p = dk_host_at(h, i);
        if (!filter || p->kind == kind) list[m++] = p;
    }
    qsort(list, m, sizeof *list, cmp_plugins);
    lua_createtable(L, (int)m, 0);
    for (i = 0; i < m; i++) {
        push_description(L, h, list[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

static const dk_plugin *find_plugin(lua_State *L, int kind_idx, int name_idx) {
    dk_plugin_kind kind = check_kind(L, kind_idx);
    const char *name = luaL_checkstring(L, name_idx);
    dk_error err;
    const dk_plugin *p = dk_host_find(dkl_host(L), kind, name, &err);
    if (!p) dkl_error(L, &err);
    return p;
}

static int l_plugin_info(lua_State *L) {
    const dk_plugin *p = find_plugin(L, 1, 2);
    push_description(L, dkl_host(L), p);
    return 1;
}

static int l_plugin_problems(lua_State *L) {
    dk_host *h = dkl_host(L);
    size_t i, n = dk_host_problem_count(h);
    lua_createtable(L, (int)n, 0);
    for (i = 0; i < n; i++) {
        lua_pushstring(L, dk_host_problem(h, i));
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

static int l_add_plugin_path(lua_State *L) {
    dk_host *h = dkl_host(L);
    dk_error err;
    if (dk_host_add_path(h, luaL_checkstring(L, 1), &err) != DK_OK) return dkl_error(L, &err);
    if (dk_host_scan(h, &err) != DK_OK) return dkl_error(L, &err);
    return 0;
}

/* ---- options ------------------------------------------------------------ */

typedef struct options_box {
    dk_options *o;
} options_box;

static int options_gc(lua_State *L) {
    options_box *b = luaL_checkudata(L, 1, DKL_OPTIONS);
    dk_options_free(b->o);
    b->o = NULL;
    return 0;
}

/* A Lua function behind a dk_opt_fn: the registry reference of the function
 * and the main thread it is called on. */
typedef struct fn_ctx {
    lua_State *L;
    int ref;
} fn_ctx;

static int fnctx_gc(lua_State *L) {
    fn_ctx *c = luaL_checkudata(L, 1, DKL_FNCTX);
    if (c->ref != LUA_NOREF) luaL_unref(L, LUA_REGISTRYINDEX, c->ref);
    c->ref = LUA_NOREF;
    return 0;
}

static dk_status fn_call(void *ctx, size_t n, const double *in, double *out, dk_error *err) {
    fn_ctx *c = ctx;
    lua_State *L = c->L;
    size_t i;
    if (c->ref == LUA_NOREF) return dk_error_set(err, DK_ESTATE, "a Lua function option was called after it was released");
    if (!lua_checkstack(L, 4)) return dk_error_set(err, DK_ENOMEM, "Lua stack overflow calling a function option");
    for (i = 0; i < n; i++) {
        int isnum;
        lua_rawgeti(L, LUA_REGISTRYINDEX, c->ref);
        lua_pushnumber(L, in[i]);
        if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
            dk_error_set(err, DK_EINVAL, "Lua function option failed at %g: %s", in[i],
                         lua_isstring(L, -1) ? lua_tostring(L, -1) : "(non-string error)");
            lua_pop(L, 1);
            return DK_EINVAL;
        }
        out[i] = (double)lua_tonumberx(L, -1, &isnum);
        if (!isnum) {
            dk_error_set(err, DK_EINVAL, "Lua function option returned a %s at %g, expected a number", luaL_typename(L, -1), in[i]);
            lua_pop(L, 1);
            return DK_EINVAL;
        }
        lua_pop(L, 1);
    }
    return DK_OK;
}

static const dk_option_spec *spec_of(const dk_plugin *p, const char *name) {
    size_t i;
    for (i = 0; i < p->n_options; i++)
        if (strcmp(p->options[i].name, name) == 0) return &p->options[i];
    return NULL;
}

/* Sets option `name` from the value at vidx; the options box is at box_idx. */
static void set_from_lua(lua_State *L, dk_options *o, const dk_plugin *p, const char *name, int vidx, int box_idx) {
    const dk_option_spec *s = spec_of(p, name);
    dk_error err;
    dk_status st = DK_OK;
    int t = lua_type(L, vidx);
    if (!s) { /* the builder reports the unknown name with suggestions */
        dk_options_set(o, name, "", &err);
        dkl_error(L, &err);
        return;
    }
    switch (t) {
    case LUA_TBOOLEAN: st = dk_options_set_bool(o, name, lua_toboolean(L, vidx), &err); break;
    case LUA_TNUMBER:
        if (lua_isinteger(L, vidx)) st = dk_options_set_int(o, name, (int64_t)lua_tointeger(L, vidx), &err);
        else st = dk_options_set_float(o, name, lua_tonumber(L, vidx), &err);
        break;
    case LUA_TSTRING: st = dk_options_set(o, name, lua_tostring(L, vidx), &err); break;
    case LUA_TTABLE: {
        size_t n = lua_rawlen(L, vidx), i;
        if (s->type == DK_OPT_STRING_LIST) {
            const char **v = lua_newuserdatauv(L, (n ? n : 1) * sizeof *v, 0);
            for (i = 0; i < n; i++) {
                lua_rawgeti(L, vidx, (lua_Integer)i + 1);
                if (lua_type(L, -1) != LUA_TSTRING)
                    luaL_error(L, "option '%s' of %s '%s' expects a list of strings, element %d is a %s", name,
                               dk_kind_name(p->kind), p->name, (int)i + 1, luaL_typename(L, -1));
                v[i] = lua_tostring(L, -1);
                lua_pop(L, 1); /* the string stays alive: the table at vidx holds it */
            }
            st = dk_options_set_str_list(o, name, v, n, &err);
            lua_pop(L, 1);
        } else if (s->type == DK_OPT_INT_LIST || s->type == DK_OPT_FLOAT_LIST) {
            double *v = lua_newuserdatauv(L, (n ? n : 1) * sizeof *v, 0);
            for (i = 0; i < n; i++) {
                int isnum;
                lua_rawgeti(L, vidx, (lua_Integer)i + 1);
                v[i] = (double)lua_tonumberx(L, -1, &isnum);
                if (!isnum || lua_type(L, -1) != LUA_TNUMBER)
                    luaL_error(L, "option '%s' of %s '%s' expects a list of numbers, element %d is a %s", name,
                               dk_kind_name(p->kind), p->name, (int)i + 1, luaL_typename(L, -1));
                lua_pop(L, 1);
            }
            st = dk_options_set_float_list(o, name, v, n, &err);
            lua_pop(L, 1);
        } else {
            luaL_error(L, "option '%s' of %s '%s' expects a %s, got a table", name, dk_kind_name(p->kind), p->name,
                       dk_opt_type_name(s->type));
        }
        break;
    }
    case LUA_TFUNCTION: {
        fn_ctx *c;
        dk_opt_fn fn;
        if (s->type != DK_OPT_FUNCTION)
            luaL_error(L, "option '%s' of %s '%s' expects a %s, got a function", name, dk_kind_name(p->kind), p->name,
                       dk_opt_type_name(s->type));
        c = lua_newuserdatauv(L, sizeof *c, 0);
        c->ref = LUA_NOREF;
        luaL_setmetatable(L, DKL_FNCTX);
        lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
        c->L = lua_tothread(L, -1);
        lua_pop(L, 1);
        lua_pushvalue(L, vidx);
        c->ref = luaL_ref(L, LUA_REGISTRYINDEX);
        /* anchor the context in the options box's function table */
        lua_getiuservalue(L, box_idx, 1);
        lua_pushvalue(L, -2);
        lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
        lua_pop(L, 2);
        fn.call = fn_call;
        fn.ctx = c;
        st = dk_options_set_fn(o, name, fn, &err);
        break;
    }
    default:
        luaL_error(L, "option '%s' of %s '%s' expects a %s, got a %s", name, dk_kind_name(p->kind), p->name,
                   dk_opt_type_name(s->type), luaL_typename(L, vidx));
    }
    if (st != DK_OK) dkl_error(L, &err);
}

dk_options *dkl_options_from_table(lua_State *L, int idx, const dk_plugin *p) {
    options_box *b;
    int box_idx, has_table;
    idx = lua_absindex(L, idx);
    has_table = !lua_isnoneornil(L, idx);
    if (has_table) luaL_checktype(L, idx, LUA_TTABLE);
    b = lua_newuserdatauv(L, sizeof *b, 1);
    b->o = NULL;
    luaL_setmetatable(L, DKL_OPTIONS);
    box_idx = lua_gettop(L);
    lua_newtable(L);
    lua_setiuservalue(L, box_idx, 1);
    if (!(b->o = dk_options_new(p))) luaL_error(L, "out of memory creating options for %s '%s'", dk_kind_name(p->kind), p->name);
    if (has_table) {
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            if (lua_type(L, -2) != LUA_TSTRING)
                luaL_error(L, "options of %s '%s' must be given by name (got a %s key)", dk_kind_name(p->kind), p->name,
                           luaL_typename(L, -2));
            set_from_lua(L, b->o, p, lua_tostring(L, -2), lua_gettop(L), box_idx);
            lua_pop(L, 1);
        }
    }
    {
        dk_error err;
        if (dk_options_finish(b->o, &err) != DK_OK) dkl_error(L, &err);
    }
    return b->o;
}

/* ---- instances ---------------------------------------------------------- */

static int plugin_release(lua_State *L) {
    dkl_plugin *u = luaL_checkudata(L, 1, DKL_PLUGIN);
    if (u->inst) {
        dk_instance_free(u->inst);
        u->inst = NULL;
    }
    return 0;
}

dk_instance *dkl_plugin_check(lua_State *L, int idx, dk_plugin_kind kind) {
    dkl_plugin *u = luaL_checkudata(L, idx, DKL_PLUGIN);
    if (!u->inst) luaL_argerror(L, idx, "plugin instance was already released");
    if (u->inst->plugin->kind != kind)
        luaL_error(L, "%s '%s' is not a %s plugin", dk_kind_name(u->inst->plugin->kind), u->inst->plugin->name, dk_kind_name(kind));
    return u->inst;
}

/* dk.plugin(kind, name, opts, {dtype =, seed =}) */
static int l_plugin(lua_State *L) {
    const dk_plugin *p = find_plugin(L, 1, 2);
    dk_options *o;
    dk_dtype dtype = DK_F32;
    lua_Integer seed = 0;
    dkl_plugin *u;
    dk_error err;
    lua_settop(L, 4);
    if (!lua_isnil(L, 4)) {
        luaL_checktype(L, 4, LUA_TTABLE);
        lua_getfield(L, 4, "dtype");
        dtype = dkl_dtype_opt(L, -1, DK_F32);
        lua_getfield(L, 4, "seed");
        seed = luaL_optinteger(L, -1, 0);
        lua_pop(L, 2);
    }
    o = dkl_options_from_table(L, 3, p); /* box at top */
    u = lua_newuserdatauv(L, sizeof *u, 1);
    u->inst = NULL;
    luaL_setmetatable(L, DKL_PLUGIN);
    lua_getiuservalue(L, -2, 1); /* the function contexts live as long as the instance */
    lua_setiuservalue(L, -2, 1);
    if (dk_instance_create(p, o, dtype, (uint64_t)seed, &u->inst, &err) != DK_OK) return dkl_error(L, &err);
    return 1;
}

static int m_kind(lua_State *L) {
    dkl_plugin *u = luaL_checkudata(L, 1, DKL_PLUGIN);
    if (!u->inst) return luaL_error(L, "plugin instance was already released");
    lua_pushstring(L, dk_kind_name(u->inst->plugin->kind));
    return 1;
}

static int m_name(lua_State *L) {
    dkl_plugin *u = luaL_checkudata(L, 1, DKL_PLUGIN);
    if (!u->inst) return luaL_error(L, "plugin instance was already released");
    lua_pushstring(L, u->inst->plugin->name);
    return 1;
}

static int m_info(lua_State *L) {
    dkl_plugin *u = luaL_checkudata(L, 1, DKL_PLUGIN);
    if (!u->inst) return luaL_error(L, "plugin instance was already released");
    push_description(L, dkl_host(L), u->inst->plugin);
    return 1;
}

static int m_sigmas(lua_State *L) {
    dk_instance *inst = dkl_plugin_check(L, 1, DK_KIND_SCHEDULE);
    lua_Integer n = luaL_checkinteger(L, 2);
    int64_t len;
    dkl_tensor *t;
    dk_error err;
    if (n < 1) return luaL_error(L, "schedule '%s': sigmas(n) needs n >= 1 steps, got %d", inst->plugin->name, (int)n);
    if (!dk_schedule_vt(inst)->sigmas)
        return luaL_error(L, "schedule '%s' is a training density only: it has no sampling sigmas", inst->plugin->name);
    len = (int64_t)n + 1;
    t = dkl_tensor_push_empty(L);
    if (!(t->t = dk_tensor_new(DK_F64, 1, &len, &err))) return dkl_error(L, &err);
    if (dk_schedule_vt(inst)->sigmas(inst->self, (int64_t)n, dk_f64(t->t), &err) != DK_OK) return dkl_error(L, &err);
    if (dk_schedule_check_sigmas(inst->plugin, dk_f64(t->t), len, &err) != DK_OK) return dkl_error(L, &err);
    return 1;
}

/* Sigmas from a Tensor or a Lua array, as an F64 tensor pushed on the stack. */
static dk_tensor *sigma_arg(lua_State *L, int idx) {
    dk_tensor *src = dkl_tensor_test(L, idx);
    dkl_tensor *t = dkl_tensor_push_empty(L);
    dk_error err;
    if (src) {
        int64_t n = (int64_t)src->numel;
        if (!(t->t = dk_tensor_new(DK_F64, 1, &n, &err))) dkl_error(L, &err);
        for (size_t i = 0; i < src->numel; i++) dk_f64(t->t)[i] = dk_tensor_get(src, i);
    } else if (lua_type(L, idx) == LUA_TNUMBER) {
        int64_t n = 1;
        if (!(t->t = dk_tensor_new(DK_F64, 1, &n, &err))) dkl_error(L, &err);
        dk_f64(t->t)[0] = lua_tonumber(L, idx);
    } else {
        int64_t n;
        luaL_checktype(L, idx, LUA_TTABLE);
        n = (int64_t)lua_rawlen(L, idx);
        if (!(t->t = dk_tensor_new(DK_F64, 1, &n, &err))) dkl_error(L, &err);
        for (int64_t i = 0; i < n; i++) {
            lua_rawgeti(L, idx, i + 1);
            dk_f64(t->t)[i] = luaL_checknumber(L, -1);
            lua_pop(L, 1);
        }
    }
    return t->t;
}

static dk_tensor *push_f64_like(lua_State *L, const dk_tensor *like) {
    dkl_tensor *t = dkl_tensor_push_empty(L);
    dk_error err;
    if (!(t->t = dk_tensor_new(DK_F64, like->ndim, like->shape, &err))) dkl_error(L, &err);
    return t->t;
}

static int m_scalings(lua_State *L) {
    dk_instance *inst = dkl_plugin_check(L, 1, DK_KIND_PRECOND);
    dk_tensor *s = sigma_arg(L, 2);
    dk_tensor *cs = push_f64_like(L, s), *co = push_f64_like(L, s), *ci = push_f64_like(L, s), *cn = push_f64_like(L, s);
    dk_error err;
    if (dk_precond_vt(inst)->scalings(inst->self, s->numel, dk_f64(s), dk_f64(cs), dk_f64(co), dk_f64(ci), dk_f64(cn), &err) != DK_OK)
        return dkl_error(L, &err);
    /* at a usable sigma (finite, > 0) non-finite scalings are the precond's options' fault */
    for (size_t i = 0; i < s->numel; i++) {
        double sg = dk_f64(s)[i];
        if (!(sg > 0.0) || !isfinite(sg)) continue;
        if (dk_precond_check_scalings(inst->plugin, 1, &dk_f64(s)[i], &dk_f64(cs)[i], &dk_f64(co)[i], &dk_f64(ci)[i],
                                      &dk_f64(cn)[i], &err) != DK_OK)
            return dkl_error(L, &err);
    }
    return 4;
}

static int m_weight(lua_State *L) {
    dk_instance *inst = dkl_plugin_check(L, 1, DK_KIND_PRECOND);
    dk_tensor *s = sigma_arg(L, 2);
    dk_tensor *w = push_f64_like(L, s);
    dk_error err;
    size_t i;
    if (!dk_precond_vt(inst)->weight) {
        for (i = 0; i < s->numel; i++) dk_f64(w)[i] = 1.0;
        return 1;
    }
    if (dk_precond_vt(inst)->weight(inst->self, s->numel, dk_f64(s), dk_f64(w), &err) != DK_OK) return dkl_error(L, &err);
    return 1;
}

static int plugin_tostring(lua_State *L) {
    dkl_plugin *u = luaL_checkudata(L, 1, DKL_PLUGIN);
    if (!u->inst) lua_pushstring(L, "Plugin (released)");
    else lua_pushfstring(L, "Plugin %s '%s'", dk_kind_name(u->inst->plugin->kind), u->inst->plugin->name);
    return 1;
}

static const luaL_Reg plugin_methods[] = {
    {"kind", m_kind}, {"name", m_name}, {"info", m_info}, {"sigmas", m_sigmas},
    {"scalings", m_scalings}, {"weight", m_weight}, {"release", plugin_release}, {NULL, NULL}};

static const luaL_Reg funcs[] = {
    {"plugins", l_plugins}, {"plugin_info", l_plugin_info}, {"plugin_problems", l_plugin_problems},
    {"add_plugin_path", l_add_plugin_path}, {"plugin", l_plugin}, {NULL, NULL}};

static int open_plugins(lua_State *L) {
    if (luaL_newmetatable(L, DKL_PLUGIN)) {
        lua_pushcfunction(L, plugin_release);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, plugin_release);
        lua_setfield(L, -2, "__close");
        lua_pushcfunction(L, plugin_tostring);
        lua_setfield(L, -2, "__tostring");
        luaL_newlib(L, plugin_methods);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    if (luaL_newmetatable(L, DKL_OPTIONS)) {
        lua_pushcfunction(L, options_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    if (luaL_newmetatable(L, DKL_FNCTX)) {
        lua_pushcfunction(L, fnctx_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    luaL_setfuncs(L, funcs, 0);
    return 0;
}
DKL_PART(plugins, open_plugins)
