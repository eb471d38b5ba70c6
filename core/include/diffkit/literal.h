/* literal.h: a strict parser for the Lua literals diffkit writes, as data.
 *
 * Stored configs (checkpoint metadata "config", run folders' config.txt) and
 * the paper table's metrics.lua files are text that diffkit wrote; they are
 * read back with this parser, never with Lua's load(), so a hostile file can
 * neither run code nor hang the reader (docs/reliability.md).
 *
 * Accepted values (nothing else):
 *   nil, true, false
 *   numbers: decimal integers ("42", "-7": an integer when it fits int64,
 *            else a float), decimal floats ("0.5", "-1e-3", "1E+20"),
 *            inf, -inf, nan, -nan (as Lua's %.17g and tostring write them)
 *   strings: "..." or '...' with Lua's escapes \a \b \f \n \r \t \v \\ \" \'
 *            \<newline> \ddd (<= 255) \xXX \z \u{XXXX}
 *   tables:  { v, v, k = v, ["k"] = v, [3] = v } (',' or ';' separators,
 *            keys: identifiers, strings or integers)
 * Limits: nesting depth DK_LITERAL_MAX_DEPTH, text size DK_LITERAL_MAX_TEXT,
 * entries in all DK_LITERAL_MAX_NODES. Errors name the line and column and,
 * for config text, the key.
 *
 * Config text (Experiment.config_text): "path = value" lines, path parts
 * separated by '.', integer keys as "[3]"; dk_config_parse builds the nested
 * table. "<function>" and other unreadable values are errors naming the key. */
#ifndef DIFFKIT_LITERAL_H
#define DIFFKIT_LITERAL_H

#include <stddef.h>
#include <stdint.h>
#include "diffkit/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DK_LITERAL_MAX_DEPTH 32
#define DK_LITERAL_MAX_TEXT ((size_t)16 << 20)
#define DK_LITERAL_MAX_NODES 1000000

typedef enum dk_literal_type {
    DK_LIT_NIL,
    DK_LIT_BOOL,
    DK_LIT_INT,
    DK_LIT_FLOAT,
    DK_LIT_STRING,
    DK_LIT_TABLE
} dk_literal_type;

typedef struct dk_literal dk_literal;
typedef struct dk_literal_entry dk_literal_entry;

struct dk_literal {
    dk_literal_type type;
    int b;          /* BOOL */
    int64_t i;      /* INT */
    double f;       /* FLOAT */
    char *s;        /* STRING: NUL-terminated, may hold NULs (len) */
    size_t len;     /* STRING */
    size_t n;       /* TABLE: entries, in the order read */
    dk_literal_entry *e;
};

struct dk_literal_entry {
    int key_is_int;  /* 1: key_int, 0: key_str */
    int64_t key_int;
    char *key_str;
    size_t key_len;
    dk_literal value;
};

/* Parses one literal from text[0, len) (surrounding whitespace allowed).
 * `what` names the source in errors ("checkpoint 'x' config"); may be NULL.
 * On success *out is a new tree: free it with dk_literal_free. */
dk_status dk_literal_parse(const char *text, size_t len, const char *what, dk_literal **out, dk_error *err);

/* Parses config text ("path = value" lines) into a table. */
dk_status dk_config_parse(const char *text, size_t len, const char *what, dk_literal **out, dk_error *err);

void dk_literal_free(dk_literal *v);

#ifdef __cplusplus
}
#endif
#endif
