/* ddpm.h: discrete DDPM noise tables, shared by the `ddpm` schedule, the
 * `ddpm-uniform-t` density and the `ddpm_eps` / `ddpm_v` preconditioners.
 *
 * Betas follow DiT's get_named_beta_schedule (facebookresearch/DiT,
 * diffusion/gaussian_diffusion.py): "linear" = np.linspace(1e-4*s, 0.02*s, T)
 * with s = 1000/T (Ho et al. 2020), "cosine" = squaredcos_cap_v2
 * (Nichol & Dhariwal 2021, eq. 17, betas capped at 0.999). The VE view is
 * k-diffusion's DiscreteSchedule (external.py): sigma_t = sqrt((1-abar_t)/abar_t),
 * ascending in t, with log-sigma interpolation between timesteps
 * (golden/README.md section 2 gives the exact arithmetic, reproduced here).
 * Respacing is DiT's space_timesteps (diffusion/respace.py): keep a subset of
 * the timesteps and recompute betas as 1 - abar_i/abar_prev over the kept ones. */
#ifndef DIFFKIT_DDPM_H
#define DIFFKIT_DDPM_H

#include <stdint.h>
#include "diffkit/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dk_ddpm {
    int64_t T;               /* number of timesteps (after respacing) */
    double *betas;           /* (T) */
    double *alphas_cumprod;  /* (T) cumprod(1 - betas), sequential, float64 */
    double *sigmas;          /* (T) sqrt((1 - abar)/abar), ascending */
    double *log_sigmas;      /* (T) log(sigmas) */
    int64_t *timestep_map;   /* (T) original timestep of each step (identity unless respaced) */
} dk_ddpm;

/* betas[0..T-1] of a named schedule: "linear" or "cosine" (alias
 * "squaredcos_cap_v2"). T >= 2 for linear, >= 1 for cosine. */
dk_status dk_ddpm_betas(const char *kind, int64_t T, double *betas, dk_error *err);

/* Tables of a named schedule with T timesteps, respaced when `respacing` is
 * non-empty (see dk_ddpm_space_timesteps); NULL or "" = all T steps. */
dk_status dk_ddpm_init(dk_ddpm *d, const char *kind, int64_t T, const char *respacing, dk_error *err);
/* Tables from explicit betas (each in (0, 1]). */
dk_status dk_ddpm_init_betas(dk_ddpm *d, const double *betas, int64_t T, dk_error *err);
void dk_ddpm_free(dk_ddpm *d);

/* DiT's space_timesteps(T, spec): spec "250" or "10,15,20" (counts per equal
 * section; section i keeps round(j*(size-1)/(count-1)) for j < count, the
 * stride accumulated by repeated addition and rounded half to even, as
 * Python does), or "ddimN" (the integer stride giving exactly N steps).
 * *use (malloc'd, caller frees) holds the kept timesteps ascending, *n of them. */
dk_status dk_ddpm_space_timesteps(int64_t T, const char *spec, int64_t **use, int64_t *n, dk_error *err);

/* DiscreteSchedule.sigma_to_t(sigma, quantize=False): log-sigma
 * interpolation, 0 below the grid, T-1 above, exact j at sigmas[j]. */
double dk_ddpm_sigma_to_t(const dk_ddpm *d, double sigma);
/* sigma_to_t(sigma, quantize=True): argmin_i |log sigma - log_sigmas[i]|, first on ties. */
int64_t dk_ddpm_sigma_to_t_quantized(const dk_ddpm *d, double sigma);
/* t_to_sigma(t) with k-diffusion's float32 quirk: t is cast to float32 and
 * the interpolation weight is float32 (tests/data/golden/FORMAT.md section 2). */
double dk_ddpm_t_to_sigma(const dk_ddpm *d, double t);
/* get_sigmas(k): t = lin(T-1, 0, k) in float64, out[0..k-1] = t_to_sigma(t),
 * out[k] = 0. k >= 1. */
dk_status dk_ddpm_get_sigmas(const dk_ddpm *d, int64_t k, double *out, dk_error *err);
/* sigmas as k-diffusion's OpenAIDenoiser has them: abar cast to float32,
 * then sqrt((1 - a)/a) in float32. out: (T). */
void dk_ddpm_sigmas_f32(const dk_ddpm *d, float *out);

#ifdef __cplusplus
}
#endif
#endif
