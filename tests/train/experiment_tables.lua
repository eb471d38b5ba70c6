-- experiment_tables.lua: experiment tables are checked data; dk.extend merges
-- option tweaks and replaces whole plugin specs; config text and diffs.
local check = dofile(arg[0]:match("(.*/)") .. "../lua/check.lua")
local dk = require "diffkit"

local a = { model = dk.model("dit", { hidden_size = 32 }), batch = 4 }
local b = dk.extend(a, { model = { opts = { depth = 3 } } })
check.eq(b.model.name, "dit", "tweak keeps the plugin")
check.eq(b.model.opts.hidden_size, 32, "tweak keeps other options")
check.eq(b.model.opts.depth, 3, "tweak sets the option")
check.eq(a.model.opts.depth, nil, "base untouched")
local c = dk.extend(a, { model = dk.model("hdit", { widths = { 8 } }) })
check.eq(c.model.name, "hdit", "a whole spec replaces")
check.eq(c.model.opts.hidden_size, nil, "no options leak from the old spec")

-- Unknown plugin names and experiment keys fail loudly, naming the closest.
check.raises(function() dk.model("ditt", {}) end, "dit")
local base = {
  name = "x", data = dk.data.fashion_mnist { pad = 2 }, model = dk.model("dit", {}),
  precond = dk.precond("edm", {}), train_sigma = dk.schedule("lognormal", {}),
}
check.raises(function() dk.experiment(dk.extend(base, { bacth = 3 })) end, "did you mean 'batch'")
check.raises(function() dk.experiment { name = "y" } end, "'data' is required")
check.raises(function() dk.experiment(dk.extend(base, { sample = { stepz = 3 } })) end, "unknown key 'stepz'")

-- Config text is canonical (sorted) and diffs name the changed leaves.
local E = dk.experiment
local t1 = E.config_text(dk.extend(base, { batch = 4 }))
local t2 = E.config_text(dk.extend(base, { batch = 8 }))
check.ok(t1:find("batch = 4", 1, true) ~= nil, "config text has batch")
local d = E.config_diff(t1, t2)
check.eq(#d, 2, "one line removed, one added")
check.eq(d[1], "- batch = 4", "old line")
check.eq(d[2], "+ batch = 8", "new line")

-- dk.sample rejects bad sigmas with the values named.
local m = dk.plugin("model", "dit", { input_size = 8, patch_size = 4, in_channels = 1, hidden_size = 16, depth = 1, num_heads = 2 })
local pre, smp = dk.plugin("precond", "edm"), dk.plugin("sampler", "euler")
check.raises(function() dk.sample { model = m, precond = pre, sampler = smp, sigmas = { 1, 2, 0 } } end,
  "sigmas must be strictly descending: sigmas[1] = 1, sigmas[2] = 2")
check.raises(function() dk.sample { model = m, precond = pre, sampler = smp, sigmas = { 2, 1, 0.5 } } end,
  "the last sigma must be 0 (got 0.5)")
check.raises(function() dk.sample { model = m, precond = pre, sampler = smp, sigmas = { 2, 0 }, n = 0 } end, "n = 0")
check.finish()
