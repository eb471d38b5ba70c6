-- bench/t2.lua: the lead's profiling workload: DiT (args: width depth patch steps) on Fashion-MNIST, EDM, AdamW; prints samples/s.
local dk = require "diffkit"
local W, D, P, steps = tonumber(arg[1] or 128), tonumber(arg[2] or 4), tonumber(arg[3] or 4), tonumber(arg[4] or 30)
local exp = dk.experiment {
  name = "t2", seed = 1,
  data = dk.data.fashion_mnist { split = "train", pad = 2 },
  model = dk.model("dit", { input_size = 32, patch_size = P, in_channels = 1, hidden_size = W, depth = D, num_heads = 4, num_classes = 10, class_dropout_prob = 0.1, learn_sigma = false }),
  precond = dk.precond("edm", { sigma_data = 0.5, weighting = "soft-min-snr" }),
  train_sigma = dk.schedule("cosine-interpolated", { min_value = 1e-3, max_value = 1e3, image_d = 32, noise_d_low = 32, noise_d_high = 32, sigma_data = 0.5 }),
  optim = { "adamw", lr = 1e-3, betas = {0.9, 0.95}, weight_decay = 1e-2 },
  ema = { power = 0.75, max = 0.999 }, batch = 64, steps = steps, class_dropout = 0.1,
}
local i = dk.model_info(exp:model())
print("params", i.params, "macs", i.macs)
local st = exp:train { out = "/tmp/diffkit_bench_t2", log_every = 10, resume = false, quiet = true }
print(st.samples_per_s)
