-- test_plugins.lua: the example plugin (docs/example_plugin) found through
-- DIFFKIT_PLUGIN_PATH — listing, options, instances, values and errors.
local dk = require "diffkit"
local check = require "check"

local found
for _, p in ipairs(dk.plugins("schedule")) do
  if p.name == "cosine-example" then found = p end
end
check.ok(found ~= nil, "cosine-example is listed")
check.eq(found.kind, "schedule")
check.eq(found.version, "1.0")
check.ok(found.path:find("cosine%-example%.so$") ~= nil, "path ends in cosine-example.so")
check.eq(#found.options, 2)
check.eq(found.options[1].name, "sigma_min")
check.eq(found.options[1].type, "float")
check.eq(found.options[1].default, "0.01")
check.eq(found.options[1].range, "> 0")
check.eq(dk.plugin_info("schedule", "cosine-example").summary, found.summary)
for _, p in ipairs(dk.plugins("sampler")) do check.eq(p.kind, "sampler") end

-- sigmas: tan(t pi/2) at t evenly spaced from t(sigma_max) to t(sigma_min), then 0
local smin, smax, n = 0.1, 10, 4
local sched = dk.plugin("schedule", "cosine-example", { sigma_min = smin, sigma_max = smax })
check.eq(sched:kind(), "schedule")
check.eq(sched:name(), "cosine-example")
local s = sched:sigmas(n)
check.eq(s:numel(), n + 1)
local t0, t1 = math.atan(smax) / (math.pi / 2), math.atan(smin) / (math.pi / 2)
for i = 0, n - 1 do
  local t = t0 + i / (n - 1) * (t1 - t0)
  check.near(s[i + 1], math.tan(t * math.pi / 2), 1e-12 * smax, "sigma " .. i)
end
check.near(s[1], smax, 1e-12, "first sigma is sigma_max")
check.near(s[n], smin, 1e-14, "last non-zero sigma is sigma_min")
check.eq(s[n + 1], 0, "last sigma is 0")
-- defaults and text values
local d = dk.plugin("schedule", "cosine-example"):sigmas(2)
check.near(d[1], 80, 1e-10, "default sigma_max")
local txt = dk.plugin("schedule", "cosine-example", { sigma_max = "1e1" }):sigmas(1)
check.near(txt[1], 10, 1e-12, "text value 1e1")

-- errors: each one line naming what and where
check.raises(function() dk.plugin("schedule", "cosine-exampel") end,
  "no schedule plugin named 'cosine-exampel' (did you mean 'cosine-example'?")
check.raises(function() dk.plugin("schedual", "x") end, "unknown plugin kind 'schedual'")
check.raises(function() dk.plugin("schedule", "cosine-example", { sigmamin = 1 }) end,
  "unknown option 'sigmamin' for schedule 'cosine-example' (did you mean 'sigma_min'? options: sigma_min, sigma_max)")
check.raises(function() dk.plugin("schedule", "cosine-example", { sigma_min = "abc" }) end,
  "option 'sigma_min' of schedule 'cosine-example' expects a float, got 'abc'")
check.raises(function() dk.plugin("schedule", "cosine-example", { sigma_min = true }) end,
  "option 'sigma_min' of schedule 'cosine-example' expects a float")
check.raises(function() dk.plugin("schedule", "cosine-example", { sigma_min = -1 }) end,
  "plugin schedule 'cosine-example': option 'sigma_min' = -1 is out of range: must be > 0 (sigma_min: smallest non-zero sigma)")
check.raises(function() dk.plugin("schedule", "cosine-example", { sigma_min = 5, sigma_max = 1 }) end,
  "sigma_min (5) must be below sigma_max (1)")
check.raises(function() sched:scalings({1}) end, "is not a precond plugin")
check.raises(function() sched:sigmas(0) end, "needs n >= 1")

check.finish()
