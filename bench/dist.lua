-- bench/dist.lua: data-parallel training throughput (docs/distributed.md).
-- Usage: diffkit run bench/dist.lua <config> [steps] [warmup]
--        mpirun -np 2 -x OMP_NUM_THREADS=1 diffkit run bench/dist.lua <config> [steps] [warmup]
--   config: dit_p4 (DiT width 256, depth 8, patch 4) | hdit_E (the paper table's mini E)
-- The global batch is 64 in every world size (each of R ranks computes
-- 64 / R images per step). Rank 0 prints one line
--   RESULT config ranks samples_per_s s_per_step comm_share params
-- comm_share: the share of the step time spent in the gradient sum
-- (dk_dist_sum_ordered: the exchange and the wait for the slowest rank).
local dk = require "diffkit"
local name, steps, warmup = arg[1] or "dit_p4", tonumber(arg[2] or 5), tonumber(arg[3] or 2)
local cfg
if name == "dit_p4" then
  cfg = {
    name = "bench_" .. name, seed = 1, batch = 64,
    data = dk.data.fashion_mnist { split = "train", pad = 2 },
    model = dk.model("dit", { input_size = 32, patch_size = 4, in_channels = 1, hidden_size = 256, depth = 8,
                              num_heads = 4, num_classes = 10, class_dropout_prob = 0.1, learn_sigma = false }),
    precond = dk.precond("edm", { sigma_data = 0.5, weighting = "soft-min-snr" }),
    train_sigma = dk.schedule("cosine-interpolated", { min_value = 1e-3, max_value = 1e3, image_d = 32,
                                                       noise_d_low = 32, noise_d_high = 32, sigma_data = 0.5 }),
    optim = { "adamw", lr = 1e-4, betas = { 0.9, 0.95 }, weight_decay = 1e-2 },
    ema = { power = 0.75, max = 0.999 }, class_dropout = 0.1,
  }
elseif name == "hdit_E" then
  cfg = dk.paper.config("E", "mini")
  cfg.batch = 64
  cfg.grad_accum = 1
else
  error("unknown config '" .. name .. "' (dit_p4, hdit_E)", 0)
end
local exp = dk.experiment(cfg)
local tr = exp:trainer()
for _ = 1, warmup do tr:step() end
local t0, comm = dk.time(), 0
for _ = 1, steps do comm = comm + tr:step().comm_seconds end
local dt = (dk.time() - t0) / steps
if dk.dist.rank() == 0 then
  print(("RESULT %s %d %.3f %.4f %.4f %d"):format(name, dk.dist.world(), 64 / dt, dt, comm / steps / dt,
    dk.model_info(exp:model()).params))
end
-- The fixed-order sum alone (bandwidth): 2^24 F32 elements (64 MiB), the
-- bytes each rank moves being 2 (R-1)/R of that, as in a ring all-reduce.
if dk.dist.world() > 1 then
  local n = 1 << 24
  local dt = dk.dist.sum_bench(n, 5)
  if dk.dist.rank() == 0 then
    local R = dk.dist.world()
    print(("SUMBW %d ranks: %.1f ms per sum of %d MiB, bus bandwidth %.2f GB/s"):format(R, dt * 1e3, n * 4 >> 20,
      2 * (R - 1) / R * n * 4 / dt / 1e9))
  end
end
