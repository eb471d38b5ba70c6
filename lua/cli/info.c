/* info.c: `diffkit info` — parameter count and forward MACs of a model.
 *
 *   diffkit info EXPERIMENT.lua [--preset NAME] [--size H[xW]] [ARGS...]
 *     runs the script in "info mode": every dk.experiment it builds is
 *     reported (name, parameters, trainable parameters, forward MACs of one
 *     image at the experiment's size) instead of being trained, evaluated or
 *     sampled: :train, :evaluate and :sample only print. The script gets
 *     `--preset NAME` in its arguments (arg / ...) and the global
 *     DIFFKIT_INFO = { preset = NAME|nil, size = {H, W}|nil }.
 *   diffkit info --model NAME [OPTION=VALUE ...] --size H[xW]
 *     a bare model plugin with options (the parameters are declared, not
 *     allocated, so the paper's 100M-parameter models cost nothing).
 *
 * MACs are in the paper's convention (linear = tokens*in*out, attention =
 * heads*Lq*Lk*(dq+dv), neighborhood = tokens*heads*(dq+dv)*k^2; see the
 * model's docs/models.md section). The image size of an experiment is, in
 * order: --size, the model's own image_size, the dataset's shape. */
#define _DEFAULT_SOURCE /* mkstemps, fdopen */
#include "cli.h"
#include "diffkit/diffkit.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char info_help[] =
    "usage: diffkit info EXPERIMENT.lua [--preset NAME] [--size H[xW]] [ARGS...]\n"
    "       diffkit info --model NAME [OPTION=VALUE ...] --size H[xW]\n"
    "\n"
    "Prints the parameter count and the forward multiply-accumulates (MACs, the\n"
    "paper's \"GFLOP\" convention) of one image.\n"
    "\n"
    "With a script: runs it in info mode. Each dk.experiment it builds is\n"
    "reported instead of trained (:train, :evaluate and :sample only print).\n"
    "--preset NAME is passed on to the script (arg, ...) and is in the global\n"
    "DIFFKIT_INFO.preset. The size is --size, else the model's image_size, else\n"
    "the dataset's.\n"
    "\n"
    "With --model: creates the plugin with the options (lists as [a,b]) and\n"
    "counts without allocating the parameters. --size is required.\n"
    "\n"
    "exit status: 0 success, 1 failure, 2 usage error\n";

static int parse_size(const char *s, int64_t *h, int64_t *w) {
    char *end;
    long long a = strtoll(s, &end, 10), b = a;
    if (end == s || a <= 0) return 0;
    if (*end == 'x' || *end == 'X') {
        const char *t = end + 1;
        b = strtoll(t, &end, 10);
        if (end == t || b <= 0) return 0;
    }
    if (*end) return 0;
    *h = a;
    *w = b;
    return 1;
}

static void print_count(const char *label, uint64_t n) {
    printf("%s %llu (%.1fM)", label, (unsigned long long)n, (double)n / 1e6);
}

/* ---- bare plugin ------------------------------------------------------------ */

static int info_model(int argc, char **argv) {
    const char *name = NULL;
    int64_t h = 0, w = 0;
    dk_error err;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--model") == 0 && i + 1 < argc) name = argv[++i];
        else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc) {
            if (!parse_size(argv[++i], &h, &w)) return dk_cli_usage_error("info", "--size wants H or HxW, got '%s'", argv[i]);
        }
    }
    if (!name) return dk_cli_usage_error("info", "--model needs a plugin name");
    if (h <= 0) return dk_cli_usage_error("info", "--model needs --size H[xW]");
    dk_host *host = dk_host_new(&err);
    const dk_plugin *p = host ? dk_host_find(host, DK_KIND_MODEL, name, &err) : NULL;
    if (!p) {
        fprintf(stderr, "diffkit: %s\n", err.msg);
        dk_host_free(host);
        return 1;
    }
    dk_options *o = dk_options_new(p);
    dk_params *params = dk_params_new(DK_F32);
    void *self = NULL;
    int rc = 1;
    dk_status st = (o && params) ? DK_OK : dk_error_set(&err, DK_ENOMEM, "out of memory");
    for (int i = 1; i < argc && st == DK_OK; i++) {
        if (strcmp(argv[i], "--model") == 0 || strcmp(argv[i], "--size") == 0) {
            i++;
            continue;
        }
        char *eq = strchr(argv[i], '=');
        if (!eq) {
            dk_options_free(o);
            dk_params_free(params);
            dk_host_free(host);
            return dk_cli_usage_error("info", "expected OPTION=VALUE, got '%s'", argv[i]);
        }
        *eq = '\0';
        st = dk_options_set(o, argv[i], eq + 1, &err);
        *eq = '=';
    }
    const dk_model_vtable *v = p->vtable;
    if (st == DK_OK) st = dk_options_finish(o, &err);
    if (st == DK_OK) st = v->create(o, params, &self, &err);
    uint64_t macs = 0;
    if (st == DK_OK && v->macs) st = v->macs(self, h, w, &macs, &err);
    if (st == DK_OK) {
        printf("model %s at %lldx%lld: ", name, (long long)h, (long long)w);
        print_count("params", dk_params_numel(params, 0));
        print_count(", trainable", dk_params_numel(params, 1));
        if (v->macs) printf(", forward %.4f GMACs (%llu)\n", (double)macs / 1e9, (unsigned long long)macs);
        else printf(", forward MACs not reported by the plugin\n");
        rc = 0;
    } else {
        fprintf(stderr, "diffkit: %s\n", err.msg);
    }
    if (self) v->destroy(self);
    dk_params_free(params);
    dk_options_free(o);
    dk_host_free(host);
    return rc;
}

/* ---- experiment script -------------------------------------------------------- */

/* The prelude run in place of the script: hooks the experiment builder, then
 * runs the script with its own arguments. arg[1] = script, arg[2] = preset
 * ("" = none), arg[3] = size ("" = none), arg[4..] = the script's arguments. */
static const char prelude[] =
    "local script, preset, size = arg[1], arg[2], arg[3]\n"
    "local sargs = {}\n"
    "for i = 4, #arg do sargs[#sargs + 1] = arg[i] end\n"
    "local H, W\n"
    "if size ~= '' then H, W = size:match('^(%d+)[xX](%d+)$'); if not H then H = size:match('^(%d+)$'); W = H end;"
    " H, W = tonumber(H), tonumber(W) end\n"
    "DIFFKIT_INFO = { preset = preset ~= '' and preset or nil, size = H and { H, W } or nil }\n"
    "local dir = script:match('^(.*)/[^/]*$') or '.'\n"
    "package.path = dir .. '/?.lua;' .. package.path\n"
    "local E = require 'diffkit.experiment'\n"
    "local X, made, reported = E.Experiment, {}, {}\n"
    "local function report(self)\n"
    "  if reported[self] then return end\n"
    "  reported[self] = true\n"
    "  local h, w = H, W\n"
    "  if not h then\n"
    "    local ok, i = pcall(function() return require('diffkit.core').model_info(self:model()) end)\n"
    "    if ok and i and (i.image_size or 0) > 0 then h, w = i.image_size, i.image_size end\n"
    "  end\n"
    "  if not h then\n"
    "    local ok, s = pcall(function() return self:dataset():shape() end)\n"
    "    if ok and s then h, w = s[2], s[3] end\n"
    "  end\n"
    "  if not h then error('diffkit info: experiment ' .. tostring(self.name) .. ': no image size known (the model has none"
    " and the dataset did not load): give --size H[xW]', 0) end\n"
    "  local i = self:info(h, w)\n"
    "  print(('%s: params %d (%.1fM), trainable %d (%.1fM), forward %.4f GMACs (%d) at %dx%d'):format(\n"
    "    tostring(self.name or '?'), i.params, i.params / 1e6, i.trainable, i.trainable / 1e6, (i.macs or 0) / 1e9,\n"
    "    i.macs or 0, h, w))\n"
    "  self._model = nil\n"
    "  collectgarbage()\n"
    "end\n"
    "X.train = function(self) report(self) end\n"
    "X.evaluate = function(self) report(self) return {} end\n"
    "X.sample = function(self) report(self) end\n"
    "local mt = getmetatable(E)\n"
    "mt.__call = function(_, cfg) local e = E.new(cfg); made[#made + 1] = e; return e end\n"
    "arg = { [0] = script }\n"
    "for i, a in ipairs(sargs) do arg[i] = a end\n"
    "local chunk = assert(loadfile(script))\n"
    "chunk(table.unpack(sargs))\n"
    "for _, e in ipairs(made) do report(e) end\n";

static int info_script(int argc, char **argv) {
    const char *script = NULL, *preset = "", *size = "";
    int64_t h, w;
    char **rest = calloc((size_t)argc + 8, sizeof *rest);
    int nrest = 0;
    if (!rest) return 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--preset") == 0 && i + 1 < argc) {
            preset = argv[++i];
            rest[nrest++] = "--preset";
            rest[nrest++] = (char *)preset;
        } else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc) {
            size = argv[++i];
            if (!parse_size(size, &h, &w)) {
                free(rest);
                return dk_cli_usage_error("info", "--size wants H or HxW, got '%s'", size);
            }
        } else if (!script) {
            script = argv[i];
        } else {
            rest[nrest++] = argv[i];
        }
    }
    if (!script) {
        free(rest);
        return dk_cli_usage_error("info", "no script given");
    }
    const dk_cli_command *run = dk_cli_find("run");
    if (!run) {
        free(rest);
        fputs("diffkit: info needs the 'run' command, which this binary lacks\n", stderr);
        return 1;
    }
    char tmp[] = "/tmp/diffkit_info_XXXXXX.lua";
    int fd = mkstemps(tmp, 4);
    if (fd < 0) {
        free(rest);
        perror("diffkit: info: cannot create a temporary file");
        return 1;
    }
    FILE *f = fdopen(fd, "w");
    if (!f || fputs(prelude, f) < 0 || fclose(f) != 0) {
        free(rest);
        unlink(tmp);
        fputs("diffkit: info: cannot write the temporary prelude\n", stderr);
        return 1;
    }
    int rargc = 0;
    char **rargv = calloc((size_t)nrest + 8, sizeof *rargv);
    if (!rargv) {
        free(rest);
        unlink(tmp);
        return 1;
    }
    rargv[rargc++] = "run";
    rargv[rargc++] = tmp;
    rargv[rargc++] = (char *)script;
    rargv[rargc++] = (char *)preset;
    rargv[rargc++] = (char *)size;
    for (int i = 0; i < nrest; i++) rargv[rargc++] = rest[i];
    int rc = run->run(rargc, rargv);
    unlink(tmp);
    free(rargv);
    free(rest);
    return rc;
}

static int cmd_info(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--model") == 0) return info_model(argc, argv);
    return info_script(argc, argv);
}

DK_CLI_COMMAND("info", "parameter count and forward MACs: diffkit info EXPERIMENT.lua | --model NAME --size H", info_help,
               cmd_info)
