-- bench/sampler.lua: sampler overhead (issue 7). A sampler drives the exact
-- `gmm` denoiser (mixture of 2 components in 32x32x1, batch 64, 200 Euler /
-- Heun steps): its time per step, gmm calls included, is an upper bound on
-- the sampler's own time per step. That bound is set against a realistic
-- model's time for the same number of calls, the paper table's `mini` HDiT
-- row E at batch 64 (what issue 7 means by "< 1 % of model time").
-- (Subtracting gmm calls timed from Lua is no good once the sampler's own
-- time is this small: a Lua-side call carries binding costs the sampler's C
-- path does not, and the difference goes negative.)
-- Prints "RESULT sampler name s_per_step calls_per_step gmm_s_per_call_from_lua"
-- and "RESULT sampler_vs_hdit name s_per_step calls_per_step hdit_s_per_call bound".
local dk = require "diffkit"
local D, K, B, N = 32 * 32, 2, 64, 200
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
  print(("RESULT sampler %s %.6f %.3f %.6f"):format(name, total / N, nfe / N, model / nfe))
  own[name] = { step = total / N, calls = nfe / N }
end

-- the mini HDiT (row E, untrained weights: the cost does not depend on them)
local exp = dk.experiment(dk.paper.config("E", "mini"))
local S = 10
exp:sample { n = B, steps = 2, sampler = "euler" } -- warm-up
local t0 = dk.time()
local _, calls = exp:sample { n = B, steps = S, sampler = "euler" }
local per_call = (dk.time() - t0) / calls
for _, name in ipairs({ "euler", "heun" }) do
  local o = own[name]
  print(("RESULT sampler_vs_hdit %s %.6f %.3f %.6f %.5f"):format(name, o.step, o.calls, per_call,
                                                               o.step / (o.calls * per_call)))
end
