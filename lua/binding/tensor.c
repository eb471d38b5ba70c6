/* tensor.c: the "diffkit.Tensor" userdata — construction from Lua tables,
 * shape/dtype queries, element access (1-based), conversion back to tables,
 * and the elementwise arithmetic and reductions that tests and small studies
 * need. Heavy math belongs to core ops, not here.
 *
 * Indexing: t[i] and t:get(i) use the flat (row-major) index i = 1..numel;
 * t:get(i, j, ...) with one index per dimension addresses an element;
 * #t is numel. Arithmetic (+ - * / and unary -) is elementwise between
 * tensors of the same shape or a tensor and a number. */
#include "dkl.h"
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- userdata ----------------------------------------------------------- */

static int tensor_release(lua_State *L) {
    dkl_tensor *u = luaL_checkudata(L, 1, DKL_TENSOR);
    if (u->t) {
        dk_tensor_free(u->t);
        u->t = NULL;
    }
    return 0;
}

dkl_tensor *dkl_tensor_push_empty(lua_State *L) {
    dkl_tensor *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->t = NULL;
    luaL_setmetatable(L, DKL_TENSOR);
    return u;
}

void dkl_tensor_push(lua_State *L, dk_tensor *t) {
    dkl_tensor *u = dkl_tensor_push_empty(L);
    u->t = t;
}

dk_tensor *dkl_tensor_test(lua_State *L, int idx) {
    dkl_tensor *u = luaL_testudata(L, idx, DKL_TENSOR);
    return u ? u->t : NULL;
}

dk_tensor *dkl_tensor_check(lua_State *L, int idx) {
    dkl_tensor *u = luaL_checkudata(L, idx, DKL_TENSOR);
    if (!u->t) luaL_argerror(L, idx, "tensor was already released (closed)");
    return u->t;
}

dk_dtype dkl_dtype_opt(lua_State *L, int idx, dk_dtype def) {
    const char *name;
    char up[16];
    size_t i;
    dk_dtype d;
    if (lua_isnoneornil(L, idx)) return def;
    name = luaL_checkstring(L, idx);
    for (i = 0; name[i] && i + 1 < sizeof up; i++) up[i] = (char)toupper((unsigned char)name[i]);
    up[i] = '\0';
    if (dk_dtype_from_name(up, &d) != 0)
        luaL_error(L, "unknown dtype '%s': use F32, F64, I64, I32, U8, F16 or BF16", name);
    return d;
}

int dkl_shape_check(lua_State *L, int idx, int64_t shape[DK_MAX_DIMS]) {
    lua_Integer n, i;
    luaL_checktype(L, idx, LUA_TTABLE);
    n = (lua_Integer)lua_rawlen(L, idx);
    if (n > DK_MAX_DIMS) luaL_error(L, "shape has %d dimensions, at most %d are supported", (int)n, DK_MAX_DIMS);
    for (i = 1; i <= n; i++) {
        int isnum;
        lua_Integer d;
        lua_rawgeti(L, idx, i);
        d = lua_tointegerx(L, -1, &isnum);
        if (!isnum || d < 0) luaL_error(L, "shape entry %d must be a non-negative integer", (int)i);
        shape[i - 1] = d;
        lua_pop(L, 1);
    }
    return (int)n;
}

static dk_tensor *new_tensor(lua_State *L, dk_dtype dtype, int ndim, const int64_t *shape) {
    dk_error err;
    dk_tensor *t = dk_tensor_new(dtype, ndim, shape, &err);
    if (!t) dkl_error(L, &err);
    return t;
}

/* ---- constructors ------------------------------------------------------- */

/* Infers the shape of nested tables at idx (depth-first along index 1). */
static int infer_shape(lua_State *L, int idx, int64_t shape[DK_MAX_DIMS]) {
    int ndim = 0;
    lua_pushvalue(L, idx);
    while (lua_type(L, -1) == LUA_TTABLE) {
        if (ndim == DK_MAX_DIMS) luaL_error(L, "dk.tensor: data nests deeper than %d levels", DK_MAX_DIMS);
        shape[ndim++] = (int64_t)lua_rawlen(L, -1);
        if (shape[ndim - 1] == 0) break;
        lua_rawgeti(L, -1, 1);
        lua_remove(L, -2);
    }
    lua_pop(L, 1);
    return ndim;
}

/* Fills t from nested tables at idx, checking every row has the same length. */
static void fill_from(lua_State *L, int idx, dk_tensor *t, int dim, size_t *pos) {
    int64_t i, n = t->shape[dim];
    if (lua_type(L, idx) != LUA_TTABLE || (int64_t)lua_rawlen(L, idx) != n)
        luaL_error(L, "dk.tensor: ragged data: a row at depth %d does not have %d entries", dim + 1, (int)n);
    for (i = 1; i <= n; i++) {
        lua_rawgeti(L, idx, i);
        if (dim + 1 < t->ndim) {
            fill_from(L, lua_gettop(L), t, dim + 1, pos);
        } else {
            int isnum;
            lua_Number v = lua_tonumberx(L, -1, &isnum);
            if (!isnum) {
                if (lua_isboolean(L, -1)) v = lua_toboolean(L, -1);
                else luaL_error(L, "dk.tensor: element %d is a %s, not a number", (int)(*pos + 1), luaL_typename(L, -1));
            }
            dk_tensor_set(t, (*pos)++, (double)v);
        }
        lua_pop(L, 1);
    }
}

/* dk.tensor(data [, dtype]): data is a number, nested tables of numbers, or a Tensor (copied). */
static int l_tensor(lua_State *L) {
    dk_dtype dtype;
    dkl_tensor *u;
    dk_tensor *src;
    int64_t shape[DK_MAX_DIMS];
    int ndim;
    size_t pos = 0;
    dk_error err;
    lua_settop(L, 2);
    dtype = dkl_dtype_opt(L, 2, DK_F64);
    src = dkl_tensor_test(L, 1);
    if (src) {
        u = dkl_tensor_push_empty(L);
        if (!(u->t = dk_tensor_to(src, lua_isnoneornil(L, 2) ? src->dtype : dtype, &err))) return dkl_error(L, &err);
        return 1;
    }
    if (lua_type(L, 1) == LUA_TNUMBER) {
        int64_t one = 1;
        u = dkl_tensor_push_empty(L);
        u->t = new_tensor(L, dtype, 1, &one);
        dk_tensor_set(u->t, 0, lua_tonumber(L, 1));
        return 1;
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    ndim = infer_shape(L, 1, shape);
    u = dkl_tensor_push_empty(L);
    u->t = new_tensor(L, dtype, ndim, shape);
    if (u->t->numel) fill_from(L, 1, u->t, 0, &pos);
    return 1;
}

static int fill_new(lua_State *L, double value, int dtype_idx) {
    int64_t shape[DK_MAX_DIMS];
    int ndim = dkl_shape_check(L, 1, shape);
    dk_dtype dtype = dkl_dtype_opt(L, dtype_idx, DK_F64);
    dkl_tensor *u = dkl_tensor_push_empty(L);
    size_t i;
    u->t = new_tensor(L, dtype, ndim, shape);
    if (value != 0.0)
        for (i = 0; i < u->t->numel; i++) dk_tensor_set(u->t, i, value);
    return 1;
}

static int l_zeros(lua_State *L) { return fill_new(L, 0.0, 2); }
static int l_ones(lua_State *L) { return fill_new(L, 1.0, 2); }
static int l_full(lua_State *L) { return fill_new(L, luaL_checknumber(L, 2), 3); }

/* ---- queries ------------------------------------------------------------ */

static int m_shape(lua_State *L) {
    dk_tensor *t = dkl_tensor_check(L, 1);
    int i;
    lua_createtable(L, t->ndim, 0);
    for (i = 0; i < t->ndim; i++) {
        lua_pushinteger(L, (lua_Integer)t->shape[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int m_dtype(lua_State *L) {
    lua_pushstring(L, dk_dtype_name(dkl_tensor_check(L, 1)->dtype));
    return 1;
}

static int m_numel(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)dkl_tensor_check(L, 1)->numel);
    return 1;
}

static int m_ndim(lua_State *L) {
    lua_pushinteger(L, dkl_tensor_check(L, 1)->ndim);
    return 1;
}

static void push_elem(lua_State *L, const dk_tensor *t, size_t i) {
    double v = dk_tensor_get(t, i);
    if (t->dtype == DK_I64 || t->dtype == DK_I32 || t->dtype == DK_U8) lua_pushinteger(L, (lua_Integer)v);
    else lua_pushnumber(L, v);
}

/* Flat index from args first..first+k-1 (1-based), with bounds checks. */
static size_t index_of(lua_State *L, const dk_tensor *t, int first, int k) {
    size_t flat = 0;
    int d;
    if (k == 1) {
        lua_Integer i = luaL_checkinteger(L, first);
        if (i < 1 || (size_t)i > t->numel)
            luaL_error(L, "index %d is out of range for a tensor of %d elements (indices start at 1)", (int)i, (int)t->numel);
        return (size_t)(i - 1);
    }
    if (k != t->ndim)
        luaL_error(L, "got %d indices for a %d-dimensional tensor: give one per dimension or one flat index", k, t->ndim);
    for (d = 0; d < k; d++) {
        lua_Integer i = luaL_checkinteger(L, first + d);
        if (i < 1 || i > t->shape[d])
            luaL_error(L, "index %d of dimension %d is out of range 1..%d", (int)i, d + 1, (int)t->shape[d]);
        flat = flat * (size_t)t->shape[d] + (size_t)(i - 1);
    }
    return flat;
}

static int m_get(lua_State *L) {
    dk_tensor *t = dkl_tensor_check(L, 1);
    int k = lua_gettop(L) - 1;
    if (k < 1) return luaL_error(L, "t:get needs an index");
    push_elem(L, t, index_of(L, t, 2, k));
    return 1;
}

/* t:set(i..., value) */
static int m_set(lua_State *L) {
    dk_tensor *t = dkl_tensor_check(L, 1);
    int k = lua_gettop(L) - 2;
    if (k < 1) return luaL_error(L, "t:set needs an index and a value");
    dk_tensor_set(t, index_of(L, t, 2, k), luaL_checknumber(L, k + 2));
    return 0;
}

static void push_nested(lua_State *L, const dk_tensor *t, int dim, size_t *pos) {
    int64_t i, n = t->shape[dim];
    lua_createtable(L, (int)n, 0);
    for (i = 0; i < n; i++) {
        if (dim + 1 < t->ndim) push_nested(L, t, dim + 1, pos);
        else push_elem(L, t, (*pos)++);
        lua_rawseti(L, -2, (lua_Integer)(i + 1));
    }
}

/* Nested tables in the tensor's shape (a 0-d tensor gives its number). */
static int m_totable(lua_State *L) {
    dk_tensor *t = dkl_tensor_check(L, 1);
    size_t pos = 0;
    luaL_checkstack(L, t->ndim + 4, "tensor too deep");
    if (t->ndim == 0) {
        push_elem(L, t, 0);
        return 1;
    }
    push_nested(L, t, 0, &pos);
    return 1;
}

static int m_clone(lua_State *L) {
    dk_tensor *t = dkl_tensor_check(L, 1);
    dkl_tensor *u = dkl_tensor_push_empty(L);
    dk_error err;
    if (!(u->t = dk_tensor_clone(t, &err))) return dkl_error(L, &err);
    return 1;
}

static int m_to(lua_State *L) {
    dk_tensor *t = dkl_tensor_check(L, 1);
    dk_dtype d = dkl_dtype_opt(L, 2, t->dtype);
    dkl_tensor *u = dkl_tensor_push_empty(L);
    dk_error err;
    if (!(u->t = dk_tensor_to(t, d, &err))) return dkl_error(L, &err);
    return 1;
}

/* t:reshape{2, 3} or t:reshape(2, 3): a copy with the new shape (numel kept). */
static int m_reshape(lua_State *L) {
    dk_tensor *t = dkl_tensor_check(L, 1);
    int64_t shape[DK_MAX_DIMS];
    int ndim, i;
    dkl_tensor *u;
    dk_tensor *copy, *view;
    dk_error err;
    if (lua_type(L, 2) == LUA_TTABLE) ndim = dkl_shape_check(L, 2, shape);
    else {
        ndim = lua_gettop(L) - 1;
        if (ndim > DK_MAX_DIMS) return luaL_error(L, "reshape: at most %d dimensions", DK_MAX_DIMS);
        for (i = 0; i < ndim; i++) shape[i] = luaL_checkinteger(L, i + 2);
    }
    u = dkl_tensor_push_empty(L);
    if (!(copy = dk_tensor_clone(t, &err))) return dkl_error(L, &err);
    view = dk_tensor_reshape(copy, ndim, shape, &err);
    dk_tensor_free(copy); /* the view holds its own reference */
    if (!view) return dkl_error(L, &err);
    u->t = view;
    return 1;
}

/* ---- reductions --------------------------------------------------------- */

static int m_sum(lua_State *L) {
    dk_tensor *t = dkl_tensor_check(L, 1);
    double s = 0;
    size_t i;
    for (i = 0; i < t->numel; i++) s += dk_tensor_get(t, i);
    lua_pushnumber(L, s);
    return 1;
}

static int m_mean(lua_State *L) {
    dk_tensor *t = dkl_tensor_check(L, 1);
    double s = 0;
    size_t i;
    if (!t->numel) return luaL_error(L, "mean of an empty tensor");
    for (i = 0; i < t->numel; i++) s += dk_tensor_get(t, i);
    lua_pushnumber(L, s / (double)t->numel);
    return 1;
}

static int minmax(lua_State *L, int want_max) {
    dk_tensor *t = dkl_tensor_check(L, 1);
    double m;
    size_t i;
    if (!t->numel) return luaL_error(L, "%s of an empty tensor", want_max ? "max" : "min");
    m = dk_tensor_get(t, 0);
    for (i = 1; i < t->numel; i++) {
        double v = dk_tensor_get(t, i);
        if (isnan(v) || (want_max ? v > m : v < m)) m = v;
        if (isnan(m)) break;
    }
    lua_pushnumber(L, m);
    return 1;
}
static int m_max(lua_State *L) { return minmax(L, 1); }
static int m_min(lua_State *L) { return minmax(L, 0); }

/* t:max_abs_diff(u): max |t - u| over elements (NaN if any difference is NaN). */
static int m_max_abs_diff(lua_State *L) {
    dk_tensor *a = dkl_tensor_check(L, 1), *b = dkl_tensor_check(L, 2);
    double m = 0;
    size_t i;
    char sa[80], sb[80];
    if (a->numel != b->numel || !dk_tensor_same_shape(a, b))
        return luaL_error(L, "max_abs_diff: shapes %s and %s differ", dk_shape_str(a, sa, sizeof sa), dk_shape_str(b, sb, sizeof sb));
    for (i = 0; i < a->numel; i++) {
        double x = dk_tensor_get(a, i), y = dk_tensor_get(b, i);
        double d = (x == y) ? 0.0 : fabs(x - y);
        if (isnan(d)) {
            m = NAN;
            break;
        }
        if (d > m) m = d;
    }
    lua_pushnumber(L, m);
    return 1;
}

/* ---- elementwise arithmetic ---------------------------------------------- */

enum { OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_ABS, OP_NEG };

static double apply(int op, double x, double y) {
    switch (op) {
    case OP_ADD: return x + y;
    case OP_SUB: return x - y;
    case OP_MUL: return x * y;
    case OP_DIV: return x / y;
    case OP_ABS: return fabs(x);
    case OP_NEG: return -x;
    }
    return 0;
}

/* Result dtype: any F64 operand -> F64; else any F32 -> F32; integers only
 * -> I64, except division (F64). A number operand has no dtype of its own,
 * except that a fractional number turns an integer result into F64. */
static dk_dtype result_dtype(int op, const dk_tensor *a, const dk_tensor *b, int num_is_int) {
    dk_dtype da = a->dtype, db = b ? b->dtype : da;
    if (da == DK_F64 || db == DK_F64) return DK_F64;
    if (da == DK_F32 || db == DK_F32) return DK_F32;
    if (op == OP_DIV || (!b && !num_is_int)) return DK_F64;
    return DK_I64;
}

static int arith(lua_State *L, int op) {
    dk_tensor *a = dkl_tensor_test(L, 1), *b = dkl_tensor_test(L, 2);
    int swapped = 0, num_is_int = 0;
    double num = 0;
    dkl_tensor *u;
    size_t i;
    char sa[80], sb[80];
    if (!a && !b) return luaL_error(L, "tensor arithmetic needs a tensor operand");
    if (!a) { /* number op tensor */
        a = b;
        b = NULL;
        swapped = 1;
        num = luaL_checknumber(L, 1);
        num_is_int = lua_isinteger(L, 1);
    } else if (!b && op != OP_NEG && op != OP_ABS) {
        num = luaL_checknumber(L, 2);
        num_is_int = lua_isinteger(L, 2);
    }
    if (b && (op == OP_NEG || op == OP_ABS)) b = NULL; /* __unm passes the operand twice */
    if (!a->data && a->numel) return luaL_error(L, "tensor was released");
    if (b && !dk_tensor_same_shape(a, b))
        return luaL_error(L, "elementwise op on tensors of shapes %s and %s: shapes must match",
                          dk_shape_str(a, sa, sizeof sa), dk_shape_str(b, sb, sizeof sb));
    u = dkl_tensor_push_empty(L);
    u->t = new_tensor(L, (op == OP_NEG || op == OP_ABS) ? a->dtype : result_dtype(op, a, b, num_is_int), a->ndim, a->shape);
    for (i = 0; i < a->numel; i++) {
        double x = dk_tensor_get(a, i), y = b ? dk_tensor_get(b, i) : num;
        dk_tensor_set(u->t, i, swapped ? apply(op, y, x) : apply(op, x, y));
    }
    return 1;
}

static int m_add(lua_State *L) { return arith(L, OP_ADD); }
static int m_sub(lua_State *L) { return arith(L, OP_SUB); }
static int m_mul(lua_State *L) { return arith(L, OP_MUL); }
static int m_div(lua_State *L) { return arith(L, OP_DIV); }
static int m_unm(lua_State *L) { return arith(L, OP_NEG); }
static int m_abs(lua_State *L) {
    lua_settop(L, 1);
    return arith(L, OP_ABS);
}

/* ---- metamethods -------------------------------------------------------- */

static int m_tostring(lua_State *L) {
    dkl_tensor *u = luaL_checkudata(L, 1, DKL_TENSOR);
    char sh[96];
    luaL_Buffer b;
    size_t i, n;
    if (!u->t) {
        lua_pushstring(L, "Tensor (released)");
        return 1;
    }
    luaL_buffinit(L, &b);
    lua_pushfstring(L, "Tensor %s %s {", dk_dtype_name(u->t->dtype), dk_shape_str(u->t, sh, sizeof sh));
    luaL_addvalue(&b);
    n = u->t->numel < 8 ? u->t->numel : 8;
    for (i = 0; i < n; i++) {
        char num[40];
        snprintf(num, sizeof num, "%s%.6g", i ? ", " : "", dk_tensor_get(u->t, i));
        luaL_addstring(&b, num);
    }
    if (u->t->numel > n) luaL_addstring(&b, ", ...");
    luaL_addstring(&b, "}");
    luaL_pushresult(&b);
    return 1;
}

static int m_len(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)dkl_tensor_check(L, 1)->numel);
    return 1;
}

/* t[i] (flat, 1-based) or a method name. */
static int m_index(lua_State *L) {
    if (lua_type(L, 2) == LUA_TNUMBER) {
        dk_tensor *t = dkl_tensor_check(L, 1);
        push_elem(L, t, index_of(L, t, 2, 1));
        return 1;
    }
    lua_getmetatable(L, 1);
    lua_getfield(L, -1, "__methods");
    lua_pushvalue(L, 2);
    lua_rawget(L, -2);
    if (lua_isnil(L, -1) && lua_type(L, 2) == LUA_TSTRING)
        return luaL_error(L, "Tensor has no method or field '%s'", lua_tostring(L, 2));
    return 1;
}

static int m_newindex(lua_State *L) {
    dk_tensor *t = dkl_tensor_check(L, 1);
    if (lua_type(L, 2) != LUA_TNUMBER) return luaL_error(L, "tensor fields cannot be assigned; use t[i] = v with a number index");
    dk_tensor_set(t, index_of(L, t, 2, 1), luaL_checknumber(L, 3));
    return 0;
}

static const luaL_Reg methods[] = {
    {"shape", m_shape}, {"dtype", m_dtype}, {"numel", m_numel}, {"ndim", m_ndim},
    {"get", m_get}, {"set", m_set}, {"totable", m_totable}, {"clone", m_clone},
    {"to", m_to}, {"reshape", m_reshape}, {"sum", m_sum}, {"mean", m_mean},
    {"max", m_max}, {"min", m_min}, {"abs", m_abs}, {"max_abs_diff", m_max_abs_diff},
    {"release", tensor_release}, {NULL, NULL}};

static const luaL_Reg metamethods[] = {
    {"__gc", tensor_release}, {"__close", tensor_release}, {"__tostring", m_tostring},
    {"__len", m_len}, {"__index", m_index}, {"__newindex", m_newindex},
    {"__add", m_add}, {"__sub", m_sub}, {"__mul", m_mul}, {"__div", m_div}, {"__unm", m_unm},
    {NULL, NULL}};

static const luaL_Reg funcs[] = {
    {"tensor", l_tensor}, {"zeros", l_zeros}, {"ones", l_ones}, {"full", l_full}, {NULL, NULL}};

static int open_tensor(lua_State *L) {
    if (luaL_newmetatable(L, DKL_TENSOR)) {
        luaL_setfuncs(L, metamethods, 0);
        luaL_newlib(L, methods);
        lua_setfield(L, -2, "__methods");
        lua_pushstring(L, DKL_TENSOR);
        lua_setfield(L, -2, "__name");
    }
    lua_pop(L, 1);
    luaL_setfuncs(L, funcs, 0);
    return 0;
}
DKL_PART(tensor, open_tensor)
