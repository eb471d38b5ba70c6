/* suggest.c: edit distance and "did you mean" candidate collection, used by
 * the option validator and the plugin finder for their error messages. */
#include "suggest.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t dk_edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    size_t row_small[65];
    size_t *row = lb < 64 ? row_small : malloc((lb + 1) * sizeof *row);
    size_t j, i, d;
    if (!row) return la > lb ? la : lb;
    for (j = 0; j <= lb; j++) row[j] = j;
    for (i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t best = diag + cost;
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    d = row[lb];
    if (row != row_small) free(row);
    return d;
}

void dk_suggest_begin(dk_suggest *s, const char *name) {
    memset(s, 0, sizeof *s);
    s->name = name;
}

static int is_prefix(const char *p, const char *s) {
    size_t n = strlen(p);
    return n > 0 && strncmp(p, s, n) == 0;
}

void dk_suggest_offer(dk_suggest *s, const char *candidate) {
    size_t len = strlen(s->name), limit = len / 3 < 2 ? 2 : len / 3, d, i, k;
    if (!candidate || !candidate[0]) return;
    d = dk_edit_distance(s->name, candidate);
    if (d > limit && !is_prefix(s->name, candidate) && !is_prefix(candidate, s->name)) return;
    for (i = 0; i < s->n; i++)
        if (strcmp(s->cand[i], candidate) == 0) return;
    /* insert sorted by distance, keep at most 3 */
    for (i = 0; i < s->n && s->best[i] <= d; i++) {}
    if (i >= 3) return;
    k = s->n < 3 ? s->n : 2;
    for (; k > i; k--) {
        s->best[k] = s->best[k - 1];
        s->cand[k] = s->cand[k - 1];
    }
    s->best[i] = d;
    s->cand[i] = candidate;
    if (s->n < 3) s->n++;
}

size_t dk_suggest_str(const dk_suggest *s, char *buf, size_t n) {
    size_t i, used = 0;
    if (n) buf[0] = '\0';
    for (i = 0; i < s->n && used < n; i++) {
        int w = snprintf(buf + used, n - used, "%s'%s'", i ? ", " : "", s->cand[i]);
        if (w < 0) break;
        used += (size_t)w;
    }
    return s->n;
}
