/* components_common.h: helpers shared by the verify checkers of the
 * schedules, discrete, precond and densities sections: comma lists from
 * metadata, options from a case's metadata keys, and plugin instances made
 * through the host (so verify tests the real plugins). */
#ifndef DK_VERIFY_COMPONENTS_COMMON_H
#define DK_VERIFY_COMPONENTS_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "verify.h"

/* Splits "a,b,[c]" (brackets and spaces ignored) into at most max items of
 * up to 127 characters; returns the count. */
static inline int vc_split(const char *list, char items[][128], int max) {
    int n = 0;
    const char *p = list;
    while (*p && n < max) {
        while (*p == ' ' || *p == '[' || *p == ',') p++;
        if (!*p || *p == ']') break;
        size_t k = 0;
        while (*p && *p != ',' && *p != ']') {
            if (*p != ' ' && k < 127) items[n][k++] = *p;
            p++;
        }
        items[n][k] = '\0';
        if (k) n++;
    }
    return n;
}

/* Sets every metadata key "<prefix>.<opt>" as option <opt>, skipping the
 * names in `skip` (NULL-terminated). */
static inline dk_status vc_set_options(dk_verify *v, dk_options *o, const char *prefix, const char *const *skip,
                                       dk_error *err) {
    size_t plen = strlen(prefix);
    for (size_t i = 0; i < dk_st_meta_count(v->file); i++) {
        const char *key = dk_st_meta_key(v->file, i);
        if (strncmp(key, prefix, plen) != 0 || key[plen] != '.') continue;
        const char *opt = key + plen + 1;
        int skipped = 0;
        for (const char *const *s = skip; s && *s; s++)
            if (strcmp(*s, opt) == 0) skipped = 1;
        if (skipped) continue;
        if (dk_options_set(o, opt, dk_st_meta_value(v->file, i), err) != DK_OK)
            return dk_error_prefix(err, "%s: case '%s'", v->path, prefix);
    }
    return DK_OK;
}

/* Finds plugin kind/name, or fills err. */
static inline const dk_plugin *vc_find(dk_verify *v, dk_plugin_kind kind, const char *name, dk_error *err) {
    const dk_plugin *p = dk_host_find(v->host, kind, name, err);
    if (!p) dk_error_prefix(err, "%s", v->path);
    return p;
}

/* Creates an instance from options (consumed: freed here). */
static inline dk_instance *vc_create(dk_verify *v, const dk_plugin *p, dk_options *o, dk_error *err) {
    dk_instance *inst = NULL;
    dk_status st = dk_instance_create(p, o, DK_F64, 0, &inst, err);
    dk_options_free(o);
    if (st != DK_OK) {
        dk_error_prefix(err, "%s", v->path);
        return NULL;
    }
    return inst;
}

#endif
