-- r2_study.lua: the R2 question of the HDiT paper (Table 5: R2 "R1 + Our
-- Trainer", FID 69.86 against R1's 42.03) answered with measurements: a
-- ladder from R1 to R2 that changes one factor per rung, two side branches,
-- R1-R4 beside them, several seeds, learning curves. docs/r2.md explains the
-- order and holds the results.
--
--   diffkit run experiments/r2_study.lua --preset study --seeds 1,2 [--rungs r2-eps,R2] [--out runs]
--                                        [--results results] [--doc docs/r2.md | --no-doc] [--eval-every N]
--                                        [--eval-n N] [--steps N] [--noise K] [--no-eval] [--force]
--
-- Each rung is a row of the table written as a change of its parent
-- (dk.paper.define, as experiments/<ROW>.lua use dk.paper.row), so
-- `diffkit diff r2-sigma r2-ct --preset study` shows what a rung changes and
-- tests/paper/r2_rungs.lua checks that each changes one factor and that the
-- last rung is R2 exactly. Rows finished earlier are reused; an interrupted
-- one resumes. The ladder (P = the preset):
--
--   R1 -> r2-eps -> r2-sigma -> r2-ct -> r2-ema -> r2-clip -> r2-noflip -> r2-sampler (= R2)
--   side branches: R2 -> r2-hdit-optim;  R1 -> r1-long
local dk = require "diffkit"
local paper = dk.paper
local define = paper.define

local BETAS = { betas = "linear", timesteps = 1000 }

define {
  id = "r2-eps", parent = "R1", description = "R1 without learned variance (eps only, L_simple; integer t)",
  change = function(P)
    -- DiT's own objective without the learned-range variance and its VLB
    -- term: eps-MSE at uniform integer t, which the DDPM-eps wrapper computes
    -- exactly when it feeds the nearest integer t (quantize; the draws are
    -- integer t here anyway). R1's DDPM sampler then has no variance channel
    -- to read: it takes the fixed variance beta_t, as DiT's create_diffusion
    -- does for a model without learned sigma (FIXED_LARGE).
    return {
      model = { opts = { learn_sigma = false } },
      precond = dk.precond("ddpm_eps", dk.extend(BETAS, { quantize = true })),
      sample = { sampler = dk.sampler("ddpm_ancestral", { variance = "large" }) },
    }
  end,
}

define {
  id = "r2-sigma", parent = "r2-eps", description = "+ R2's sigma density (continuous, stratified); embedder fed integer t",
  change = function(P)
    -- The training noise levels of R2: continuous sigma from the
    -- interpolated-cosine density, stratified across the batch, instead of
    -- uniform integer t. The embedder still sees the nearest integer t.
    return {
      train_sigma = dk.schedule("cosine-interpolated", { image_d = P.image, noise_d_low = 32, noise_d_high = P.image,
                                                         sigma_data = 0.5, min_value = 1e-3, max_value = 1e3 }),
      stratified = true,
    }
  end,
}

define {
  id = "r2-ct", parent = "r2-sigma", description = "+ embedder fed the wrapper's fractional t (as R2)",
  change = function(P)
    -- R2's wrapper as it is: the continuous sigma maps to a fractional t by
    -- log-sigma interpolation and DiT's timestep embedder, trained for
    -- integer t in R1, gets that (quantize off, the plugin's default).
    return { precond = dk.precond("ddpm_eps", dk.extend(BETAS, {})) }
  end,
}

define {
  id = "r2-ema", parent = "r2-ct", description = "+ k-diffusion's warmup EMA",
  change = function(P) return { ema = { decay = false, power = 0.75, max = P.ema_max } } end,
}

define {
  id = "r2-clip", parent = "r2-ema", description = "+ gradient clipping at norm 1",
  change = function(P) return { clip_norm = 1.0 } end,
}

define {
  id = "r2-noflip", parent = "r2-clip", description = "+ no horizontal flips",
  change = function(P) return { hflip = false } end,
}

define {
  id = "r2-sampler", parent = "r2-noflip", description = "+ R2's sampler (DPM++(3M) SDE, 50 Karras steps) = R2",
  same_as = "R2", -- the study trains R2 for this rung
  change = function(P)
    return {
      sample = {
        sampler = dk.sampler("dpmpp_3m_sde", { eta = 1 }),
        schedule = dk.schedule("karras", { sigma_min = 0.01, sigma_max = 160, rho = 7 }),
        steps = P.sample_steps, noise = "brownian",
      },
    }
  end,
}

-- side branches
define {
  id = "r2-hdit-optim", parent = "R2", description = "R2 with HDiT's optimizer (AdamW 5e-4, 0.9/0.95, wd 1e-2)",
  change = function(P)
    -- HDiT's AdamW settings (Table 6/7; what R3 uses) instead of DiT's
    -- (lr 1e-4, betas 0.9/0.999, no weight decay; paper footnote 3).
    return { optim = { "adamw", lr = 5e-4, betas = { 0.9, 0.95 }, eps = 1e-8, weight_decay = 1e-2 } }
  end,
}

define {
  id = "r1-long", parent = "R1", description = "R1 trained twice as long",
  continues = "R1", -- starts from R1's finished run of the same seed
  change = function(P) return { steps = 2 * P.steps } end,
}

if not paper.loading() then
  paper._dir = (arg and arg[0] and arg[0]:match("(.*)/[^/]*$")) or "experiments"
  require("diffkit.r2study").main(arg)
end
