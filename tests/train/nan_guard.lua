-- nan_guard.lua: a run that diverges stops with the step named, the weights
-- of the failed step are not applied, and the last good checkpoint survives.
package.path = arg[0]:match("(.*/)") .. "?.lua;" .. package.path
local check = dofile(arg[0]:match("(.*/)") .. "../lua/check.lua")
local common = require "common"
local dk = require "diffkit"
common.need_fashion_mnist()

local out = common.tmpdir("nan")
-- A loss weighting that becomes NaN after a few steps' worth of calls.
local calls = 0
local cfg = common.base {
  steps = 20,
  precond = dk.precond("edm", { sigma_data = 0.5, weighting = "function",
    weight_fn = function(sigma) calls = calls + 1; if calls > 16 * 5 then return 0 / 0 end return 1 end }),
}
local err = check.raises(function()
  dk.experiment(cfg):train { out = out, checkpoint_every = 1, quiet = true }
end, "step 6")
print(err)
check.ok(err and err:find("last good checkpoint is", 1, true) ~= nil, "names the last good checkpoint")
local latest = common.read(out .. "/latest"):gsub("%s+$", "")
check.eq(latest, "ckpt_00000005.safetensors", "latest is the step before the failure")
local f = dk.load(out .. "/" .. latest)
check.ok(f ~= nil, "the last good checkpoint loads")

-- A diverging optimizer (huge lr): the loss or a gradient becomes non-finite,
-- the step is refused and named.
local out2 = common.tmpdir("nan2")
local cfg2 = common.base { steps = 200, optim = { "sgd", lr = 1e12 }, clip_norm = 0 }
local err2 = check.raises(function() dk.experiment(cfg2):train { out = out2, quiet = true } end, "training step ")
check.ok(err2 and (err2:find("NaN", 1, true) or err2:find("nan", 1, true) or err2:find("inf", 1, true)) ~= nil,
  "says NaN/Inf: " .. tostring(err2))

-- The advice depends on whether clipping is on: with clipping off it says to
-- enable it; with clipping on it says clipping cannot repair a NaN/Inf
-- gradient (AdamW with lr 1e12 overflows a gradient at step 2 in both cases).
local function grad_error(clip)
  local c = common.base { steps = 20, optim = { "adamw", lr = 1e12 }, clip_norm = clip }
  return check.raises(function() dk.experiment(c):train { out = common.tmpdir("nan3"), quiet = true } end,
    "is NaN or Inf", "gradient guard, clip_norm = " .. clip) or ""
end
local off, on = grad_error(0), grad_error(1)
check.ok(off:find("enable clipping", 1, true) ~= nil, "clipping off: suggests enabling it: " .. off)
check.ok(on:find("enable clipping", 1, true) == nil, "clipping on: does not suggest enabling it: " .. on)
check.ok(on:find("clip_norm = 1 is on", 1, true) ~= nil, "clipping on: says it is on: " .. on)
check.finish()
