-- check_r2_study.lua TMP: the outputs of r2_study_tiny.sh's study run.
local check = dofile(arg[0]:match("(.*/)") .. "../lua/check.lua")
local dk = require "diffkit"
local tmp = arg[1]
local function slurp(p) local f = io.open(p, "rb"); if not f then return nil end local s = f:read("a"); f:close(); return s end
dk.paper._dir = arg[0]:match("(.*/)") .. "../../experiments"
dk.paper.def("r2-eps")
local study = require "diffkit.r2study"
local csv = slurp(tmp .. "/results/r2_tiny.csv") or ""
for _, id in ipairs(study.ORDER) do
  local line = csv:match("\n(" .. id:gsub("%-", "%%-") .. ",[^\n]*)")
  check.ok(line ~= nil, id .. " in the study's csv")
  if line then
    local fid, sd, seeds = line:match("^[^,]+,[^,]*,%d+,[^,]+,([^,]+),([^,]+),[^,]+,[^,]+,([^,]+)$")
    check.ok(tonumber(fid) and tonumber(fid) > 0, id .. ": FID " .. tostring(fid))
    check.ok(tonumber(sd) and tonumber(sd) >= 0, id .. ": FID sd " .. tostring(sd))
    check.eq(seeds, "1;2", id .. ": seeds")
  end
  for _, s in ipairs { 1, 2 } do
    local rows = dk.paper.curve(("%s/runs/tiny/%s.seed%d"):format(tmp, id, s))
    local steps = {}
    for i, r in ipairs(rows) do steps[i] = r.step end
    local want = id == "r1-long" and "6,12,18,24" or "6,12"
    check.eq(table.concat(steps, ","), want, ("%s seed %d: learning curve steps"):format(id, s))
  end
end
-- the sampler is not part of training: r2-noflip and R2 train the same weights
-- (docs/r2.md), so their logs agree loss for loss
local function losses(p)
  local t = {}
  for l in (slurp(p) or ""):gmatch("[^\n]+") do
    local a = l:match("^(%d+,[^,]+,[^,]+,[^,]+,[^,]+)"); if a then t[#t + 1] = a end
  end
  return table.concat(t, "\n")
end
for _, s in ipairs { 1, 2 } do
  local a = losses(("%s/runs/tiny/r2-noflip.seed%d/log.csv"):format(tmp, s))
  check.ok(#a > 0 and a == losses(("%s/runs/tiny/R2.seed%d/log.csv"):format(tmp, s)),
    "r2-noflip and R2 train identically (seed " .. s .. ")")
end
local doc = slurp(tmp .. "/docs/r2.md") or ""
check.ok(doc:find("| r2-sampler (= R2) | r2-noflip |", 1, true) ~= nil, "the doc's results table has the last rung")
check.ok(doc:find("FID sampling noise at n = 64", 1, true) ~= nil, "the doc has the sampling noise")
check.ok(doc:lower():find("not yet run", 1, true) == nil, "the placeholder is replaced")
check.ok(doc:find("<!-- r2-results:end -->", 1, true) ~= nil, "the end marker stays")
check.ok((slurp(tmp .. "/docs/img/r2_tiny_curves.png") or ""):sub(2, 4) == "PNG", "the curves chart beside the doc")
check.ok((slurp(tmp .. "/results/r2_tiny_curves.png") or ""):sub(2, 4) == "PNG", "the curves chart in results")
check.finish()
