/* options.c: plugin options — the validated value store behind dk_options.
 *
 * The host builds a dk_options from a plugin's option table (host.h:
 * dk_options_new, dk_options_set*, dk_options_finish); plugins read it with
 * the dk_opt_* accessors of plugin.h. Text values are parsed per type:
 *   bool    true/false, yes/no, on/off, 1/0
 *   int     "42", "-3", "1e3" (when integral)
 *   float   "0.5", "1e-3"; "inf", "-inf" only where the option has
 *           DK_OPT_ALLOW_INF (NaN never; docs/reliability.md)
 *   enum    one of the spec's choices "a|b|c"
 *   lists   "[128,256]", "128,256", "128" or "[]"
 * Every value is range-checked (DK_OPT_MIN_EXCLUSIVE / MAX_EXCLUSIVE) and
 * errors name the plugin, the option and its documented range. */
#include "diffkit/host.h"
#include "suggest.h"
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct opt_value {
    int set;           /* 1 once a value (explicit or default) is present */
    int explicit_set;  /* 1 if set by the caller, not the default */
    int64_t i;         /* BOOL, INT */
    double f;          /* FLOAT */
    char *s;           /* STRING, ENUM */
    size_t n;          /* lists */
    int64_t *il;
    double *fl;
    char **sl;
    dk_opt_fn fn;
} opt_value;

struct dk_options {
    const dk_plugin *plugin;
    size_t n;
    opt_value *v; /* one per spec, same order */
};

/* ---- kinds -------------------------------------------------------------- */

const char *dk_kind_name(dk_plugin_kind k) {
    switch (k) {
    case DK_KIND_MODEL: return "model";
    case DK_KIND_PRECOND: return "precond";
    case DK_KIND_SCHEDULE: return "schedule";
    case DK_KIND_SAMPLER: return "sampler";
    }
    return "unknown-kind";
}

int dk_kind_from_name(const char *s, dk_plugin_kind *out) {
    static const dk_plugin_kind all[] = {DK_KIND_MODEL, DK_KIND_PRECOND, DK_KIND_SCHEDULE, DK_KIND_SAMPLER};
    size_t i;
    if (!s) return -1;
    for (i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (strcmp(s, dk_kind_name(all[i])) == 0) {
            if (out) *out = all[i];
            return 0;
        }
    }
    return -1;
}

const char *dk_opt_type_name(dk_opt_type t) {
    switch (t) {
    case DK_OPT_BOOL: return "bool";
    case DK_OPT_INT: return "int";
    case DK_OPT_FLOAT: return "float";
    case DK_OPT_STRING: return "string";
    case DK_OPT_ENUM: return "enum";
    case DK_OPT_INT_LIST: return "int list";
    case DK_OPT_FLOAT_LIST: return "float list";
    case DK_OPT_STRING_LIST: return "string list";
    case DK_OPT_FUNCTION: return "function";
    }
    return "unknown type";
}

/* "an int", "a float", ... for messages. */
static const char *type_phrase(dk_opt_type t) {
    switch (t) {
    case DK_OPT_BOOL: return "a bool (true or false)";
    case DK_OPT_INT: return "an int";
    case DK_OPT_FLOAT: return "a float";
    case DK_OPT_STRING: return "a string";
    case DK_OPT_ENUM: return "one of its choices";
    case DK_OPT_INT_LIST: return "a list of ints";
    case DK_OPT_FLOAT_LIST: return "a list of floats";
    case DK_OPT_STRING_LIST: return "a list of strings";
    case DK_OPT_FUNCTION: return "a function";
    }
    return "a value";
}

/* Shortest text that reads back as v ("0.1", "-1", "inf"). */
static void fmt_num(double v, char *buf, size_t n) {
    int prec;
    if (isinf(v)) {
        snprintf(buf, n, "%s", v > 0 ? "inf" : "-inf");
        return;
    }
    for (prec = 6; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) return;
    }
}

static int is_numeric_type(dk_opt_type t) {
    return t == DK_OPT_INT || t == DK_OPT_FLOAT || t == DK_OPT_INT_LIST || t == DK_OPT_FLOAT_LIST;
}
static int is_list_type(dk_opt_type t) {
    return t == DK_OPT_INT_LIST || t == DK_OPT_FLOAT_LIST || t == DK_OPT_STRING_LIST;
}

void dk_option_range_str(const dk_option_spec *s, char *buf, size_t n) {
    char lo[40], hi[40];
    int has_lo, has_hi;
    if (!n) return;
    buf[0] = '\0';
    if (s->type == DK_OPT_ENUM || (s->type == DK_OPT_STRING_LIST && s->choices)) {
        snprintf(buf, n, "%s", s->choices ? s->choices : "");
        return;
    }
    if (!is_numeric_type(s->type)) return;
    has_lo = !(isinf(s->min) && s->min < 0) && !isnan(s->min);
    has_hi = !(isinf(s->max) && s->max > 0) && !isnan(s->max);
    fmt_num(s->min, lo, sizeof lo);
    fmt_num(s->max, hi, sizeof hi);
    if (has_lo && has_hi)
        snprintf(buf, n, "in %c%s, %s%c", (s->flags & DK_OPT_MIN_EXCLUSIVE) ? '(' : '[', lo, hi,
                 (s->flags & DK_OPT_MAX_EXCLUSIVE) ? ')' : ']');
    else if (has_lo)
        snprintf(buf, n, "%s %s", (s->flags & DK_OPT_MIN_EXCLUSIVE) ? ">" : ">=", lo);
    else if (has_hi)
        snprintf(buf, n, "%s %s", (s->flags & DK_OPT_MAX_EXCLUSIVE) ? "<" : "<=", hi);
}

/* ---- the store ---------------------------------------------------------- */

static void value_clear(opt_value *v) {
    size_t i;
    free(v->s);
    free(v->il);
    free(v->fl);
    if (v->sl)
        for (i = 0; i < v->n; i++) free(v->sl[i]);
    free(v->sl);
    memset(v, 0, sizeof *v);
}

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static dk_status set_text(dk_options *o, size_t idx, const char *text, int explicit_set, dk_error *err);

dk_options *dk_options_new(const dk_plugin *p) {
    dk_options *o = calloc(1, sizeof *o);
    size_t i;
    if (!o) return NULL;
    o->plugin = p;
    o->n = p ? p->n_options : 0;
    if (o->n) {
        o->v = calloc(o->n, sizeof *o->v);
        if (!o->v) {
            free(o);
            return NULL;
        }
    }
    /* Defaults. A default that does not parse is caught by dk_plugin_validate;
     * here it just leaves the option unset. */
    for (i = 0; i < o->n; i++) {
        const dk_option_spec *s = &p->options[i];
        if (s->default_value && s->type != DK_OPT_FUNCTION) set_text(o, i, s->default_value, 0, NULL);
    }
    return o;
}

void dk_options_free(dk_options *o) {
    size_t i;
    if (!o) return;
    for (i = 0; i < o->n; i++) value_clear(&o->v[i]);
    free(o->v);
    free(o);
}

static const char *plugin_kind(const dk_options *o) {
    return o->plugin ? dk_kind_name(o->plugin->kind) : "plugin";
}
static const char *plugin_name(const dk_options *o) {
    return o->plugin && o->plugin->name ? o->plugin->name : "?";
}

/* Index of the option `name`, or (size_t)-1. */
static size_t find_spec(const dk_options *o, const char *name) {
    size_t i;
    if (!name) return (size_t)-1;
    for (i = 0; i < o->n; i++)
        if (o->plugin->options[i].name && strcmp(o->plugin->options[i].name, name) == 0) return i;
    return (size_t)-1;
}

static dk_status unknown_option(const dk_options *o, const char *name, dk_error *err) {
    char names[600] = "", sugg[300];
    size_t i, used = 0;
    dk_suggest sg;
    dk_suggest_begin(&sg, name ? name : "");
    for (i = 0; i < o->n; i++) {
        const char *nm = o->plugin->options[i].name;
        int w;
        dk_suggest_offer(&sg, nm);
        if (used < sizeof names) {
            w = snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "", nm);
            if (w > 0) used += (size_t)w;
        }
    }
    if (o->n == 0)
        return dk_error_set(err, DK_EINVAL, "unknown option '%s' for %s '%s' (it takes no options)",
                            name ? name : "(null)", plugin_kind(o), plugin_name(o));
    if (dk_suggest_str(&sg, sugg, sizeof sugg))
        return dk_error_set(err, DK_EINVAL, "unknown option '%s' for %s '%s' (did you mean %s? options: %s)",
                            name ? name : "(null)", plugin_kind(o), plugin_name(o), sugg, names);
    return dk_error_set(err, DK_EINVAL, "unknown option '%s' for %s '%s' (options: %s)",
                        name ? name : "(null)", plugin_kind(o), plugin_name(o), names);
}

static dk_status wrong_type(const dk_options *o, const dk_option_spec *s, const char *got, dk_error *err) {
    if (s->type == DK_OPT_ENUM && s->choices)
        return dk_error_set(err, DK_EINVAL, "option '%s' of %s '%s' expects one of %s, got '%s'", s->name,
                            plugin_kind(o), plugin_name(o), s->choices, got);
    return dk_error_set(err, DK_EINVAL, "option '%s' of %s '%s' expects %s, got '%s'", s->name,
                        plugin_kind(o), plugin_name(o), type_phrase(s->type), got);
}

/* Range check of one number. */
static dk_status check_range(const dk_options *o, const dk_option_spec *s, double v, dk_error *err) {
    int low = s->flags & DK_OPT_MIN_EXCLUSIVE ? !(v > s->min) : !(v >= s->min);
    int high = s->flags & DK_OPT_MAX_EXCLUSIVE ? !(v < s->max) : !(v <= s->max);
    char num[40], range[120];
    if (isnan(v))
        return dk_error_set(err, DK_EINVAL, "plugin %s '%s': option '%s' is NaN: give a number (%s: %s)",
                            plugin_kind(o), plugin_name(o), s->name, s->name, s->doc ? s->doc : "");
    if (isinf(v) && !(s->flags & DK_OPT_ALLOW_INF)) {
        dk_option_range_str(s, range, sizeof range);
        return dk_error_set(err, DK_EINVAL,
                            "plugin %s '%s': option '%s' = %s is not finite: give a finite number%s%s (%s: %s)",
                            plugin_kind(o), plugin_name(o), s->name, v > 0 ? "inf" : "-inf", range[0] ? " " : "",
                            range, s->name, s->doc ? s->doc : "");
    }
    if (!low && !high) return DK_OK;
    fmt_num(v, num, sizeof num);
    dk_option_range_str(s, range, sizeof range);
    return dk_error_set(err, DK_EINVAL, "plugin %s '%s': option '%s' = %s is out of range: must be %s (%s: %s)",
                        plugin_kind(o), plugin_name(o), s->name, num, range, s->name, s->doc ? s->doc : "");
}

/* Is `word` one of the '|'-separated choices? */
static int in_choices(const char *choices, const char *word) {
    size_t wl = strlen(word);
    const char *p = choices;
    while (p && *p) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == wl && strncmp(p, word, len) == 0) return 1;
        p = bar ? bar + 1 : NULL;
    }
    return 0;
}

static dk_status bad_choice(const dk_options *o, const dk_option_spec *s, const char *word, dk_error *err) {
    /* each choice is copied out of "a|b|c"; the suggester keeps pointers */
    char ring[32][64], sugg[300];
    dk_suggest sg;
    const char *p = s->choices;
    size_t k = 0;
    dk_suggest_begin(&sg, word);
    while (p && *p && k < 32) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len >= sizeof ring[0]) len = sizeof ring[0] - 1;
        memcpy(ring[k], p, len);
        ring[k][len] = '\0';
        dk_suggest_offer(&sg, ring[k]);
        k++;
        p = bar ? bar + 1 : NULL;
    }
    if (dk_suggest_str(&sg, sugg, sizeof sugg))
        return dk_error_set(err, DK_EINVAL,
                            "option '%s' of %s '%s' expects one of %s, got '%s' (did you mean %s?)", s->name,
                            plugin_kind(o), plugin_name(o), s->choices, word, sugg);
    return dk_error_set(err, DK_EINVAL, "option '%s' of %s '%s' expects one of %s, got '%s'", s->name,
                        plugin_kind(o), plugin_name(o), s->choices, word);
}

/* ---- text parsing ------------------------------------------------------- */

static const char *skip_ws(const char *p) {
    while (*p && isspace((unsigned char)*p)) p++;
    return p;
}

/* Copies [b, e) trimmed into out (size n). */
static void trim_copy(const char *b, const char *e, char *out, size_t n) {
    size_t len;
    while (b < e && isspace((unsigned char)*b)) b++;
    while (e > b && isspace((unsigned char)e[-1])) e--;
    len = (size_t)(e - b);
    if (len >= n) len = n - 1;
    memcpy(out, b, len);
    out[len] = '\0';
}

static int parse_bool(const char *t, int64_t *out) {
    static const char *yes[] = {"true", "yes", "on", "1"}, *no[] = {"false", "no", "off", "0"};
    size_t i;
    for (i = 0; i < 4; i++) {
        if (strcmp(t, yes[i]) == 0) { *out = 1; return 0; }
        if (strcmp(t, no[i]) == 0) { *out = 0; return 0; }
    }
    return -1;
}

static int parse_double(const char *t, double *out) {
    char *end;
    double v;
    if (!*t) return -1;
    errno = 0;
    v = strtod(t, &end);
    if (end == t || *skip_ws(end)) return -1;
    if (isnan(v)) return -1;
    /* strtod accepts hex floats and "infinity"; that is fine. ERANGE on
     * underflow gives a tiny number; overflow gives +-inf as intended. */
    *out = v;
    return 0;
}

static int parse_int(const char *t, int64_t *out) {
    char *end;
    long long v;
    double d;
    if (!*t) return -1;
    errno = 0;
    v = strtoll(t, &end, 10);
    if (end != t && !*skip_ws(end) && errno == 0) {
        *out = v;
        return 0;
    }
    /* "1e3", "128.0": accepted when exactly integral */
    if (parse_double(t, &d) == 0 && isfinite(d) && d == floor(d) && fabs(d) < 9.007199254740992e15) {
        *out = (int64_t)d;
        return 0;
    }
    return -1;
}

/* Splits a list text into trimmed elements. Returns the count or -1. */
typedef struct list_items {
    size_t n;
    char **item;
} list_items;

static void items_free(list_items *li) {
    size_t i;
    for (i = 0; i < li->n; i++) free(li->item[i]);
    free(li->item);
    li->n = 0;
    li->item = NULL;
}

static int split_list(const char *text, list_items *li) {
    const char *b = skip_ws(text), *e = b + strlen(b), *p;
    char buf[512];
    li->n = 0;
    li->item = NULL;
    while (e > b && isspace((unsigned char)e[-1])) e--;
    if (b < e && (*b == '[' || *b == '{' || *b == '(')) {
        char close = *b == '[' ? ']' : *b == '{' ? '}' : ')';
        if (e[-1] != close) return -1;
        b++;
        e--;
    }
    trim_copy(b, e, buf, sizeof buf);
    if (!buf[0]) return 0; /* empty list */
    p = b;
    for (;;) {
        const char *comma = memchr(p, ',', (size_t)(e - p));
        const char *end = comma ? comma : e;
        char **grown = realloc(li->item, (li->n + 1) * sizeof *grown);
        size_t len;
        if (!grown) {
            items_free(li);
            return -1;
        }
        li->item = grown;
        trim_copy(p, end, buf, sizeof buf);
        /* strip quotes of "a" or 'a' */
        len = strlen(buf);
        if (len >= 2 && (buf[0] == '"' || buf[0] == '\'') && buf[len - 1] == buf[0]) {
            memmove(buf, buf + 1, len - 2);
            buf[len - 2] = '\0';
        }
        li->item[li->n] = dup_str(buf);
        if (!li->item[li->n]) {
            items_free(li);
            return -1;
        }
        li->n++;
        if (!comma) break;
        p = comma + 1;
    }
    return (int)li->n;
}

/* Stores already-checked typed values into slot idx. */
static dk_status store(dk_options *o, size_t idx, opt_value *nv, int explicit_set) {
    value_clear(&o->v[idx]);
    o->v[idx] = *nv;
    o->v[idx].set = 1;
    o->v[idx].explicit_set = explicit_set;
    return DK_OK;
}

static dk_status set_text(dk_options *o, size_t idx, const char *text, int explicit_set, dk_error *err) {
    const dk_option_spec *s = &o->plugin->options[idx];
    opt_value nv;
    char word[512];
    memset(&nv, 0, sizeof nv);
    if (!text) text = "";
    trim_copy(text, text + strlen(text), word, sizeof word);
    switch (s->type) {
    case DK_OPT_BOOL:
        if (parse_bool(word, &nv.i)) return wrong_type(o, s, text, err);
        break;
    case DK_OPT_INT:
        if (parse_int(word, &nv.i)) return wrong_type(o, s, text, err);
        DK_TRY(check_range(o, s, (double)nv.i, err));
        break;
    case DK_OPT_FLOAT:
        if (parse_double(word, &nv.f)) return wrong_type(o, s, text, err);
        DK_TRY(check_range(o, s, nv.f, err));
        break;
    case DK_OPT_STRING:
        if (!(nv.s = dup_str(text))) return dk_error_set(err, DK_ENOMEM, "out of memory setting option '%s'", s->name);
        break;
    case DK_OPT_ENUM:
        if (!s->choices || !in_choices(s->choices, word)) return bad_choice(o, s, word, err);
        if (!(nv.s = dup_str(word))) return dk_error_set(err, DK_ENOMEM, "out of memory setting option '%s'", s->name);
        break;
    case DK_OPT_INT_LIST:
    case DK_OPT_FLOAT_LIST:
    case DK_OPT_STRING_LIST: {
        list_items li;
        size_t i;
        if (split_list(text, &li) < 0) return wrong_type(o, s, text, err);
        nv.n = li.n;
        if (li.n) {
            if (s->type == DK_OPT_INT_LIST) nv.il = calloc(li.n, sizeof *nv.il);
            else if (s->type == DK_OPT_FLOAT_LIST) nv.fl = calloc(li.n, sizeof *nv.fl);
            else nv.sl = calloc(li.n, sizeof *nv.sl);
            if (!nv.il && !nv.fl && !nv.sl) {
                items_free(&li);
                return dk_error_set(err, DK_ENOMEM, "out of memory setting option '%s'", s->name);
            }
        }
        for (i = 0; i < li.n; i++) {
            dk_status st = DK_OK;
            if (s->type == DK_OPT_INT_LIST) {
                if (parse_int(li.item[i], &nv.il[i])) st = wrong_type(o, s, text, err);
                else st = check_range(o, s, (double)nv.il[i], err);
            } else if (s->type == DK_OPT_FLOAT_LIST) {
                if (parse_double(li.item[i], &nv.fl[i])) st = wrong_type(o, s, text, err);
                else st = check_range(o, s, nv.fl[i], err);
            } else {
                if (s->choices && !in_choices(s->choices, li.item[i])) st = bad_choice(o, s, li.item[i], err);
                else {
                    nv.sl[i] = li.item[i];
                    li.item[i] = NULL;
                }
            }
            if (st != DK_OK) {
                items_free(&li);
                value_clear(&nv);
                return st;
            }
        }
        items_free(&li);
        break;
    }
    case DK_OPT_FUNCTION:
        return dk_error_set(err, DK_EINVAL,
                            "option '%s' of %s '%s' expects a function, got the text '%s' (pass a function from Lua)",
                            s->name, plugin_kind(o), plugin_name(o), text);
    default:
        return dk_error_set(err, DK_EINVAL, "option '%s' of %s '%s' has an unknown type %d in its option table",
                            s->name, plugin_kind(o), plugin_name(o), (int)s->type);
    }
    return store(o, idx, &nv, explicit_set);
}

/* ---- builders ----------------------------------------------------------- */

static dk_status lookup(dk_options *o, const char *name, size_t *idx, dk_error *err) {
    if (!o) return dk_error_set(err, DK_EINVAL, "no options object given for option '%s'", name ? name : "(null)");
    *idx = find_spec(o, name);
    if (*idx == (size_t)-1) return unknown_option(o, name, err);
    return DK_OK;
}

dk_status dk_options_set(dk_options *o, const char *name, const char *text, dk_error *err) {
    size_t idx;
    DK_TRY(lookup(o, name, &idx, err));
    return set_text(o, idx, text, 1, err);
}

dk_status dk_options_set_str(dk_options *o, const char *name, const char *v, dk_error *err) {
    return dk_options_set(o, name, v, err);
}

dk_status dk_options_set_float(dk_options *o, const char *name, double v, dk_error *err) {
    size_t idx;
    const dk_option_spec *s;
    opt_value nv;
    char num[40];
    DK_TRY(lookup(o, name, &idx, err));
    s = &o->plugin->options[idx];
    memset(&nv, 0, sizeof nv);
    fmt_num(v, num, sizeof num);
    switch (s->type) {
    case DK_OPT_FLOAT:
        DK_TRY(check_range(o, s, v, err));
        nv.f = v;
        break;
    case DK_OPT_INT:
        if (!isfinite(v) || v != floor(v) || fabs(v) >= 9.007199254740992e15) return wrong_type(o, s, num, err);
        DK_TRY(check_range(o, s, v, err));
        nv.i = (int64_t)v;
        break;
    case DK_OPT_FLOAT_LIST:
    case DK_OPT_INT_LIST:
        return s->type == DK_OPT_FLOAT_LIST ? dk_options_set_float_list(o, name, &v, 1, err)
                                            : dk_options_set(o, name, num, err);
    default:
        return wrong_type(o, s, num, err);
    }
    return store(o, idx, &nv, 1);
}

dk_status dk_options_set_int(dk_options *o, const char *name, int64_t v, dk_error *err) {
    size_t idx;
    const dk_option_spec *s;
    char num[40];
    DK_TRY(lookup(o, name, &idx, err));
    s = &o->plugin->options[idx];
    snprintf(num, sizeof num, "%lld", (long long)v);
    switch (s->type) {
    case DK_OPT_INT: {
        opt_value nv;
        memset(&nv, 0, sizeof nv);
        DK_TRY(check_range(o, s, (double)v, err));
        nv.i = v;
        return store(o, idx, &nv, 1);
    }
    case DK_OPT_FLOAT:
        return dk_options_set_float(o, name, (double)v, err);
    case DK_OPT_INT_LIST:
        return dk_options_set_int_list(o, name, &v, 1, err);
    case DK_OPT_FLOAT_LIST: {
        double d = (double)v;
        return dk_options_set_float_list(o, name, &d, 1, err);
    }
    default:
        return wrong_type(o, s, num, err);
    }
}

dk_status dk_options_set_bool(dk_options *o, const char *name, int v, dk_error *err) {
    size_t idx;
    const dk_option_spec *s;
    opt_value nv;
    DK_TRY(lookup(o, name, &idx, err));
    s = &o->plugin->options[idx];
    if (s->type != DK_OPT_BOOL) return wrong_type(o, s, v ? "true" : "false", err);
    memset(&nv, 0, sizeof nv);
    nv.i = v ? 1 : 0;
    return store(o, idx, &nv, 1);
}

dk_status dk_options_set_float_list(dk_options *o, const char *name, const double *v, size_t n, dk_error *err) {
    size_t idx, i;
    const dk_option_spec *s;
    opt_value nv;
    char num[40];
    DK_TRY(lookup(o, name, &idx, err));
    s = &o->plugin->options[idx];
    if (s->type == DK_OPT_INT_LIST || (s->type == DK_OPT_FLOAT && n == 1) || (s->type == DK_OPT_INT && n == 1)) {
        /* convert (integral values only for ints) */
        int64_t *iv;
        dk_status st;
        if (s->type == DK_OPT_FLOAT) return dk_options_set_float(o, name, v[0], err);
        iv = malloc((n ? n : 1) * sizeof *iv);
        if (!iv) return dk_error_set(err, DK_ENOMEM, "out of memory setting option '%s'", name);
        for (i = 0; i < n; i++) {
            if (!isfinite(v[i]) || v[i] != floor(v[i]) || fabs(v[i]) >= 9.007199254740992e15) {
                free(iv);
                fmt_num(v[i], num, sizeof num);
                return wrong_type(o, s, num, err);
            }
            iv[i] = (int64_t)v[i];
        }
        st = s->type == DK_OPT_INT ? dk_options_set_int(o, name, iv[0], err) : dk_options_set_int_list(o, name, iv, n, err);
        free(iv);
        return st;
    }
    if (s->type != DK_OPT_FLOAT_LIST) return wrong_type(o, s, "a list of numbers", err);
    for (i = 0; i < n; i++) DK_TRY(check_range(o, s, v[i], err));
    memset(&nv, 0, sizeof nv);
    nv.n = n;
    if (n) {
        if (!(nv.fl = malloc(n * sizeof *nv.fl))) return dk_error_set(err, DK_ENOMEM, "out of memory setting option '%s'", name);
        memcpy(nv.fl, v, n * sizeof *nv.fl);
    }
    return store(o, idx, &nv, 1);
}

dk_status dk_options_set_int_list(dk_options *o, const char *name, const int64_t *v, size_t n, dk_error *err) {
    size_t idx, i;
    const dk_option_spec *s;
    opt_value nv;
    DK_TRY(lookup(o, name, &idx, err));
    s = &o->plugin->options[idx];
    if (s->type == DK_OPT_FLOAT_LIST) {
        double *dv = malloc((n ? n : 1) * sizeof *dv);
        dk_status st;
        if (!dv) return dk_error_set(err, DK_ENOMEM, "out of memory setting option '%s'", name);
        for (i = 0; i < n; i++) dv[i] = (double)v[i];
        st = dk_options_set_float_list(o, name, dv, n, err);
        free(dv);
        return st;
    }
    if (n == 1 && (s->type == DK_OPT_INT || s->type == DK_OPT_FLOAT)) return dk_options_set_int(o, name, v[0], err);
    if (s->type != DK_OPT_INT_LIST) return wrong_type(o, s, "a list of ints", err);
    for (i = 0; i < n; i++) DK_TRY(check_range(o, s, (double)v[i], err));
    memset(&nv, 0, sizeof nv);
    nv.n = n;
    if (n) {
        if (!(nv.il = malloc(n * sizeof *nv.il))) return dk_error_set(err, DK_ENOMEM, "out of memory setting option '%s'", name);
        memcpy(nv.il, v, n * sizeof *nv.il);
    }
    return store(o, idx, &nv, 1);
}

dk_status dk_options_set_str_list(dk_options *o, const char *name, const char *const *v, size_t n, dk_error *err) {
    size_t idx, i;
    const dk_option_spec *s;
    opt_value nv;
    DK_TRY(lookup(o, name, &idx, err));
    s = &o->plugin->options[idx];
    if (n == 1 && s->type != DK_OPT_STRING_LIST && !is_list_type(s->type)) return dk_options_set(o, name, v[0], err);
    if (s->type != DK_OPT_STRING_LIST) {
        /* a list of number strings for a numeric list: parse each as text */
        size_t total = 2, used;
        char *text;
        dk_status st;
        if (!is_list_type(s->type)) return wrong_type(o, s, "a list of strings", err);
        for (i = 0; i < n; i++) total += strlen(v[i]) + 1;
        if (!(text = malloc(total + 1))) return dk_error_set(err, DK_ENOMEM, "out of memory setting option '%s'", name);
        used = 0;
        text[used++] = '[';
        for (i = 0; i < n; i++) {
            size_t l = strlen(v[i]);
            if (i) text[used++] = ',';
            memcpy(text + used, v[i], l);
            used += l;
        }
        text[used++] = ']';
        text[used] = '\0';
        st = set_text(o, idx, text, 1, err);
        free(text);
        return st;
    }
    for (i = 0; i < n; i++)
        if (s->choices && !in_choices(s->choices, v[i])) return bad_choice(o, s, v[i], err);
    memset(&nv, 0, sizeof nv);
    nv.n = n;
    if (n && !(nv.sl = calloc(n, sizeof *nv.sl))) return dk_error_set(err, DK_ENOMEM, "out of memory setting option '%s'", name);
    for (i = 0; i < n; i++) {
        if (!(nv.sl[i] = dup_str(v[i]))) {
            value_clear(&nv);
            return dk_error_set(err, DK_ENOMEM, "out of memory setting option '%s'", name);
        }
    }
    return store(o, idx, &nv, 1);
}

dk_status dk_options_set_fn(dk_options *o, const char *name, dk_opt_fn fn, dk_error *err) {
    size_t idx;
    const dk_option_spec *s;
    opt_value nv;
    DK_TRY(lookup(o, name, &idx, err));
    s = &o->plugin->options[idx];
    if (s->type != DK_OPT_FUNCTION) return wrong_type(o, s, "a function", err);
    if (!fn.call) return dk_error_set(err, DK_EINVAL, "option '%s' of %s '%s': the function is NULL", name, plugin_kind(o), plugin_name(o));
    memset(&nv, 0, sizeof nv);
    nv.fn = fn;
    return store(o, idx, &nv, 1);
}

dk_status dk_options_finish(dk_options *o, dk_error *err) {
    size_t i;
    if (!o) return DK_OK;
    for (i = 0; i < o->n; i++) {
        const dk_option_spec *s = &o->plugin->options[i];
        if (!o->v[i].set && !(s->flags & DK_OPT_OPTIONAL))
            return dk_error_set(err, DK_EINVAL, "plugin %s '%s': option '%s' is required and has no default: set it (%s: %s)",
                                plugin_kind(o), plugin_name(o), s->name, s->name, s->doc ? s->doc : "");
    }
    return DK_OK;
}

/* ---- accessors ---------------------------------------------------------- */

/* The slot for name, or NULL (unknown name: a plugin bug, reported once per call on stderr). */
static const opt_value *slot(const dk_options *o, const char *name, const dk_option_spec **spec) {
    size_t idx;
    if (!o) return NULL;
    idx = find_spec(o, name);
    if (idx == (size_t)-1) {
        fprintf(stderr, "diffkit: %s '%s' read option '%s', which its option table does not declare\n",
                plugin_kind(o), plugin_name(o), name ? name : "(null)");
        return NULL;
    }
    if (spec) *spec = &o->plugin->options[idx];
    return o->v[idx].set ? &o->v[idx] : NULL;
}

int dk_opt_has(const dk_options *o, const char *name) {
    size_t idx;
    if (!o) return 0;
    idx = find_spec(o, name);
    return idx != (size_t)-1 && o->v[idx].set;
}

int dk_opt_bool(const dk_options *o, const char *name) {
    const dk_option_spec *s = NULL;
    const opt_value *v = slot(o, name, &s);
    if (!v) return 0;
    return s->type == DK_OPT_BOOL || s->type == DK_OPT_INT ? v->i != 0 : 0;
}

int64_t dk_opt_int(const dk_options *o, const char *name) {
    const dk_option_spec *s = NULL;
    const opt_value *v = slot(o, name, &s);
    if (!v) return 0;
    if (s->type == DK_OPT_FLOAT) return (int64_t)v->f;
    if (s->type == DK_OPT_INT_LIST) return v->n ? v->il[0] : 0;
    return v->i;
}

double dk_opt_float(const dk_options *o, const char *name) {
    const dk_option_spec *s = NULL;
    const opt_value *v = slot(o, name, &s);
    if (!v) return 0.0;
    if (s->type == DK_OPT_FLOAT) return v->f;
    if (s->type == DK_OPT_INT || s->type == DK_OPT_BOOL) return (double)v->i;
    if (s->type == DK_OPT_FLOAT_LIST) return v->n ? v->fl[0] : 0.0;
    if (s->type == DK_OPT_INT_LIST) return v->n ? (double)v->il[0] : 0.0;
    return 0.0;
}

const char *dk_opt_str(const dk_options *o, const char *name) {
    const dk_option_spec *s = NULL;
    const opt_value *v = slot(o, name, &s);
    if (!v) return NULL;
    if (s->type == DK_OPT_STRING || s->type == DK_OPT_ENUM) return v->s;
    if (s->type == DK_OPT_STRING_LIST) return v->n ? v->sl[0] : NULL;
    return NULL;
}

size_t dk_opt_len(const dk_options *o, const char *name) {
    const dk_option_spec *s = NULL;
    const opt_value *v = slot(o, name, &s);
    if (!v) return 0;
    return is_list_type(s->type) ? v->n : 1;
}

int64_t dk_opt_int_at(const dk_options *o, const char *name, size_t i) {
    const dk_option_spec *s = NULL;
    const opt_value *v = slot(o, name, &s);
    if (!v) return 0;
    if (s->type == DK_OPT_INT_LIST) return i < v->n ? v->il[i] : 0;
    if (s->type == DK_OPT_FLOAT_LIST) return i < v->n ? (int64_t)v->fl[i] : 0;
    return i == 0 ? dk_opt_int(o, name) : 0;
}

double dk_opt_float_at(const dk_options *o, const char *name, size_t i) {
    const dk_option_spec *s = NULL;
    const opt_value *v = slot(o, name, &s);
    if (!v) return 0.0;
    if (s->type == DK_OPT_FLOAT_LIST) return i < v->n ? v->fl[i] : 0.0;
    if (s->type == DK_OPT_INT_LIST) return i < v->n ? (double)v->il[i] : 0.0;
    return i == 0 ? dk_opt_float(o, name) : 0.0;
}

const char *dk_opt_str_at(const dk_options *o, const char *name, size_t i) {
    const dk_option_spec *s = NULL;
    const opt_value *v = slot(o, name, &s);
    if (!v) return NULL;
    if (s->type == DK_OPT_STRING_LIST) return i < v->n ? v->sl[i] : NULL;
    return i == 0 ? dk_opt_str(o, name) : NULL;
}

const dk_opt_fn *dk_opt_func(const dk_options *o, const char *name) {
    const dk_option_spec *s = NULL;
    const opt_value *v = slot(o, name, &s);
    if (!v || s->type != DK_OPT_FUNCTION) return NULL;
    return &v->fn;
}

