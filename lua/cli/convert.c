/* convert.c: `diffkit convert IN.pt|.pth OUT.safetensors [--key KEY] [--dtype keep|f32]`
 * — the tensors of a PyTorch torch.save checkpoint as a safetensors file,
 * read with diffkit's restricted torch.save reader (core/src/torchfile.c,
 * docs/interop.md): nothing in the checkpoint is executed, and a file
 * holding anything but tensors, containers and scalars is refused. */
#include "cli.h"
#include "diffkit/diffkit.h"
#include "diffkit/torchfile.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char convert_help[] =
    "usage: diffkit convert IN.pt|IN.pth OUT.safetensors [--key KEY] [--dtype keep|f32]\n"
    "\n"
    "Writes every tensor of one state dict of a PyTorch checkpoint (a torch.save\n"
    "file, zip or legacy layout) to OUT.safetensors, named by its dotted path\n"
    "under KEY ('0.weight', 'blocks.1.attn.qkv.weight', ...). The checkpoint is\n"
    "read as data by a restricted unpickler: only tensors, storages, dicts,\n"
    "OrderedDicts, lists, tuples, scalars and argparse.Namespace are accepted,\n"
    "anything else is refused and nothing is ever executed.\n"
    "\n"
    "  --key KEY      the entry to convert: a top-level key ('model_ema') or a\n"
    "                 dotted path ('state.model'); --key= (empty) is the whole file.\n"
    "                 Default: model_ema if present, else ema, else model, else\n"
    "                 the whole file\n"
    "  --dtype keep   tensors keep their stored dtype (default; F16 and BF16 stay,\n"
    "                 bool becomes U8, int16 and int8 become I64)\n"
    "  --dtype f32    F16, BF16 and F64 tensors are converted to F32 (integers kept)\n"
    "\n"
    "The output's metadata holds the source file, the key, and the checkpoint's\n"
    "'config' (k-diffusion) and 'args' (DiT) entries as JSON text when present.\n"
    "A KEY (or file) that is a single tensor is written under the last part of\n"
    "KEY ('tensor' for a file that is one tensor).\n"
    "OUT is written atomically (OUT.tmp.<pid>, then renamed).\n"
    "\n"
    "exit status: 0 written, 1 unreadable or refused file, 2 usage error\n";

static int fail(const dk_error *err) {
    fprintf(stderr, "diffkit convert: %s\n", err->msg);
    return 1;
}

static int is_container(const dk_pv *v) {
    dk_pv_kind k = dk_pv_kind_of(v);
    return k == DK_PV_DICT || k == DK_PV_OBJECT || k == DK_PV_LIST || k == DK_PV_TUPLE;
}

static int add_json_meta(dk_st_writer *w, const dk_pv *root, const char *key, dk_error *err) {
    const dk_pv *v = dk_pv_get(root, key);
    char *js = NULL;
    if (!v) return 0;
    if (dk_pv_json(v, &js, err) != DK_OK) return -1;
    dk_status s = dk_st_writer_meta(w, key, js, err);
    free(js);
    return s == DK_OK ? 0 : -1;
}

static int cmd_convert(int argc, char **argv) {
    const char *in = NULL, *out = NULL, *key = NULL;
    int to_f32 = 0, key_given = 0;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (!strncmp(s, "--key=", 6)) {
            key = s + 6;
            key_given = 1;
        } else if (!strcmp(s, "--key")) {
            if (i + 1 >= argc) return dk_cli_usage_error("convert", "--key needs a value ('' for the whole file)");
            key = argv[++i];
            key_given = 1;
        } else if (!strcmp(s, "--dtype")) {
            if (i + 1 >= argc) return dk_cli_usage_error("convert", "--dtype needs keep or f32");
            const char *d = argv[++i];
            if (!strcmp(d, "keep")) to_f32 = 0;
            else if (!strcmp(d, "f32") || !strcmp(d, "F32")) to_f32 = 1;
            else return dk_cli_usage_error("convert", "--dtype is keep or f32, not '%s'", d);
        } else if (s[0] == '-' && s[1])
            return dk_cli_usage_error("convert", "unknown option '%s'", s);
        else if (!in)
            in = s;
        else if (!out)
            out = s;
        else
            return dk_cli_usage_error("convert", "too many arguments ('%s')", s);
    }
    if (!in || !out) return dk_cli_usage_error("convert", "needs IN.pt and OUT.safetensors");

    dk_error err;
    dk_error_clear(&err);
    dk_pt_file *f = dk_pt_open(in, &err);
    if (!f) return fail(&err);
    const dk_pv *root = dk_pt_root(f);
    if (!key_given) {
        static const char *const defaults[] = {"model_ema", "ema", "model"};
        key = "";
        for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
            if (is_container(dk_pv_get(root, defaults[i]))) {
                key = defaults[i];
                break;
            }
        if (*key) printf("diffkit convert: using the state dict '%s' (choose another with --key)\n", key);
        else printf("diffkit convert: no model_ema, ema or model entry: converting every tensor of the file\n");
    }
    dk_pt_named *a = NULL;
    size_t n = 0;
    int rc = 1;
    dk_st_writer *w = NULL;
    const dk_pv *sel = NULL;
    if (dk_pt_find(f, key, &sel, &err) != DK_OK) goto done;
    if (dk_pv_kind_of(sel) == DK_PV_TENSOR) { /* one tensor: named after the last part of its key */
        const char *dot = strrchr(key, '.');
        if (!(a = calloc(1, sizeof *a)) || !(a[0].name = strdup(*key ? (dot ? dot + 1 : key) : "tensor"))) {
            dk_error_set(&err, DK_ENOMEM, "out of memory");
            goto done;
        }
        a[0].value = sel;
        n = 1;
    } else if (dk_pt_state_dict(f, key, &a, &n, &err) != DK_OK)
        goto done;
    if (!n) {
        dk_error_set(&err, DK_ENOTFOUND, "%s: no tensors under '%s'", in, *key ? key : "(the whole file)");
        goto done;
    }
    w = dk_st_writer_new();
    if (!w) {
        dk_error_set(&err, DK_ENOMEM, "out of memory");
        goto done;
    }
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        dk_tensor *t = dk_pv_tensor(a[i].value, &err);
        if (t && to_f32 && (t->dtype == DK_F16 || t->dtype == DK_BF16 || t->dtype == DK_F64)) {
            dk_tensor *c = dk_tensor_to(t, DK_F32, &err);
            dk_tensor_free(t);
            t = c;
        }
        if (!t) {
            dk_error_prefix(&err, "%s: tensor '%s'", in, a[i].name);
            goto done;
        }
        bytes += t->numel * dk_dtype_size(t->dtype);
        dk_status s = dk_st_writer_add(w, a[i].name, t, &err);
        dk_tensor_free(t); /* the writer holds its own reference */
        if (s != DK_OK) goto done;
    }
    if (dk_st_writer_meta(w, "source", in, &err) || dk_st_writer_meta(w, "source_format", dk_pt_is_legacy(f) ? "torch.save legacy" : "torch.save zip", &err) ||
        dk_st_writer_meta(w, "key", key, &err) || add_json_meta(w, root, "config", &err) || add_json_meta(w, root, "args", &err))
        goto done;
    if (dk_st_writer_save(w, out, &err) != DK_OK) goto done;
    printf("diffkit convert: wrote %zu tensors (%zu bytes) to %s\n", n, bytes, out);
    rc = 0;
done:
    if (rc) fail(&err);
    dk_st_writer_free(w);
    dk_pt_named_free(a, n);
    dk_pt_close(f);
    return rc;
}

DK_CLI_COMMAND("convert", "PyTorch checkpoint to safetensors: diffkit convert IN.pt OUT.safetensors [--key KEY]", convert_help,
               cmd_convert)
