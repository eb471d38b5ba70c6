-- R1: DiT-B/4 with DiT's own trainer (HDiT paper Table 1, row R1; FID 42.03).
-- The root of the table: facebookresearch/DiT as published, in pixel space
-- (HDiT, Table 1 (R1); DiT, `diffusion/gaussian_diffusion.py`): learned variance (epsilon + learned-range sigma,
-- L_simple + L_vlb), uniform integer t over the 1000-step linear DDPM schedule,
-- AdamW lr 1e-4 without weight decay, fixed-decay EMA, horizontal flips, no
-- clipping; sampled with 250 respaced DDPM steps and learned variance.
-- Run: diffkit run experiments/R1.lua --preset mini
local dk = require "diffkit"
return dk.paper.row {
  id = "R1", root = true, description = "DiT-B/4 (Peebles & Xie, 2023)", paper_fid = 42.03, paper_gflop = 106,
  change = function(P)
    return {
      seed = 0, data = P.data(),
      model = dk.model("dit", dk.extend(P.dit, { num_classes = P.classes, class_dropout_prob = 0.1, learn_sigma = true })),
      precond = dk.precond("ddpm_learned_var", { betas = "linear", timesteps = 1000 }),
      train_sigma = dk.schedule("ddpm-uniform-t", { betas = "linear", timesteps = 1000 }),
      optim = { "adamw", lr = 1e-4, betas = { 0.9, 0.999 }, eps = 1e-8, weight_decay = 0 },
      ema = { decay = P.dit_ema },
      batch = P.batch, steps = P.steps, class_dropout = 0.1, hflip = true, clip_norm = 0, stratified = false,
      sample = {
        sampler = dk.sampler("ddpm_ancestral", {}),
        schedule = dk.schedule("ddpm", { betas = "linear", timesteps = 1000, respacing = tostring(P.ddpm_steps) }),
        steps = P.ddpm_steps, noise = "iid",
      },
    }
  end,
}
