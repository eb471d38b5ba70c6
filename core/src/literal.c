/* literal.c: a strict parser for the Lua literals diffkit writes (literal.h).
 *
 * Stored text is untrusted: it is parsed as data, never run. Every read is
 * bounded by the text's length, recursion by DK_LITERAL_MAX_DEPTH, the work
 * by DK_LITERAL_MAX_TEXT and DK_LITERAL_MAX_NODES, so any input ends in
 * linear time with a value or one error line naming the line, column and
 * (for config text) the key. */
#include "diffkit/literal.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DK_CONFIG_MAX_LINES 20000

typedef struct parser {
    const char *t;
    size_t n, pos;
    size_t nodes;
    const char *what;
    const char *key; /* config key being read, for messages (keybuf or NULL) */
    dk_error *err;
    char keybuf[512];
} parser;

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; }
static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static int is_alnum(char c) { return is_alpha(c) || is_digit(c); }
static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static void where(const parser *p, size_t pos, size_t *line, size_t *col) {
    size_t i;
    *line = 1;
    *col = 1;
    for (i = 0; i < pos && i < p->n; i++) {
        if (p->t[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

/* "WHAT: line L, column C (key 'k'): MSG (near 'xxx'): ..." */
static dk_status fail(parser *p, size_t pos, const char *msg) {
    size_t line, col, k;
    char near[24];
    where(p, pos, &line, &col);
    for (k = 0; k < sizeof near - 1 && pos + k < p->n; k++) {
        unsigned char c = (unsigned char)p->t[pos + k];
        if (c == '\n') break;
        near[k] = (c < 32 || c >= 127) ? '?' : (char)c;
    }
    near[k] = '\0';
    return dk_error_set(p->err, DK_EFORMAT,
                        "%s: line %zu, column %zu%s%s%s: %s (near '%s'): stored text is read as data (nil, booleans, "
                        "numbers, strings, tables) and never run; rewrite the value or use a file diffkit wrote",
                        p->what ? p->what : "literal", line, col, p->key ? " (key '" : "", p->key ? p->key : "",
                        p->key ? "')" : "", msg, near);
}

static void skip_ws(parser *p) {
    while (p->pos < p->n && is_space(p->t[p->pos])) p->pos++;
}

static void lit_clear(dk_literal *v) {
    size_t i;
    if (v->type == DK_LIT_STRING) free(v->s);
    if (v->type == DK_LIT_TABLE) {
        for (i = 0; i < v->n; i++) {
            free(v->e[i].key_str);
            lit_clear(&v->e[i].value);
        }
        free(v->e);
    }
    memset(v, 0, sizeof *v);
}

void dk_literal_free(dk_literal *v) {
    if (!v) return;
    lit_clear(v);
    free(v);
}

/* ---- strings ---------------------------------------------------------------- */

typedef struct sbuf {
    char *b;
    size_t n, cap;
} sbuf;

static int sb_put(sbuf *s, const char *c, size_t k) {
    if (s->n + k + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 32;
        char *g;
        while (cap < s->n + k + 1) cap *= 2;
        if (!(g = realloc(s->b, cap))) return -1;
        s->b = g;
        s->cap = cap;
    }
    memcpy(s->b + s->n, c, k);
    s->n += k;
    s->b[s->n] = '\0';
    return 0;
}

static int utf8_encode(unsigned long cp, char *out) {
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) { out[0] = (char)(0xC0 | (cp >> 6)); out[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12)); out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F)); return 3;
    }
    if (cp < 0x200000) {
        out[0] = (char)(0xF0 | (cp >> 18)); out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        out[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); out[3] = (char)(0x80 | (cp & 0x3F)); return 4;
    }
    if (cp < 0x4000000) {
        out[0] = (char)(0xF8 | (cp >> 24)); out[1] = (char)(0x80 | ((cp >> 18) & 0x3F));
        out[2] = (char)(0x80 | ((cp >> 12) & 0x3F)); out[3] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[4] = (char)(0x80 | (cp & 0x3F)); return 5;
    }
    out[0] = (char)(0xFC | (cp >> 30)); out[1] = (char)(0x80 | ((cp >> 24) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 18) & 0x3F)); out[3] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[4] = (char)(0x80 | ((cp >> 6) & 0x3F)); out[5] = (char)(0x80 | (cp & 0x3F)); return 6;
}

/* At an opening quote. */
static dk_status parse_string(parser *p, char **out, size_t *out_len) {
    char q = p->t[p->pos];
    size_t start = p->pos;
    sbuf sb = {NULL, 0, 0};
    p->pos++;
    if (sb_put(&sb, "", 0)) return dk_error_set(p->err, DK_ENOMEM, "out of memory reading a string");
    for (;;) {
        char c, e;
        if (p->pos >= p->n) {
            free(sb.b);
            return fail(p, start, "unfinished string");
        }
        c = p->t[p->pos];
        if (c == q) {
            p->pos++;
            break;
        }
        if (c == '\n' || c == '\r') {
            free(sb.b);
            return fail(p, p->pos, "line break inside a string (write it as \\n)");
        }
        if (c != '\\') {
            if (sb_put(&sb, &c, 1)) goto oom;
            p->pos++;
            continue;
        }
        /* escape */
        if (p->pos + 1 >= p->n) {
            free(sb.b);
            return fail(p, start, "unfinished string");
        }
        e = p->t[p->pos + 1];
        {
            size_t esc = p->pos;
            char one = 0;
            p->pos += 2;
            switch (e) {
            case 'a': one = '\a'; break;
            case 'b': one = '\b'; break;
            case 'f': one = '\f'; break;
            case 'n': one = '\n'; break;
            case 'r': one = '\r'; break;
            case 't': one = '\t'; break;
            case 'v': one = '\v'; break;
            case '\\': one = '\\'; break;
            case '"': one = '"'; break;
            case '\'': one = '\''; break;
            case '\n':
            case '\r':
                /* \<newline> is a newline; \r\n and \n\r count as one */
                if (p->pos < p->n && (p->t[p->pos] == '\n' || p->t[p->pos] == '\r') && p->t[p->pos] != e) p->pos++;
                one = '\n';
                break;
            case 'z':
                while (p->pos < p->n && is_space(p->t[p->pos])) p->pos++;
                continue;
            case 'x': {
                int h1 = p->pos < p->n ? hexval(p->t[p->pos]) : -1;
                int h2 = p->pos + 1 < p->n ? hexval(p->t[p->pos + 1]) : -1;
                if (h1 < 0 || h2 < 0) {
                    free(sb.b);
                    return fail(p, esc, "\\x needs two hexadecimal digits");
                }
                one = (char)(h1 * 16 + h2);
                p->pos += 2;
                break;
            }
            case 'u': {
                unsigned long cp = 0;
                int digits = 0;
                char u8[8];
                int k;
                if (p->pos >= p->n || p->t[p->pos] != '{') {
                    free(sb.b);
                    return fail(p, esc, "\\u needs {hex digits}");
                }
                p->pos++;
                while (p->pos < p->n && hexval(p->t[p->pos]) >= 0) {
                    cp = cp * 16 + (unsigned long)hexval(p->t[p->pos]);
                    p->pos++;
                    if (++digits > 8 || cp > 0x7FFFFFFFUL) {
                        free(sb.b);
                        return fail(p, esc, "\\u{...} is larger than 7FFFFFFF");
                    }
                }
                if (!digits || p->pos >= p->n || p->t[p->pos] != '}') {
                    free(sb.b);
                    return fail(p, esc, "\\u needs {hex digits}");
                }
                p->pos++;
                k = utf8_encode(cp, u8);
                if (sb_put(&sb, u8, (size_t)k)) goto oom;
                continue;
            }
            default:
                if (is_digit(e)) {
                    int v = e - '0', k;
                    for (k = 0; k < 2 && p->pos < p->n && is_digit(p->t[p->pos]); k++) v = v * 10 + (p->t[p->pos++] - '0');
                    if (v > 255) {
                        free(sb.b);
                        return fail(p, esc, "decimal escape larger than 255");
                    }
                    one = (char)v;
                    break;
                }
                free(sb.b);
                return fail(p, esc, "invalid escape sequence in a string");
            }
            if (sb_put(&sb, &one, 1)) goto oom;
        }
    }
    *out = sb.b;
    *out_len = sb.n;
    return DK_OK;
oom:
    free(sb.b);
    return dk_error_set(p->err, DK_ENOMEM, "out of memory reading a string");
}

/* ---- numbers ---------------------------------------------------------------- */

static int word_at(const parser *p, size_t pos, const char *w) {
    size_t k = strlen(w);
    if (pos + k > p->n || memcmp(p->t + pos, w, k) != 0) return 0;
    return pos + k == p->n || !is_alnum(p->t[pos + k]);
}

static dk_status parse_number(parser *p, dk_literal *v) {
    size_t start = p->pos, i = p->pos;
    int neg = 0, is_float = 0;
    char buf[400];
    if (i < p->n && p->t[i] == '-') {
        neg = 1;
        i++;
    }
    if (word_at(p, i, "inf")) {
        v->type = DK_LIT_FLOAT;
        v->f = neg ? -INFINITY : INFINITY;
        p->pos = i + 3;
        return DK_OK;
    }
    if (word_at(p, i, "nan")) {
        v->type = DK_LIT_FLOAT;
        v->f = neg ? -NAN : NAN;
        p->pos = i + 3;
        return DK_OK;
    }
    if (i >= p->n || !is_digit(p->t[i])) return fail(p, start, "expected a number");
    while (i < p->n && is_digit(p->t[i])) i++;
    if (i < p->n && p->t[i] == '.') {
        is_float = 1;
        i++;
        while (i < p->n && is_digit(p->t[i])) i++;
    }
    if (i < p->n && (p->t[i] == 'e' || p->t[i] == 'E')) {
        is_float = 1;
        i++;
        if (i < p->n && (p->t[i] == '+' || p->t[i] == '-')) i++;
        if (i >= p->n || !is_digit(p->t[i])) return fail(p, start, "malformed number (exponent without digits)");
        while (i < p->n && is_digit(p->t[i])) i++;
    }
    if (i < p->n && (is_alnum(p->t[i]) || p->t[i] == '.')) return fail(p, start, "malformed number");
    if (i - start >= sizeof buf) return fail(p, start, "number longer than 400 characters");
    memcpy(buf, p->t + start, i - start);
    buf[i - start] = '\0';
    p->pos = i;
    if (!is_float) {
        long long x;
        errno = 0;
        x = strtoll(buf, NULL, 10);
        if (errno == 0) {
            v->type = DK_LIT_INT;
            v->i = x;
            return DK_OK;
        }
        /* out of int64: a float, as Lua reads it */
    }
    v->type = DK_LIT_FLOAT;
    v->f = strtod(buf, NULL);
    return DK_OK;
}

/* ---- values ----------------------------------------------------------------- */

static dk_status parse_value(parser *p, dk_literal *v, int depth);

static dk_status grow_entries(parser *p, dk_literal *t, size_t *cap) {
    if (t->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        dk_literal_entry *g = realloc(t->e, nc * sizeof *g);
        if (!g) return dk_error_set(p->err, DK_ENOMEM, "out of memory reading a table");
        t->e = g;
        *cap = nc;
    }
    memset(&t->e[t->n], 0, sizeof t->e[t->n]);
    return DK_OK;
}

static dk_status parse_table(parser *p, dk_literal *v, int depth) {
    size_t cap = 0, start = p->pos;
    int64_t next_index = 1;
    v->type = DK_LIT_TABLE;
    v->n = 0;
    v->e = NULL;
    p->pos++; /* { */
    for (;;) {
        dk_literal_entry *en;
        dk_status st;
        skip_ws(p);
        if (p->pos >= p->n) return fail(p, start, "unfinished table (no closing '}')");
        if (p->t[p->pos] == '}') {
            p->pos++;
            return DK_OK;
        }
        DK_TRY(grow_entries(p, v, &cap));
        en = &v->e[v->n];
        if (p->t[p->pos] == '[') {
            /* [integer] = or ["string"] = */
            dk_literal k;
            size_t kpos;
            memset(&k, 0, sizeof k);
            p->pos++;
            skip_ws(p);
            kpos = p->pos;
            if (p->pos < p->n && (p->t[p->pos] == '"' || p->t[p->pos] == '\'')) {
                DK_TRY(parse_string(p, &en->key_str, &en->key_len));
                v->n++; /* owned from here */
            } else {
                DK_TRY(parse_number(p, &k));
                if (k.type != DK_LIT_INT) return fail(p, kpos, "a table key must be a string or an integer");
                en->key_is_int = 1;
                en->key_int = k.i;
                v->n++;
            }
            skip_ws(p);
            if (p->pos >= p->n || p->t[p->pos] != ']') return fail(p, p->pos, "expected ']' after a table key");
            p->pos++;
            skip_ws(p);
            if (p->pos >= p->n || p->t[p->pos] != '=') return fail(p, p->pos, "expected '=' after a table key");
            p->pos++;
        } else if (is_alpha(p->t[p->pos]) && !word_at(p, p->pos, "true") && !word_at(p, p->pos, "false") &&
                   !word_at(p, p->pos, "nil") && !word_at(p, p->pos, "inf") && !word_at(p, p->pos, "nan")) {
            size_t b = p->pos;
            while (p->pos < p->n && is_alnum(p->t[p->pos])) p->pos++;
            if (!(en->key_str = malloc(p->pos - b + 1))) return dk_error_set(p->err, DK_ENOMEM, "out of memory reading a table");
            memcpy(en->key_str, p->t + b, p->pos - b);
            en->key_str[p->pos - b] = '\0';
            en->key_len = p->pos - b;
            v->n++;
            skip_ws(p);
            if (p->pos >= p->n || p->t[p->pos] != '=') return fail(p, p->pos, "expected '=' after a table key");
            p->pos++;
        } else {
            /* positional */
            en->key_is_int = 1;
            en->key_int = next_index++;
            v->n++;
        }
        skip_ws(p);
        st = parse_value(p, &en->value, depth + 1);
        if (st != DK_OK) return st;
        skip_ws(p);
        if (p->pos < p->n && (p->t[p->pos] == ',' || p->t[p->pos] == ';')) {
            p->pos++;
            continue;
        }
        if (p->pos < p->n && p->t[p->pos] == '}') continue;
        return fail(p, p->pos, "expected ',' or '}' in a table");
    }
}

static dk_status parse_value(parser *p, dk_literal *v, int depth) {
    char c;
    memset(v, 0, sizeof *v);
    if (depth > DK_LITERAL_MAX_DEPTH) return fail(p, p->pos, "tables nested more than 32 deep");
    if (++p->nodes > DK_LITERAL_MAX_NODES) return fail(p, p->pos, "more than 1000000 values");
    skip_ws(p);
    if (p->pos >= p->n) return fail(p, p->pos, "expected a value, got the end of the text");
    c = p->t[p->pos];
    if (c == '"' || c == '\'') {
        v->type = DK_LIT_STRING;
        v->s = NULL;
        {
            dk_status st = parse_string(p, &v->s, &v->len);
            if (st != DK_OK) v->type = DK_LIT_NIL;
            return st;
        }
    }
    if (c == '{') return parse_table(p, v, depth);
    if (c == '-' || is_digit(c)) return parse_number(p, v);
    if (word_at(p, p->pos, "inf") || word_at(p, p->pos, "nan")) return parse_number(p, v);
    if (word_at(p, p->pos, "true")) {
        v->type = DK_LIT_BOOL;
        v->b = 1;
        p->pos += 4;
        return DK_OK;
    }
    if (word_at(p, p->pos, "false")) {
        v->type = DK_LIT_BOOL;
        v->b = 0;
        p->pos += 5;
        return DK_OK;
    }
    if (word_at(p, p->pos, "nil")) {
        v->type = DK_LIT_NIL;
        p->pos += 3;
        return DK_OK;
    }
    if (p->n - p->pos >= 10 && memcmp(p->t + p->pos, "<function>", 10) == 0)
        return fail(p, p->pos, "a function value cannot be rebuilt from stored text");
    return fail(p, p->pos, "expected a value (nil, true, false, a number, a string or a table)");
}

static dk_status check_size(const char *text, size_t len, const char *what, dk_error *err) {
    if (!text && len) return dk_error_set(err, DK_EINVAL, "%s: no text given", what ? what : "literal");
    if (len > DK_LITERAL_MAX_TEXT)
        return dk_error_set(err, DK_EFORMAT, "%s: the text is %zu bytes, more than the %zu a stored config may have: it is not diffkit's",
                            what ? what : "literal", len, DK_LITERAL_MAX_TEXT);
    return DK_OK;
}

dk_status dk_literal_parse(const char *text, size_t len, const char *what, dk_literal **out, dk_error *err) {
    parser p = {text, len, 0, 0, what, NULL, err, ""};
    dk_literal *v;
    dk_status st;
    *out = NULL;
    DK_TRY(check_size(text, len, what, err));
    if (!(v = calloc(1, sizeof *v))) return dk_error_set(err, DK_ENOMEM, "out of memory");
    st = parse_value(&p, v, 0);
    if (st == DK_OK) {
        skip_ws(&p);
        if (p.pos < p.n) st = fail(&p, p.pos, "unexpected text after the value");
    }
    if (st != DK_OK) {
        dk_literal_free(v);
        return st;
    }
    *out = v;
    return DK_OK;
}

/* ---- config text ------------------------------------------------------------ */

/* The entry of t with this key, or a new one (value nil). */
static dk_literal *table_slot(parser *p, dk_literal *t, int is_int, int64_t ki, const char *ks, size_t kl, size_t *cap,
                              dk_status *st) {
    size_t i;
    dk_literal_entry *en;
    for (i = 0; i < t->n; i++) {
        en = &t->e[i];
        if (is_int ? (en->key_is_int && en->key_int == ki)
                   : (!en->key_is_int && en->key_len == kl && memcmp(en->key_str, ks, kl) == 0))
            return &en->value;
    }
    if ((*st = grow_entries(p, t, cap)) != DK_OK) return NULL;
    en = &t->e[t->n];
    en->key_is_int = is_int;
    en->key_int = ki;
    if (!is_int) {
        if (!(en->key_str = malloc(kl + 1))) {
            *st = dk_error_set(p->err, DK_ENOMEM, "out of memory reading a config");
            return NULL;
        }
        memcpy(en->key_str, ks, kl);
        en->key_str[kl] = '\0';
        en->key_len = kl;
    }
    t->n++;
    return &en->value;
}

/* Capacity of a table built by table_slot: its n rounded up to the growth
 * policy (8, 16, 32, ...), which is what grow_entries allocated. */
static size_t cap_of(const dk_literal *t) {
    size_t c = 0;
    if (!t->n) return 0;
    c = 8;
    while (c < t->n) c *= 2;
    return c;
}

static dk_status config_line(parser *p, dk_literal *root, size_t line_start, size_t path_end) {
    char *key = p->keybuf;
    size_t kl = path_end - line_start, b;
    dk_literal *t = root, *slot = NULL;
    dk_status st = DK_OK;
    if (kl >= sizeof p->keybuf) return fail(p, line_start, "key longer than 511 characters");
    memcpy(key, p->t + line_start, kl);
    key[kl] = '\0';
    p->key = key;
    b = 0;
    {
        size_t parts = 1, q;
        for (q = 0; q < kl; q++) parts += key[q] == '.';
        if (parts > DK_LITERAL_MAX_DEPTH) return fail(p, line_start, "key nested more than 32 deep");
    }
    for (;;) {
        size_t e = b, cap;
        int is_int = 0;
        int64_t ki = 0;
        int last;
        while (e < kl && key[e] != '.') e++;
        last = e >= kl;
        if (e == b) return fail(p, line_start + b, "empty part in a key");
        if (key[b] == '[') {
            size_t d;
            if (key[e - 1] != ']' || e - b < 3 || e - b > 20) return fail(p, line_start + b, "malformed [index] in a key");
            for (d = b + 1; d < e - 1; d++)
                if (!is_digit(key[d])) return fail(p, line_start + b, "malformed [index] in a key");
            is_int = 1;
            ki = strtoll(key + b + 1, NULL, 10);
        }
        if (t->type != DK_LIT_TABLE) {
            if (t->type != DK_LIT_NIL) return fail(p, line_start, "the key goes through a value that is not a table");
            t->type = DK_LIT_TABLE;
        }
        cap = cap_of(t);
        slot = table_slot(p, t, is_int, ki, key + b, e - b, &cap, &st);
        if (!slot) return st;
        if (last) break;
        t = slot;
        b = e + 1;
        if (b > kl) return fail(p, line_start + e, "empty part in a key");
        if (++p->nodes > DK_LITERAL_MAX_NODES) return fail(p, line_start, "more than 1000000 values");
    }
    if (slot->type != DK_LIT_NIL) return fail(p, line_start, "the key is given twice or also holds a table");
    st = parse_value(p, slot, 1);
    if (st == DK_OK) {
        while (p->pos < p->n && (p->t[p->pos] == ' ' || p->t[p->pos] == '\t' || p->t[p->pos] == '\r')) p->pos++;
        if (p->pos < p->n && p->t[p->pos] != '\n') st = fail(p, p->pos, "unexpected text after the value");
    }
    return st;
}

dk_status dk_config_parse(const char *text, size_t len, const char *what, dk_literal **out, dk_error *err) {
    parser p = {text, len, 0, 0, what, NULL, err, ""};
    dk_literal *root;
    size_t lines = 0;
    dk_status st = DK_OK;
    *out = NULL;
    DK_TRY(check_size(text, len, what, err));
    if (!(root = calloc(1, sizeof *root))) return dk_error_set(err, DK_ENOMEM, "out of memory");
    root->type = DK_LIT_TABLE;
    while (p.pos < p.n && st == DK_OK) {
        size_t ls, pe;
        if (p.t[p.pos] == '\n') {
            p.pos++;
            continue;
        }
        if (++lines > DK_CONFIG_MAX_LINES) {
            st = fail(&p, p.pos, "more than 20000 lines");
            break;
        }
        ls = p.pos;
        p.key = NULL;
        /* path: non-space characters, then exactly " = " */
        while (p.pos < p.n && !is_space(p.t[p.pos])) p.pos++;
        pe = p.pos;
        if (pe == ls || p.n - p.pos < 3 || memcmp(p.t + p.pos, " = ", 3) != 0) {
            st = fail(&p, ls, "expected a line 'path = value'");
            break;
        }
        p.pos += 3;
        st = config_line(&p, root, ls, pe);
    }
    if (st != DK_OK) {
        dk_literal_free(root);
        return st;
    }
    *out = root;
    return DK_OK;
}
