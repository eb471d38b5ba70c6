/* verify.c: `diffkit verify FILE...` and the framework of verify.h —
 * section registration, dispatch on a golden file's __metadata__ `section`,
 * tensor comparison with per-tensor error lines, and the per-file summary.
 * The section checkers themselves live in lua/cli/verify/<section>.c. */
#include "cli.h"
#include "verify.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static dk_verify_section *sections = NULL;

void dk_verify_register(dk_verify_section *s) {
    dk_verify_section **at = &sections;
    while (*at && strcmp((*at)->section, s->section) < 0) at = &(*at)->next;
    s->next = *at;
    *at = s;
}

const dk_verify_section *dk_verify_find(const char *section) {
    const dk_verify_section *s;
    for (s = sections; s; s = s->next)
        if (strcmp(s->section, section) == 0) return s;
    return NULL;
}

/* ---- comparisons -------------------------------------------------------- */

/* Shape of want as "[3, 4]" and the multi-index of flat i as "[0, 2]". */
static void index_str(const dk_tensor *t, size_t i, char *buf, size_t n) {
    size_t idx[DK_MAX_DIMS], used = 0;
    int d;
    for (d = t->ndim - 1; d >= 0; d--) {
        idx[d] = t->shape[d] ? i % (size_t)t->shape[d] : 0;
        i = t->shape[d] ? i / (size_t)t->shape[d] : 0;
    }
    used += (size_t)snprintf(buf, n, "[");
    for (d = 0; d < t->ndim && used < n; d++) used += (size_t)snprintf(buf + used, n - used, "%s%zu", d ? ", " : "", idx[d]);
    if (used < n) snprintf(buf + used, n - used, "]");
}

typedef double (*getter)(const void *src, size_t i);
static double get_tensor(const void *src, size_t i) { return dk_tensor_get(src, i); }
static double get_array(const void *src, size_t i) { return ((const double *)src)[i]; }

static int compare(dk_verify *v, const char *name, const void *got, getter get, const dk_tensor *want, double atol,
                   double rtol) {
    size_t i, bad = (size_t)-1, n_bad = 0;
    double max_abs = 0, max_rel = 0;
    char shape[96], where[96];
    int ok;
    for (i = 0; i < want->numel; i++) {
        double g = get(got, i), w = dk_tensor_get(want, i);
        double d, r;
        int pass;
        if (!isfinite(g) || !isfinite(w)) {
            pass = (isnan(g) && isnan(w)) || g == w;
            d = pass ? 0 : INFINITY;
            r = d;
        } else {
            d = fabs(g - w);
            r = w != 0 ? d / fabs(w) : (d == 0 ? 0 : INFINITY);
            pass = d <= atol + rtol * fabs(w);
        }
        if (d > max_abs) max_abs = d;
        if (r > max_rel) max_rel = r;
        if (!pass) {
            if (bad == (size_t)-1) bad = i;
            n_bad++;
        }
    }
    ok = n_bad == 0;
    v->n_checked++;
    if (!ok) v->n_failed++;
    printf("  %s %s  max abs %.3g  max rel %.3g  tol abs %g + rel %g  %s", name, dk_shape_str(want, shape, sizeof shape), max_abs,
           max_rel, atol, rtol, ok ? "ok" : "FAIL");
    if (!ok) {
        index_str(want, bad, where, sizeof where);
        printf(" (%zu of %zu elements; first at %s: got %.17g, want %.17g)", n_bad, want->numel, where, get(got, bad),
               dk_tensor_get(want, bad));
    }
    printf("\n");
    return ok;
}

int dk_verify_compare(dk_verify *v, const char *name, const dk_tensor *got, const dk_tensor *want, double atol, double rtol) {
    char gs[96], ws[96];
    if (!got || !want || got->numel != want->numel) {
        v->n_checked++;
        v->n_failed++;
        printf("  %s  FAIL: got shape %s, want %s\n", name, got ? dk_shape_str(got, gs, sizeof gs) : "(none)",
               want ? dk_shape_str(want, ws, sizeof ws) : "(none)");
        return 0;
    }
    return compare(v, name, got, get_tensor, want, atol, rtol);
}

int dk_verify_compare_f64(dk_verify *v, const char *name, const double *got, const dk_tensor *want, double atol, double rtol) {
    if (!got || !want) {
        v->n_checked++;
        v->n_failed++;
        printf("  %s  FAIL: nothing to compare\n", name);
        return 0;
    }
    return compare(v, name, got, get_array, want, atol, rtol);
}

void dk_verify_check(dk_verify *v, int ok, const char *fmt, ...) {
    va_list ap;
    v->n_checked++;
    if (!ok) v->n_failed++;
    printf("  ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("  %s\n", ok ? "ok" : "FAIL");
}

/* ---- metadata ----------------------------------------------------------- */

dk_status dk_verify_meta_double(dk_verify *v, const char *key, double *out, dk_error *err) {
    if (!dk_st_meta(v->file, key))
        return dk_error_set(err, DK_ENOTFOUND, "%s: metadata key '%s' is missing: regenerate the file with the reference dumper",
                            v->path, key);
    return dk_st_meta_double(v->file, key, out, err);
}

dk_status dk_verify_meta_int(dk_verify *v, const char *key, long long *out, dk_error *err) {
    if (!dk_st_meta(v->file, key))
        return dk_error_set(err, DK_ENOTFOUND, "%s: metadata key '%s' is missing: regenerate the file with the reference dumper",
                            v->path, key);
    return dk_st_meta_int(v->file, key, out, err);
}

const char *dk_verify_meta_str(dk_verify *v, const char *key, dk_error *err) {
    const char *s = dk_st_meta(v->file, key);
    if (!s)
        dk_error_set(err, DK_ENOTFOUND, "%s: metadata key '%s' is missing: regenerate the file with the reference dumper", v->path,
                     key);
    return s;
}

dk_tensor *dk_verify_get(dk_verify *v, const char *name, dk_dtype dtype, dk_error *err) {
    if (!dk_st_has(v->file, name)) {
        dk_error_set(err, DK_ENOTFOUND, "%s: tensor '%s' is missing: regenerate the file with the reference dumper", v->path, name);
        return NULL;
    }
    return dk_st_get_as(v->file, name, dtype, err);
}

/* ---- the command -------------------------------------------------------- */

static const char verify_help[] =
    "usage: diffkit verify [-v] FILE...\n"
    "\n"
    "Checks diffkit against reference outputs. Each FILE is a safetensors file\n"
    "whose __metadata__ key 'section' names what it holds (see\n"
    "tests/data/golden/FORMAT.md); the matching checker recomputes every tensor\n"
    "with diffkit's plugins and compares, printing one line per tensor:\n"
    "\n"
    "  name [shape]  max abs 1.2e-15  max rel 3.4e-16  tol abs 0 + rel 1e-12  ok\n"
    "\n"
    "and a summary per file. Files written by tools/ from a PyTorch reference\n"
    "can be checked the same way.\n"
    "\n"
    "  -v   verbose: checkers print extra detail\n"
    "\n"
    "exit status: 0 every check passed, 1 a check failed or a file could not be\n"
    "             read, 2 usage error\n";

static void list_sections(char *buf, size_t n) {
    const dk_verify_section *s;
    size_t used = 0;
    buf[0] = '\0';
    for (s = sections; s && used < n; s = s->next) {
        int w = snprintf(buf + used, n - used, "%s%s", used ? ", " : "", s->section);
        if (w < 0) break;
        used += (size_t)w;
    }
    if (!sections) snprintf(buf, n, "(none built in)");
}

static int verify_file(const char *path, dk_host *host, int verbose) {
    dk_verify v;
    dk_error err;
    const char *section;
    const dk_verify_section *s;
    char known[512];
    dk_status st;
    memset(&v, 0, sizeof v);
    v.path = path;
    v.host = host;
    v.verbose = verbose;
    printf("%s\n", path);
    fflush(stdout);
    if (!(v.file = dk_st_open(path, &err))) {
        fflush(stdout);
        fprintf(stderr, "diffkit: %s\n", err.msg);
        return 0;
    }
    section = dk_st_meta(v.file, "section");
    if (!section) {
        fflush(stdout);
        list_sections(known, sizeof known);
        fprintf(stderr, "diffkit: %s has no __metadata__ key 'section': it is not a verify file (known sections: %s)\n", path,
                known);
        dk_st_close(v.file);
        return 0;
    }
    s = dk_verify_find(section);
    if (!s) {
        fflush(stdout);
        list_sections(known, sizeof known);
        fprintf(stderr, "diffkit: %s: unknown section '%s' (known sections: %s)\n", path, section, known);
        dk_st_close(v.file);
        return 0;
    }
    st = s->fn(&v, &err);
    fflush(stdout);
    if (st != DK_OK) {
        fprintf(stderr, "diffkit: %s (section %s): %s\n", path, section, err.msg);
        printf("%s: section %s: error after %d checks\n", path, section, v.n_checked);
        dk_st_close(v.file);
        return 0;
    }
    printf("%s: section %s: %d checks, %d failed: %s\n", path, section, v.n_checked, v.n_failed,
           v.n_failed == 0 && v.n_checked > 0 ? "ok" : "FAIL");
    dk_st_close(v.file);
    return v.n_failed == 0 && v.n_checked > 0;
}

static int cmd_verify(int argc, char **argv) {
    int i, verbose = 0, n_files = 0, n_ok = 0;
    dk_host *host;
    dk_error err;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0) verbose = 1;
        else if (strcmp(argv[i], "--") == 0) break;
        else if (argv[i][0] == '-') return dk_cli_usage_error("verify", "unknown option '%s'", argv[i]);
    }
    for (i = 1; i < argc; i++)
        if (argv[i][0] != '-') n_files++;
    if (!n_files) return dk_cli_usage_error("verify", "no FILE given");
    if (!(host = dk_host_new(&err))) {
        fprintf(stderr, "diffkit: %s\n", err.msg);
        return 1;
    }
    n_files = 0;
    for (i = 1; i < argc; i++) {
        if (argv[i][0] == '-' && strcmp(argv[i], "-") != 0) continue;
        n_files++;
        n_ok += verify_file(argv[i], host, verbose);
    }
    if (n_files > 1) printf("%d of %d files passed\n", n_ok, n_files);
    dk_host_free(host);
    return n_ok == n_files ? 0 : 1;
}

DK_CLI_COMMAND("verify", "check diffkit against reference files: diffkit verify FILE...", verify_help, cmd_verify)
