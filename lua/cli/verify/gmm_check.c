/* gmm_check.c: `diffkit verify` section "gmm_check" (tests/data/golden/FORMAT.md 4.1): the
 * exact Gaussian-mixture denoiser alone. `denoised` = D(x; sigma) for the
 * file's x [B, ...] and per-sample sigma [B] (which includes 0), computed two
 * ways, both at abs + rel 1e-12: the core kernel (dk_gmm_denoise) on the
 * file's gmm.* tensors, and the `gmm` model plugin reading the same file
 * behind the `identity` preconditioner and the host's denoiser (float64),
 * i.e. the path the samplers use. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "diffkit/denoiser.h"
#include "diffkit/gmm.h"
#include "verify.h"

static dk_instance *instance(dk_verify *v, dk_plugin_kind kind, const char *name, const char *opt,
                             const char *val, dk_error *err) {
    const dk_plugin *p = dk_host_find(v->host, kind, name, err);
    if (!p) {
        dk_error_prefix(err, "%s", v->path);
        return NULL;
    }
    dk_options *o = dk_options_new(p);
    dk_instance *inst = NULL;
    dk_status st = o ? DK_OK : dk_error_set(err, DK_ENOMEM, "out of memory");
    if (st == DK_OK && opt) st = dk_options_set(o, opt, val, err);
    if (st == DK_OK) st = dk_options_finish(o, err);
    if (st == DK_OK) st = dk_instance_create(p, o, DK_F64, 0, &inst, err);
    if (st != DK_OK) {
        dk_error_prefix(err, "%s: %s '%s'", v->path, dk_kind_name(kind), name);
        inst = NULL;
    }
    dk_options_free(o);
    return inst;
}

static dk_status verify_gmm_check(dk_verify *v, dk_error *err) {
    dk_status st = DK_OK;
    dk_tensor *mu = NULL, *sd = NULL, *wt = NULL, *x = NULL, *sigma = NULL, *want = NULL, *got = NULL;
    dk_gmm *g = NULL;
    dk_instance *model = NULL, *precond = NULL;
    dk_denoiser *den = NULL;
    if (!(mu = dk_verify_get(v, "gmm.means", DK_F64, err)) || !(sd = dk_verify_get(v, "gmm.stds", DK_F64, err)) ||
        !(wt = dk_verify_get(v, "gmm.weights", DK_F64, err)) || !(x = dk_verify_get(v, "x", DK_F64, err)) ||
        !(sigma = dk_verify_get(v, "sigma", DK_F64, err)) || !(want = dk_verify_get(v, "denoised", DK_F64, err)) ||
        !(got = dk_tensor_new_like(want, err))) {
        st = err->code;
        goto done;
    }
    if (x->ndim < 2 || sigma->numel != (size_t)x->shape[0] || !dk_tensor_same_shape(x, want)) {
        char a[64], b[64], c[64];
        st = dk_error_set(err, DK_EFORMAT, "%s: expected x [B, ...], sigma [B], denoised like x; got %s, %s, %s", v->path,
                          dk_shape_str(x, a, sizeof a), dk_shape_str(sigma, b, sizeof b), dk_shape_str(want, c, sizeof c));
        goto done;
    }
    /* the kernel */
    if (!(g = dk_gmm_from_tensors(mu, sd, wt, err))) {
        st = dk_error_prefix(err, "%s", v->path);
        goto done;
    }
    if ((size_t)g->d * (size_t)x->shape[0] != x->numel) {
        st = dk_error_set(err, DK_EFORMAT, "%s: x has %zu values per sample, the means %lld", v->path,
                          x->numel / (size_t)x->shape[0], (long long)g->d);
        goto done;
    }
    if ((st = dk_gmm_denoise(g, x->shape[0], dk_f64(x), dk_f64(sigma), dk_f64(got), err))) goto done;
    dk_verify_compare(v, "denoised (kernel)", got, want, 1e-12, 1e-12);
    /* the plugin path */
    if (!(model = instance(v, DK_KIND_MODEL, "gmm", "file", v->path, err)) ||
        !(precond = instance(v, DK_KIND_PRECOND, "identity", NULL, NULL, err)) ||
        !(den = dk_denoiser_new(model, precond, err))) {
        st = err->code;
        goto done;
    }
    dk_tensor_zero(got);
    if ((st = dk_denoiser_denoise(den, x, dk_f64(sigma), got, NULL, err))) {
        dk_error_prefix(err, "%s: model 'gmm'", v->path);
        goto done;
    }
    dk_verify_compare(v, "denoised (gmm plugin)", got, want, 1e-12, 1e-12);
done:
    dk_denoiser_free(den);
    dk_instance_free(model);
    dk_instance_free(precond);
    dk_gmm_free(g);
    dk_tensor_free(mu);
    dk_tensor_free(sd);
    dk_tensor_free(wt);
    dk_tensor_free(x);
    dk_tensor_free(sigma);
    dk_tensor_free(want);
    dk_tensor_free(got);
    return st;
}

DK_VERIFY_SECTION("gmm_check", verify_gmm_check)
