/* eval.c: `diffkit eval CHECKPOINT [--n N] [--batch B] [--features FILE|inception:PATH] [--seed S]`
 * — FID and KID of a training checkpoint (docs/evaluation.md).
 *
 * The checkpoint's metadata "config" holds the experiment config text that
 * exp:train wrote; the experiment is rebuilt from it
 * (Experiment.from_checkpoint in lua/diffkit/experiment.lua), its weights
 * and EMA are loaded, and exp:evaluate runs with the experiment's own sample
 * settings. The work is done in Lua so the shell and exp:evaluate share one
 * implementation. */
#include "cli.h"
#include "dkl.h"
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static const char eval_help[] =
    "usage: diffkit eval CHECKPOINT [--n N] [--batch B] [--features FILE|inception:PATH] [--seed S]\n"
    "                  [--data fashion_mnist|DIR] [--device D] [--key KEY] [--heads H]\n"
    "\n"
    "Computes FID and KID of the model in CHECKPOINT (a ckpt_*.safetensors written\n"
    "by exp:train, or a run folder: its `latest` checkpoint) against the dataset\n"
    "it was trained on, as k-diffusion does: N real training images vs N samples\n"
    "drawn with the EMA weights and the experiment's sample settings.\n"
    "CHECKPOINT may also be a k-diffusion (HDiT) or facebookresearch/DiT checkpoint\n"
    "(.pth/.pt, docs/interop.md); those do not name a dataset diffkit can read, so\n"
    "give --data: fashion_mnist (Debian's package, 32x32 with pad 2) or a folder of\n"
    "images (resized and centre-cropped to the model's size).\n"
    "\n"
    "  --n N           images on each side (default 2000)\n"
    "  --batch B       sampling / feature batch size (default 100)\n"
    "  --features FILE a feature-network file (docs/evaluation.md); default: diffkit's\n"
    "                  own classifier for the dataset, trained once and cached under\n"
    "                  $DIFFKIT_CACHE or ~/.cache/diffkit/features\n"
    "  --features inception:PATH\n"
    "                  the standard FID network: pytorch-fid's Inception (2015-12-05 port,\n"
    "                  bilinear resize to 299x299, 2048-d pool features) from the weights\n"
    "                  file PATH the user supplies (docs/interop.md); numbers are\n"
    "                  named fid[inception-2015-12-05] (and differ from clean-fid's)\n"
    "  --seed S        seed of the real subset and of the samples (default 0)\n"
    "  --data D        the real images: fashion_mnist or an image folder (overrides the\n"
    "                  checkpoint's dataset)\n"
    "  --device D      cpu (default), cuda or cuda:N\n"
    "  --key KEY       which weights of a PyTorch checkpoint (diffkit sample --help)\n"
    "  --heads H       attention heads of a DiT whose width is not S/B/L/XL\n"
    "\n"
    "Every number is named after its feature network, e.g. fid[fmnist-cnn-v2]:\n"
    "these are NOT comparable with Inception FIDs (fid[inception-2015-12-05]).\n"
    "\n"
    "exit status: 0 success, 1 failure, 2 usage error\n";

static const char eval_chunk[] =
    "local path, n, batch, features, seed, data, device, key, heads = ...\n"
    "local dk = require 'diffkit'\n"
    "local interop = require 'diffkit.interop'\n"
    "local exp, about = interop.open(path, { device = device, key = key, num_heads = heads })\n"
    "if data then exp.cfg.data = interop.data_spec(data, exp) end\n"
    "interop.check_data(exp, path)\n"
    "if dk.dist.rank() == 0 then io.stderr:write(about, '\\n') end\n"
    "local r = exp:evaluate { n = n, batch = batch, features = features, seed = seed }\n"
    "local acc = r.accuracy_of_feature_net\n"
    "if dk.dist.rank() ~= 0 then return end -- under mpirun: the samples were split, rank 0 prints\n"
    "print(('checkpoint %s (step %s)'):format(path, tostring(exp.checkpoint_step or '?')))\n"
    "print(('fid[%s] = %.6g'):format(r.features, r.fid))\n"
    "print(('kid[%s] = %.6g'):format(r.features, r.kid))\n"
    "print(('n = %d, feature net %s test accuracy %s, %d model calls, %.1f s'):format(r.n, r.features,\n"
    "  acc and ('%.2f %%'):format(100 * acc) or 'unknown', r.model_calls, r.seconds))\n";

typedef struct eval_args {
    const char *path, *features, *data, *device, *key;
    long long heads;
    long long n, batch, seed;
    int status;
} eval_args;

static int pmain(lua_State *L) {
    eval_args *a = lua_touserdata(L, 1);
    luaL_openlibs(L);
    dk_cli_lua_paths(L, NULL, 0); /* the diffkit Lua folders first; diffkit.core preloaded */
    lua_pushcfunction(L, dk_cli_msghandler);
    if (luaL_loadbuffer(L, eval_chunk, sizeof eval_chunk - 1, "=diffkit eval") != LUA_OK) {
        fprintf(stderr, "diffkit eval: %s\n", lua_tostring(L, -1));
        return 0;
    }
    lua_pushstring(L, a->path);
    lua_pushinteger(L, a->n);
    lua_pushinteger(L, a->batch);
    if (a->features) lua_pushstring(L, a->features);
    else lua_pushnil(L);
    lua_pushinteger(L, a->seed);
    const char *more[3] = {a->data, a->device, a->key};
    for (int i = 0; i < 3; i++) {
        if (more[i]) lua_pushstring(L, more[i]);
        else lua_pushnil(L);
    }
    if (a->heads > 0) lua_pushinteger(L, a->heads);
    else lua_pushnil(L);
    if (lua_pcall(L, 9, 0, 2) != LUA_OK) {
        fprintf(stderr, "diffkit eval: %s\n", lua_tostring(L, -1));
        return 0;
    }
    a->status = 0;
    return 0;
}

static int parse_count(const char *opt, const char *v, long long min, long long *out) {
    char *end = NULL;
    long long x = v ? strtoll(v, &end, 10) : 0;
    if (!v || !*v || *end || x < min) return dk_cli_usage_error("eval", "%s needs an integer >= %lld", opt, min);
    *out = x;
    return 0;
}

static int cmd_eval(int argc, char **argv) {
    eval_args a = {NULL, NULL, NULL, NULL, NULL, 0, 2000, 100, 0, 1};
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        int r = 0;
        if (!strcmp(s, "--n")) r = parse_count(s, i + 1 < argc ? argv[++i] : NULL, 2, &a.n);
        else if (!strcmp(s, "--batch")) r = parse_count(s, i + 1 < argc ? argv[++i] : NULL, 1, &a.batch);
        else if (!strcmp(s, "--seed")) r = parse_count(s, i + 1 < argc ? argv[++i] : NULL, 0, &a.seed);
        else if (!strcmp(s, "--heads")) r = parse_count(s, i + 1 < argc ? argv[++i] : NULL, 1, &a.heads);
        else if (!strcmp(s, "--data") || !strcmp(s, "--device") || !strcmp(s, "--key")) {
            if (i + 1 >= argc) return dk_cli_usage_error("eval", "%s needs a value", s);
            const char *v = argv[++i];
            if (!strcmp(s, "--data")) a.data = v;
            else if (!strcmp(s, "--key")) a.key = v;
            else if (strcmp(v, "cpu") && strncmp(v, "cuda", 4)) return dk_cli_usage_error("eval", "--device '%s': use cpu, cuda or cuda:N", v);
            else a.device = v;
        } else if (!strcmp(s, "--features")) {
            if (i + 1 >= argc) return dk_cli_usage_error("eval", "--features needs a file");
            a.features = argv[++i];
        } else if (s[0] == '-' && s[1]) return dk_cli_usage_error("eval", "unknown option '%s'", s);
        else if (a.path) return dk_cli_usage_error("eval", "one checkpoint only (got '%s' and '%s')", a.path, s);
        else a.path = s;
        if (r) return r;
    }
    if (!a.path) return dk_cli_usage_error("eval", "no checkpoint given");
    lua_State *L = luaL_newstate();
    if (!L) {
        fputs("diffkit eval: cannot create a Lua state: out of memory\n", stderr);
        return 1;
    }
    lua_pushcfunction(L, pmain);
    lua_pushlightuserdata(L, &a);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        fprintf(stderr, "diffkit eval: %s\n", lua_tostring(L, -1));
        a.status = 1;
    }
    lua_close(L);
    return a.status;
}

DK_CLI_COMMAND("eval", "FID/KID of a checkpoint: diffkit eval CHECKPOINT [--n N]", eval_help, cmd_eval)
