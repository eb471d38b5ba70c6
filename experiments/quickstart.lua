-- quickstart.lua: the main job. Trains a small class-conditional DiT on
-- Fashion-MNIST (32x32, from the Debian package dataset-fashion-mnist) with
-- the EDM preconditioner and k-diffusion's trainer, then samples it with the
-- EMA weights and writes a grid, one row per class.
--
--   diffkit run experiments/quickstart.lua [--steps N] [--out DIR] [--batch B]
--
-- Output in runs/quickstart/: log.csv, a grid every 500 steps, checkpoints,
-- and samples.png (the final grid). Running it again resumes from the last
-- checkpoint. --steps is the target, not part of the run's identity (as in
-- k-diffusion): a larger --steps than before resumes and trains further; a
-- smaller one trains nothing and says so (a run is never shortened). Another
-- --batch is another run: it is refused in the same folder (use --out).
-- docs/quickstart.md says how long until the classes are recognisable.
local dk = require "diffkit"

local USAGE = [[
usage: diffkit run experiments/quickstart.lua [--steps N] [--out DIR] [--batch B]

Trains a small class-conditional DiT on Fashion-MNIST and writes a grid of
samples, one row per class, to DIR/samples.png.

  --steps N   train to step N (default 2000); run again with a larger N to
              train further: it resumes from DIR's last checkpoint
  --out DIR   run folder (default runs/quickstart): log.csv, checkpoints, grids
  --batch B   images per step (default 64); part of the run's identity
  --help, -h  this text
]]

local o = { steps = 2000, out = "runs/quickstart", batch = 64 }
local i = 1
while arg[i] do
  local k, v = arg[i], arg[i + 1]
  if k == "--help" or k == "-h" then
    io.stdout:write(USAGE)
    os.exit(0, true)
  end
  if k ~= "--steps" and k ~= "--out" and k ~= "--batch" then
    dk.fail(("unknown option '%s' (options: --steps N, --out DIR, --batch B; --help)"):format(k))
  end
  if v == nil then dk.fail(("option %s needs a value"):format(k)) end
  if k == "--out" then o.out = v
  else
    local n = math.tointeger(tonumber(v))
    if not n or n < 1 then dk.fail(("option %s: '%s' is not a whole number >= 1"):format(k, v)) end
    if k == "--steps" then o.steps = n else o.batch = n end
  end
  i = i + 2
end

local CLASSES = { "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                  "Ankle boot" }

local exp = dk.experiment {
  name = "quickstart", seed = 0,
  data = dk.data.fashion_mnist { split = "train", pad = 2 },
  -- DiT (Peebles & Xie 2023) with adaLN-Zero blocks: 64 tokens of 4x4 patches.
  model = dk.model("dit", { input_size = 32, patch_size = 4, in_channels = 1, hidden_size = 128, depth = 4,
                            num_heads = 4, num_classes = 10, class_dropout_prob = 0.1, learn_sigma = false }),
  -- Karras et al. (2022) preconditioning, HDiT's soft-min-snr loss weighting.
  precond = dk.precond("edm", { sigma_data = 0.5, weighting = "soft-min-snr" }),
  train_sigma = dk.schedule("cosine-interpolated", { image_d = 32, noise_d_low = 32, noise_d_high = 32,
                                                     sigma_data = 0.5, min_value = 1e-3, max_value = 1e3 }),
  optim = { "adamw", lr = 1e-3, betas = { 0.9, 0.95 }, weight_decay = 1e-2 },
  lr_sched = { "constant", warmup = 0.99 },
  ema = { power = 0.75, max = 0.999 },
  batch = o.batch, steps = o.steps, class_dropout = 0.1,
  sample = { sampler = dk.sampler("dpmpp_2m", {}), steps = 30,
             schedule = dk.schedule("karras", { sigma_min = 0.01, sigma_max = 80 }) },
}

local info = exp:info()
print(("model: DiT, %.2fM parameters, %.1f MMACs per image; %d steps of batch %d"):format(
  info.params / 1e6, (info.macs or 0) / 1e6, o.steps, o.batch))
local t0 = dk.time()
local last = exp:train { out = o.out, log_every = 10, sample_every = 500, sample_n = 80, checkpoint_every = 500 }
local x = exp:sample { n = 80, out = o.out .. "/samples.png" }
if not x then return end -- `diffkit info` only reports the model
if last then
  print(("trained to step %d (loss %.4f) in %.0f s; wrote %s/samples.png (%d samples: one row per class: %s)"):format(
    last.step, last.loss, dk.time() - t0, o.out, x:shape()[1], table.concat(CLASSES, ", ")))
else -- the run was already at (or past) its target: sampled its last checkpoint
  print(("nothing to train (see above); wrote %s/samples.png from the last checkpoint (%d samples: one row per class: %s)")
    :format(o.out, x:shape()[1], table.concat(CLASSES, ", ")))
end
