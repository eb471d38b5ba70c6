-- ddpm_fixed_variance.lua: the ddpm_ancestral sampler's fixed variances
-- (variance = "large" | "small", for models without learned sigma, as DiT's
-- FIXED_LARGE / FIXED_SMALL) are the learned-variance step at v = +1 / -1
-- exactly, and they ignore the variance channel.
local check = dofile(arg[0]:match("(.*/)") .. "check.lua")
local dk = require "diffkit"
local sched = dk.plugin("schedule", "ddpm", { betas = "linear", timesteps = 1000, respacing = "20" })
local sig = sched:sigmas(20)
local x0 = dk.randn({ 3, 1, 4, 4 }, 7, 0) * sig:get(1)
-- a smooth stand-in denoiser: D = x / (1 + sigma^2) (the exact one of N(0, I) data)
local function den(v)
  return function(x, sigmas)
    local d = x:clone()
    local per = x:numel() // #sigmas
    for i = 1, x:numel() do d:set(i, x:get(i) / (1 + sigmas[(i - 1) // per + 1] ^ 2)) end
    if v == nil then return d end
    return d, dk.full(x:shape(), v)
  end
end
local function run(opts, v)
  return dk.plugin("sampler", "ddpm_ancestral", opts):sample(x0, sig, { denoise = den(v), seed = 3 })
end
local learned_hi, learned_lo = run({}, 1), run({}, -1)
local large, small = run({ variance = "large" }), run({ variance = "small" })
check.ok(large:max_abs_diff(learned_hi) == 0, "variance = large is the learned step at v = +1: " .. large:max_abs_diff(learned_hi))
check.ok(small:max_abs_diff(learned_lo) == 0, "variance = small is the learned step at v = -1: " .. small:max_abs_diff(learned_lo))
check.ok(large:max_abs_diff(small) > 1e-3, "large and small differ")
check.ok(run({ variance = "large" }, 0.3):max_abs_diff(large) == 0, "a fixed variance ignores the variance channel")
check.ok(run({}, 0):max_abs_diff(large) > 1e-3, "the learned variance reads the channel")
check.finish()
