/* suggest.h (internal): "did you mean" suggestions by edit distance, shared
 * by the option validator (options.c) and the plugin finder (host.c). */
#ifndef DIFFKIT_SUGGEST_H
#define DIFFKIT_SUGGEST_H

#include <stddef.h>

/* Levenshtein distance between a and b (case-sensitive). */
size_t dk_edit_distance(const char *a, const char *b);

/* Collects the candidates close to `name` into buf as "'a', 'b'" (at most
 * `max` of them, closest first). A candidate is close when its edit distance
 * is at most max(2, strlen(name) / 3), or when one name is a prefix of the
 * other. Returns the number written (0 leaves buf empty). */
typedef struct dk_suggest {
    const char *name;
    size_t best[3];
    const char *cand[3];
    size_t n;
} dk_suggest;

void dk_suggest_begin(dk_suggest *s, const char *name);
void dk_suggest_offer(dk_suggest *s, const char *candidate);
size_t dk_suggest_str(const dk_suggest *s, char *buf, size_t n);

#endif
