-- paper_table.lua: the ablation table of the HDiT paper, every row trained,
-- sampled and evaluated, in one command:
--
--   diffkit run experiments/paper_table.lua --preset mini [--rows R1,R3,E] [--steps N] [--eval-n N]
--                                           [--seeds 1,2,3] [--eval-every N] [--noise K]
--                                           [--out runs] [--results results] [--no-eval] [--force]
--
-- With --seeds each row is trained once per seed (runs/<preset>/<ID>.seed<S>)
-- and the table reports mean ± standard deviation, the chart error bars; the
-- FID's own sampling noise at --eval-n (K evaluations of the first row's
-- first checkpoint with different sample seeds, --noise K, default 3) is
-- printed beside it.
--
-- Rows already finished (runs/<preset>/<ID>/metrics.lua with the same step
-- count) are reused; an interrupted row resumes from its latest checkpoint.
-- Writes results/paper_table_<preset>.md and .csv (row, description, params,
-- GMACs, FID, KID, the paper's FID beside), a chart (ours against the paper's
-- FID) and one sample grid per row under results/paper_table_<preset>/.
local dk = require "diffkit"
local paper = dk.paper

paper._dir = (arg[0]:match("(.*)/[^/]*$")) or "experiments"
local o = paper.args(arg)
local P = paper.preset(o.preset)
local rows = {}
if o.rows then
  for id in o.rows:gmatch("[^,%s]+") do rows[#rows + 1] = id end
else
  rows = paper.ORDER
end

local results = {}
for _, id in ipairs(rows) do
  local r = paper.run_seeds(id, o)
  r.d = paper.def(id)
  r.run = r.runs[1].run
  results[#results + 1] = r
end
local seeded = o.seeds ~= nil
local noise_k = o.noise or (seeded and 3 or 0)
local noise = nil
if noise_k > 0 and not o.no_eval and results[1] then
  noise = paper.fid_noise(results[1].id, o, o.seeds and o.seeds[1] or nil, noise_k)
end

if dk.dist.rank() ~= 0 then return end -- under mpirun the rows were trained and evaluated by every rank; rank 0 writes the table
local outdir = o.results or "results"
os.execute("mkdir -p '" .. outdir .. "/paper_table_" .. P.name .. "'")
local base = outdir .. "/paper_table_" .. P.name

local function copy(src, dst)
  local f = io.open(src, "rb")
  if not f then return false end
  local s = f:read("a")
  f:close()
  local g = assert(io.open(dst, "wb"))
  g:write(s)
  g:close()
  return true
end

local function fmt(v, p)
  if type(v) ~= "number" or v ~= v then return "–" end
  return (p or "%.2f"):format(v)
end

-- Markdown and CSV.
local md = {
  ("# HDiT ablation table, preset `%s`"):format(P.name), "",
  ("Produced by `diffkit run experiments/paper_table.lua --preset %s` on %s."):format(P.name, os.date("!%Y-%m-%d %H:%M UTC")),
  ("Metrics: FID/KID on %s samples against the training set, features: `%s`."):format(
    tostring(results[1] and results[1].m.eval_n or "?"), tostring(results[1] and results[1].m.features or "none")),
  "The paper's FIDs are FID-50k on ImageNet-128 with Inception features: compare orderings, not values.",
}
if seeded then
  md[#md + 1] = ("Seeds %s: FID and KID are mean ± standard deviation over the seeds (training runs)."):format(
    table.concat(o.seeds, ","))
end
if noise then
  md[#md + 1] = ("FID sampling noise at n = %d: ± %.2f (standard deviation of %d evaluations of one checkpoint, %s, "
    .. "with different sample seeds: %s)."):format(noise.n, noise.sd, noise.k, noise.row,
    table.concat((function() local t = {} for i, f in ipairs(noise.fids) do t[i] = ("%.2f"):format(f) end return t end)(), ", "))
end
md[#md + 1] = ""
md[#md + 1] = "| row | description | params | GMACs | steps | final loss | FID | KID ×10³ | paper FID |"
md[#md + 1] = "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
local csv = { "row,description,params,gmacs,steps,loss,fid,kid,paper_fid,features,fid_sd,kid_sd,seeds" }
local function pm(v, sd, scale, p)
  scale = scale or 1
  if not seeded then return fmt(v and v * scale, p) end
  return fmt(v and v * scale, p) .. " ± " .. fmt(sd and sd * scale, p)
end
for _, r in ipairs(results) do
  local m = r.m
  md[#md + 1] = ("| %s | %s | %.2fM | %.4f | %d | %s | %s | %s | %s |"):format(r.id, r.d.description, m.params / 1e6,
    m.macs / 1e9, m.steps, fmt(r.loss, "%.4f"), pm(r.fid, r.fid_sd), pm(r.kid, r.kid_sd, 1e3), fmt(r.d.paper_fid))
  local seeds = {}
  for i, x in ipairs(r.runs) do seeds[i] = tostring(x.seed) end
  csv[#csv + 1] = ("%s,%q,%d,%.6f,%d,%.6g,%s,%s,%s,%s,%s,%s,%s"):format(r.id, r.d.description, m.params, m.macs / 1e9,
    m.steps, r.loss, fmt(r.fid, "%.6g"), fmt(r.kid, "%.6g"), fmt(r.d.paper_fid, "%.2f"), tostring(m.features or ""),
    fmt(r.fid_sd, "%.6g"), fmt(r.kid_sd, "%.6g"), table.concat(seeds, ";"))
  copy(r.run .. "/grid.png", ("%s/%s.png"):format(base, r.id))
end
md[#md + 1] = ""
md[#md + 1] = ("Sample grids: `results/paper_table_%s/<row>.png`; chart: `results/paper_table_%s.png`."):format(P.name, P.name)
-- Learning curves (--eval-every): FID against step, one line per row.
if (o.eval_every or 0) > 0 and not o.no_eval then
  local runs = {}
  for _, r in ipairs(results) do runs[#runs + 1] = { label = r.id, runs = r.runs } end
  if dk.r2study.curve_chart { path = base .. "_curves.png", title = "FID during training (" .. P.name .. ")", runs = runs } then
    md[#md + 1] = ("Learning curves: `%s_curves.png`."):format(base)
  end
end
local f = assert(io.open(base .. ".md", "wb"))
f:write(table.concat(md, "\n"), "\n")
f:close()
f = assert(io.open(base .. ".csv", "wb"))
f:write(table.concat(csv, "\n"), "\n")
f:close()

-- Chart: our FID against the paper's, one point per row.
local series = {}
for _, r in ipairs(results) do
  if type(r.fid) == "number" and r.fid == r.fid and r.d.paper_fid then
    local s = { label = r.id, x = { r.d.paper_fid }, y = { r.fid } }
    if seeded then s.ylo, s.yhi = { math.max(r.fid - r.fid_sd, 1e-3) }, { r.fid + r.fid_sd } end
    series[#series + 1] = s
  end
end
if #series > 0 and dk.chart_loglog then
  dk.chart_loglog { path = base .. ".png", width = 1000, height = 700,
    title = "HDiT ablation: diffkit " .. P.name .. " FID vs paper FID", xlabel = "paper FID (ImageNet-128)",
    ylabel = "diffkit FID (" .. P.name .. ")", series = series }
end
print(table.concat(md, "\n"))
print(("wrote %s.md, %s.csv, %s.png"):format(base, base, base))
