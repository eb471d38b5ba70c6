-- make_tiny_ckpt.lua OUT: trains the tiny checkpoint of the stored-FID test
-- (eval.fid_shipped; tests/eval/fid_shipped.lua): a very small DiT on
-- Fashion-MNIST 32x32, 300 steps of batch 16, EDM preconditioner, a
-- deterministic sampler (DPM++(2M), 10 Karras steps). Run once; the result is
-- committed as tests/data/featnet/tiny_dit.safetensors (the test never
-- retrains it: training is not bit-reproducible across CPUs, the evaluation
-- of a fixed checkpoint is reproducible to ~1e-6).
local dk = require "diffkit"
local out = assert(arg[1], "usage: make_tiny_ckpt.lua OUT_FOLDER")
local exp = dk.experiment {
  name = "tiny_dit", seed = 0,
  data = dk.data.fashion_mnist { split = "train", pad = 2 },
  model = dk.model("dit", { input_size = 32, in_channels = 1, patch_size = 8, hidden_size = 16, depth = 1,
                            num_heads = 2, num_classes = 10, class_dropout_prob = 0.1, learn_sigma = false }),
  precond = dk.precond("edm", { sigma_data = 0.5 }),
  train_sigma = dk.schedule("cosine-interpolated", { image_d = 32, noise_d_low = 32, noise_d_high = 32,
                                                     sigma_data = 0.5, min_value = 1e-3, max_value = 1e3 }),
  optim = { "adamw", lr = 2e-3, betas = { 0.9, 0.95 }, eps = 1e-8, weight_decay = 0 },
  ema = { power = 0.75, max = 0.99 }, batch = 16, steps = 300, class_dropout = 0.1,
  sample = { sampler = dk.sampler("dpmpp_2m", {}), schedule = dk.schedule("karras", { sigma_min = 0.01, sigma_max = 80 }),
             steps = 10, noise = "iid" },
}
exp:train { out = out, checkpoint_every = 0, quiet = true }
print(exp:info(32, 32).params)
