/* host.h: finding, loading and instantiating plugins; building options.
 *
 * Search order: the folders added with dk_host_add_path, then every folder of
 * DIFFKIT_PLUGIN_PATH (':'-separated), then the build tree
 * (DIFFKIT_BUILD_PLUGIN_DIR, compiled in) and the install tree
 * (DIFFKIT_INSTALL_PLUGIN_DIR). Each folder is scanned recursively for
 * *.so files; the first plugin of a (kind, name) wins. */
#ifndef DIFFKIT_HOST_H
#define DIFFKIT_HOST_H

#include "diffkit/plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dk_host dk_host;

dk_host *dk_host_new(dk_error *err);
void dk_host_free(dk_host *h);
dk_status dk_host_add_path(dk_host *h, const char *dir, dk_error *err);
/* Scan all search folders (done lazily by the lookups if not called). Broken
 * .so files are remembered with their error (dk_host_problems) and skipped. */
dk_status dk_host_scan(dk_host *h, dk_error *err);
size_t dk_host_count(dk_host *h);
const dk_plugin *dk_host_at(dk_host *h, size_t i);
const char *dk_host_path_of(dk_host *h, const dk_plugin *p);
size_t dk_host_problem_count(dk_host *h);
const char *dk_host_problem(dk_host *h, size_t i);
/* The effective search folders of the last scan, in search order. */
size_t dk_host_path_count(dk_host *h);
const char *dk_host_path(dk_host *h, size_t i);
/* Find by kind and name; DK_ENOTFOUND with the closest names suggested. */
const dk_plugin *dk_host_find(dk_host *h, dk_plugin_kind kind, const char *name, dk_error *err);

/* Load one .so and validate its descriptor (entry point, ABI version and size,
 * kind, vtable size, option table). *handle is the dlopen handle. */
dk_status dk_plugin_load_file(const char *path, const dk_plugin **out, void **handle, dk_error *err);
/* Validate a descriptor (also used for plugins linked statically). */
dk_status dk_plugin_validate(const dk_plugin *p, const char *where, dk_error *err);

/* ---- options ------------------------------------------------------------ */
dk_options *dk_options_new(const dk_plugin *p);
void dk_options_free(dk_options *o);
/* Set from text ("0.5", "true", "karras", "[1,2]", "inf"): validated against
 * the spec; errors name the plugin, the option and its documented range. */
dk_status dk_options_set(dk_options *o, const char *name, const char *text, dk_error *err);
dk_status dk_options_set_float(dk_options *o, const char *name, double v, dk_error *err);
dk_status dk_options_set_int(dk_options *o, const char *name, int64_t v, dk_error *err);
dk_status dk_options_set_bool(dk_options *o, const char *name, int v, dk_error *err);
dk_status dk_options_set_str(dk_options *o, const char *name, const char *v, dk_error *err);
dk_status dk_options_set_float_list(dk_options *o, const char *name, const double *v, size_t n, dk_error *err);
dk_status dk_options_set_int_list(dk_options *o, const char *name, const int64_t *v, size_t n, dk_error *err);
dk_status dk_options_set_str_list(dk_options *o, const char *name, const char *const *v, size_t n, dk_error *err);
dk_status dk_options_set_fn(dk_options *o, const char *name, dk_opt_fn fn, dk_error *err);
/* Checks that every required option is present. */
dk_status dk_options_finish(dk_options *o, dk_error *err);
/* Text form of a spec's type / range, for messages and `diffkit plugins`. */
const char *dk_opt_type_name(dk_opt_type t);
void dk_option_range_str(const dk_option_spec *s, char *buf, size_t n);

/* ---- instances ---------------------------------------------------------- */
typedef struct dk_instance {
    const dk_plugin *plugin;
    void *self;
    dk_params *params;  /* models only: the finalized parameter store */
} dk_instance;

/* Create an instance; opts may be NULL (all defaults); opts stays the caller's.
 * For models, params are declared, finalized with `seed` and init() is run;
 * dtype is the parameter dtype (DK_F32 or DK_F64; ignored for other kinds). */
dk_status dk_instance_create(const dk_plugin *p, const dk_options *opts, dk_dtype dtype,
                             uint64_t seed, dk_instance **out, dk_error *err);
void dk_instance_free(dk_instance *inst);

/* Plugin files are read as data before dlopen runs any of their code:
 * dk_elf_find_symbol looks for a defined, exported function `name` in the
 * ELF64 (little-endian, ET_DYN) dynamic symbol table of buf[0, n): 1 found,
 * 0 absent, -1 not a loadable ELF (why says which, if given). Every offset is
 * bounds-checked; buf is untrusted. dk_elf_check_plugin reads the file and
 * fails (DK_EFORMAT, DK_EIO) unless it defines DK_PLUGIN_ENTRY;
 * dk_plugin_load_file calls it before dlopen. */
int dk_elf_find_symbol(const void *buf, size_t n, const char *name, char *why, size_t why_n);
dk_status dk_elf_check_plugin(const char *path, dk_error *err);

/* Output checks that blame the plugin whose options made a value non-finite
 * (docs/reliability.md "Option validation"): every sigma finite and >= 0;
 * every scaling finite. The message names the plugin and its numeric
 * options. */
dk_status dk_schedule_check_sigmas(const dk_plugin *p, const double *sigmas, int64_t n, dk_error *err);
dk_status dk_precond_check_scalings(const dk_plugin *p, size_t n, const double *sigma, const double *c_skip,
                                    const double *c_out, const double *c_in, const double *c_noise, dk_error *err);

static inline const dk_schedule_vtable *dk_schedule_vt(const dk_instance *i) { return (const dk_schedule_vtable *)i->plugin->vtable; }
static inline const dk_precond_vtable *dk_precond_vt(const dk_instance *i) { return (const dk_precond_vtable *)i->plugin->vtable; }
static inline const dk_sampler_vtable *dk_sampler_vt(const dk_instance *i) { return (const dk_sampler_vtable *)i->plugin->vtable; }
static inline const dk_model_vtable *dk_model_vt(const dk_instance *i) { return (const dk_model_vtable *)i->plugin->vtable; }

#ifdef __cplusplus
}
#endif
#endif
