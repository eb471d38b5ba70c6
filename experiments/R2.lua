-- R2: R1 + our trainer (HDiT paper Table 5, row R2; FID 69.86).
-- The same DiT network (learn_sigma off) in k-diffusion's discrete-time DDPM
-- epsilon wrapper, trained the HDiT way: continuous sigma from the
-- interpolated-cosine density (stratified), clipping at 1, warmup EMA, no
-- flips, sampled with 50 steps of DPM++(3M) SDE (eta 1) on Karras sigmas
-- 0.01-160. The optimizer keeps DiT's settings (paper footnote 3).
local dk = require "diffkit"
return dk.paper.row {
  id = "R2", parent = "R1", description = "R1 + Our Trainer", paper_fid = 69.86,
  change = function(P)
    return {
      model = { opts = { learn_sigma = false } },
      precond = dk.precond("ddpm_eps", { betas = "linear", timesteps = 1000 }),
      train_sigma = dk.schedule("cosine-interpolated", { image_d = P.image, noise_d_low = 32, noise_d_high = P.image,
                                                         sigma_data = 0.5, min_value = 1e-3, max_value = 1e3 }),
      ema = { decay = false, power = 0.75, max = P.ema_max },
      hflip = false, clip_norm = 1.0, stratified = true,
      sample = {
        sampler = dk.sampler("dpmpp_3m_sde", { eta = 1 }),
        schedule = dk.schedule("karras", { sigma_min = 0.01, sigma_max = 160, rho = 7 }),
        steps = P.sample_steps, noise = "brownian",
      },
    }
  end,
}
