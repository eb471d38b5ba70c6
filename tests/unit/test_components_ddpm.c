/* test_components_ddpm.c: DDPM tables (DiT betas), DiscreteSchedule maps and
 * DiT's timestep respacing (diffkit/ddpm.h), with values from DiT `diffusion/gaussian_diffusion.py`. */
#include <stdlib.h>
#include <string.h>
#include "dktest.h"
#include "diffkit/ddpm.h"

static void test_tables(void) {
    dk_ddpm d;
    DK_CHECK_OK(dk_ddpm_init(&d, "linear", 1000, NULL, &dk_test_err));
    DK_CHECK(d.T == 1000);
    DK_CHECK(d.betas[0] == 1e-4);
    DK_CHECK(d.betas[999] == 0.02);
    DK_CHECK_NEAR(d.alphas_cumprod[0], 0.9999, 0, 1e-15);
    DK_CHECK_NEAR(d.alphas_cumprod[999], 4.036e-5, 0, 1e-3);   /* DiT, gaussian_diffusion.py */
    DK_CHECK_NEAR(d.sigmas[0], 0.010000, 0, 1e-4);
    DK_CHECK_NEAR(d.sigmas[999], 157.4073, 0, 1e-6);
    for (int64_t i = 1; i < d.T; i++) DK_CHECK(d.sigmas[i] > d.sigmas[i - 1]);
    /* sigma_to_t gives exact grid indices; t_to_sigma inverts it */
    const int64_t js[] = {0, 1, 17, 500, 998, 999};
    for (size_t k = 0; k < sizeof js / sizeof js[0]; k++) {
        int64_t j = js[k];
        DK_CHECK(dk_ddpm_sigma_to_t(&d, d.sigmas[j]) == (double)j);
        DK_CHECK(dk_ddpm_sigma_to_t_quantized(&d, d.sigmas[j]) == j);
        DK_CHECK_NEAR(dk_ddpm_t_to_sigma(&d, (double)j), d.sigmas[j], 0, 1e-14);
    }
    /* out of range: 0 below, T-1 above; the geometric midpoint is j + 0.5 */
    DK_CHECK(dk_ddpm_sigma_to_t(&d, 1e-5) == 0.0);
    DK_CHECK(dk_ddpm_sigma_to_t(&d, 1e5) == 999.0);
    DK_CHECK_NEAR(dk_ddpm_sigma_to_t(&d, sqrt(d.sigmas[10] * d.sigmas[11])), 10.5, 1e-12, 0);
    double g[11];
    DK_CHECK_OK(dk_ddpm_get_sigmas(&d, 10, g, &dk_test_err));
    DK_CHECK_NEAR(g[0], d.sigmas[999], 0, 1e-14);
    DK_CHECK_NEAR(g[9], d.sigmas[0], 0, 1e-14);
    DK_CHECK(g[10] == 0.0);
    DK_CHECK_STATUS(dk_ddpm_get_sigmas(&d, 0, g, &dk_test_err), DK_EINVAL);
    dk_ddpm_free(&d);

    DK_CHECK_OK(dk_ddpm_init(&d, "cosine", 1000, NULL, &dk_test_err));
    DK_CHECK(d.betas[999] == 0.999); /* capped (squaredcos_cap_v2) */
    DK_CHECK(d.betas[0] > 0 && d.betas[0] < 1e-4);
    dk_ddpm_free(&d);

    DK_CHECK_STATUS(dk_ddpm_init(&d, "quadratic", 1000, NULL, &dk_test_err), DK_EINVAL);
    DK_CHECK(strstr(dk_test_err.msg, "quadratic") != NULL);
}

static void test_respacing(void) {
    int64_t *u = NULL, n = 0;
    /* DiT create_diffusion("250"): round(i*999/249) for i < 250, no ties,
     * so round-half-up in integers is the exact reference */
    DK_CHECK_OK(dk_ddpm_space_timesteps(1000, "250", &u, &n, &dk_test_err));
    DK_CHECK(n == 250);
    for (int64_t i = 0; i < n && u; i++) DK_CHECK(u[i] == (2 * i * 999 + 249) / (2 * 249));
    DK_CHECK(u[0] == 0 && u[1] == 4 && u[2] == 8 && u[3] == 12 && u[247] == 991 && u[248] == 995 && u[249] == 999);
    free(u);
    /* "ddim50": stride 20 */
    DK_CHECK_OK(dk_ddpm_space_timesteps(1000, "ddim50", &u, &n, &dk_test_err));
    DK_CHECK(n == 50 && u[1] == 20 && u[49] == 980);
    free(u);
    /* sections: "10,15,20" of 300 -> sections of 100 starting at 0, 100, 200 */
    DK_CHECK_OK(dk_ddpm_space_timesteps(300, "10,15,20", &u, &n, &dk_test_err));
    DK_CHECK(n == 45);
    DK_CHECK(u[0] == 0 && u[1] == 11 && u[9] == 99 && u[10] == 100 && u[44] == 299);
    free(u);
    /* no respacing = all steps */
    DK_CHECK_OK(dk_ddpm_space_timesteps(1000, "", &u, &n, &dk_test_err));
    DK_CHECK(n == 1000 && u[999] == 999);
    free(u);
    /* bad specs */
    DK_CHECK_STATUS(dk_ddpm_space_timesteps(1000, "2000", &u, &n, &dk_test_err), DK_EINVAL);
    DK_CHECK(strstr(dk_test_err.msg, "2000") != NULL);
    DK_CHECK_STATUS(dk_ddpm_space_timesteps(1000, "abc", &u, &n, &dk_test_err), DK_EINVAL);
    DK_CHECK_STATUS(dk_ddpm_space_timesteps(1000, "0", &u, &n, &dk_test_err), DK_EINVAL);
    DK_CHECK_STATUS(dk_ddpm_space_timesteps(10, "ddim4", &u, &n, &dk_test_err), DK_OK); /* stride 3: 0,3,6,9 */
    DK_CHECK(n == 4 && u[3] == 9);
    free(u);
    DK_CHECK_STATUS(dk_ddpm_space_timesteps(10, "ddim6", &u, &n, &dk_test_err), DK_EINVAL);

    /* respaced tables: betas 1 - abar_i/abar_prev over kept steps, so the
     * respaced abar equals the base abar at the kept steps */
    dk_ddpm base, r;
    DK_CHECK_OK(dk_ddpm_init(&base, "linear", 1000, NULL, &dk_test_err));
    DK_CHECK_OK(dk_ddpm_init(&r, "linear", 1000, "250", &dk_test_err));
    DK_CHECK(r.T == 250);
    DK_CHECK(r.timestep_map[0] == 0 && r.timestep_map[1] == 4 && r.timestep_map[249] == 999);
    DK_CHECK_NEAR(r.betas[0], base.betas[0], 0, 1e-12);
    DK_CHECK_NEAR(r.betas[1], 1.0 - base.alphas_cumprod[4] / base.alphas_cumprod[0], 0, 1e-15);
    for (int64_t j = 0; j < r.T; j++) {
        DK_CHECK_NEAR(r.alphas_cumprod[j], base.alphas_cumprod[r.timestep_map[j]], 0, 1e-12);
        /* the original model timestep comes back through the base table */
        DK_CHECK(dk_ddpm_sigma_to_t_quantized(&base, r.sigmas[j]) == r.timestep_map[j]);
    }
    dk_ddpm_free(&base);
    dk_ddpm_free(&r);
}

int main(void) {
    test_tables();
    test_respacing();
    return dk_test_finish();
}
