/* verify.h: the framework behind `diffkit verify FILE...`.
 *
 * A golden file's `__metadata__` key `section` selects a checker (schedules,
 * discrete, precond, densities, gmm_check, sampler, dit, hdit). Each checker
 * lives in lua/cli/verify/<section>.c and registers itself with
 * DK_VERIFY_SECTION. Checkers read every shape, option and parameter from the
 * file, never hard-code them, and compare with dk_verify_compare, which prints
 * the max abs and rel error per tensor. */
#ifndef DIFFKIT_CLI_VERIFY_H
#define DIFFKIT_CLI_VERIFY_H

#include "diffkit/diffkit.h"

typedef struct dk_verify {
    const char *path;      /* the file being checked */
    dk_st_file *file;
    dk_host *host;         /* to find plugins by name */
    int n_checked;
    int n_failed;
    int verbose;
} dk_verify;

/* Elementwise |got - want| <= atol + rtol*|want| (both finite, or identical
 * non-finite). Prints one line: name, shape, max abs err, max rel err,
 * tolerance, ok/FAIL (with the first mismatching index). Returns 1 on pass. */
int dk_verify_compare(dk_verify *v, const char *name, const dk_tensor *got,
                      const dk_tensor *want, double atol, double rtol);
/* Same with got as a plain double array of want->numel values. */
int dk_verify_compare_f64(dk_verify *v, const char *name, const double *got,
                          const dk_tensor *want, double atol, double rtol);
/* A check that is not a tensor comparison (e.g. noise slices consumed). */
void dk_verify_check(dk_verify *v, int ok, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Metadata helpers: DK_ENOTFOUND / DK_EFORMAT with the key and file named. */
dk_status dk_verify_meta_double(dk_verify *v, const char *key, double *out, dk_error *err);
dk_status dk_verify_meta_int(dk_verify *v, const char *key, long long *out, dk_error *err);
const char *dk_verify_meta_str(dk_verify *v, const char *key, dk_error *err);
/* A tensor from the file converted to dtype; NULL + err if missing. */
dk_tensor *dk_verify_get(dk_verify *v, const char *name, dk_dtype dtype, dk_error *err);

typedef dk_status (*dk_verify_fn)(dk_verify *v, dk_error *err);
typedef struct dk_verify_section {
    const char *section;
    dk_verify_fn fn;
    struct dk_verify_section *next;
} dk_verify_section;

void dk_verify_register(dk_verify_section *s);
const dk_verify_section *dk_verify_find(const char *section);

#define DK_VERIFY_SECTION(NAME, FN)                                              \
    static dk_verify_section dk__vsec_##FN = {NAME, FN, 0};                      \
    __attribute__((constructor)) static void dk__vreg_##FN(void) { dk_verify_register(&dk__vsec_##FN); }

#endif
