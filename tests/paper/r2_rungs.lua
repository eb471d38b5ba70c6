-- r2_rungs.lua: the R2 study (experiments/r2_study.lua) for every preset:
-- each rung of the ladder changes one factor of its parent and nothing else,
-- the last rung is R2 exactly (apart from name and description), the side
-- branches change what they say; and `diffkit diff` (diffkit.diff_cmd) on
-- every parent/child pair of the table and the study is non-empty and holds
-- the keys the child's change touches.
local check = dofile(arg[0]:match("(.*/)") .. "../lua/check.lua")
local dk = require "diffkit"
local paper = dk.paper
local E = dk.experiment
local diff = require "diffkit.diff_cmd"
paper._dir = arg[0]:match("(.*/)") .. "../../experiments"
paper.def("r2-eps") -- loads experiments/r2_study.lua (paper.STUDIES) without running it
local study = require "diffkit.r2study"

-- The one factor each rung may change (config_text paths, as Lua patterns) and must change.
local FACTOR = {
  ["r2-eps"] = { allowed = { "^model%.opts%.learn_sigma$", "^precond%.", "^sample%.sampler%.opts" },
                 must = { 'model.opts.learn_sigma = false', 'precond.name = "ddpm_eps"', 'precond.opts.quantize = true',
                          'sample.sampler.opts.variance = "large"', 'sample.sampler.name = "ddpm_ancestral"' } },
  ["r2-sigma"] = { allowed = { "^train_sigma%.", "^stratified$" },
                   must = { 'train_sigma.name = "cosine-interpolated"', "stratified = true" } },
  ["r2-ct"] = { allowed = { "^precond%.opts%.quantize$" }, must = {} },
  ["r2-ema"] = { allowed = { "^ema%." }, must = { "ema.power = 0.75" } },
  ["r2-clip"] = { allowed = { "^clip_norm$" }, must = { "clip_norm = 1" } },
  ["r2-noflip"] = { allowed = { "^hflip$" }, must = { "hflip = false" } },
  ["r2-sampler"] = { allowed = { "^sample%." }, must = { 'sample.sampler.name = "dpmpp_3m_sde"' } },
  ["r2-hdit-optim"] = { allowed = { "^optim%." }, must = { "optim.lr = 0.00050000000000000001", "optim.weight_decay = 0.01" } },
  ["r1-long"] = { allowed = { "^steps$" }, must = {} },
}

local function leaves(cfg) return diff.leaves(cfg) end
local function strip_name(text) return (("\n" .. text):gsub('\nname = "[^"\n]*"', "", 1)) end

for _, preset in ipairs { "paper", "mini", "study", "tiny" } do
  -- the ladder is a chain from R1 to r2-sampler
  for i = 2, #study.LADDER do
    check.eq(paper.def(study.LADDER[i]).parent, study.LADDER[i - 1], "ladder order at " .. study.LADDER[i])
  end
  for id, f in pairs(FACTOR) do
    local d = paper.def(id)
    local pt, rt = leaves(paper.config(d.parent, preset)), leaves(paper.config(id, preset))
    local changed = 0
    for _, r in ipairs(diff.diff(paper.config(d.parent, preset), paper.config(id, preset))) do
      if r.key ~= "name" then
        local ok = false
        for _, pat in ipairs(f.allowed) do ok = ok or r.key:find(pat) ~= nil end
        check.ok(ok, ("%s/%s: changes '%s' (%s -> %s), outside its one factor"):format(preset, id, r.key, tostring(r.a), tostring(r.b)))
        changed = changed + 1
      end
    end
    check.ok(changed > 0, ("%s/%s differs from its parent %s"):format(preset, id, d.parent))
    for _, want in ipairs(f.must) do
      check.ok(("\n" .. rt):find("\n" .. want .. "\n", 1, true) ~= nil, ("%s/%s must have: %s"):format(preset, id, want))
    end
    _ = pt
  end
  -- the last rung is R2 exactly
  local last = E.config_text(paper.config("r2-sampler", preset))
  local r2 = E.config_text(paper.config("R2", preset))
  check.eq(strip_name(last), strip_name(r2), preset .. ": the last rung's config is R2's")
  check.eq(paper.config("r2-sampler", preset).steps, paper.config("R2", preset).steps, preset .. ": the last rung's steps")
  check.eq(paper.config("r1-long", preset).steps, 2 * paper.config("R1", preset).steps, preset .. ": r1-long trains twice as long")
  check.eq(strip_name(E.config_text(paper.config("r1-long", preset))), strip_name(E.config_text(paper.config("R1", preset))),
    preset .. ": r1-long is R1 (the step target is not part of the identity, so it continues R1's run)")
end

-- `diffkit diff` on every parent/child pair: non-empty, holds the keys the change touches
local ids = {}
for _, id in ipairs(paper.ORDER) do ids[#ids + 1] = id end
for id in pairs(FACTOR) do ids[#ids + 1] = id end
for _, preset in ipairs { "paper", "tiny" } do
  local P = paper.preset(preset)
  for _, id in ipairs(ids) do
    local d = paper.def(id)
    if d.parent then
      local rows = diff.diff(paper.config(d.parent, P), paper.config(id, P))
      local keys = {}
      for _, r in ipairs(rows) do if r.key ~= "name" then keys[#keys + 1] = r.key end end
      check.ok(#keys > 0, ("diff %s %s (%s) is empty"):format(d.parent, id, preset))
      for top in pairs(d.change(P)) do
        local found = false
        for _, k in ipairs(keys) do found = found or k == top or k:sub(1, #top + 1) == top .. "." end
        check.ok(found, ("diff %s %s (%s): the change touches '%s' but the diff has no such line"):format(d.parent, id, preset, top))
      end
      for _, l in ipairs(diff.format(rows)) do
        check.ok(l:find("  ->  ", 1, true) ~= nil, "a diff line holds both values: " .. l)
      end
    end
  end
end
-- a change that is a no-op would show: the diff of a row with itself is empty
check.eq(#diff.diff(paper.config("R2", "tiny"), paper.config("R2", "tiny")), 0, "diff of R2 with itself")
check.finish()
