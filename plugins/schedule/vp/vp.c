/* vp.c: the `vp` sampling schedule, the continuous VP SDE of Song et al.
 * (2021, "Score-Based Generative Modeling through SDEs", eq. 33) as VE sigmas
 * (k-diffusion get_sigmas_vp): t = lin(1, eps_s, n),
 * sigma_i = sqrt(exp(beta_d t^2/2 + beta_min t) - 1), then an appended 0.
 * float32=true reproduces k-diffusion's default float32 result (which loses
 * digits to cancellation in exp(.) - 1 at small t). */
#include "../schedule_common.h"

typedef struct vp {
    double beta_d, beta_min, eps_s;
    int f32;
} vp;

static dk_status vp_create(const dk_options *o, void **self, dk_error *err) {
    vp *s;
    if (!(s = sched_alloc(sizeof *s, "vp", err))) return DK_ENOMEM;
    s->beta_d = dk_opt_float(o, "beta_d");
    s->beta_min = dk_opt_float(o, "beta_min");
    s->eps_s = dk_opt_float(o, "eps_s");
    s->f32 = dk_opt_bool(o, "float32");
    *self = s;
    return DK_OK;
}

static void vp_destroy(void *self) { free(self); }

static dk_status vp_sigmas(void *self, int64_t n, double *out, dk_error *err) {
    const vp *s = self;
    DK_TRY(sched_check_n("vp", n, err));
    if (s->f32) {
        float *t = malloc((size_t)n * sizeof(float));
        if (!t) return dk_error_set(err, DK_ENOMEM, "schedule 'vp': out of memory for %lld steps", (long long)n);
        dk_lin_f32(1.0f, (float)s->eps_s, n, t);
        float bd = (float)s->beta_d, bm = (float)s->beta_min;
        for (int64_t i = 0; i < n; i++) out[i] = (double)sqrtf(expf(bd * (t[i] * t[i]) / 2.0f + bm * t[i]) - 1.0f);
        free(t);
    } else {
        dk_lin(1.0, s->eps_s, n, out);
        for (int64_t i = 0; i < n; i++) {
            double t = out[i];
            out[i] = sqrt(exp(s->beta_d * (t * t) / 2.0 + s->beta_min * t) - 1.0);
        }
    }
    out[n] = 0.0;
    return DK_OK;
}

static const dk_option_spec vp_options[] = {
    {"beta_d", DK_OPT_FLOAT, "19.9", 0.0, INFINITY, NULL, "beta_max - beta_min of the VP SDE (Song et al. 2021: 19.9)", DK_OPT_MIN_EXCLUSIVE},
    {"beta_min", DK_OPT_FLOAT, "0.1", 0.0, INFINITY, NULL, "beta_min of the VP SDE (0.1)", 0},
    {"eps_s", DK_OPT_FLOAT, "0.001", 0.0, 1.0, NULL, "smallest time t of the schedule, in (0, 1) (1e-3)",
     DK_OPT_MIN_EXCLUSIVE | DK_OPT_MAX_EXCLUSIVE},
    {"float32", DK_OPT_BOOL, "false", -INFINITY, INFINITY, NULL,
     "compute in float32 as k-diffusion does with torch's default dtype (values then widened)", 0},
};

static const dk_schedule_vtable vp_vtable = {
    .struct_size = sizeof(dk_schedule_vtable),
    .create = vp_create,
    .destroy = vp_destroy,
    .sigmas = vp_sigmas,
    .density = NULL,
};

static const dk_plugin vp_plugin = {
    .abi_version = DK_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(dk_plugin),
    .kind = DK_KIND_SCHEDULE,
    .name = "vp",
    .version = "1.0",
    .summary = "variance-preserving (Song et al. 2021) sampling sigmas, k-diffusion get_sigmas_vp",
    .options = vp_options,
    .n_options = sizeof vp_options / sizeof vp_options[0],
    .vtable = &vp_vtable,
};

DK_PLUGIN_EXPORT const dk_plugin *diffkit_plugin(void) { return &vp_plugin; }
