/* fuzz_options.c: the option parser (core/src/options.c) on the option table
 * of a real plugin, the hdit model (every type but string and function: enum,
 * bool, int, float, int/float lists, a string list with choices, optional
 * options without default), then the plugin's own reading and checking of
 * the values (hdit_config_read, hdit_check_size, hdit_count_macs), as
 * `diffkit info` and model creation do.
 *
 * Input: lines. "name=value" sets option `name` from the text `value` (an
 * unknown name gets the did-you-mean error); a line without '=' is the text
 * value of option number (line index mod the number of options). Every set
 * either succeeds or fails with a message; a failed set leaves the previous
 * value. After dk_options_finish every option reads back through the dk_opt_*
 * accessors of its type. */
#include "fuzz_common.h"
#include "diffkit/host.h"
#include "diffkit/plugin.h"
#include "hdit.h"
#include <math.h>
#include <string.h>

const dk_plugin *diffkit_plugin(void);

static void read_back(const dk_options *o, const dk_option_spec *s) {
    const char *n = s->name;
    if (!dk_opt_has(o, n)) return;
    switch (s->type) {
    case DK_OPT_BOOL: FUZZ_CHECK(dk_opt_bool(o, n) == 0 || dk_opt_bool(o, n) == 1); break;
    case DK_OPT_INT: {
        double v = (double)dk_opt_int(o, n);
        FUZZ_CHECK(v >= s->min && v <= s->max);
        break;
    }
    case DK_OPT_FLOAT: FUZZ_CHECK(!isnan(dk_opt_float(o, n))); break;
    case DK_OPT_ENUM: FUZZ_CHECK(dk_opt_str(o, n) && strstr(s->choices, dk_opt_str(o, n))); break;
    case DK_OPT_STRING: FUZZ_CHECK(dk_opt_str(o, n)); break;
    case DK_OPT_INT_LIST:
    case DK_OPT_FLOAT_LIST:
    case DK_OPT_STRING_LIST:
        for (size_t i = 0; i < dk_opt_len(o, n); i++) {
            if (s->type == DK_OPT_STRING_LIST) FUZZ_CHECK(dk_opt_str_at(o, n, i) != NULL);
            else {
                double v = dk_opt_float_at(o, n, i);
                FUZZ_CHECK(!isnan(v) && v >= s->min && v <= s->max);
            }
        }
        break;
    default: break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const dk_plugin *p = diffkit_plugin();
    dk_options *o = dk_options_new(p);
    FUZZ_CHECK(o != NULL);
    dk_error err;
    char *text = malloc(size + 1);
    FUZZ_CHECK(text != NULL);
    memcpy(text, data, size);
    text[size] = '\0';
    size_t k = 0;
    for (char *line = text; line < text + size; k++) {
        char *nl = memchr(line, '\n', (size_t)(text + size - line));
        if (nl) *nl = '\0';
        char *eq = strchr(line, '=');
        dk_status s;
        dk_error_clear(&err);
        if (eq) {
            *eq = '\0';
            s = dk_options_set(o, line, eq + 1, &err);
        } else {
            s = dk_options_set(o, p->options[k % p->n_options].name, line, &err);
        }
        FUZZ_CHECK(s == DK_OK || (err.code == s && err.msg[0]));
        if (!nl) break;
        line = nl + 1;
    }
    free(text);
    dk_error_clear(&err);
    if (dk_options_finish(o, &err) == DK_OK) {
        for (size_t i = 0; i < p->n_options; i++) read_back(o, &p->options[i]);
        hdit_config c;
        if (hdit_config_read(o, &c, &err) == DK_OK) {
            int64_t H = c.img_h ? c.img_h : 32, W = c.img_w ? c.img_w : 32;
            uint64_t macs;
            if (hdit_check_size(&c, H, W, &err) == DK_OK) (void)hdit_count_macs(&c, H, W, &macs, &err);
        } else {
            FUZZ_CHECK(err.msg[0]);
        }
    } else {
        FUZZ_CHECK(err.msg[0]);
    }
    dk_options_free(o);
    return 0;
}
