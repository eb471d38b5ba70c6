-- paper_table.lua: the ablation table of the HDiT paper, every row trained,
-- sampled and evaluated, in one command:
--
--   diffkit run experiments/paper_table.lua --preset mini [--rows R1,R3,E] [--steps N] [--eval-n N]
--                                           [--out runs] [--results results] [--no-eval] [--force]
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
  local m, run = paper.run_row(id, o)
  local d = paper.def(id)
  results[#results + 1] = { id = id, d = d, m = m, run = run }
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
  "The paper's FIDs are FID-50k on ImageNet-128 with Inception features: compare orderings, not values.", "",
  "| row | description | params | GMACs | steps | final loss | FID | KID ×10³ | paper FID |",
  "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
}
local csv = { "row,description,params,gmacs,steps,loss,fid,kid,paper_fid,features" }
for _, r in ipairs(results) do
  local m = r.m
  md[#md + 1] = ("| %s | %s | %.2fM | %.4f | %d | %s | %s | %s | %s |"):format(r.id, r.d.description, m.params / 1e6,
    m.macs / 1e9, m.steps, fmt(m.loss, "%.4f"), fmt(m.fid), fmt(m.kid and m.kid * 1e3), fmt(r.d.paper_fid))
  csv[#csv + 1] = ("%s,%q,%d,%.6f,%d,%.6g,%s,%s,%s,%s"):format(r.id, r.d.description, m.params, m.macs / 1e9, m.steps,
    m.loss, fmt(m.fid, "%.6g"), fmt(m.kid, "%.6g"), fmt(r.d.paper_fid, "%.2f"), tostring(m.features or ""))
  copy(r.run .. "/grid.png", ("%s/%s.png"):format(base, r.id))
end
md[#md + 1] = ""
md[#md + 1] = ("Sample grids: `results/paper_table_%s/<row>.png`; chart: `results/paper_table_%s.png`."):format(P.name, P.name)
local f = assert(io.open(base .. ".md", "wb"))
f:write(table.concat(md, "\n"), "\n")
f:close()
f = assert(io.open(base .. ".csv", "wb"))
f:write(table.concat(csv, "\n"), "\n")
f:close()

-- Chart: our FID against the paper's, one point per row.
local series = {}
for _, r in ipairs(results) do
  if type(r.m.fid) == "number" and r.m.fid == r.m.fid and r.d.paper_fid then
    series[#series + 1] = { label = r.id, x = { r.d.paper_fid }, y = { r.m.fid } }
  end
end
if #series > 0 and dk.chart_loglog then
  dk.chart_loglog { path = base .. ".png", width = 1000, height = 700,
    title = "HDiT ablation: diffkit " .. P.name .. " FID vs paper FID", xlabel = "paper FID (ImageNet-128)",
    ylabel = "diffkit FID (" .. P.name .. ")", series = series }
end
print(table.concat(md, "\n"))
print(("wrote %s.md, %s.csv, %s.png"):format(base, base, base))
