/* ddpm.c: DDPM beta schedules, alphas_cumprod, the VE sigma table,
 * k-diffusion's DiscreteSchedule maps (sigma <-> t, get_sigmas) and DiT's
 * timestep respacing. See ddpm.h for the sources of each formula. */
#include "diffkit/ddpm.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "diffkit/numeric.h"

/* squaredcos_cap_v2 (Nichol & Dhariwal 2021, eq. 17 with s = 0.008):
 * abar(t) = cos((t + 0.008)/1.008 * pi/2)^2, evaluated left to right as
 * DiT's lambda does. */
static double cosine_alpha_bar(double t) {
    double c = cos((t + 0.008) / 1.008 * M_PI / 2.0);
    return c * c;
}

dk_status dk_ddpm_betas(const char *kind, int64_t T, double *betas, dk_error *err) {
    if (!kind) kind = "linear";
    if (strcmp(kind, "linear") == 0) {
        if (T < 2)
            return dk_error_set(err, DK_EINVAL, "ddpm: linear betas need timesteps >= 2, got %lld",
                                (long long)T);
        /* Ho et al. 2020 linear schedule, scaled by 1000/T (DiT); numpy's
         * linspace: start + i*step, with the last entry exactly stop. */
        double scale = 1000.0 / (double)T;
        double start = scale * 0.0001, stop = scale * 0.02;
        double step = (stop - start) / (double)(T - 1);
        for (int64_t i = 0; i < T; i++) betas[i] = (double)i * step + start;
        betas[T - 1] = stop;
        return DK_OK;
    }
    if (strcmp(kind, "cosine") == 0 || strcmp(kind, "squaredcos_cap_v2") == 0) {
        if (T < 1)
            return dk_error_set(err, DK_EINVAL, "ddpm: cosine betas need timesteps >= 1, got %lld",
                                (long long)T);
        for (int64_t i = 0; i < T; i++) {
            double t1 = (double)i / (double)T, t2 = (double)(i + 1) / (double)T;
            double b = 1.0 - cosine_alpha_bar(t2) / cosine_alpha_bar(t1);
            betas[i] = b < 0.999 ? b : 0.999;
        }
        return DK_OK;
    }
    return dk_error_set(err, DK_EINVAL,
                        "ddpm: unknown beta schedule '%s': use 'linear' or 'cosine'", kind);
}

void dk_ddpm_free(dk_ddpm *d) {
    if (!d) return;
    free(d->betas);
    free(d->alphas_cumprod);
    free(d->sigmas);
    free(d->log_sigmas);
    free(d->timestep_map);
    memset(d, 0, sizeof *d);
}

dk_status dk_ddpm_init_betas(dk_ddpm *d, const double *betas, int64_t T, dk_error *err) {
    memset(d, 0, sizeof *d);
    if (T < 1) return dk_error_set(err, DK_EINVAL, "ddpm: need at least 1 timestep, got %lld", (long long)T);
    for (int64_t i = 0; i < T; i++)
        if (!(betas[i] > 0.0 && betas[i] <= 1.0))
            return dk_error_set(err, DK_EINVAL, "ddpm: beta[%lld] = %g is outside (0, 1]",
                                (long long)i, betas[i]);
    size_t n = (size_t)T;
    d->T = T;
    d->betas = malloc(n * sizeof(double));
    d->alphas_cumprod = malloc(n * sizeof(double));
    d->sigmas = malloc(n * sizeof(double));
    d->log_sigmas = malloc(n * sizeof(double));
    d->timestep_map = malloc(n * sizeof(int64_t));
    if (!d->betas || !d->alphas_cumprod || !d->sigmas || !d->log_sigmas || !d->timestep_map) {
        dk_ddpm_free(d);
        return dk_error_set(err, DK_ENOMEM, "ddpm: out of memory for %lld timesteps", (long long)T);
    }
    double a = 1.0;
    for (size_t i = 0; i < n; i++) {
        d->betas[i] = betas[i];
        a *= 1.0 - betas[i];                      /* np.cumprod(1 - betas) */
        d->alphas_cumprod[i] = a;
        d->sigmas[i] = sqrt((1.0 - a) / a);       /* VE sigma of abar (k-diffusion external.py) */
        d->log_sigmas[i] = log(d->sigmas[i]);
        d->timestep_map[i] = (int64_t)i;
    }
    return DK_OK;
}

/* Parses a non-negative decimal integer spanning [s, end). */
static int parse_count(const char *s, const char *end, int64_t *out) {
    int64_t v = 0;
    if (s == end) return -1;
    for (const char *p = s; p < end; p++) {
        if (!isdigit((unsigned char)*p)) return -1;
        if (v > (INT64_MAX - 9) / 10) return -1;
        v = v * 10 + (*p - '0');
    }
    *out = v;
    return 0;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

dk_status dk_ddpm_space_timesteps(int64_t T, const char *spec, int64_t **use, int64_t *n, dk_error *err) {
    *use = NULL;
    *n = 0;
    if (T < 1) return dk_error_set(err, DK_EINVAL, "ddpm respacing: timesteps must be >= 1, got %lld", (long long)T);
    if (!spec || !*spec) spec = NULL;
    if (spec && strncmp(spec, "ddim", 4) == 0) {
        int64_t want;
        if (parse_count(spec + 4, spec + strlen(spec), &want) != 0 || want < 1)
            return dk_error_set(err, DK_EINVAL,
                                "ddpm respacing '%s': expected 'ddimN' with N >= 1 steps", spec);
        for (int64_t stride = 1; stride < T; stride++) {
            if ((T + stride - 1) / stride == want) { /* len(range(0, T, stride)) */
                int64_t *u = malloc((size_t)want * sizeof(int64_t));
                if (!u) return dk_error_set(err, DK_ENOMEM, "ddpm respacing: out of memory");
                for (int64_t i = 0; i < want; i++) u[i] = i * stride;
                *use = u;
                *n = want;
                return DK_OK;
            }
        }
        return dk_error_set(err, DK_EINVAL,
                            "ddpm respacing '%s': no integer stride gives exactly %lld of %lld steps",
                            spec, (long long)want, (long long)T);
    }
    /* Section counts: "250" or "10,15,20"; none = all T steps. */
    int64_t counts[256];
    int64_t n_sec = 0;
    if (!spec) {
        counts[n_sec++] = T;
    } else {
        const char *p = spec;
        for (;;) {
            const char *q = strchr(p, ',');
            const char *e = q ? q : p + strlen(p);
            while (p < e && isspace((unsigned char)*p)) p++;
            const char *e2 = e;
            while (e2 > p && isspace((unsigned char)e2[-1])) e2--;
            if (n_sec >= 256)
                return dk_error_set(err, DK_EINVAL, "ddpm respacing '%s': more than 256 sections", spec);
            if (parse_count(p, e2, &counts[n_sec]) != 0 || counts[n_sec] < 1)
                return dk_error_set(err, DK_EINVAL,
                                    "ddpm respacing '%s': expected step counts >= 1 like '250' or "
                                    "'10,15,20', or 'ddimN'", spec);
            n_sec++;
            if (!q) break;
            p = q + 1;
        }
    }
    int64_t total = 0;
    for (int64_t i = 0; i < n_sec; i++) total += counts[i];
    int64_t *u = malloc((size_t)total * sizeof(int64_t));
    if (!u) return dk_error_set(err, DK_ENOMEM, "ddpm respacing: out of memory");
    int64_t size_per = T / n_sec, extra = T % n_sec, start = 0, k = 0;
    for (int64_t i = 0; i < n_sec; i++) {
        int64_t size = size_per + (i < extra ? 1 : 0);
        if (size < counts[i]) {
            free(u);
            return dk_error_set(err, DK_EINVAL,
                                "ddpm respacing '%s': cannot divide a section of %lld steps into %lld",
                                spec ? spec : "", (long long)size, (long long)counts[i]);
        }
        double stride = counts[i] <= 1 ? 1.0 : (double)(size - 1) / (double)(counts[i] - 1);
        double cur = 0.0;
        for (int64_t j = 0; j < counts[i]; j++) {
            u[k++] = start + (int64_t)rint(cur); /* Python round(): half to even */
            cur += stride;
        }
        start += size;
    }
    /* DiT returns a set: sort and drop duplicates. */
    qsort(u, (size_t)k, sizeof(int64_t), cmp_i64);
    int64_t m = 0;
    for (int64_t i = 0; i < k; i++)
        if (m == 0 || u[m - 1] != u[i]) u[m++] = u[i];
    *use = u;
    *n = m;
    return DK_OK;
}

dk_status dk_ddpm_init(dk_ddpm *d, const char *kind, int64_t T, const char *respacing, dk_error *err) {
    memset(d, 0, sizeof *d);
    if (T < 1) return dk_error_set(err, DK_EINVAL, "ddpm: timesteps must be >= 1, got %lld", (long long)T);
    double *betas = malloc((size_t)T * sizeof(double));
    if (!betas) return dk_error_set(err, DK_ENOMEM, "ddpm: out of memory for %lld timesteps", (long long)T);
    dk_status s = dk_ddpm_betas(kind, T, betas, err);
    if (s == DK_OK) s = dk_ddpm_init_betas(d, betas, T, err);
    if (s != DK_OK || !respacing || !*respacing) {
        free(betas);
        return s;
    }
    int64_t *use = NULL, n = 0;
    s = dk_ddpm_space_timesteps(T, respacing, &use, &n, err);
    if (s != DK_OK) {
        free(betas);
        dk_ddpm_free(d);
        return s;
    }
    /* DiT SpacedDiffusion: new beta_i = 1 - abar_i / abar_prev over kept steps
     * (abar_prev = 1 before the first), then abar recomputed by cumprod. */
    double last = 1.0;
    for (int64_t i = 0; i < n; i++) {
        double a = d->alphas_cumprod[use[i]];
        betas[i] = 1.0 - a / last;
        last = a;
    }
    dk_ddpm_free(d);
    s = dk_ddpm_init_betas(d, betas, n, err);
    free(betas);
    if (s != DK_OK) {
        free(use);
        return s;
    }
    free(d->timestep_map);
    d->timestep_map = use;
    return DK_OK;
}

double dk_ddpm_sigma_to_t(const dk_ddpm *d, double sigma) {
    const int64_t N = d->T;
    if (N == 1) return 0.0;
    double l = log(sigma);
    int64_t low = dk_search_le(d->log_sigmas, N, l);
    if (low < 0) low = 0;
    if (low > N - 2) low = N - 2;
    int64_t high = low + 1;
    double ls_lo = d->log_sigmas[low], ls_hi = d->log_sigmas[high];
    double w = (ls_lo - l) / (ls_lo - ls_hi);
    if (w < 0.0) w = 0.0;
    if (w > 1.0) w = 1.0;
    return (1.0 - w) * (double)low + w * (double)high;
}

int64_t dk_ddpm_sigma_to_t_quantized(const dk_ddpm *d, double sigma) {
    double l = log(sigma);
    int64_t best = 0;
    double best_d = fabs(l - d->log_sigmas[0]);
    for (int64_t i = 1; i < d->T; i++) {
        double di = fabs(l - d->log_sigmas[i]);
        if (di < best_d) {
            best_d = di;
            best = i;
        }
    }
    return best;
}

double dk_ddpm_t_to_sigma(const dk_ddpm *d, double t) {
    float t32 = (float)t;
    float lo = floorf(t32), hi = ceilf(t32);
    float w = t32 - lo;
    int64_t ilo = (int64_t)lo, ihi = (int64_t)hi;
    if (ilo < 0) ilo = 0;
    if (ihi < 0) ihi = 0;
    if (ilo > d->T - 1) ilo = d->T - 1;
    if (ihi > d->T - 1) ihi = d->T - 1;
    float omw = 1.0f - w; /* float32, as torch computes (1 - w) on a float tensor */
    return exp((double)omw * d->log_sigmas[ilo] + (double)w * d->log_sigmas[ihi]);
}

dk_status dk_ddpm_get_sigmas(const dk_ddpm *d, int64_t k, double *out, dk_error *err) {
    if (k < 1) return dk_error_set(err, DK_EINVAL, "ddpm get_sigmas: need n >= 1 steps, got %lld", (long long)k);
    dk_lin((double)(d->T - 1), 0.0, k, out);
    for (int64_t i = 0; i < k; i++) out[i] = dk_ddpm_t_to_sigma(d, out[i]);
    out[k] = 0.0;
    return DK_OK;
}

void dk_ddpm_sigmas_f32(const dk_ddpm *d, float *out) {
    for (int64_t i = 0; i < d->T; i++) {
        float a = (float)d->alphas_cumprod[i];
        out[i] = sqrtf((1.0f - a) / a);
    }
}
