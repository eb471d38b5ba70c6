-- study_bad_input.lua: bad input to samplers, schedules and preconditioners
-- from Lua (issue 3, "Bad input"): each gives one clear error that names the
-- plugin and the option or argument at fault. (A noise stream that runs out
-- is checked through `diffkit verify` on a golden file with a shortened
-- noise_stream: golden.verify_short_noise in tests/study.cmake.)
local check = dofile((arg[0]:match("^(.*)/") or ".") .. "/check.lua")
local dk = require "diffkit"

local g = dk.gmm(dk.tensor({ { 0, 0 }, { 1, 1 } }), dk.tensor({ 0.5, 0.5 }), dk.tensor({ 1, 1 }))
local x = dk.randn({ 2, 2 }, 0) * 10
local function sample(name, sigmas, opts, denoise)
  return function() dk.plugin("sampler", name, opts):sample(x, dk.tensor(sigmas), { denoise = denoise or g }) end
end

-- sigmas
check.raises(sample("euler", { 1, 5, 0 }), "sampler euler: sigmas must be strictly descending (sigmas[0] = 1, sigmas[1] = 5)")
check.raises(sample("heun", { 10, 5, 1 }), "sampler heun: the last sigma must be 0, got 1 (append a zero to the schedule)")
check.raises(sample("dpmpp_2m", { 10 }), "sampler dpmpp_2m: needs at least 2 sigmas (n >= 1 steps), got 1")
check.raises(sample("lms", { 10, -1, 0 }), "sampler lms: sigmas[1] = -1: every sigma must be finite and >= 0")
check.raises(sample("dpm_2", { 10, 0 / 0, 0 }), "sampler dpm_2: sigmas[1] = ")
check.raises(sample("dpm_fast", { 10, 0 }), "sampler dpm_fast: uses sigma_max = sigmas[0] = 10 and sigma_min = the last non-zero sigma")
check.raises(sample("dpm_adaptive", { 10, 0 }), "sampler dpm_adaptive: uses sigma_max")
-- every sampler that walks the given sigmas checks them the same way
-- (dpm_fast and dpm_adaptive use only sigma_max and the last non-zero sigma,
-- and accept a list that does not end in 0: docs/samplers.md)
local own = { dpm_fast = true, dpm_adaptive = true, ddpm_ancestral = true }
for _, p in ipairs(dk.plugins("sampler")) do
  if not own[p.name] then
    check.raises(sample(p.name, { 3, 2, 1 }), "sampler " .. p.name .. ": the last sigma must be 0")
  end
end

-- n < 1 and sigma_min <= 0 in schedules
check.raises(function() dk.plugin("schedule", "karras"):sigmas(0) end, "schedule 'karras': sigmas(n) needs n >= 1 steps, got 0")
check.raises(function() dk.plugin("schedule", "exponential"):sigmas(-3) end, "schedule 'exponential': sigmas(n) needs n >= 1 steps, got -3")
check.raises(function() dk.plugin("schedule", "karras", { sigma_min = 0 }) end,
  "plugin schedule 'karras': option 'sigma_min' = 0 is out of range: must be > 0")

-- unknown options and out-of-range values
check.raises(function() dk.plugin("sampler", "euler", { s_chrun = 1 }) end,
  "unknown option 's_chrun' for sampler 'euler' (did you mean 's_churn'?")
check.raises(function() dk.plugin("sampler", "lms", { order = 0 }) end,
  "plugin sampler 'lms': option 'order' = 0 is out of range: must be in [1, 16]")
check.raises(function() dk.plugin("sampler", "euler_ancestral", { eta = -1 }) end,
  "plugin sampler 'euler_ancestral': option 'eta' = -1 is out of range: must be >= 0")
check.raises(function() dk.plugin("sampler", "dpmpp_2m_sde", { solver_type = "rk4" }) end, "'solver_type'")

-- a denoiser that fails, returns NaN or the wrong shape
check.raises(sample("euler", { 10, 1, 0 }, nil, function() error("kaput") end),
  "sampler euler: denoise at sigma 10: denoise function: ")
check.raises(sample("heun", { 10, 1, 0 }, nil, function(y) return y * (0 / 0) end),
  "sampler heun: the denoiser returned ")
check.raises(sample("euler", { 10, 1, 0 }, nil, function() return dk.zeros({ 3 }) end),
  "denoise function must return a Tensor shaped like x")
check.raises(function() dk.plugin("sampler", "euler_ancestral"):sample(x, dk.tensor({ 10, 1, 0 }), { denoise = g, noise = "pink" }) end,
  "unknown noise 'pink'")

-- a Lua weighting function that errors, returns NaN, a negative or a string
local function weight(fn) return function() dk.plugin("precond", "edm", { weighting = "function", weight_fn = fn }):weight({ 1 }) end end
check.raises(weight(function() error("bad w") end), "precond 'edm': option 'weight_fn' failed: Lua function option failed at 1: ")
check.raises(weight(function() return 0 / 0 end), "precond 'edm': option 'weight_fn' returned ")
check.raises(weight(function() return -1 end),
  "precond 'edm': option 'weight_fn' returned -1 for sigma = 1: a loss weight must be finite and >= 0")
check.raises(weight(function() return "x" end), "precond 'edm': option 'weight_fn' failed: Lua function option returned a string")
check.raises(function() dk.plugin("precond", "edm", { weighting = "function" }):weight({ 1 }) end,
  "precond 'edm': option 'weighting' is 'function' but option 'weight_fn' is not set")
check.near(dk.plugin("precond", "edm", { weighting = "function", weight_fn = function(s) return 2 * s end }):weight({ 1.5 })[1],
  3.0, 0, "a good weighting function is used")
check.finish()
