-- bench/train.lua: training-step throughput of one benchmark config (issue 7).
-- Usage: diffkit run bench/train.lua <config> [steps] [warmup]
--   config: dit_p4 | dit_p2 (DiT width 256, depth 8, 4 heads, 32x32x1)
--           hdit_A | hdit_E (the paper table's `mini` rows A and E)
-- One step = forward + backward + AdamW (+ grad clipping and EMA, as in
-- training), F32, batch 64, Fashion-MNIST 32x32. Prints one line
-- "RESULT config samples_per_s s_per_step macs_per_sample peak_rss_kb".
local dk = require "diffkit"
local name, steps, warmup = arg[1] or "dit_p4", tonumber(arg[2] or 5), tonumber(arg[3] or 2)

local function edm_cfg(model)
  return {
    name = "bench_" .. name, seed = 1, batch = 64,
    data = dk.data.fashion_mnist { split = "train", pad = 2 },
    model = model,
    precond = dk.precond("edm", { sigma_data = 0.5, weighting = "soft-min-snr" }),
    train_sigma = dk.schedule("cosine-interpolated", { min_value = 1e-3, max_value = 1e3, image_d = 32,
                                                       noise_d_low = 32, noise_d_high = 32, sigma_data = 0.5 }),
    optim = { "adamw", lr = 1e-4, betas = { 0.9, 0.95 }, weight_decay = 1e-2 },
    ema = { power = 0.75, max = 0.999 }, class_dropout = 0.1,
  }
end

local cfg
if name == "dit_p4" or name == "dit_p2" then
  cfg = edm_cfg(dk.model("dit", { input_size = 32, patch_size = name == "dit_p4" and 4 or 2, in_channels = 1,
                                  hidden_size = 256, depth = 8, num_heads = 4, num_classes = 10,
                                  class_dropout_prob = 0.1, learn_sigma = false }))
elseif name == "hdit_A" or name == "hdit_E" then
  cfg = dk.paper.config(name:sub(6), "mini")
  cfg.batch = 64
else
  error("unknown config '" .. name .. "' (dit_p4, dit_p2, hdit_A, hdit_E)", 0)
end

local exp = dk.experiment(cfg)
local info = dk.model_info(exp:model())
local tr = exp:trainer()
for _ = 1, warmup do tr:step() end
local t0 = dk.time()
for _ = 1, steps do tr:step() end
local dt = (dk.time() - t0) / steps

local function status_kb(key)
  local f = io.open("/proc/self/status", "rb")
  if not f then return 0 end
  local s = f:read("a")
  f:close()
  return tonumber(s:match(key .. ":%s*(%d+)")) or 0
end
print(("RESULT %s %.3f %.4f %d %d"):format(name, 64 / dt, dt, info.macs or 0, status_kb("VmHWM")))
