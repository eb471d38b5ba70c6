-- bench/sampler.lua: sampler overhead (issue 7): time per step of a sampler
-- driving the exact `gmm` denoiser vs the denoiser's own time for the same
-- calls. Mixture of 16 components in 32x32x1, batch 64, 200 Euler / Heun steps.
-- Prints "RESULT sampler name s_per_step model_s_per_call overhead_fraction".
-- The sampler's own time per step (total minus the gmm calls) is then set
-- against a realistic model's time per call, the paper table's `mini` HDiT
-- row E at batch 64 (what issue 7 means by "< 1 % of model time"):
-- "RESULT sampler_vs_hdit name own_s_per_step hdit_s_per_call fraction".
local dk = require "diffkit"
local D, K, B, N = 32 * 32, 16, 64, 200
local means = {}
for k = 1, K do
  local img = {}
  for y = 1, 32 do
    local row = {}
    for x = 1, 32 do row[x] = math.sin(0.3 * k * x + 0.17 * y) * 0.8 end
    img[y] = row
  end
  means[k] = { img }
end
local std, w = {}, {}
for k = 1, K do std[k], w[k] = 0.1 + 0.01 * k, 1 / K end
local gmm = dk.gmm(dk.tensor(means), dk.tensor(std), dk.tensor(w))
local sigmas = dk.plugin("schedule", "karras", { sigma_min = 0.002, sigma_max = 80, rho = 7 }):sigmas(N)
local x0 = dk.randn({ B, 1, 32, 32 }, 0) * 80

local own = {}
for _, name in ipairs({ "euler", "heun" }) do
  local sampler = dk.plugin("sampler", name)
  local nfe = name == "heun" and 2 * N - 1 or N
  sampler:sample(x0, sigmas, { denoise = gmm })          -- warm-up
  local t0 = dk.time()
  sampler:sample(x0, sigmas, { denoise = gmm })
  local total = dk.time() - t0
  -- the model alone: the same number of denoiser calls on the same batch
  local x = dk.randn({ B, 1, 32, 32 }, 1)
  t0 = dk.time()
  for i = 1, nfe do gmm:denoise(x, 1.0 + i * 1e-3) end
  local model = dk.time() - t0
  print(("RESULT sampler %s %.6f %.6f %.5f"):format(name, total / N, model / nfe, (total - model) / model))
  own[name] = (total - model) / N
end

-- the mini HDiT (row E, untrained weights: the cost does not depend on them)
local exp = dk.experiment(dk.paper.config("E", "mini"))
local S = 10
exp:sample { n = B, steps = 2, sampler = "euler" } -- warm-up
local t0 = dk.time()
local _, calls = exp:sample { n = B, steps = S, sampler = "euler" }
local per_call = (dk.time() - t0) / calls
for _, name in ipairs({ "euler", "heun" }) do
  print(("RESULT sampler_vs_hdit %s %.6f %.6f %.5f"):format(name, own[name], per_call, own[name] / per_call))
end
