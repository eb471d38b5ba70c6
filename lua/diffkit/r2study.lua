-- diffkit/r2study.lua: the runner of experiments/r2_study.lua (the R2
-- question; docs/r2.md): trains R1, every rung of the R1 -> R2 ladder, the
-- side branches and R3/R4 for each seed, with FID/KID during training
-- (learning curves), and writes the results (a table, a CSV, charts, and the
-- results section of docs/r2.md) after every finished row.
local dk = require "diffkit"
local paper = require "diffkit.paper"
local E = require "diffkit.experiment"

local M = {}

-- The ladder, R1 to R2 one factor per rung; the last rung is R2 exactly.
M.LADDER = { "R1", "r2-eps", "r2-sigma", "r2-ct", "r2-ema", "r2-clip", "r2-noflip", "r2-sampler" }
M.SIDE = { "r2-hdit-optim", "r1-long" }
M.REF = { "R3", "R4" }
-- What the study trains, in order (r2-sampler is R2's run).
M.ORDER = { "R1", "r2-eps", "r2-sigma", "r2-ct", "r2-ema", "r2-clip", "r2-noflip", "R2", "r2-hdit-optim", "r1-long",
            "R3", "R4" }

local function same(id)
  local d = paper.def(id)
  return d.same_as or id
end

local function fmt(v, p)
  if type(v) ~= "number" or v ~= v then return "–" end
  return (p or "%.2f"):format(v)
end

local function pm(v, sd, nseeds, scale)
  scale = scale or 1
  if nseeds > 1 then return fmt(v and v * scale) .. " ± " .. fmt(sd and sd * scale) end
  return fmt(v and v * scale)
end

-- Mean (and sd) learning curve over the runs of one row: steps present in every run.
local function mean_curve(runs)
  local by, count = {}, {}
  for _, r in ipairs(runs) do
    for _, row in ipairs(paper.curve(r.run)) do
      by[row.step] = by[row.step] or {}
      table.insert(by[row.step], row.fid)
      count[row.step] = (count[row.step] or 0) + 1
    end
  end
  local steps = {}
  for st, c in pairs(count) do if c == #runs then steps[#steps + 1] = st end end
  table.sort(steps)
  local x, y, lo, hi = {}, {}, {}, {}
  for i, st in ipairs(steps) do
    local m, sd = paper.mean_sd(by[st])
    x[i], y[i], lo[i], hi[i] = st, m, math.max(m - sd, 1e-3), m + sd
  end
  return x, y, lo, hi
end

-- dk.r2study.curve_chart { path =, title =, runs = { { label =, dir = } | { label =, runs = { {run =}, ... } } } }:
-- FID against training step (log-log), one line per row (the mean over its
-- seeds, with error bars of one standard deviation when it has several).
function M.curve_chart(o)
  local series = {}
  for _, r in ipairs(o.runs) do
    local runs = r.runs or { { run = r.dir } }
    local x, y, lo, hi = mean_curve(runs)
    if #x > 0 then
      local s = { label = r.label, x = x, y = y, dashed = r.dashed }
      if #runs > 1 then s.ylo, s.yhi = lo, hi end
      series[#series + 1] = s
    end
  end
  if #series == 0 then return nil end
  return dk.chart_loglog { path = o.path, width = o.width or 1200, height = o.height or 800, title = o.title or "",
    xlabel = "training step", ylabel = o.ylabel or "FID", series = series }
end

local write, read = paper.write_atomic, paper.read_file -- rank 0 writes, atomically

-- The results section (markdown lines) of the finished rows.
function M.results_md(res, o, P, noise, imgdir)
  local nseeds = o.seeds and #o.seeds or 1
  local L = {}
  L[#L + 1] = ("Preset `%s` (%d steps of batch %d, FID/KID on %d samples every %d steps, features `%s`), seeds %s; "
    .. "written by `diffkit run experiments/r2_study.lua` on %s."):format(P.name, o.steps or P.steps, P.batch,
    o.eval_n or P.eval_n, o.eval_every or P.eval_every or 0, "fmnist-cnn-v2",
    o.seeds and table.concat(o.seeds, ",") or "(the rows' own, 0)", os.date("!%Y-%m-%d %H:%M UTC"))
  if noise then
    local t = {}
    for i, f in ipairs(noise.fids) do t[i] = ("%.2f"):format(f) end
    L[#L + 1] = ""
    L[#L + 1] = ("FID sampling noise at n = %d: ± %.2f (standard deviation of %d evaluations of R2's checkpoint with "
      .. "different sample seeds: %s). Differences smaller than about twice this are not measured."):format(noise.n,
      noise.sd, noise.k, table.concat(t, ", "))
  end
  L[#L + 1] = ""
  L[#L + 1] = "| row | parent | what changes | steps | final loss | FID | KID ×10³ | ΔFID vs parent | train s |"
  L[#L + 1] = "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
  local deltas = {}
  for _, id in ipairs(M.LADDER) do
    local r = res[same(id)]
    if r then
      local d = paper.def(id)
      local pr = d.parent and res[same(d.parent)]
      local delta = pr and r.fid - pr.fid or nil
      if delta and id ~= "R1" then deltas[#deltas + 1] = { id = id, delta = delta, sd = r.fid_sd, psd = pr.fid_sd } end
      local ts = 0
      for _, x in ipairs(r.runs) do ts = ts + (x.m.train_s or 0) end
      L[#L + 1] = ("| %s | %s | %s | %d | %s | %s | %s | %s | %.0f |"):format(id == "r2-sampler" and "r2-sampler (= R2)" or id,
        d.parent or "—", d.description, r.m.steps, fmt(r.loss, "%.4f"), pm(r.fid, r.fid_sd, nseeds),
        pm(r.kid, r.kid_sd, nseeds, 1e3), delta and ("%+.2f"):format(delta) or "—", ts / #r.runs)
    end
  end
  for _, group in ipairs { M.SIDE, M.REF } do
    for _, id in ipairs(group) do
      local r = res[id]
      if r then
        local d = paper.def(id)
        local pr = d.parent and res[same(d.parent)]
        local ts = 0
        for _, x in ipairs(r.runs) do ts = ts + (x.m.train_s or 0) end
        L[#L + 1] = ("| %s | %s | %s | %d | %s | %s | %s | %s | %.0f |"):format(id, d.parent or "—", d.description,
          r.m.steps, fmt(r.loss, "%.4f"), pm(r.fid, r.fid_sd, nseeds), pm(r.kid, r.kid_sd, nseeds, 1e3),
          pr and ("%+.2f"):format(r.fid - pr.fid) or "—", ts / #r.runs)
      end
    end
  end
  if #deltas > 0 then
    table.sort(deltas, function(a, b) return a.delta > b.delta end)
    L[#L + 1] = ""
    local t = {}
    for i, x in ipairs(deltas) do
      -- standard error of the difference of the two means: from the seeds'
      -- spread (which holds the sampling noise too), or with one seed from
      -- the measured sampling noise alone
      local se
      if nseeds > 1 then se = math.sqrt(((x.sd or 0) ^ 2 + (x.psd or 0) ^ 2) / nseeds)
      elseif noise then se = noise.sd * math.sqrt(2) end
      t[i] = se and ("%s %+.2f (± %.2f%s)"):format(x.id, x.delta, se, math.abs(x.delta) > 2 * se and ", beyond 2 SE" or "")
        or ("%s %+.2f"):format(x.id, x.delta)
    end
    L[#L + 1] = ("Rungs by the FID they add (largest first; ± the standard error of the difference): %s.")
      :format(table.concat(t, ", "))
    if res.R1 and res.R2 then
      L[#L + 1] = ("R1 → R2 in all: %+.2f FID (R1 %s, R2 %s)."):format(res.R2.fid - res.R1.fid, fmt(res.R1.fid),
        fmt(res.R2.fid))
    end
    if res.R1 and res["r1-long"] then
      L[#L + 1] = ("R1 trained twice as long: %s (R1 %s)."):format(fmt(res["r1-long"].fid), fmt(res.R1.fid))
    end
  end
  if imgdir then
    L[#L + 1] = ""
    L[#L + 1] = ("Learning curves (FID against step, mean over seeds, ± one standard deviation): ![curves](%s/r2_%s_curves.png)")
      :format(imgdir, P.name)
  end
  return L
end

local BEGIN, END = "<!-- r2-results:begin (written by experiments/r2_study.lua) -->", "<!-- r2-results:end -->"

-- Replaces the results section of the doc (between the markers) with lines.
function M.update_doc(path, lines)
  local text = read(path)
  if not text then dk.fail(("--doc %s: cannot read it"):format(path)) end
  local a = text:find(BEGIN, 1, true)
  local b = text:find(END, 1, true)
  if not a or not b or b < a then
    dk.fail(("%s has no results section (lines '%s' ... '%s')"):format(path, BEGIN, END))
  end
  write(path, text:sub(1, a - 1) .. BEGIN .. "\n" .. table.concat(lines, "\n") .. "\n" .. text:sub(b))
end

local function copy(src, dst)
  local s = read(src)
  if s then write(dst, s) end
end

function M.main(a)
  local o = paper.args(a)
  local P = paper.preset(o.preset)
  if o.eval_every == nil then o.eval_every = P.eval_every or 0 end
  local list = {}
  if o.rungs or o.rows then
    for id in (o.rungs or o.rows):gmatch("[^,%s]+") do
      if not pcall(paper.def, id) then
        dk.fail(("--rungs: unknown row '%s' (the study's rows: %s, r2-sampler; or any paper row)"):format(id,
          table.concat(M.ORDER, ",")))
      end
      list[#list + 1] = same(id)
    end
  else
    list = M.ORDER
  end
  local outdir = o.results or "results"
  os.execute("mkdir -p '" .. outdir .. "'")
  local base = ("%s/r2_%s"):format(outdir, P.name)
  local doc = o.doc
  if not doc and P.name == "study" and not o.no_doc then doc = paper.dir() .. "/../docs/r2.md" end
  if o.no_doc then doc = nil end
  local imgdir = doc and ((doc:match("^(.*)/[^/]*$") or ".") .. "/img") or nil
  local res, done = {}, {}
  local noise
  local function publish()
    local runs = {}
    for _, id in ipairs(M.ORDER) do
      if res[id] then runs[#runs + 1] = { label = id, runs = res[id].runs, dashed = (id == "R3" or id == "R4") } end
    end
    local chart = M.curve_chart { path = base .. "_curves.png", title = "R1 -> R2 ladder: FID during training (" .. P.name .. ")",
                                  runs = runs }
    local lines = M.results_md(res, o, P, noise, doc and "img")
    write(base .. ".md", "# The R2 study, preset `" .. P.name .. "`\n\n" .. table.concat(lines, "\n"):gsub("%(img/", "(") .. "\n")
    local csv = { "row,parent,steps,loss,fid,fid_sd,kid,kid_sd,seeds" }
    for _, id in ipairs(done) do
      local r, d = res[id], paper.def(id)
      local seeds = {}
      for i, x in ipairs(r.runs) do seeds[i] = tostring(x.seed) end
      csv[#csv + 1] = ("%s,%s,%d,%.6g,%s,%s,%s,%s,%s"):format(id, d.parent or "", r.m.steps, r.loss, fmt(r.fid, "%.6g"),
        fmt(r.fid_sd, "%.6g"), fmt(r.kid, "%.6g"), fmt(r.kid_sd, "%.6g"), table.concat(seeds, ";"))
    end
    write(base .. ".csv", table.concat(csv, "\n") .. "\n")
    if doc then
      os.execute("mkdir -p '" .. imgdir .. "'")
      if chart then copy(base .. "_curves.png", ("%s/r2_%s_curves.png"):format(imgdir, P.name)) end
      M.update_doc(doc, lines)
    end
  end
  for _, id in ipairs(list) do
    if not res[id] then
      res[id] = paper.run_seeds(id, o)
      done[#done + 1] = id
      if id == "R2" and not o.no_eval and (o.noise or 3) > 0 then
        noise = paper.fid_noise("R2", o, o.seeds and o.seeds[1] or nil, o.noise or 3)
      end
      if not o.no_eval and dk.dist.rank() == 0 then publish() end -- under mpirun rank 0 writes
    end
  end
  if dk.dist.rank() ~= 0 then return end
  local md = read(base .. ".md")
  if md then print(md) end
  print(("wrote %s.md, %s.csv, %s_curves.png%s"):format(base, base, base, doc and (", and the results section of " .. doc) or ""))
end

return M
