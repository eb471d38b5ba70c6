/* host.c: the plugin host — finds plugin shared objects, loads and validates
 * their descriptors, looks them up by kind and name, and creates instances.
 *
 * Search order (host.h): folders added with dk_host_add_path, each folder of
 * DIFFKIT_PLUGIN_PATH (':'-separated), the build tree (DIFFKIT_BUILD_PLUGIN_DIR)
 * and the install tree (DIFFKIT_INSTALL_PLUGIN_DIR). Folders are scanned
 * recursively (sorted, so the order is reproducible) for *.so files; the
 * first plugin of a (kind, name) wins. A file that fails to load or validate
 * is remembered as a "problem" with its one-line error and skipped.
 *
 * Validation order (plugin.h): entry point, then abi_version and struct_size
 * (reported together when they differ, before anything else is read), then
 * kind, name, vtable size and required slots, then the option table, whose
 * defaults must parse and lie in range. */
#include "diffkit/host.h"
#include "suggest.h"
#include "diffkit/log.h"
#include <ctype.h>
#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef DIFFKIT_BUILD_PLUGIN_DIR
#define DIFFKIT_BUILD_PLUGIN_DIR ""
#endif
#ifndef DIFFKIT_INSTALL_PLUGIN_DIR
#define DIFFKIT_INSTALL_PLUGIN_DIR ""
#endif

#define DK_SCAN_MAX_DEPTH 8

typedef struct host_entry {
    const dk_plugin *plugin;
    char *path;
    void *handle;
} host_entry;

struct dk_host {
    char **added;        /* dk_host_add_path folders */
    size_t n_added;
    char **paths;        /* the effective search folders (filled by scan) */
    size_t n_paths;
    char **seen;         /* real paths of .so files already looked at */
    size_t n_seen;
    host_entry *entries;
    size_t n_entries;
    char **problems;
    size_t n_problems;
    int scanned;
};

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static int push_str(char ***arr, size_t *n, const char *s) {
    char **grown = realloc(*arr, (*n + 1) * sizeof *grown);
    char *c;
    if (!grown) return -1;
    *arr = grown;
    if (!(c = dup_str(s))) return -1;
    grown[(*n)++] = c;
    return 0;
}

static void free_strs(char **arr, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) free(arr[i]);
    free(arr);
}

dk_host *dk_host_new(dk_error *err) {
    dk_host *h = calloc(1, sizeof *h);
    if (!h) dk_error_set(err, DK_ENOMEM, "out of memory creating the plugin host");
    return h;
}

void dk_host_free(dk_host *h) {
    size_t i;
    if (!h) return;
    for (i = 0; i < h->n_entries; i++) {
        free(h->entries[i].path);
        if (h->entries[i].handle) dlclose(h->entries[i].handle);
    }
    free(h->entries);
    free_strs(h->added, h->n_added);
    free_strs(h->paths, h->n_paths);
    free_strs(h->seen, h->n_seen);
    free_strs(h->problems, h->n_problems);
    free(h);
}

dk_status dk_host_add_path(dk_host *h, const char *dir, dk_error *err) {
    if (!h || !dir || !dir[0]) return dk_error_set(err, DK_EINVAL, "dk_host_add_path: empty folder name");
    if (push_str(&h->added, &h->n_added, dir)) return dk_error_set(err, DK_ENOMEM, "out of memory adding plugin folder '%s'", dir);
    h->scanned = 0; /* rescan picks the new folder up */
    return DK_OK;
}

/* ---- validation --------------------------------------------------------- */

static size_t vtable_min_size(dk_plugin_kind k) {
    /* The sizes of ABI 1's vtables: a plugin's vtable may be larger (newer),
     * never smaller. */
    switch (k) {
    case DK_KIND_MODEL: return sizeof(dk_model_vtable);
    case DK_KIND_PRECOND: return sizeof(dk_precond_vtable);
    case DK_KIND_SCHEDULE: return sizeof(dk_schedule_vtable);
    case DK_KIND_SAMPLER: return sizeof(dk_sampler_vtable);
    }
    return 0;
}

static int valid_ident(const char *s, int allow_dash) {
    if (!s || !s[0]) return 0;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_' || *s == '.' || (allow_dash && *s == '-'))) return 0;
    return 1;
}

static dk_status check_slots(const dk_plugin *p, const char *where, dk_error *err) {
    const char *missing = NULL;
    switch (p->kind) {
    case DK_KIND_SCHEDULE: {
        const dk_schedule_vtable *v = p->vtable;
        if (!v->create) missing = "create";
        else if (!v->destroy) missing = "destroy";
        else if (!v->sigmas && !v->density) missing = "sigmas or density (at least one)";
        break;
    }
    case DK_KIND_PRECOND: {
        const dk_precond_vtable *v = p->vtable;
        if (!v->create) missing = "create";
        else if (!v->destroy) missing = "destroy";
        else if (!v->scalings) missing = "scalings";
        break;
    }
    case DK_KIND_SAMPLER: {
        const dk_sampler_vtable *v = p->vtable;
        if (!v->create) missing = "create";
        else if (!v->destroy) missing = "destroy";
        else if (!v->sample) missing = "sample";
        break;
    }
    case DK_KIND_MODEL: {
        const dk_model_vtable *v = p->vtable;
        if (!v->create) missing = "create";
        else if (!v->destroy) missing = "destroy";
        else if (!v->forward) missing = "forward";
        break;
    }
    }
    if (missing)
        return dk_error_set(err, DK_EINVAL, "plugin %s (%s '%s'): vtable slot %s is NULL: implement it",
                            where, dk_kind_name(p->kind), p->name, missing);
    return DK_OK;
}

static dk_status check_options(const dk_plugin *p, const char *where, dk_error *err) {
    size_t i, j;
    dk_options *o;
    const char *kind = dk_kind_name(p->kind);
    if (p->n_options && !p->options)
        return dk_error_set(err, DK_EINVAL, "plugin %s (%s '%s'): n_options is %zu but options is NULL: fix its option table",
                            where, kind, p->name, p->n_options);
    for (i = 0; i < p->n_options; i++) {
        const dk_option_spec *s = &p->options[i];
        const char *bad = NULL;
        if (!valid_ident(s->name, 0)) bad = "its name is empty or not an identifier";
        else if (s->type < DK_OPT_BOOL || s->type > DK_OPT_FUNCTION) bad = "its type is not a dk_opt_type";
        else if (!s->doc) bad = "it has no doc line";
        else if ((s->type == DK_OPT_ENUM) && (!s->choices || !s->choices[0])) bad = "an enum needs choices \"a|b|c\"";
        else if (isnan(s->min) || isnan(s->max) || s->min > s->max) bad = "its range has min > max or a NaN";
        else if (s->type == DK_OPT_FUNCTION && s->default_value) bad = "a function option cannot have a text default";
        if (!bad)
            for (j = 0; j < i; j++)
                if (p->options[j].name && strcmp(p->options[j].name, s->name) == 0) bad = "its name is declared twice";
        if (bad)
            return dk_error_set(err, DK_EINVAL, "plugin %s (%s '%s'): option table entry %zu ('%s'): %s: fix its option table",
                                where, kind, p->name, i, s->name ? s->name : "(null)", bad);
    }
    /* Every default must parse and lie in range. */
    if (!(o = dk_options_new(p))) return dk_error_set(err, DK_ENOMEM, "out of memory validating plugin %s", where);
    for (i = 0; i < p->n_options; i++) {
        const dk_option_spec *s = &p->options[i];
        dk_error e;
        if (!s->default_value) continue;
        if (dk_options_set(o, s->name, s->default_value, &e) != DK_OK) {
            dk_options_free(o);
            return dk_error_set(err, DK_EINVAL, "plugin %s (%s '%s'): the default '%s' of option '%s' is invalid (%s): fix its option table",
                                where, kind, p->name, s->default_value, s->name, e.msg);
        }
    }
    dk_options_free(o);
    return DK_OK;
}

dk_status dk_plugin_validate(const dk_plugin *p, const char *where, dk_error *err) {
    uint32_t vsize;
    if (!where) where = "(static)";
    if (!p) return dk_error_set(err, DK_EINVAL, "plugin %s: its entry point returned NULL: return a pointer to a static dk_plugin", where);
    /* ABI version and size first: nothing else may be read before. */
    if (p->abi_version != DK_PLUGIN_ABI_VERSION || p->struct_size != sizeof(dk_plugin))
        return dk_error_set(err, DK_EABI,
                            "plugin %s was built for diffkit plugin ABI %u (descriptor size %u), this host has ABI %u (size %zu): rebuild it against this diffkit",
                            where, (unsigned)p->abi_version, (unsigned)p->struct_size, DK_PLUGIN_ABI_VERSION, sizeof(dk_plugin));
    if (p->kind < DK_KIND_MODEL || p->kind > DK_KIND_SAMPLER)
        return dk_error_set(err, DK_EINVAL, "plugin %s: kind %d is not one of model (1), precond (2), schedule (3), sampler (4): fix its descriptor",
                            where, (int)p->kind);
    if (!valid_ident(p->name, 1))
        return dk_error_set(err, DK_EINVAL, "plugin %s: its name '%s' is empty or has characters other than letters, digits, '_', '-', '.': fix its descriptor",
                            where, p->name ? p->name : "(null)");
    if (!p->version || !p->summary)
        return dk_error_set(err, DK_EINVAL, "plugin %s (%s '%s'): version and summary must be set: fix its descriptor",
                            where, dk_kind_name(p->kind), p->name);
    if (!p->vtable)
        return dk_error_set(err, DK_EINVAL, "plugin %s (%s '%s'): vtable is NULL: point it at a dk_%s_vtable",
                            where, dk_kind_name(p->kind), p->name, dk_kind_name(p->kind));
    vsize = *(const uint32_t *)p->vtable;
    if (vsize < vtable_min_size(p->kind))
        return dk_error_set(err, DK_EABI,
                            "plugin %s (%s '%s'): its dk_%s_vtable has struct_size %u, this host needs at least %zu: set struct_size = sizeof(dk_%s_vtable) and rebuild",
                            where, dk_kind_name(p->kind), p->name, dk_kind_name(p->kind), (unsigned)vsize,
                            vtable_min_size(p->kind), dk_kind_name(p->kind));
    DK_TRY(check_slots(p, where, err));
    return check_options(p, where, err);
}

dk_status dk_plugin_load_file(const char *path, const dk_plugin **out, void **handle, dk_error *err) {
    void *hd;
    void *sym;
    dk_plugin_entry_fn entry;
    const dk_plugin *p;
    dk_status st;
    *out = NULL;
    if (handle) *handle = NULL;
    /* Read the file as data first: dlopen runs its constructors. */
    DK_TRY(dk_elf_check_plugin(path, err));
    dlerror();
    hd = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!hd) {
        const char *e = dlerror();
        return dk_error_set(err, DK_EIO, "cannot load plugin %s: %s: rebuild it or remove it from the plugin path",
                            path, e ? e : "unknown dlopen error");
    }
    dlerror();
    sym = dlsym(hd, DK_PLUGIN_ENTRY);
    if (!sym) {
        dlclose(hd);
        return dk_error_set(err, DK_EFORMAT,
                            "plugin %s has no entry point '%s': it is not a diffkit plugin (export `const dk_plugin *%s(void)` with DK_PLUGIN_EXPORT)",
                            path, DK_PLUGIN_ENTRY, DK_PLUGIN_ENTRY);
    }
    /* POSIX guarantees that a data pointer from dlsym converts to a function pointer. */
    memcpy(&entry, &sym, sizeof entry);
    p = entry();
    st = dk_plugin_validate(p, path, err);
    if (st != DK_OK) {
        dlclose(hd);
        return st;
    }
    *out = p;
    if (handle) *handle = hd;
    return DK_OK;
}

/* ---- scanning ----------------------------------------------------------- */

static int add_problem(dk_host *h, const char *msg) {
    return push_str(&h->problems, &h->n_problems, msg);
}

static int seen_before(dk_host *h, const char *real) {
    size_t i;
    for (i = 0; i < h->n_seen; i++)
        if (strcmp(h->seen[i], real) == 0) return 1;
    return 0;
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static void consider_file(dk_host *h, const char *path) {
    char real[PATH_MAX];
    const dk_plugin *p;
    void *hd;
    dk_error e;
    size_t i;
    host_entry *grown;
    if (!realpath(path, real)) return;
    if (seen_before(h, real)) return;
    push_str(&h->seen, &h->n_seen, real);
    if (dk_plugin_load_file(path, &p, &hd, &e) != DK_OK) {
        add_problem(h, e.msg);
        return;
    }
    for (i = 0; i < h->n_entries; i++) {
        const dk_plugin *q = h->entries[i].plugin;
        if (q->kind == p->kind && strcmp(q->name, p->name) == 0) {
            dk_error note;
            dk_error_set(&note, DK_EINVAL, "plugin %s (%s '%s') is shadowed by %s, found earlier in the search path: remove one of them",
                     path, dk_kind_name(p->kind), p->name, h->entries[i].path);
            add_problem(h, note.msg);
            dlclose(hd);
            return;
        }
    }
    grown = realloc(h->entries, (h->n_entries + 1) * sizeof *grown);
    if (!grown) {
        dlclose(hd);
        return;
    }
    h->entries = grown;
    grown[h->n_entries].plugin = p;
    grown[h->n_entries].path = dup_str(path);
    grown[h->n_entries].handle = hd;
    h->n_entries++;
}

/* Anyone who can write a plugin folder or file can run code in diffkit. */
static void warn_writable(const char *what, const char *path, mode_t mode) {
    if (!(mode & (S_IWGRP | S_IWOTH))) return;
    dk_warn("%s '%s' is writable by %s: whoever can write there can run code in diffkit; "
            "run `chmod go-w '%s'` or remove it from the plugin path",
            what, path, (mode & S_IWOTH) ? ((mode & S_IWGRP) ? "group and others" : "others") : "its group", path);
}

static int name_cmp(const struct dirent **a, const struct dirent **b) {
    return strcmp((*a)->d_name, (*b)->d_name);
}

static void scan_dir(dk_host *h, const char *dir, int depth) {
    struct dirent **list = NULL;
    int n, i;
    struct stat dst;
    if (depth > DK_SCAN_MAX_DEPTH) return;
    n = scandir(dir, &list, NULL, name_cmp);
    if (n < 0) return;
    if (stat(dir, &dst) == 0) warn_writable("plugin folder", dir, dst.st_mode);
    for (i = 0; i < n; i++) {
        const char *nm = list[i]->d_name;
        char path[PATH_MAX];
        struct stat stt;
        if (nm[0] == '.') {
            free(list[i]);
            continue;
        }
        snprintf(path, sizeof path, "%s/%s", dir, nm);
        if (stat(path, &stt) == 0) {
            if (S_ISDIR(stt.st_mode)) scan_dir(h, path, depth + 1);
            else if (S_ISREG(stt.st_mode) && ends_with(nm, ".so")) {
                warn_writable("plugin file", path, stt.st_mode);
                consider_file(h, path);
            }
        }
        free(list[i]);
    }
    free(list);
}

static void add_search_dir(dk_host *h, const char *dir) {
    size_t i;
    if (!dir || !dir[0]) return;
    for (i = 0; i < h->n_paths; i++)
        if (strcmp(h->paths[i], dir) == 0) return;
    push_str(&h->paths, &h->n_paths, dir);
}

dk_status dk_host_scan(dk_host *h, dk_error *err) {
    const char *env;
    size_t i;
    if (!h) return dk_error_set(err, DK_EINVAL, "dk_host_scan: no host");
    free_strs(h->paths, h->n_paths);
    h->paths = NULL;
    h->n_paths = 0;
    for (i = 0; i < h->n_added; i++) add_search_dir(h, h->added[i]);
    env = getenv("DIFFKIT_PLUGIN_PATH");
    if (env && env[0]) {
        char *copy = dup_str(env), *save = NULL, *tok;
        if (!copy) return dk_error_set(err, DK_ENOMEM, "out of memory reading DIFFKIT_PLUGIN_PATH");
        for (tok = strtok_r(copy, ":", &save); tok; tok = strtok_r(NULL, ":", &save)) add_search_dir(h, tok);
        free(copy);
    }
    add_search_dir(h, DIFFKIT_BUILD_PLUGIN_DIR);
    add_search_dir(h, DIFFKIT_INSTALL_PLUGIN_DIR);
    /* Already loaded plugins stay (instances may point at them); a rescan only adds. */
    for (i = 0; i < h->n_paths; i++) scan_dir(h, h->paths[i], 0);
    h->scanned = 1;
    return DK_OK;
}

static void ensure_scanned(dk_host *h) {
    if (h && !h->scanned) dk_host_scan(h, NULL);
}

size_t dk_host_count(dk_host *h) {
    ensure_scanned(h);
    return h ? h->n_entries : 0;
}

const dk_plugin *dk_host_at(dk_host *h, size_t i) {
    ensure_scanned(h);
    return h && i < h->n_entries ? h->entries[i].plugin : NULL;
}

const char *dk_host_path_of(dk_host *h, const dk_plugin *p) {
    size_t i;
    if (!h) return NULL;
    for (i = 0; i < h->n_entries; i++)
        if (h->entries[i].plugin == p) return h->entries[i].path;
    return NULL;
}

size_t dk_host_problem_count(dk_host *h) {
    ensure_scanned(h);
    return h ? h->n_problems : 0;
}

const char *dk_host_problem(dk_host *h, size_t i) {
    ensure_scanned(h);
    return h && i < h->n_problems ? h->problems[i] : NULL;
}

size_t dk_host_path_count(dk_host *h) {
    ensure_scanned(h);
    return h ? h->n_paths : 0;
}

const char *dk_host_path(dk_host *h, size_t i) {
    ensure_scanned(h);
    return h && i < h->n_paths ? h->paths[i] : NULL;
}

const dk_plugin *dk_host_find(dk_host *h, dk_plugin_kind kind, const char *name, dk_error *err) {
    size_t i, n_kind = 0, used = 0;
    char names[700] = "", sugg[300], other[160] = "";
    dk_suggest sg;
    const char *kn = dk_kind_name(kind);
    if (!h) {
        dk_error_set(err, DK_EINVAL, "dk_host_find: no host");
        return NULL;
    }
    if (!name) name = "";
    ensure_scanned(h);
    for (i = 0; i < h->n_entries; i++) {
        const dk_plugin *p = h->entries[i].plugin;
        if (p->kind == kind && strcmp(p->name, name) == 0) return p;
    }
    dk_suggest_begin(&sg, name);
    for (i = 0; i < h->n_entries; i++) {
        const dk_plugin *p = h->entries[i].plugin;
        if (p->kind == kind) {
            int w;
            dk_suggest_offer(&sg, p->name);
            if (used < sizeof names) {
                w = snprintf(names + used, sizeof names - used, "%s%s", n_kind ? ", " : "", p->name);
                if (w > 0) used += (size_t)w;
            }
            n_kind++;
        } else if (strcmp(p->name, name) == 0 && !other[0]) {
            snprintf(other, sizeof other, "; '%s' is a %s plugin", name, dk_kind_name(p->kind));
        }
    }
    /* A file named like the plugin that failed to load says why. */
    for (i = 0; i < h->n_problems && name[0]; i++) {
        char pat[300], pat2[300];
        snprintf(pat, sizeof pat, "/%s.so ", name);
        snprintf(pat2, sizeof pat2, "/%s.so:", name);
        if (strstr(h->problems[i], pat) || strstr(h->problems[i], pat2)) {
            dk_error_set(err, DK_ENOTFOUND, "%s plugin '%s' is not available: %s", kn, name, h->problems[i]);
            return NULL;
        }
    }
    if (n_kind == 0) {
        char dirs[600] = "";
        used = 0;
        for (i = 0; i < h->n_paths && used < sizeof dirs; i++) {
            int w = snprintf(dirs + used, sizeof dirs - used, "%s%s", i ? ":" : "", h->paths[i]);
            if (w > 0) used += (size_t)w;
        }
        dk_error_set(err, DK_ENOTFOUND, "no %s plugin named '%s': no %s plugins were found in %s%s (build them, or set DIFFKIT_PLUGIN_PATH)",
                     kn, name, kn, dirs[0] ? dirs : "(no search folders)", other);
        return NULL;
    }
    if (dk_suggest_str(&sg, sugg, sizeof sugg))
        dk_error_set(err, DK_ENOTFOUND, "no %s plugin named '%s' (did you mean %s? %s plugins: %s)%s", kn, name, sugg, kn, names,
                     other);
    else
        dk_error_set(err, DK_ENOTFOUND, "no %s plugin named '%s' (%s plugins: %s)%s: `diffkit plugins %s` lists them", kn, name,
                     kn, names, other, kn);
    return NULL;
}

/* ---- instances ---------------------------------------------------------- */

dk_status dk_instance_create(const dk_plugin *p, const dk_options *opts, dk_dtype dtype, uint64_t seed,
                             dk_instance **out, dk_error *err) {
    dk_instance *inst;
    dk_options *defaults = NULL;
    dk_status st = DK_OK;
    *out = NULL;
    if (!p) return dk_error_set(err, DK_EINVAL, "dk_instance_create: no plugin given");
    if (!opts) {
        if (!(defaults = dk_options_new(p))) return dk_error_set(err, DK_ENOMEM, "out of memory creating %s '%s'", dk_kind_name(p->kind), p->name);
        opts = defaults;
    }
    if ((st = dk_options_finish((dk_options *)opts, err)) != DK_OK) {
        dk_options_free(defaults);
        return st;
    }
    if (!(inst = calloc(1, sizeof *inst))) {
        dk_options_free(defaults);
        return dk_error_set(err, DK_ENOMEM, "out of memory creating %s '%s'", dk_kind_name(p->kind), p->name);
    }
    inst->plugin = p;
    switch (p->kind) {
    case DK_KIND_MODEL: {
        const dk_model_vtable *v = p->vtable;
        if (dtype != DK_F32 && dtype != DK_F64) {
            st = dk_error_set(err, DK_EINVAL, "model '%s': parameter dtype %s is not supported: use F32 or F64", p->name, dk_dtype_name(dtype));
            break;
        }
        if (!(inst->params = dk_params_new(dtype))) {
            st = dk_error_set(err, DK_ENOMEM, "out of memory creating the parameters of model '%s'", p->name);
            break;
        }
        if ((st = v->create(opts, inst->params, &inst->self, err)) != DK_OK) break;
        if ((st = dk_params_finalize(inst->params, seed, err)) != DK_OK) break;
        if (v->init) st = v->init(inst->self, inst->params, seed, err);
        break;
    }
    case DK_KIND_PRECOND:
        st = ((const dk_precond_vtable *)p->vtable)->create(opts, &inst->self, err);
        break;
    case DK_KIND_SCHEDULE:
        st = ((const dk_schedule_vtable *)p->vtable)->create(opts, &inst->self, err);
        break;
    case DK_KIND_SAMPLER:
        st = ((const dk_sampler_vtable *)p->vtable)->create(opts, &inst->self, err);
        break;
    default:
        st = dk_error_set(err, DK_EINVAL, "plugin '%s' has an unknown kind %d", p->name, (int)p->kind);
    }
    dk_options_free(defaults);
    if (st != DK_OK) {
        if (err && !strstr(err->msg, p->name)) dk_error_prefix(err, "%s '%s'", dk_kind_name(p->kind), p->name);
        dk_instance_free(inst);
        return st;
    }
    *out = inst;
    return DK_OK;
}

void dk_instance_free(dk_instance *inst) {
    if (!inst) return;
    if (inst->self) {
        switch (inst->plugin->kind) {
        case DK_KIND_MODEL: ((const dk_model_vtable *)inst->plugin->vtable)->destroy(inst->self); break;
        case DK_KIND_PRECOND: ((const dk_precond_vtable *)inst->plugin->vtable)->destroy(inst->self); break;
        case DK_KIND_SCHEDULE: ((const dk_schedule_vtable *)inst->plugin->vtable)->destroy(inst->self); break;
        case DK_KIND_SAMPLER: ((const dk_sampler_vtable *)inst->plugin->vtable)->destroy(inst->self); break;
        }
    }
    if (inst->params) dk_params_free(inst->params);
    free(inst);
}

/* ---- output checks ------------------------------------------------------ */

/* "sigma_min, sigma_max, rho": the plugin's numeric options, for messages. */
static void numeric_option_names(const dk_plugin *p, char *buf, size_t n) {
    size_t i, used = 0;
    buf[0] = '\0';
    for (i = 0; p && i < p->n_options && used < n; i++) {
        const dk_option_spec *s = &p->options[i];
        int w;
        if (s->type != DK_OPT_FLOAT && s->type != DK_OPT_FLOAT_LIST && s->type != DK_OPT_INT) continue;
        w = snprintf(buf + used, n - used, "%s%s", used ? ", " : "", s->name);
        if (w > 0) used += (size_t)w;
    }
    if (!buf[0]) snprintf(buf, n, "(none)");
}

dk_status dk_schedule_check_sigmas(const dk_plugin *p, const double *sigmas, int64_t n, dk_error *err) {
    int64_t i;
    char names[300];
    for (i = 0; i < n; i++) {
        if (isfinite(sigmas[i]) && sigmas[i] >= 0.0) continue;
        numeric_option_names(p, names, sizeof names);
        return dk_error_set(err, DK_ENUMERIC,
                            "schedule '%s' gave sigmas[%lld] = %g: its options make the schedule non-finite or negative; "
                            "use values nearer its defaults (options: %s; `diffkit plugins schedule %s` lists them)",
                            p ? p->name : "?", (long long)i, sigmas[i], names, p ? p->name : "?");
    }
    return DK_OK;
}

dk_status dk_precond_check_scalings(const dk_plugin *p, size_t n, const double *sigma, const double *c_skip,
                                    const double *c_out, const double *c_in, const double *c_noise, dk_error *err) {
    size_t i;
    char names[300];
    for (i = 0; i < n; i++) {
        if (isfinite(c_skip[i]) && isfinite(c_out[i]) && isfinite(c_in[i]) && isfinite(c_noise[i])) continue;
        numeric_option_names(p, names, sizeof names);
        return dk_error_set(err, DK_ENUMERIC,
                            "precond '%s': at sigma %g its scalings are c_skip %g, c_out %g, c_in %g, c_noise %g, not all "
                            "finite: check its options (%s) and the sigma range",
                            p ? p->name : "?", sigma[i], c_skip[i], c_out[i], c_in[i], c_noise[i], names);
    }
    return DK_OK;
}
