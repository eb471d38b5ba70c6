/* split-lognormal.c: the `split-lognormal` training density of sigma
 * (k-diffusion rand_split_log_normal): m = |N(0,1)|, then with probability
 * s1/(s1+s2) sigma = exp(loc - m s1), else exp(loc + m s2): a log-normal with
 * different spreads below and above its mode. Draws all n normals first,
 * then n uniforms, as k-diffusion does. k-diffusion does not stratify this
 * density; under a stratified source the side choice is stratified too. */
#include "../schedule_common.h"

typedef struct split_lognormal {
    double loc, s1, s2;
} split_lognormal;

static dk_status split_create(const dk_options *o, void **self, dk_error *err) {
    split_lognormal *s;
    if (!(s = sched_alloc(sizeof *s, "split-lognormal", err))) return DK_ENOMEM;
    s->loc = dk_opt_float(o, "loc");
    s->s1 = dk_opt_float(o, "scale_1");
    s->s2 = dk_opt_float(o, "scale_2");
    *self = s;
    return DK_OK;
}

static void split_destroy(void *self) { free(self); }

static dk_status split_density(void *self, size_t n, dk_draws *src, double *out, dk_error *err) {
    const split_lognormal *s = self;
    double *u = malloc((n ? n : 1) * sizeof(double));
    dk_status st;
    if (!u) return dk_error_set(err, DK_ENOMEM, "schedule 'split-lognormal': out of memory for %zu draws", n);
    if ((st = sched_normals("split-lognormal", src, n, out, err)) != DK_OK ||
        (st = sched_uniforms("split-lognormal", src, n, u, err)) != DK_OK) {
        free(u);
        return st;
    }
    const double ratio = s->s1 / (s->s1 + s->s2);
    for (size_t i = 0; i < n; i++) {
        double m = fabs(out[i]);
        out[i] = exp(u[i] < ratio ? m * -s->s1 + s->loc : m * s->s2 + s->loc);
    }
    free(u);
    return DK_OK;
}

static const dk_option_spec split_options[] = {
    {"loc", DK_OPT_FLOAT, "-1.2", -INFINITY, INFINITY, NULL, "mode of ln sigma", 0},
    {"scale_1", DK_OPT_FLOAT, "1.2", 0.0, INFINITY, NULL, "std of ln sigma below the mode", DK_OPT_MIN_EXCLUSIVE},
    {"scale_2", DK_OPT_FLOAT, "1.2", 0.0, INFINITY, NULL, "std of ln sigma above the mode", DK_OPT_MIN_EXCLUSIVE},
};

SCHED_PLUGIN(split, "split-lognormal", "split log-normal training density of sigma, k-diffusion rand_split_log_normal",
             NULL, split_density)
