/* safetensors.c: strict reader and atomic writer of safetensors files
 * (https://github.com/huggingface/safetensors, format description in its README).
 *
 * Layout: u64 little-endian N, N bytes of UTF-8 JSON, then the data area. The
 * JSON is an object: "__metadata__" -> flat {string: string} map (or null),
 * every other key -> {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}
 * with offsets relative to the start of the data area.
 *
 * The reader parses the header with a small hand-written JSON parser that
 * accepts exactly this structure (no recursion, so no depth limit to hit) and
 * validates, before any tensor is handed out:
 *   - the file holds at least the 8 length bytes, N <= DK_ST_MAX_HEADER and
 *     8 + N <= file size;
 *   - the JSON is well formed: UTF-8, escapes incl. \uXXXX surrogate pairs, no
 *     control characters in strings, only whitespace after the object;
 *   - no duplicate keys; tensors have exactly dtype, shape and data_offsets;
 *   - dtype is one of F32 F64 I64 I32 F16 BF16 U8 (BOOL is read as U8);
 *   - shape: at most DK_MAX_DIMS non-negative integers; numel * dtype size ==
 *     end - begin (no overflow);
 *   - the spans, sorted by begin, are non-overlapping, leave no holes and
 *     cover the data area exactly (as the reference implementation requires:
 *     a fully indexed buffer cannot hide a second payload).
 * Any violation is DK_EFORMAT naming the file and the tensor.
 *
 * The writer lays the tensors out in the order they were added, writes the
 * header with "__metadata__" first, space-padded so 8 + N is a multiple of 8,
 * and saves atomically: path.tmp.<pid>, fsync, rename over path, fsync of the
 * folder. On any failure the temporary file is removed and an existing file
 * at path is left as it was. */
#include "readfile.h"
#include "diffkit/safetensors.h"
#include "diffkit/cuda.h"
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c assumes a little-endian host (safetensors data is little-endian)"
#endif

typedef struct st_entry {
    char *name;
    dk_dtype dtype;
    int ndim;
    int64_t shape[DK_MAX_DIMS];
    uint64_t begin, end; /* relative to the data area */
} st_entry;

struct dk_st_file {
    char *label;
    unsigned char *buf; /* the whole file */
    size_t len;
    size_t data_start;  /* 8 + N */
    st_entry *ent;      /* sorted by begin */
    size_t n, cap;
    st_entry **by_name; /* pointers into ent, sorted by name */
    char **mkey, **mval;
    size_t nmeta, capmeta;
};

/* ---------------------------------------------------------------- JSON */

typedef struct jcur {
    const unsigned char *s, *p, *end;
    const char *label;
    dk_error *err;
} jcur;

static dk_status jerr(jcur *c, const char *what) {
    return dk_error_set(c->err, DK_EFORMAT, "%s: header JSON byte %zu: %s", c->label, (size_t)(c->p - c->s), what);
}

static void jws(jcur *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

/* Skips whitespace; 1 if the next byte is ch (consumed). */
static int jeat(jcur *c, unsigned char ch) {
    jws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

static dk_status jexpect(jcur *c, unsigned char ch) {
    char msg[48];
    if (jeat(c, ch)) return DK_OK;
    if (c->p >= c->end)
        snprintf(msg, sizeof msg, "expected '%c', got the end of the header", ch);
    else
        snprintf(msg, sizeof msg, "expected '%c'", ch);
    return jerr(c, msg);
}

static int hexval(unsigned char h) {
    if (h >= '0' && h <= '9') return h - '0';
    if (h >= 'a' && h <= 'f') return h - 'a' + 10;
    if (h >= 'A' && h <= 'F') return h - 'A' + 10;
    return -1;
}

static int read_hex4(jcur *c, unsigned *out) {
    unsigned v = 0;
    if (c->end - c->p < 4) return -1;
    for (int i = 0; i < 4; i++) {
        int h = hexval(c->p[i]);
        if (h < 0) return -1;
        v = v * 16 + (unsigned)h;
    }
    c->p += 4;
    *out = v;
    return 0;
}

/* Length of a valid UTF-8 sequence at p (< end), 0 if invalid. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end) {
    unsigned char b = p[0];
    size_t n;
    unsigned lo = 0x80, hi = 0xbf;
    if (b < 0x80) return 1;
    if (b >= 0xc2 && b <= 0xdf) n = 2;
    else if (b >= 0xe0 && b <= 0xef) {
        n = 3;
        if (b == 0xe0) lo = 0xa0;         /* overlong */
        if (b == 0xed) hi = 0x9f;         /* surrogates */
    } else if (b >= 0xf0 && b <= 0xf4) {
        n = 4;
        if (b == 0xf0) lo = 0x90;         /* overlong */
        if (b == 0xf4) hi = 0x8f;         /* > U+10FFFF */
    } else
        return 0;
    if ((size_t)(end - p) < n) return 0;
    if (p[1] < lo || p[1] > hi) return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xbf) return 0;
    return n;
}

static size_t utf8_put(char *o, unsigned cp) {
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Parses a JSON string into a new NUL-terminated UTF-8 buffer (*out). */
static dk_status jstring(jcur *c, char **out) {
    *out = NULL;
    jws(c);
    if (c->p >= c->end || *c->p != '"') return jerr(c, c->p >= c->end ? "expected a string, got the end of the header" : "expected a string");
    c->p++;
    /* the decoded string is never longer than the encoded one */
    const unsigned char *q = c->p;
    while (q < c->end && *q != '"') q += (*q == '\\' && q + 1 < c->end) ? 2 : 1;
    if (q >= c->end) return jerr(c, "unterminated string");
    char *o = malloc((size_t)(q - c->p) + 1);
    if (!o) return dk_error_set(c->err, DK_ENOMEM, "%s: out of memory parsing the header", c->label);
    size_t n = 0;
    for (;;) {
        if (c->p >= c->end) {
            free(o);
            return jerr(c, "unterminated string");
        }
        unsigned char b = *c->p;
        if (b == '"') {
            c->p++;
            break;
        }
        if (b < 0x20) {
            free(o);
            return jerr(c, "control character in a string (must be escaped)");
        }
        if (b == '\\') {
            if (c->end - c->p < 2) {
                free(o);
                return jerr(c, "unterminated escape");
            }
            unsigned char e = c->p[1];
            c->p += 2;
            switch (e) {
            case '"': o[n++] = '"'; break;
            case '\\': o[n++] = '\\'; break;
            case '/': o[n++] = '/'; break;
            case 'b': o[n++] = '\b'; break;
            case 'f': o[n++] = '\f'; break;
            case 'n': o[n++] = '\n'; break;
            case 'r': o[n++] = '\r'; break;
            case 't': o[n++] = '\t'; break;
            case 'u': {
                unsigned cp, lo;
                if (read_hex4(c, &cp)) {
                    free(o);
                    return jerr(c, "bad \\u escape (expected 4 hex digits)");
                }
                if (cp >= 0xd800 && cp <= 0xdbff) { /* high surrogate: a low one must follow */
                    if (c->end - c->p < 6 || c->p[0] != '\\' || c->p[1] != 'u') {
                        free(o);
                        return jerr(c, "unpaired UTF-16 surrogate in \\u escape");
                    }
                    c->p += 2;
                    if (read_hex4(c, &lo) || lo < 0xdc00 || lo > 0xdfff) {
                        free(o);
                        return jerr(c, "unpaired UTF-16 surrogate in \\u escape");
                    }
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                    free(o);
                    return jerr(c, "unpaired UTF-16 surrogate in \\u escape");
                }
                if (cp == 0) {
                    free(o);
                    return jerr(c, "\\u0000 (NUL) in a string is not supported");
                }
                n += utf8_put(o + n, cp); /* at most 4 bytes for >= 6 (or 12) input bytes */
                break;
            }
            default:
                free(o);
                return jerr(c, "unknown escape in a string");
            }
            continue;
        }
        size_t k = utf8_len(c->p, c->end);
        if (!k) {
            free(o);
            return jerr(c, "invalid UTF-8 in a string");
        }
        memcpy(o + n, c->p, k);
        n += k;
        c->p += k;
    }
    o[n] = '\0';
    *out = o;
    return DK_OK;
}

/* A JSON number that must be a non-negative integer <= INT64_MAX. */
static dk_status juint(jcur *c, const char *what, uint64_t *out) {
    char msg[160];
    jws(c);
    const unsigned char *start = c->p, *q = c->p;
    /* scan the full JSON number grammar, to report a float as such */
    if (q < c->end && *q == '-') q++;
    const unsigned char *digits = q;
    while (q < c->end && *q >= '0' && *q <= '9') q++;
    if (q == digits) {
        snprintf(msg, sizeof msg, "%s: expected a non-negative integer", what);
        return jerr(c, msg);
    }
    int is_int = *start != '-';
    if (q - digits > 1 && *digits == '0') {
        snprintf(msg, sizeof msg, "%s: number with a leading zero", what);
        return jerr(c, msg);
    }
    if (q < c->end && (*q == '.' || *q == 'e' || *q == 'E')) is_int = 0;
    if (!is_int) {
        snprintf(msg, sizeof msg, "%s: expected a non-negative integer", what);
        return jerr(c, msg);
    }
    uint64_t v = 0;
    for (const unsigned char *d = digits; d < q; d++) {
        unsigned dv = (unsigned)(*d - '0');
        if (v > ((uint64_t)INT64_MAX - dv) / 10) {
            snprintf(msg, sizeof msg, "%s: integer too large", what);
            return jerr(c, msg);
        }
        v = v * 10 + dv;
    }
    c->p = q;
    *out = v;
    return DK_OK;
}

/* ----------------------------------------------------------- the reader */

void dk_st_close(dk_st_file *f) {
    if (!f) return;
    for (size_t i = 0; i < f->n; i++) free(f->ent[i].name);
    for (size_t i = 0; i < f->nmeta; i++) {
        free(f->mkey[i]);
        free(f->mval[i]);
    }
    free(f->ent);
    free(f->by_name);
    free(f->mkey);
    free(f->mval);
    free(f->buf);
    free(f->label);
    free(f);
}

static dk_status oom(dk_st_file *f, dk_error *err) {
    return dk_error_set(err, DK_ENOMEM, "%s: out of memory reading the header", f->label);
}

static dk_status parse_metadata(dk_st_file *f, jcur *c) {
    jws(c);
    if (c->end - c->p >= 4 && memcmp(c->p, "null", 4) == 0) {
        c->p += 4;
        return DK_OK;
    }
    DK_TRY(jexpect(c, '{'));
    if (jeat(c, '}')) return DK_OK;
    for (;;) {
        char *k = NULL, *v = NULL;
        DK_TRY(jstring(c, &k));
        dk_status s = jexpect(c, ':');
        if (s == DK_OK) {
            jws(c);
            if (c->p < c->end && *c->p != '"')
                s = dk_error_set(c->err, DK_EFORMAT, "%s: __metadata__ '%s': the value must be a string", f->label, k);
            else
                s = jstring(c, &v);
        }
        if (s != DK_OK) {
            free(k);
            return s;
        }
        for (size_t i = 0; i < f->nmeta; i++) {
            if (strcmp(f->mkey[i], k) == 0) {
                dk_error_set(c->err, DK_EFORMAT, "%s: __metadata__ key '%s' appears twice", f->label, k);
                free(k);
                free(v);
                return DK_EFORMAT;
            }
        }
        if (f->nmeta == f->capmeta) {
            size_t cap = f->capmeta ? 2 * f->capmeta : 16;
            char **nk = realloc(f->mkey, cap * sizeof *nk);
            if (nk) f->mkey = nk;
            char **nv = nk ? realloc(f->mval, cap * sizeof *nv) : NULL;
            if (nv) f->mval = nv;
            if (!nk || !nv) {
                free(k);
                free(v);
                return oom(f, c->err);
            }
            f->capmeta = cap;
        }
        f->mkey[f->nmeta] = k;
        f->mval[f->nmeta] = v;
        f->nmeta++;
        if (jeat(c, ',')) continue;
        return jexpect(c, '}');
    }
}

/* Parses {"dtype":..., "shape":[...], "data_offsets":[b, e]} into e. */
static dk_status parse_tensor(dk_st_file *f, jcur *c, st_entry *e) {
    int have_dtype = 0, have_shape = 0, have_off = 0;
    char what[300];
    jws(c);
    if (c->p < c->end && *c->p != '{') {
        snprintf(what, sizeof what, "tensor '%.200s': expected an object {dtype, shape, data_offsets}", e->name);
        return jerr(c, what);
    }
    DK_TRY(jexpect(c, '{'));
    if (!jeat(c, '}')) {
        for (;;) {
            char *k = NULL;
            DK_TRY(jstring(c, &k));
            dk_status s = jexpect(c, ':');
            if (s != DK_OK) {
                free(k);
                return s;
            }
            if (strcmp(k, "dtype") == 0 && !have_dtype) {
                char *d = NULL;
                free(k);
                DK_TRY(jstring(c, &d));
                if (strcmp(d, "BOOL") == 0) {
                    e->dtype = DK_U8;
                } else if (dk_dtype_from_name(d, &e->dtype) != 0) {
                    dk_error_set(c->err, DK_EFORMAT,
                                 "%s: tensor '%s': dtype '%.40s' is not supported (F32 F64 I64 I32 F16 BF16 U8 BOOL are)",
                                 f->label, e->name, d);
                    free(d);
                    return DK_EFORMAT;
                }
                free(d);
                have_dtype = 1;
            } else if (strcmp(k, "shape") == 0 && !have_shape) {
                free(k);
                snprintf(what, sizeof what, "tensor '%.200s': shape", e->name);
                DK_TRY(jexpect(c, '['));
                e->ndim = 0;
                if (!jeat(c, ']')) {
                    for (;;) {
                        uint64_t d;
                        DK_TRY(juint(c, what, &d));
                        if (e->ndim == DK_MAX_DIMS)
                            return dk_error_set(c->err, DK_EFORMAT, "%s: tensor '%s' has more than %d dimensions", f->label,
                                                e->name, DK_MAX_DIMS);
                        e->shape[e->ndim++] = (int64_t)d;
                        if (jeat(c, ',')) continue;
                        DK_TRY(jexpect(c, ']'));
                        break;
                    }
                }
                have_shape = 1;
            } else if (strcmp(k, "data_offsets") == 0 && !have_off) {
                free(k);
                snprintf(what, sizeof what, "tensor '%.200s': data_offsets", e->name);
                DK_TRY(jexpect(c, '['));
                DK_TRY(juint(c, what, &e->begin));
                DK_TRY(jexpect(c, ','));
                DK_TRY(juint(c, what, &e->end));
                DK_TRY(jexpect(c, ']'));
                have_off = 1;
            } else {
                int dup = !strcmp(k, "dtype") || !strcmp(k, "shape") || !strcmp(k, "data_offsets");
                dk_error_set(c->err, DK_EFORMAT, "%s: tensor '%s': %s key '%.60s' (expected dtype, shape, data_offsets)",
                             f->label, e->name, dup ? "duplicate" : "unknown", k);
                free(k);
                return DK_EFORMAT;
            }
            if (jeat(c, ',')) continue;
            DK_TRY(jexpect(c, '}'));
            break;
        }
    }
    if (!have_dtype || !have_shape || !have_off)
        return dk_error_set(c->err, DK_EFORMAT, "%s: tensor '%s': missing '%s'", f->label, e->name,
                            !have_dtype ? "dtype" : !have_shape ? "shape" : "data_offsets");
    return DK_OK;
}

static int cmp_begin(const void *a, const void *b) {
    const st_entry *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int cmp_name(const void *a, const void *b) {
    return strcmp((*(st_entry *const *)a)->name, (*(st_entry *const *)b)->name);
}

static void shape_txt(const st_entry *e, char *buf, size_t n) {
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < e->ndim && k < n; i++) k += (size_t)snprintf(buf + k, n - k, i ? ", %lld" : "%lld", (long long)e->shape[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
}

/* Validates sizes and spans once the whole header is parsed. */
static dk_status validate(dk_st_file *f, dk_error *err) {
    uint64_t data_len = f->len - f->data_start;
    char sh[160];
    for (size_t i = 0; i < f->n; i++) {
        st_entry *e = &f->ent[i];
        uint64_t bytes = dk_dtype_size(e->dtype);
        int overflow = 0;
        for (int d = 0; d < e->ndim; d++) {
            uint64_t s = (uint64_t)e->shape[d];
            if (s && bytes > UINT64_MAX / s) overflow = 1;
            else bytes *= s;
        }
        if (overflow)
            bytes = UINT64_MAX;
        if (e->end < e->begin || bytes != e->end - e->begin) {
            shape_txt(e, sh, sizeof sh);
            char nb[32] = "overflow";
            if (!overflow) snprintf(nb, sizeof nb, "%llu", (unsigned long long)bytes);
            return dk_error_set(err, DK_EFORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] do not match %s %s (%s bytes)",
                                f->label, e->name, (unsigned long long)e->begin, (unsigned long long)e->end,
                                dk_dtype_name(e->dtype), sh, nb);
        }
        if (e->end > data_len)
            return dk_error_set(err, DK_EFORMAT,
                                "%s: tensor '%s': data_offsets [%llu, %llu] run past the data area (%llu bytes): file truncated?",
                                f->label, e->name, (unsigned long long)e->begin, (unsigned long long)e->end,
                                (unsigned long long)data_len);
    }
    if (f->n) qsort(f->ent, f->n, sizeof *f->ent, cmp_begin);
    uint64_t pos = 0;
    for (size_t i = 0; i < f->n; i++) {
        st_entry *e = &f->ent[i];
        if (e->begin < pos)
            return dk_error_set(err, DK_EFORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] overlap tensor '%s' [%llu, %llu]",
                                f->label, e->name, (unsigned long long)e->begin, (unsigned long long)e->end, f->ent[i - 1].name,
                                (unsigned long long)f->ent[i - 1].begin, (unsigned long long)f->ent[i - 1].end);
        if (e->begin > pos)
            return dk_error_set(err, DK_EFORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] leave a hole of %llu bytes before it",
                                f->label, e->name, (unsigned long long)e->begin, (unsigned long long)e->end,
                                (unsigned long long)(e->begin - pos));
        pos = e->end;
    }
    if (pos != data_len)
        return dk_error_set(err, DK_EFORMAT, "%s: the tensors cover %llu bytes of a %llu-byte data area (trailing bytes)",
                            f->label, (unsigned long long)pos, (unsigned long long)data_len);
    f->by_name = malloc((f->n ? f->n : 1) * sizeof *f->by_name);
    if (!f->by_name) return oom(f, err);
    for (size_t i = 0; i < f->n; i++) f->by_name[i] = &f->ent[i];
    if (f->n) qsort(f->by_name, f->n, sizeof *f->by_name, cmp_name);
    for (size_t i = 1; i < f->n; i++)
        if (strcmp(f->by_name[i]->name, f->by_name[i - 1]->name) == 0)
            return dk_error_set(err, DK_EFORMAT, "%s: tensor '%s' appears twice in the header", f->label, f->by_name[i]->name);
    return DK_OK;
}

static dk_status parse_header(dk_st_file *f, dk_error *err) {
    if (f->len < 8)
        return dk_error_set(err, DK_EFORMAT, "%s: %zu bytes: too short for a safetensors file (8-byte header length missing)",
                            f->label, f->len);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | f->buf[i];
    if (n > DK_ST_MAX_HEADER)
        return dk_error_set(err, DK_EFORMAT, "%s: header length %llu exceeds the limit of %u bytes: not a safetensors file?",
                            f->label, (unsigned long long)n, DK_ST_MAX_HEADER);
    if (n > f->len - 8)
        return dk_error_set(err, DK_EFORMAT, "%s: header length %llu runs past the end of the file (%zu bytes): file truncated?",
                            f->label, (unsigned long long)n, f->len);
    f->data_start = 8 + (size_t)n;
    jcur c = {f->buf + 8, f->buf + 8, f->buf + 8 + n, f->label, err};
    jws(&c);
    if (c.p >= c.end || *c.p != '{') return jerr(&c, "the header must be a JSON object");
    c.p++;
    int have_meta = 0;
    if (!jeat(&c, '}')) {
        for (;;) {
            char *k = NULL;
            DK_TRY(jstring(&c, &k));
            dk_status s = jexpect(&c, ':');
            if (s != DK_OK) {
                free(k);
                return s;
            }
            if (strcmp(k, "__metadata__") == 0) {
                free(k);
                if (have_meta) return dk_error_set(err, DK_EFORMAT, "%s: __metadata__ appears twice", f->label);
                have_meta = 1;
                DK_TRY(parse_metadata(f, &c));
            } else {
                if (f->n == f->cap) {
                    size_t cap = f->cap ? 2 * f->cap : 16;
                    st_entry *ne = realloc(f->ent, cap * sizeof *ne);
                    if (!ne) {
                        free(k);
                        return oom(f, err);
                    }
                    f->ent = ne;
                    f->cap = cap;
                }
                st_entry *e = &f->ent[f->n++];
                memset(e, 0, sizeof *e);
                e->name = k;
                DK_TRY(parse_tensor(f, &c, e));
            }
            if (jeat(&c, ',')) continue;
            DK_TRY(jexpect(&c, '}'));
            break;
        }
    }
    jws(&c);
    if (c.p != c.end) return jerr(&c, "unexpected bytes after the header object");
    return validate(f, err);
}

static dk_st_file *file_new(const char *label, dk_error *err) {
    dk_st_file *f = calloc(1, sizeof *f);
    if (f) f->label = strdup(label ? label : "(memory)");
    if (!f || !f->label) {
        free(f);
        dk_error_set(err, DK_ENOMEM, "%s: out of memory", label ? label : "(memory)");
        return NULL;
    }
    return f;
}

dk_st_file *dk_st_parse(const void *buf, size_t len, const char *label, dk_error *err) {
    dk_st_file *f = file_new(label, err);
    if (!f) return NULL;
    f->buf = malloc(len ? len : 1);
    if (!f->buf) {
        dk_error_set(err, DK_ENOMEM, "%s: out of memory copying %zu bytes", f->label, len);
        dk_st_close(f);
        return NULL;
    }
    if (len) memcpy(f->buf, buf, len);
    f->len = len;
    if (parse_header(f, err) != DK_OK) {
        dk_st_close(f);
        return NULL;
    }
    return f;
}

dk_st_file *dk_st_open(const char *path, dk_error *err) {
    if (!path) {
        dk_error_set(err, DK_EINVAL, "safetensors: path is NULL");
        return NULL;
    }
    dk_st_file *f = file_new(path, err);
    if (!f) return NULL;
    if (dk__read_file(path, &f->buf, &f->len, err) != DK_OK || parse_header(f, err) != DK_OK) {
        dk_st_close(f);
        return NULL;
    }
    return f;
}

size_t dk_st_count(const dk_st_file *f) { return f ? f->n : 0; }

const char *dk_st_name(const dk_st_file *f, size_t i) { return f && i < f->n ? f->ent[i].name : NULL; }

const char *dk_st_label(const dk_st_file *f) { return f ? f->label : NULL; }

static const st_entry *find(const dk_st_file *f, const char *name) {
    size_t lo = 0, hi = f ? f->n : 0;
    if (!name) return NULL;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const st_entry *e = f->by_name[mid];
        int c = strcmp(name, e->name);
        if (c == 0) return e;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

int dk_st_has(const dk_st_file *f, const char *name) { return find(f, name) != NULL; }

static dk_status not_found(const dk_st_file *f, const char *name, dk_error *err) {
    return dk_error_set(err, DK_ENOTFOUND, "%s: no tensor named '%s' (the file has %zu tensors%s%s)", f ? f->label : "(null)",
                        name ? name : "(null)", f ? f->n : 0, f && f->n ? ", e.g. " : "", f && f->n ? f->ent[0].name : "");
}

dk_status dk_st_info(const dk_st_file *f, const char *name, dk_dtype *dtype, int *ndim, int64_t shape[DK_MAX_DIMS],
                     dk_error *err) {
    const st_entry *e = find(f, name);
    if (!e) return not_found(f, name, err);
    if (dtype) *dtype = e->dtype;
    if (ndim) *ndim = e->ndim;
    if (shape)
        for (int i = 0; i < e->ndim; i++) shape[i] = e->shape[i];
    return DK_OK;
}

dk_tensor *dk_st_get(const dk_st_file *f, const char *name, dk_error *err) {
    const st_entry *e = find(f, name);
    if (!e) {
        not_found(f, name, err);
        return NULL;
    }
    dk_tensor *t = dk_tensor_new(e->dtype, e->ndim, e->shape, err);
    if (!t) {
        dk_error_prefix(err, "%s: tensor '%s'", f->label, name);
        return NULL;
    }
    if (e->end > e->begin) memcpy(t->data, f->buf + f->data_start + e->begin, (size_t)(e->end - e->begin));
    return t;
}

dk_tensor *dk_st_get_as(const dk_st_file *f, const char *name, dk_dtype dtype, dk_error *err) {
    dk_tensor *t = dk_st_get(f, name, err);
    if (!t || t->dtype == dtype) return t;
    dk_tensor *o = dk_tensor_to(t, dtype, err);
    dk_tensor_free(t);
    if (!o) dk_error_prefix(err, "%s: tensor '%s'", f->label, name);
    return o;
}

size_t dk_st_meta_count(const dk_st_file *f) { return f ? f->nmeta : 0; }
const char *dk_st_meta_key(const dk_st_file *f, size_t i) { return f && i < f->nmeta ? f->mkey[i] : NULL; }
const char *dk_st_meta_value(const dk_st_file *f, size_t i) { return f && i < f->nmeta ? f->mval[i] : NULL; }

const char *dk_st_meta(const dk_st_file *f, const char *key) {
    if (!f || !key) return NULL;
    for (size_t i = 0; i < f->nmeta; i++)
        if (strcmp(f->mkey[i], key) == 0) return f->mval[i];
    return NULL;
}

static const char *meta_req(const dk_st_file *f, const char *key, dk_error *err) {
    const char *v = dk_st_meta(f, key);
    if (!v) dk_error_set(err, DK_ENOTFOUND, "%s: no __metadata__ key '%s'", f ? f->label : "(null)", key ? key : "(null)");
    return v;
}

static int is_space(char ch) { return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r'; }

/* Parses a whole string as a double: Python repr ("0.1", "1e-05", "inf",
 * "-inf", "nan"), "true"/"false" (1/0). 0 on success. */
static int parse_double(const char *v, double *out) {
    const char *s = v;
    while (is_space(*s)) s++;
    if (!strcmp(s, "true") || !strcmp(s, "True")) return *out = 1.0, 0;
    if (!strcmp(s, "false") || !strcmp(s, "False")) return *out = 0.0, 0;
    if (!*s) return -1;
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (end == s) return -1;
    if (errno == ERANGE && fabs(d) > 1.0) return -1; /* overflow; underflow to a subnormal/0 is fine */
    while (is_space(*end)) end++;
    if (*end) return -1;
    *out = d;
    return 0;
}

dk_status dk_st_meta_double(const dk_st_file *f, const char *key, double *out, dk_error *err) {
    const char *v = meta_req(f, key, err);
    if (!v) return DK_ENOTFOUND;
    double d;
    if (parse_double(v, &d))
        return dk_error_set(err, DK_EFORMAT, "%s: __metadata__ '%s' = '%.80s' is not a number", f->label, key, v);
    *out = d;
    return DK_OK;
}

dk_status dk_st_meta_int(const dk_st_file *f, const char *key, long long *out, dk_error *err) {
    const char *v = meta_req(f, key, err);
    if (!v) return DK_ENOTFOUND;
    const char *s = v;
    while (is_space(*s)) s++;
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (end != s && errno == 0) {
        while (is_space(*end)) end++;
        if (!*end) {
            *out = x;
            return DK_OK;
        }
    }
    /* "1e3", "5.0", "true": accepted when exactly integral */
    double d;
    if (!parse_double(v, &d) && d == floor(d) && fabs(d) < 9.2e18) {
        *out = (long long)d;
        return DK_OK;
    }
    return dk_error_set(err, DK_EFORMAT, "%s: __metadata__ '%s' = '%.80s' is not an integer", f->label, key, v);
}

/* ----------------------------------------------------------- the writer */

struct dk_st_writer {
    char **name;
    dk_tensor **t;
    size_t n, cap;
    char **mkey, **mval;
    size_t nmeta, capmeta;
};

dk_st_writer *dk_st_writer_new(void) { return calloc(1, sizeof(dk_st_writer)); }

size_t dk_st_writer_count(const dk_st_writer *w) { return w ? w->n : 0; }
const char *dk_st_writer_name(const dk_st_writer *w, size_t i) { return w && i < w->n ? w->name[i] : NULL; }
const dk_tensor *dk_st_writer_tensor(const dk_st_writer *w, size_t i) { return w && i < w->n ? w->t[i] : NULL; }

void dk_st_writer_free(dk_st_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n; i++) {
        free(w->name[i]);
        dk_tensor_free(w->t[i]);
    }
    for (size_t i = 0; i < w->nmeta; i++) {
        free(w->mkey[i]);
        free(w->mval[i]);
    }
    free(w->name);
    free(w->t);
    free(w->mkey);
    free(w->mval);
    free(w);
}

/* 1 if s is valid UTF-8. */
static int utf8_valid(const char *s) {
    const unsigned char *p = (const unsigned char *)s, *end = p + strlen(s);
    while (p < end) {
        size_t k = utf8_len(p, end);
        if (!k) return 0;
        p += k;
    }
    return 1;
}

dk_status dk_st_writer_add(dk_st_writer *w, const char *name, dk_tensor *t, dk_error *err) {
    if (!w || !name || !t) return dk_error_set(err, DK_EINVAL, "safetensors writer: NULL writer, name or tensor");
    if (!*name || !strcmp(name, "__metadata__") || !utf8_valid(name))
        return dk_error_set(err, DK_EINVAL, "safetensors writer: tensor name '%s' is not allowed (empty, __metadata__ or not UTF-8)",
                            name);
    if (dk_dtype_size(t->dtype) == 0)
        return dk_error_set(err, DK_EINVAL, "safetensors writer: tensor '%s' has an unknown dtype", name);
    for (size_t i = 0; i < w->n; i++)
        if (!strcmp(w->name[i], name)) return dk_error_set(err, DK_EINVAL, "safetensors writer: tensor '%s' added twice", name);
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 16;
        char **nn = realloc(w->name, cap * sizeof *nn);
        if (nn) w->name = nn;
        dk_tensor **nt = nn ? realloc(w->t, cap * sizeof *nt) : NULL;
        if (nt) w->t = nt;
        if (!nn || !nt) return dk_error_set(err, DK_ENOMEM, "safetensors writer: out of memory");
        w->cap = cap;
    }
    /* a device tensor is copied to the host now (files are device-independent) */
    dk_tensor *h = t->device == DK_CPU ? t : dk_tensor_to_device(t, DK_CPU, err);
    if (!h) return dk_error_prefix(err, "safetensors writer: tensor '%s' to the host", name);
    char *nm = strdup(name);
    if (!nm) {
        if (h != t) dk_tensor_free(h);
        return dk_error_set(err, DK_ENOMEM, "safetensors writer: out of memory");
    }
    w->name[w->n] = nm;
    w->t[w->n] = h;
    if (h == t) dk_tensor_retain(t);
    w->n++;
    return DK_OK;
}

dk_status dk_st_writer_meta(dk_st_writer *w, const char *key, const char *value, dk_error *err) {
    if (!w || !key || !value) return dk_error_set(err, DK_EINVAL, "safetensors writer: NULL writer, key or value");
    if (!utf8_valid(key) || !utf8_valid(value))
        return dk_error_set(err, DK_EINVAL, "safetensors writer: metadata '%s' is not valid UTF-8", key);
    char *v = strdup(value);
    if (!v) return dk_error_set(err, DK_ENOMEM, "safetensors writer: out of memory");
    for (size_t i = 0; i < w->nmeta; i++) {
        if (!strcmp(w->mkey[i], key)) { /* a key set again takes the new value */
            free(w->mval[i]);
            w->mval[i] = v;
            return DK_OK;
        }
    }
    char *k = strdup(key);
    if (!k) {
        free(v);
        return dk_error_set(err, DK_ENOMEM, "safetensors writer: out of memory");
    }
    if (w->nmeta == w->capmeta) {
        size_t cap = w->capmeta ? 2 * w->capmeta : 16;
        char **nk = realloc(w->mkey, cap * sizeof *nk);
        if (nk) w->mkey = nk;
        char **nv = nk ? realloc(w->mval, cap * sizeof *nv) : NULL;
        if (nv) w->mval = nv;
        if (!nk || !nv) {
            free(k);
            free(v);
            return dk_error_set(err, DK_ENOMEM, "safetensors writer: out of memory");
        }
        w->capmeta = cap;
    }
    w->mkey[w->nmeta] = k;
    w->mval[w->nmeta] = v;
    w->nmeta++;
    return DK_OK;
}

/* A growable byte buffer for the header. */
typedef struct sbuf {
    char *p;
    size_t n, cap;
    int failed;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
    if (b->failed) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->failed = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_json_string(sbuf *b, const char *s) {
    sb_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            sb_put(b, esc, 2);
        } else if (*p < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", *p);
            sb_put(b, esc, 6);
        } else {
            sb_put(b, (const char *)p, 1);
        }
    }
    sb_put(b, "\"", 1);
}

static int write_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n) {
        ssize_t r = write(fd, c, n > ((size_t)1 << 30) ? ((size_t)1 << 30) : n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

dk_status dk_st_writer_save(dk_st_writer *w, const char *path, dk_error *err) {
    if (!w || !path) return dk_error_set(err, DK_EINVAL, "safetensors writer: NULL writer or path");
    sbuf h = {0};
    char num[96];
    uint64_t off = 0;
    sb_str(&h, "{");
    int first = 1;
    if (w->nmeta) {
        sb_str(&h, "\"__metadata__\":{");
        for (size_t i = 0; i < w->nmeta; i++) {
            if (i) sb_str(&h, ",");
            sb_json_string(&h, w->mkey[i]);
            sb_str(&h, ":");
            sb_json_string(&h, w->mval[i]);
        }
        sb_str(&h, "}");
        first = 0;
    }
    for (size_t i = 0; i < w->n; i++) {
        const dk_tensor *t = w->t[i];
        uint64_t bytes = (uint64_t)t->numel * dk_dtype_size(t->dtype);
        if (!first) sb_str(&h, ",");
        first = 0;
        sb_json_string(&h, w->name[i]);
        sb_str(&h, ":{\"dtype\":\"");
        sb_str(&h, dk_dtype_name(t->dtype));
        sb_str(&h, "\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            snprintf(num, sizeof num, d ? ",%lld" : "%lld", (long long)t->shape[d]);
            sb_str(&h, num);
        }
        snprintf(num, sizeof num, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off, (unsigned long long)(off + bytes));
        sb_str(&h, num);
        off += bytes;
    }
    sb_str(&h, "}");
    while (!h.failed && h.n % 8) sb_put(&h, " ", 1);
    if (h.failed) {
        free(h.p);
        return dk_error_set(err, DK_ENOMEM, "%s: out of memory building the header", path);
    }
    if (h.n > DK_ST_MAX_HEADER) {
        free(h.p);
        return dk_error_set(err, DK_EINVAL, "%s: header of %zu bytes exceeds the limit of %u (too many tensors or metadata)", path,
                            h.n, DK_ST_MAX_HEADER);
    }

    size_t plen = strlen(path);
    char *tmp = malloc(plen + 32);
    if (!tmp) {
        free(h.p);
        return dk_error_set(err, DK_ENOMEM, "%s: out of memory", path);
    }
    snprintf(tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());
    dk_status st = DK_OK;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        st = dk_error_set(err, DK_EIO, "%s: cannot create temporary file '%s': %s", path, tmp, strerror(errno));
        goto done;
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)h.n >> (8 * i));
    int bad = write_all(fd, len8, 8) || write_all(fd, h.p, h.n);
    for (size_t i = 0; i < w->n && !bad; i++)
        if (w->t[i]->numel) bad = write_all(fd, w->t[i]->data, w->t[i]->numel * dk_dtype_size(w->t[i]->dtype));
    if (bad) {
        st = dk_error_set(err, DK_EIO, "%s: writing '%s' failed: %s", path, tmp, strerror(errno));
    } else if (fsync(fd) != 0) {
        st = dk_error_set(err, DK_EIO, "%s: fsync of '%s' failed: %s", path, tmp, strerror(errno));
    }
    if (close(fd) != 0 && st == DK_OK) st = dk_error_set(err, DK_EIO, "%s: closing '%s' failed: %s", path, tmp, strerror(errno));
    if (st == DK_OK && rename(tmp, path) != 0)
        st = dk_error_set(err, DK_EIO, "%s: renaming '%s' over it failed: %s", path, tmp, strerror(errno));
    if (st != DK_OK) {
        unlink(tmp);
        goto done;
    }
    /* make the rename durable: fsync the folder (file systems that cannot say EINVAL/ENOTSUP) */
    {
        char *dir = strdup(path);
        if (dir) {
            char *slash = strrchr(dir, '/');
            const char *d = ".";
            if (slash == dir) d = "/";
            else if (slash) {
                *slash = '\0';
                d = dir;
            }
            int dfd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (dfd < 0 || (fsync(dfd) != 0 && errno != EINVAL && errno != ENOTSUP))
                st = dk_error_set(err, DK_EIO, "%s: fsync of the folder '%s' after the rename failed: %s", path, d,
                                  strerror(errno));
            if (dfd >= 0) close(dfd);
            free(dir);
        }
    }
done:
    free(tmp);
    free(h.p);
    return st;
}
