/* fuzz_checkpoint.c: the metadata a checkpoint is resumed from
 * (dk_checkpoint_load_file): diffkit.format, diffkit.kind, step, config,
 * ema.step, optim.kind, optim.step, loader.epoch, loader.index and the RNG
 * states rng.<name>, with a model, EMA, AdamW state, loader and two RNGs to
 * restore into.
 *
 * Input: lines "key=value" (a value's "\n" is a newline and "\\" a
 * backslash; lines without '=' are skipped). The harness writes them as the
 * __metadata__ of an in-memory safetensors file whose tensors fit the model,
 * so the fuzzer spends its time on the metadata rather than on tensor shapes
 * (tools/fuzz.sh safetensors covers the container). A load either fails with
 * a message or succeeds with a non-negative step, an in-range loader position
 * and the stored config text handed back verbatim. */
#include "fuzz_common.h"
#include "diffkit/checkpoint.h"
#include <string.h>

typedef struct buf {
    char *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->n + n + 1) cap *= 2;
        b->p = realloc(b->p, cap);
        FUZZ_CHECK(b->p != NULL);
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}
static void puts_(buf *b, const char *s) { put(b, s, strlen(s)); }

/* [s, e) as a JSON string, decoding the line escapes \n and \\ first. */
static void put_json(buf *b, const uint8_t *s, const uint8_t *e) {
    put(b, "\"", 1);
    for (; s < e; s++) {
        unsigned char ch = *s;
        if (ch == '\\' && s + 1 < e && (s[1] == 'n' || s[1] == '\\')) ch = *++s == 'n' ? '\n' : '\\';
        if (ch == '"' || ch == '\\') {
            char esc[2] = {'\\', (char)ch};
            put(b, esc, 2);
        } else if (ch < 0x20) {
            char esc[8];
            snprintf(esc, sizeof esc, "\\u%04x", ch);
            put(b, esc, 6);
        } else {
            put(b, &ch, 1);
        }
    }
    put(b, "\"", 1);
}

static struct {
    int ready;
    dk_params *params;
    dk_ema *ema;
    dk_optim *optim;
    dk_dataset *ds;
    dk_loader *loader;
    dk_rng rng[2];
    dk_checkpoint_rng rngs[2];
} g;

static void setup(void) {
    dk_error err;
    int64_t ws[2] = {2, 3}, bs[1] = {3};
    g.params = dk_params_new(DK_F32);
    FUZZ_CHECK(g.params);
    FUZZ_CHECK(dk_params_add(g.params, "w", 2, ws, DK_INIT_NORMAL, 0.02, 0, &err));
    FUZZ_CHECK(dk_params_add(g.params, "b", 1, bs, DK_INIT_ZEROS, 0, DK_PARAM_NO_DECAY, &err));
    FUZZ_CHECK(dk_params_finalize(g.params, 1, &err) == DK_OK);
    dk_ema_config ec = dk_ema_config_default(DK_EMA_WARMUP);
    dk_optim_config oc = dk_optim_config_default(DK_OPTIM_ADAMW);
    g.ema = dk_ema_new(g.params, &ec, &err);
    g.optim = dk_optim_new(g.params, &oc, &err);
    /* 5 images of 2x2, labels 0..4 */
    unsigned char img[16 + 20] = {0, 0, 8, 3, 0, 0, 0, 5, 0, 0, 0, 2, 0, 0, 0, 2};
    unsigned char lab[8 + 5] = {0, 0, 8, 1, 0, 0, 0, 5, 0, 1, 2, 3, 4};
    g.ds = dk_dataset_idx_mem("i", img, sizeof img, "l", lab, sizeof lab, 0, &err);
    FUZZ_CHECK(g.ema && g.optim && g.ds);
    dk_loader_config lc = {.batch = 2, .seed = 5, .shuffle = 1};
    g.loader = dk_loader_new(g.ds, &lc, &err);
    FUZZ_CHECK(g.loader);
    dk_rng_init(&g.rng[0], 11, 1);
    dk_rng_init(&g.rng[1], 11, 2);
    g.rngs[0] = (dk_checkpoint_rng){"noise", &g.rng[0]};
    g.rngs[1] = (dk_checkpoint_rng){"sigma", &g.rng[1]};
    g.ready = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g.ready) setup();
    buf h = {0};
    puts_(&h, "{\"__metadata__\":{");
    int first = 1;
    for (const uint8_t *line = data, *end = data + size; line < end;) {
        const uint8_t *nl = memchr(line, '\n', (size_t)(end - line));
        const uint8_t *le = nl ? nl : end;
        const uint8_t *eq = memchr(line, '=', (size_t)(le - line));
        if (eq) {
            if (!first) puts_(&h, ",");
            first = 0;
            put_json(&h, line, eq);
            puts_(&h, ":");
            put_json(&h, eq + 1, le);
        }
        line = le + 1;
    }
    puts_(&h, "}");
    /* the tensors of the model, its EMA and its AdamW state (F32, zeros) */
    static const char *names[] = {"w", "b", "ema.w", "ema.b", "optim.m.w", "optim.v.w", "optim.m.b", "optim.v.b"};
    size_t off = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        int is_w = names[i][strlen(names[i]) - 1] == 'w';
        size_t bytes = (is_w ? 6 : 3) * 4;
        char ent[200];
        snprintf(ent, sizeof ent, ",\"%s\":{\"dtype\":\"F32\",\"shape\":%s,\"data_offsets\":[%zu,%zu]}", names[i],
                 is_w ? "[2,3]" : "[3]", off, off + bytes);
        puts_(&h, ent);
        off += bytes;
    }
    puts_(&h, "}");
    size_t len = 8 + h.n + off;
    unsigned char *file = calloc(1, len);
    FUZZ_CHECK(file);
    for (int i = 0; i < 8; i++) file[i] = (unsigned char)((uint64_t)h.n >> (8 * i));
    memcpy(file + 8, h.p, h.n);
    free(h.p);

    dk_error err;
    dk_error_clear(&err);
    dk_st_file *f = dk_st_parse(file, len, "fuzz-checkpoint.safetensors", &err);
    free(file);
    if (!f) { /* a key or value that is not UTF-8, or a key given twice */
        FUZZ_CHECK(err.code == DK_EFORMAT && err.msg[0]);
        return 0;
    }
    FUZZ_CHECK(dk_st_count(f) == sizeof names / sizeof names[0]);
    (void)dk_st_meta(f, "diffkit.kind");
    dk_checkpoint c = {.params = g.params, .ema = g.ema, .optim = g.optim, .loader = g.loader, .rngs = g.rngs, .n_rngs = 2,
                       .step = -1};
    char *config = NULL;
    dk_status s = dk_checkpoint_load_file(f, &c, &config, &err);
    if (s != DK_OK) {
        FUZZ_CHECK(err.msg[0] != '\0' && config == NULL && c.step == -1);
    } else {
        FUZZ_CHECK(c.step >= 0);
        const char *stored = dk_st_meta(f, "config");
        FUZZ_CHECK(stored ? config && strcmp(config, stored) == 0 : config == NULL);
        int64_t epoch, index;
        dk_loader_position(g.loader, &epoch, &index);
        FUZZ_CHECK(epoch >= 0 && index >= 0 && index < g.ds->count);
        for (int k = 0; k < 2; k++) FUZZ_CHECK(g.rng[k].used >= 0 && g.rng[k].used <= 4);
    }
    free(config);
    dk_st_close(f);
    return 0;
}
