-- diffkit/paper.lua: the HDiT paper's ablation table (Crowson et al., ICML 2024,
-- Table 1 and Table 5) as composable experiments.
--
-- Each row lives in experiments/<ID>.lua as a small change of its parent row,
-- exactly as the paper builds the table:
--
--   return dk.paper.row {
--     id = "B2", parent = "A", description = "A + Neighborhood Attn.", paper_fid = 51.07,
--     change = function(P) return { model = { opts = { attn = { "neighborhood", "global" } } } } end,
--   }
--
-- `P` is the preset (paper / mini / tiny): the sizes that scale with the
-- machine. dk.paper.config(id, preset) gives a row's whole experiment table
-- (its parent's table, extended by its change); running the script trains and
-- evaluates the row (`diffkit run experiments/E.lua --preset mini`).
local dk = require "diffkit"

local M = {}

-- The order of the table, and the main rows (issue: ten main rows).
M.ORDER = { "R1", "R2", "R3", "R4", "A", "B1", "B2", "C", "D", "E", "E2", "E3", "F1", "F2", "G", "H" }
M.MAIN = { R1 = true, R2 = true, R3 = true, R4 = true, A = true, B1 = true, B2 = true, C = true, D = true, E = true }

-- ---- presets -------------------------------------------------------------------
-- paper: the paper's ImageNet-128 configurations (Crowson et al. 2024, HDiT, Tables 1, 5 and 7). Training needs
--        the user's ImageNet folder (DIFFKIT_IMAGENET, class sub-folders) and a
--        GPU-scale budget; `diffkit info` works on it anywhere.
-- mini:  Fashion-MNIST 32x32 with the same structure scaled down: patch 2,
--        a 16x16 neighborhood level and an 8x8 global level.
-- tiny:  the whole table end to end in a few minutes (CI smoke test).
M.PRESETS = {
  paper = {
    image = 128, channels = 3, classes = 1000,
    data = function()
      return dk.data.image_folder { path = os.getenv("DIFFKIT_IMAGENET") or "imagenet/train", size = 128, channels = 3 }
    end,
    batch = 256, steps = 400000, eval_n = 50000, sample_steps = 50, ddpm_steps = 250,
    dit = { preset = "B/4", input_size = 128, in_channels = 3 },
    hdit = { image_size = { 128 }, in_channels = 3, patch = { 4 }, widths = { 384, 768 }, depths = { 2, 11 },
             d_head = { 64 }, kernel = { 7 }, window = { 8 }, mapping_width = 768, mapping_depth = 1 },
    single = { image_size = { 128 }, in_channels = 3, patch = { 4 }, widths = { 768 }, depths = { 12 },
               d_head = { 64 }, mapping_width = 768, mapping_depth = 1 },
    dit_ema = 0.9999, ema_max = 0.9999,
  },
  mini = {
    -- Sized so that the ten main rows train in under 2 hours on 2 cores
    -- (docs/reproducing.md has the measured times): DiT/R3 ~0.07 GMACs,
    -- HDiT ~0.015 GMACs per image, 2000 steps of batch 64 each.
    image = 32, channels = 1, classes = 10,
    data = function() return dk.data.fashion_mnist { split = "train", pad = 2 } end,
    batch = 64, steps = 2000, eval_n = 1000, sample_steps = 50, ddpm_steps = 250,
    dit = { input_size = 32, in_channels = 1, patch_size = 2, hidden_size = 64, depth = 4, num_heads = 4 },
    hdit = { image_size = { 32 }, in_channels = 1, patch = { 2 }, widths = { 32, 64 }, depths = { 1, 2 },
             d_head = { 16 }, kernel = { 7 }, window = { 8 }, mapping_width = 64, mapping_depth = 1 },
    single = { image_size = { 32 }, in_channels = 1, patch = { 2 }, widths = { 64 }, depths = { 4 },
               d_head = { 16 }, mapping_width = 64, mapping_depth = 1 },
    dit_ema = 0.995, ema_max = 0.999, -- DiT's fixed EMA decay scaled to a 2000-step run (horizon ~200 steps)
  },
  study = {
    -- Between tiny and mini, sized for the R2 study (experiments/r2_study.lua,
    -- docs/r2.md): R1-R4, every rung of the R1 -> R2 ladder and its side
    -- branches, 2 seeds each, with learning curves, in about 75 minutes on
    -- the 2-core development machine (measured times in docs/r2.md). The
    -- same structure as mini at patch 4 (8x8 tokens), width 48, depth 3.
    image = 32, channels = 1, classes = 10,
    data = function() return dk.data.fashion_mnist { split = "train", pad = 2 } end,
    -- Measured on the 2-core machine at load average 3.5-4.8: 0.040-0.061 s
    -- per step of batch 32 for the DiT rows, 0.040 for R3 (0.007 GMACs per
    -- image); evaluation 0.047-0.068 s/sample with the 100-step DDPM sampler,
    -- 0.095-0.103 with R2's 50-step DPM++(3M) SDE, 0.075-0.079 for R3. 24 runs
    -- x 1800 steps ~ 35-41 min of training + 3 evaluations of 250 samples per
    -- run ~ 20-25 min: about 60-70 minutes (docs/r2.md).
    batch = 32, steps = 1800, eval_n = 250, eval_every = 600, sample_steps = 50, ddpm_steps = 100,
    dit = { input_size = 32, in_channels = 1, patch_size = 4, hidden_size = 48, depth = 3, num_heads = 3 },
    hdit = { image_size = { 32 }, in_channels = 1, patch = { 4 }, widths = { 32, 48 }, depths = { 1, 2 },
             d_head = { 16 }, kernel = { 5 }, window = { 4 }, mapping_width = 48, mapping_depth = 1 },
    single = { image_size = { 32 }, in_channels = 1, patch = { 4 }, widths = { 48 }, depths = { 3 },
               d_head = { 16 }, mapping_width = 48, mapping_depth = 1 },
    dit_ema = 0.995, ema_max = 0.999, -- DiT's fixed EMA decay scaled to a ~2000-step run (horizon ~200 steps), as mini
  },
  tiny = {
    image = 32, channels = 1, classes = 10,
    data = function() return dk.data.fashion_mnist { split = "train", pad = 2 } end,
    batch = 8, steps = 12, eval_n = 64, eval_every = 6, sample_steps = 8, ddpm_steps = 10,
    dit = { input_size = 32, in_channels = 1, patch_size = 8, hidden_size = 32, depth = 1, num_heads = 2 },
    hdit = { image_size = { 32 }, in_channels = 1, patch = { 4 }, widths = { 16, 32 }, depths = { 1, 1 },
             d_head = { 8 }, kernel = { 3 }, window = { 4 }, mapping_width = 32, mapping_depth = 1 },
    single = { image_size = { 32 }, in_channels = 1, patch = { 4 }, widths = { 32 }, depths = { 2 },
               d_head = { 8 }, mapping_width = 32, mapping_depth = 1 },
    dit_ema = 0.99, ema_max = 0.99,
  },
}

function M.preset(name)
  local P = M.PRESETS[name or "mini"]
  if not P then
    error(("unknown preset '%s': use paper, mini, study or tiny"):format(tostring(name)), 2)
  end
  P.name = name or "mini"
  return P
end

-- The experiments folder: DIFFKIT_EXPERIMENTS, else the folder of the running
-- script, else ./experiments.
function M.dir()
  local env = os.getenv("DIFFKIT_EXPERIMENTS")
  if env then return env end
  if M._dir then return M._dir end
  local s = arg and arg[0]
  if s then
    local d = s:match("(.*/)[^/]*$")
    local f = d and io.open(d .. "R1.lua", "rb")
    if f then f:close() return d:sub(1, -2) end
  end
  return "experiments"
end

-- ---- rows ------------------------------------------------------------------------

local defs = {}
local loading = 0

-- Registers a row definition; when the script is the one being run (not
-- loaded as a parent), trains and evaluates it.
function M.row(def)
  assert(type(def) == "table" and type(def.id) == "string", "dk.paper.row: needs a table with id")
  assert(def.root or type(def.parent) == "string", "dk.paper.row: a row needs a parent (or root = true)")
  defs[def.id] = def
  if loading == 0 then
    M.main(def.id, arg)
  end
  return def
end

-- Registers a row definition without running it (rows defined in a study
-- script beside others: experiments/r2_study.lua).
function M.define(def)
  assert(type(def) == "table" and type(def.id) == "string", "dk.paper.define: needs a table with id")
  assert(def.root or type(def.parent) == "string", "dk.paper.define: a row needs a parent (or root = true)")
  defs[def.id] = def
  return def
end

-- True while a script is loaded for its definitions (as a parent), not run.
function M.loading() return loading > 0 end

-- Scripts that define several rows (loaded when experiments/<id>.lua does not exist).
M.STUDIES = { "r2_study" }

local function load_script(path)
  local chunk, err = loadfile(path)
  if not chunk then return false, err end
  loading = loading + 1
  local ok, e = pcall(chunk)
  loading = loading - 1
  if not ok then error(e, 0) end
  return true
end

-- The definition of a row, loading experiments/<id>.lua if needed.
function M.def(id)
  if not defs[id] then
    local path = M.dir() .. "/" .. id .. ".lua"
    local f = io.open(path, "rb")
    if f then f:close() end
    if not f then
      for _, st in ipairs(M.STUDIES) do
        if defs[id] then break end
        load_script(M.dir() .. "/" .. st .. ".lua")
      end
      if defs[id] then return defs[id] end
    end
    local chunk, err = loadfile(path)
    if not chunk then error(("paper row '%s': cannot load %s: %s"):format(id, path, err), 2) end
    loading = loading + 1
    local ok, e = pcall(chunk)
    loading = loading - 1
    if not ok then error(e, 0) end
    if not defs[id] then error(("paper row '%s': %s did not define it (dk.paper.row{ id = '%s', ... })"):format(id, path, id), 2) end
  end
  return defs[id]
end

-- A row's parent chain, root first.
function M.lineage(id)
  local chain = {}
  local d = M.def(id)
  while d do
    table.insert(chain, 1, d.id)
    d = (not d.root) and M.def(d.parent) or nil
  end
  return chain
end

-- The whole experiment table of a row for a preset.
function M.config(id, preset)
  local P = type(preset) == "table" and preset or M.preset(preset)
  local d = M.def(id)
  local cfg
  if d.root then
    cfg = d.change(P)
  else
    cfg = dk.extend(M.config(d.parent, P), d.change(P))
  end
  cfg.name = id
  cfg.description = d.description
  cfg.preset = P.name
  cfg.paper = { row = id, parent = d.parent, fid = d.paper_fid, gflop = d.paper_gflop }
  return cfg
end

-- ---- running ---------------------------------------------------------------------

M.USAGE = [[
usage: diffkit run experiments/<ROW>.lua [options]          one row of the table
       diffkit run experiments/paper_table.lua [options]    every row (or --rows)
       diffkit run experiments/r2_study.lua [options]       the R1 -> R2 ladder (docs/r2.md)

Trains (resuming from runs/<preset>/<ROW>/ when it holds a checkpoint),
samples and evaluates; a finished row is reused. A larger --steps than before
continues the row's run; the step target is not part of its identity.

options:
  --preset paper|mini|study|tiny   sizes (default mini; docs/reproducing.md, docs/r2.md)
  --steps N                  training steps (default: the preset's)
  --eval-n N                 samples for FID/KID (default: the preset's)
  --out DIR                  run folders under DIR/<preset>/<ROW> (default runs)
  --results DIR              table, chart and grids (paper_table.lua; default results)
  --rows A,B                 rows to run (paper_table.lua; default all)
  --seeds 1,2,3              train each row once per seed (run folders <ROW>.seed<S>);
                             tables report mean ± standard deviation
  --eval-every N             FID/KID every N steps into <run>/metrics.csv (learning curves;
                             0 = off; default: off, the study preset's for r2_study.lua)
  --noise K                  measure the FID's own sampling noise: K evaluations of one
                             checkpoint with different sample seeds (paper_table.lua; default 3
                             with --seeds, 0 = off)
  --rungs A,B                rows of the R2 study to run (r2_study.lua; default all; docs/r2.md)
  --doc FILE | --no-doc      the file whose results section r2_study.lua rewrites
                             (default docs/r2.md with --preset study, else none)
  --no-eval                  train and sample only
  --force                    retrain a finished row; resume a checkpoint of another config
  --help, -h                 this text
]]

-- Parses "--preset mini --steps 100 --eval-n 500 --out runs --no-eval" style args.
function M.args(a)
  local o = { preset = "mini" }
  local i = 1
  while a and a[i] do
    local k = a[i]
    local function val()
      i = i + 1
      if a[i] == nil then dk.fail(("option %s needs a value"):format(k)) end
      return a[i]
    end
    local function count()
      local v = val()
      local n = math.tointeger(tonumber(v))
      if not n or n < 1 then dk.fail(("option %s: '%s' is not a whole number >= 1"):format(k, v)) end
      return n
    end
    if k == "--help" or k == "-h" then
      io.stdout:write(M.USAGE)
      os.exit(0, true)
    elseif k == "--preset" then o.preset = val()
    elseif k == "--steps" then o.steps = count()
    elseif k == "--eval-n" then o.eval_n = count()
    elseif k == "--out" then o.out = val()
    elseif k == "--rows" then o.rows = val()
    elseif k == "--results" then o.results = val()
    elseif k == "--rungs" then o.rungs = val()
    elseif k == "--doc" then o.doc = val()
    elseif k == "--no-doc" then o.no_doc = true
    elseif k == "--seeds" then
      local v = val()
      o.seeds = {}
      for x in v:gmatch("[^,%s]+") do
        local n = math.tointeger(tonumber(x))
        if not n or n < 0 then dk.fail(("option --seeds: '%s' is not a whole number >= 0 (e.g. --seeds 1,2,3)"):format(x)) end
        o.seeds[#o.seeds + 1] = n
      end
      if #o.seeds == 0 then dk.fail("option --seeds needs a list, e.g. --seeds 1,2,3") end
    elseif k == "--eval-every" then
      local v = val()
      o.eval_every = math.tointeger(tonumber(v))
      if not o.eval_every or o.eval_every < 0 then dk.fail(("option --eval-every: '%s' is not a whole number >= 0"):format(v)) end
    elseif k == "--noise" then
      local v = val()
      o.noise = math.tointeger(tonumber(v))
      if not o.noise or o.noise < 0 or o.noise == 1 then dk.fail(("option --noise: '%s': use 0 (off) or a count >= 2"):format(v)) end
    elseif k == "--no-eval" then o.no_eval = true
    elseif k == "--force" then o.force = true
    else dk.fail(("unknown option '%s' (options: --preset paper|mini|study|tiny, --steps N, --eval-n N, --out DIR (runs), --results DIR (results), --rows A,B, --rungs A,B, --seeds 1,2, --eval-every N, --noise K, --doc FILE, --no-doc, --no-eval, --force; --help)"):format(k))
    end
    i = i + 1
  end
  return o
end

-- Every write checked, fsync, rename, fsync of the folder (dk.write_atomic);
-- on failure the previous file is unchanged and the error names it.
local function write_atomic(path, text)
  if dk.dist.rank() ~= 0 then return end -- under mpirun rank 0 writes (docs/distributed.md)
  local ok, e = dk.write_atomic(path, text)
  if not ok then dk.fail(e) end
end
M.write_atomic = write_atomic

-- A whole file's text, or nil if it cannot be opened.
function M.read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function read_metrics(path)
  local s = M.read_file(path)
  if not s then return nil end
  -- read as data, never run (docs/reliability.md): a damaged file is ignored
  local ok, t = pcall(dk.parse_literal, s, path)
  if ok and type(t) == "table" then return t end
  io.stderr:write(("%s: ignored, not a metrics table (%s)\n"):format(path, ok and type(t) or t))
  return nil
end

local function serialize(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do
    local v = t[k]
    if type(v) == "number" then
      parts[#parts + 1] = ("%s = %s"):format(k, math.type(v) == "integer" and tostring(v) or ("%.9g"):format(v))
    elseif type(v) == "string" or type(v) == "boolean" then
      parts[#parts + 1] = ("%s = %s"):format(k, type(v) == "string" and ("%q"):format(v) or tostring(v))
    end
  end
  return "{ " .. table.concat(parts, ", ") .. " }\n"
end

-- The run folder of a row: <out>/<preset>/<ID>, or <ID>.seed<S> for a seed
-- given with --seeds.
function M.run_dir(id, o, seed)
  local P = M.preset(o.preset)
  local base = ("%s/%s/%s"):format(o.out or "runs", P.name, id)
  return seed and (base .. ".seed" .. seed) or base
end

-- The learning curve of a run (its metrics.csv rows).
function M.curve(run)
  return dk.experiment.Experiment.read_metrics_csv(run .. "/metrics.csv")
end

-- Trains (resuming) and evaluates one row; returns its metrics table and run folder.
-- Metrics are stored in <run>/metrics.lua; a finished row is reused.
-- `seed`: the row's seed (cfg.seed) for --seeds; nil keeps the row's own.
-- o.eval_every > 0 also evaluates during training (<run>/metrics.csv); the
-- last step's row is then the row's FID (the same measurement as a final
-- evaluation: same n, sample seed 0).
function M.run_row(id, o, seed)
  o = o or {}
  local P = M.preset(o.preset)
  local cfg = M.config(id, P)
  local d = M.def(id)
  -- --steps N replaces the preset's step count; a row that trains longer than
  -- the preset (r1-long) keeps its ratio
  if o.steps then cfg.steps = math.max(1, math.floor(o.steps * cfg.steps / P.steps + 0.5)) end
  if seed then cfg.seed = seed end
  local run = M.run_dir(id, o, seed)
  local mpath = run .. "/metrics.lua"
  local eval_n = o.eval_n or P.eval_n
  local eval_every = o.eval_every or 0
  local m = read_metrics(mpath)
  local need_eval = not o.no_eval and m ~= nil and m.fid == nil
  if m and m.steps == cfg.steps and not o.force and not need_eval then
    if dk.dist.rank() == 0 then io.stderr:write(("%s: finished earlier (%s), reusing its metrics\n"):format(id, mpath)) end
    return m, run
  end
  local exp = dk.experiment(cfg)
  local function evaluate(mm)
    local curve = eval_every > 0 and M.curve(run) or {}
    local lastrow = curve[#curve]
    if lastrow and lastrow.step == cfg.steps and lastrow.n == eval_n then
      mm.fid, mm.kid, mm.features, mm.eval_n, mm.eval_s = lastrow.fid, lastrow.kid, lastrow.features, lastrow.n, lastrow.seconds
      return
    end
    local t1 = dk.time()
    local e = exp:evaluate { n = eval_n }
    mm.fid, mm.kid, mm.features = e.fid, e.kid, e.features
    mm.eval_n, mm.eval_s = e.n, dk.time() - t1
  end
  if m and m.steps == cfg.steps and need_eval and not o.force then
    -- trained earlier without evaluation (--no-eval): load the last checkpoint, evaluate
    exp:train { out = run, quiet = true }
    evaluate(m)
    write_atomic(mpath, serialize(m))
    return m, run
  end
  -- a row that continues another (d.continues, e.g. R1 trained longer): a
  -- fresh run starts from a copy of that row's finished run of the same seed
  local force = o.force
  if d.continues and not io.open(run .. "/latest", "rb") then
    local src = M.run_dir(d.continues, o, seed)
    local sm = read_metrics(src .. "/metrics.lua")
    if not sm then
      io.stderr:write(("%s continues %s: running %s first\n"):format(id, d.continues, d.continues))
      M.run_row(d.continues, o, seed)
    end
    local ok = true
    if dk.dist.rank() == 0 then -- under mpirun rank 0 copies, the others wait for it
      ok = os.execute(("mkdir -p '%s' && cp -p '%s'/ckpt_*.safetensors '%s'/latest '%s'/log.csv '%s' && " ..
        "(cp -p '%s'/metrics.csv '%s' 2>/dev/null || true)"):format(run, src, src, src, run, src, run))
    end
    if dk.dist.world() > 1 then dk.dist.barrier() end
    if not ok then dk.fail(("%s: cannot copy the run of %s (%s) to continue it"):format(id, d.continues, src)) end
    force = true -- the copied checkpoint's config differs from this row's in its name only (rows.lua checks it)
  end
  local info = exp:info(P.image, P.image)
  if dk.dist.rank() == 0 then io.stderr:write(("%s (%s)%s: %.2fM params, %.3f GMACs, %d steps\n"):format(id, cfg.description,
    seed and (" seed " .. seed) or "", info.params / 1e6, (info.macs or 0) / 1e9, cfg.steps)) end
  local t0 = dk.time()
  local last = exp:train { out = run, sample_every = 0, checkpoint_every = math.max(1, cfg.steps // 4), force = force,
                           eval_every = (not o.no_eval) and eval_every or 0, eval_n = eval_n }
  m = { row = id, steps = cfg.steps, params = info.params, trainable = info.trainable, macs = info.macs or 0,
        loss = last and last.loss or 0 / 0, train_s = dk.time() - t0, preset = P.name, seed = cfg.seed or 0 }
  if not last then -- nothing was trained now (resumed at its target): the loss of the log's last row
    local f = io.open(run .. "/log.csv", "rb")
    if f then
      for line in f:lines() do local l = tonumber(line:match("^%d+,([^,]+)")); if l then m.loss = l end end
      f:close()
    end
  end
  if dk.dist.rank() == 0 then exp:sample { n = P.classes * math.max(1, math.min(8, 80 // P.classes)), out = run .. "/grid.png" } end
  if not o.no_eval and exp.evaluate then evaluate(m) end
  write_atomic(mpath, serialize(m))
  return m, run
end

-- The FID's own sampling noise: k evaluations of the finished run's last
-- checkpoint with sample seeds 1..k (n = eval_n). Returns { mean =, sd =, k =,
-- n =, fids = {...} }, cached in <run>/fid_noise.lua.
function M.fid_noise(id, o, seed, k)
  local P = M.preset(o.preset)
  local run = M.run_dir(id, o, seed)
  local n = o.eval_n or P.eval_n
  local path = run .. "/fid_noise.lua"
  local old = read_metrics(path)
  if old and old.k == k and old.n == n then
    local fids = {}
    for i = 1, k do fids[i] = old["fid" .. i] end
    return { mean = old.mean, sd = old.sd, k = k, n = n, fids = fids, row = id }
  end
  local exp = dk.experiment.Experiment.from_checkpoint(run .. "/" .. io.open(run .. "/latest", "rb"):read("l"))
  local fids = {}
  for i = 1, k do
    fids[i] = exp:evaluate { n = n, seed = i, quiet = true }.fid
  end
  local mean, sd = M.mean_sd(fids)
  local t = { mean = mean, sd = sd, k = k, n = n }
  for i = 1, k do t["fid" .. i] = fids[i] end
  write_atomic(path, serialize(t))
  return { mean = mean, sd = sd, k = k, n = n, fids = fids, row = id }
end

-- Mean and sample standard deviation (n - 1; 0 for one value) of a list.
function M.mean_sd(xs)
  local n, s = 0, 0
  for _, x in ipairs(xs) do if x == x then n, s = n + 1, s + x end end
  if n == 0 then return 0 / 0, 0 / 0 end
  local mean, v = s / n, 0
  for _, x in ipairs(xs) do if x == x then v = v + (x - mean) ^ 2 end end
  return mean, n > 1 and math.sqrt(v / (n - 1)) or 0
end

-- Runs a row once per seed (o.seeds, else once with its own seed); returns
-- { id =, runs = { { m =, run =, seed = }, ... }, fid =, fid_sd =, kid =, kid_sd =, loss = }.
function M.run_seeds(id, o)
  local res = { id = id, runs = {} }
  for _, sd in ipairs(o.seeds or { false }) do
    local m, run = M.run_row(id, o, sd or nil)
    res.runs[#res.runs + 1] = { m = m, run = run, seed = sd or m.seed }
  end
  local f, k, l = {}, {}, {}
  for i, r in ipairs(res.runs) do f[i], k[i], l[i] = r.m.fid or 0 / 0, r.m.kid or 0 / 0, r.m.loss or 0 / 0 end
  res.fid, res.fid_sd = M.mean_sd(f)
  res.kid, res.kid_sd = M.mean_sd(k)
  res.loss = M.mean_sd(l)
  res.m = res.runs[1].m
  return res
end

-- `diffkit run experiments/<ID>.lua [--preset P] ...`
function M.main(id, a)
  local o = M.args(a)
  local info = rawget(_G, "DIFFKIT_INFO")
  if info then -- `diffkit info experiments/<ID>.lua --preset P`: report, do not train
    dk.experiment(M.config(id, info.preset or o.preset)):train()
    return
  end
  local m, run = M.run_row(id, o)
  if dk.dist.rank() == 0 then print(("%s: loss %.4f  fid %s  kid %s  (%s)"):format(id, m.loss, tostring(m.fid), tostring(m.kid), run)) end
end

return M
