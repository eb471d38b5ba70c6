/* plugins.c: `diffkit plugins [KIND [NAME]]` — lists every plugin the host
 * finds, with its version, summary, path and each option (name, type,
 * default, range or choices, doc), and reports .so files that were skipped. */
#include "cli.h"
#include "diffkit/diffkit.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char plugins_help[] =
    "usage: diffkit plugins [--paths] [KIND [NAME]]\n"
    "\n"
    "Lists the plugins found in the search folders: kind, name, version, summary,\n"
    "the file it came from, and each option with its type, default, range or\n"
    "choices, and doc line. KIND (model, precond, schedule, sampler) limits the\n"
    "list to one kind; KIND NAME shows one plugin (an unknown NAME suggests the\n"
    "closest ones and exits 1).\n"
    "\n"
    "Files that failed to load (no entry point, ABI or size mismatch, bad option\n"
    "table) are reported on stderr as 'skipped' lines with the reason.\n"
    "\n"
    "  --paths   also print the search folders, in search order\n"
    "\n"
    "Search order: DIFFKIT_PLUGIN_PATH (':'-separated), the build tree, the\n"
    "install tree; each folder is scanned recursively for *.so files and the\n"
    "first plugin of a (kind, name) wins.\n"
    "\n"
    "exit status: 0 listed, 1 NAME not found, 2 usage error\n";

static void print_plugin(dk_host *h, const dk_plugin *p) {
    size_t i;
    const char *path = dk_host_path_of(h, p);
    printf("%s %s %s: %s\n", dk_kind_name(p->kind), p->name, p->version, p->summary);
    printf("  path: %s\n", path ? path : "(static)");
    if (!p->n_options) {
        printf("  options: none\n");
        return;
    }
    printf("  options:\n");
    for (i = 0; i < p->n_options; i++) {
        const dk_option_spec *s = &p->options[i];
        char range[256], dflt[300];
        dk_option_range_str(s, range, sizeof range);
        if (s->default_value) snprintf(dflt, sizeof dflt, "default %s", s->default_value);
        else if (s->flags & DK_OPT_OPTIONAL) snprintf(dflt, sizeof dflt, "optional");
        else snprintf(dflt, sizeof dflt, "required");
        printf("    %-18s %-11s %-22s", s->name, dk_opt_type_name(s->type), dflt);
        if (range[0]) {
            if (s->type == DK_OPT_ENUM || s->type == DK_OPT_STRING_LIST) printf(" one of %s", range);
            else printf(" %s", range);
        }
        printf("\n      %s\n", s->doc ? s->doc : "");
    }
}

static int cmp_plugins(const void *a, const void *b) {
    const dk_plugin *p = *(const dk_plugin *const *)a, *q = *(const dk_plugin *const *)b;
    if (p->kind != q->kind) return (int)p->kind - (int)q->kind;
    return strcmp(p->name, q->name);
}

static int cmd_plugins(int argc, char **argv) {
    int i, show_paths = 0, status = 0;
    const char *kind_s = NULL, *name = NULL;
    dk_plugin_kind kind = DK_KIND_MODEL;
    dk_host *h;
    dk_error err;
    size_t n, k, m = 0;
    const dk_plugin **list;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--paths") == 0) show_paths = 1;
        else if (argv[i][0] == '-') return dk_cli_usage_error("plugins", "unknown option '%s'", argv[i]);
        else if (!kind_s) kind_s = argv[i];
        else if (!name) name = argv[i];
        else return dk_cli_usage_error("plugins", "too many arguments ('%s')", argv[i]);
    }
    if (kind_s && dk_kind_from_name(kind_s, &kind) != 0)
        return dk_cli_usage_error("plugins", "unknown plugin kind '%s': use model, precond, schedule or sampler", kind_s);
    if (!(h = dk_host_new(&err)) || dk_host_scan(h, &err) != DK_OK) {
        fprintf(stderr, "diffkit: %s\n", err.msg);
        dk_host_free(h);
        return 1;
    }
    if (show_paths) {
        printf("search folders:\n");
        for (k = 0; k < dk_host_path_count(h); k++) printf("  %s\n", dk_host_path(h, k));
        printf("\n");
    }
    if (name) {
        const dk_plugin *p = dk_host_find(h, kind, name, &err);
        if (!p) {
            fprintf(stderr, "diffkit: %s\n", err.msg);
            status = 1;
        } else {
            print_plugin(h, p);
        }
    } else {
        n = dk_host_count(h);
        list = calloc(n ? n : 1, sizeof *list);
        if (!list) {
            fputs("diffkit: out of memory\n", stderr);
            dk_host_free(h);
            return 1;
        }
        for (k = 0; k < n; k++) {
            const dk_plugin *p = dk_host_at(h, k);
            if (!kind_s || p->kind == kind) list[m++] = p;
        }
        qsort(list, m, sizeof *list, cmp_plugins);
        for (k = 0; k < m; k++) {
            if (k) printf("\n");
            print_plugin(h, list[k]);
        }
        if (m == 0) printf("no %s%splugins found (searched %zu folders; see --paths)\n", kind_s ? kind_s : "", kind_s ? " " : "",
                           dk_host_path_count(h));
        free(list);
    }
    if (!name) /* a NAME lookup already says why its own file was skipped */
        for (k = 0; k < dk_host_problem_count(h); k++) fprintf(stderr, "diffkit: skipped: %s\n", dk_host_problem(h, k));
    fflush(stdout);
    dk_host_free(h);
    return status;
}

DK_CLI_COMMAND("plugins", "list plugins with their options, defaults and docs: diffkit plugins [KIND [NAME]]",
               plugins_help, cmd_plugins)
