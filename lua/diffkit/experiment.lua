-- diffkit/experiment.lua: experiments as tables.
--
--   local exp = dk.experiment {
--     name = "E", seed = 0,
--     data = dk.data.fashion_mnist { split = "train", pad = 2 },
--     model = dk.model("hdit", { ... }),
--     precond = dk.precond("edm", { sigma_data = 0.5, weighting = "soft-min-snr" }),
--     train_sigma = dk.schedule("cosine-interpolated", { min_value = 1e-3, max_value = 1e3 }),
--     optim = { "adamw", lr = 5e-4, betas = {0.9, 0.95}, weight_decay = 1e-2 },
--     ema = { power = 0.75, max = 0.9999 }, batch = 64, steps = 20000,
--     sample = { sampler = dk.sampler("dpmpp_3m_sde", { eta = 1 }), steps = 50,
--                schedule = dk.schedule("karras", { sigma_min = 0.01, sigma_max = 160 }) },
--   }
--   exp:train { out = "runs/E", sample_every = 1000, checkpoint_every = 1000 }
--   exp:sample { n = 64, out = "grid.png" }
--
-- Every key is checked: a misspelt key is an error naming the closest one,
-- so a typo never trains the wrong model for hours.
local core = require "diffkit.core"
local spec = require "diffkit.spec"

local Experiment = {}
Experiment.__index = Experiment

-- The keys an experiment table may have, with a line of documentation each.
local KEYS = {
  name = "run name (folder name under runs/ by default)",
  description = "one line describing the experiment (shown in tables)",
  seed = "seed of every random stream (init, data order, sigma, noise)",
  data = "dataset spec: dk.data.fashion_mnist{...} / dk.data.image_folder{...}",
  model = "model spec: dk.model(name, opts)",
  precond = "preconditioner spec: dk.precond(name, opts)",
  train_sigma = "training sigma density: dk.schedule(name, opts) with a density",
  optim = "{ 'adamw'|'sgd', lr =, betas =, eps =, weight_decay =, momentum = }",
  lr_sched = "{ 'constant'|'inverse'|'exponential', warmup =, ... }",
  ema = "{ power =, max = } (k-diffusion warmup) | { decay = } (fixed) | false",
  batch = "images per step",
  steps = "training steps",
  grad_accum = "micro-batches per optimizer step",
  clip_norm = "global gradient-norm clipping (0 = off; k-diffusion uses 1)",
  class_dropout = "probability of dropping the class label (classifier-free guidance)",
  hflip = "random horizontal flips",
  stratified = "stratified sigma draws across the batch (k-diffusion)",
  dtype = "parameter dtype: F32 (default) or F64",
  device = "where the model trains and samples: 'cpu' (default), 'cuda' or 'cuda:N'; default $DIFFKIT_DEVICE "
    .. "(diffkit run --device sets it); not part of the run's identity: a run resumes on any device",
  sample = "{ sampler =, steps =, schedule =, cfg =, noise = 'iid'|'brownian', n = }",
  eval = "evaluation settings: { n =, features =, every = N (FID/KID every N training steps into metrics.csv) }",
  paper = "paper-table metadata: { row =, fid = , ... }",
  preset = "the preset this table was built for",
}
local SAMPLE_KEYS = { sampler = true, steps = true, schedule = true, cfg = true, noise = true, n = true, seed = true }

local function edit_distance(a, b)
  local d = {}
  for i = 0, #a do d[i] = { [0] = i } end
  for j = 0, #b do d[0][j] = j end
  for i = 1, #a do
    for j = 1, #b do
      local c = (a:sub(i, i) == b:sub(j, j)) and 0 or 1
      d[i][j] = math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + c)
    end
  end
  return d[#a][#b]
end

local function closest(name, keys)
  local best, bd = nil, math.huge
  for k in pairs(keys) do
    local dd = edit_distance(name, k)
    if dd < bd then best, bd = k, dd end
  end
  return best
end

local function check_keys(t, keys, what, level)
  for k in pairs(t) do
    if type(k) ~= "string" or keys[k] == nil then
      local names = {}
      for n in pairs(keys) do names[#names + 1] = n end
      table.sort(names)
      error(("%s: unknown key '%s' (did you mean '%s'? keys: %s)"):format(
        what, tostring(k), closest(tostring(k), keys) or "?", table.concat(names, ", ")), level or 3)
    end
  end
end

-- Canonical text of a config: one "path = value" line per leaf, sorted, so
-- two configs can be compared line by line (resume checks) and the text is
-- stored in checkpoints.
local function flatten(v, prefix, out)
  if type(v) == "table" then
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    if #keys == 0 then out[#out + 1] = prefix .. " = {}" end
    for _, k in ipairs(keys) do
      local kp = type(k) == "number" and ("[" .. k .. "]") or tostring(k)
      flatten(v[k], prefix == "" and kp or (prefix .. "." .. kp), out)
    end
  elseif type(v) == "string" then
    out[#out + 1] = prefix .. " = " .. string.format("%q", v)
  elseif type(v) == "number" then
    out[#out + 1] = prefix .. " = " .. (math.type(v) == "integer" and tostring(v) or string.format("%.17g", v))
  else
    out[#out + 1] = prefix .. " = " .. (type(v) == "function" and "<function>" or tostring(v))
  end
  return out
end

-- Keys that are not part of a run's identity: documentation, evaluation
-- settings, the step target (training longer resumes the same run, as in
-- k-diffusion; the target changes nothing before it is reached) and the device
-- (checkpoints are device-independent: a run resumes on any device).
local NOT_IDENTITY = { preset = true, description = true, paper = true, eval = true, steps = true, device = true }

function Experiment.config_text(cfg)
  local copy = {}
  for k, v in pairs(cfg) do
    if not NOT_IDENTITY[k] then copy[k] = v end
  end
  return table.concat(flatten(copy, "", {}), "\n") .. "\n"
end

-- A stored config text without the lines of NOT_IDENTITY keys (checkpoints
-- written before the step target left the identity hold "steps = N").
local function identity_text(text)
  local out = {}
  for l in text:gmatch("[^\n]+") do
    local k = l:match("^([%w_]+)[%.%[ ]")
    if not (k and NOT_IDENTITY[k]) then out[#out + 1] = l end
  end
  return table.concat(out, "\n") .. "\n"
end

-- Lines that differ between two config texts, as "- old" / "+ new".
function Experiment.config_diff(a, b)
  local la, lb, sa, sb = {}, {}, {}, {}
  for l in a:gmatch("[^\n]+") do la[#la + 1] = l; sa[l] = true end
  for l in b:gmatch("[^\n]+") do lb[#lb + 1] = l; sb[l] = true end
  local d = {}
  for _, l in ipairs(la) do if not sb[l] then d[#d + 1] = "- " .. l end end
  for _, l in ipairs(lb) do if not sa[l] then d[#d + 1] = "+ " .. l end end
  return d
end

local function new(cfg)
  if type(cfg) ~= "table" then error("dk.experiment: expected a table, got a " .. type(cfg), 2) end
  check_keys(cfg, KEYS, "dk.experiment", 3)
  for _, k in ipairs { "data", "model", "precond", "train_sigma" } do
    if cfg[k] == nil then error(("dk.experiment '%s': '%s' is required (%s)"):format(cfg.name or "?", k, KEYS[k]), 2) end
  end
  if cfg.sample ~= nil then
    if type(cfg.sample) ~= "table" then error("dk.experiment: 'sample' must be a table", 2) end
    if type(cfg.sample.sampler) ~= "string" then check_keys(cfg.sample, SAMPLE_KEYS, "dk.experiment sample", 3) end
  end
  local self = setmetatable({ cfg = cfg, name = cfg.name or "experiment" }, Experiment)
  return self
end

-- ---- building ----------------------------------------------------------------

function Experiment:dataset()
  if not self._data then
    local d = self.cfg.data
    if type(d) == "userdata" then self._data = d
    else self._data = core.dataset(d) end
  end
  return self._data
end

-- The device the model runs on: cfg.device, else $DIFFKIT_DEVICE, else "cpu".
function Experiment:device()
  local d = self.cfg.device
  if d == nil or d == "" then d = os.getenv("DIFFKIT_DEVICE") end
  if d == nil or d == "" then d = "cpu" end
  -- data parallelism: each rank of a machine takes its own GPU (local rank -> cuda:N)
  if d == "cuda" and core.dist.world() > 1 then d = "cuda:" .. core.dist.local_rank() end
  return d
end

function Experiment:model()
  if not self._model then
    local m = spec.instantiate(self.cfg.model, { dtype = self.cfg.dtype or "F32", seed = self.cfg.seed or 0 }, "model")
    local dev = self:device()
    if dev ~= "cpu" then core.model_to_device(m, dev) end -- initialised on the host (same weights on any device)
    self._model = m
  end
  return self._model
end

function Experiment:precond()
  if not self._precond then self._precond = spec.instantiate(self.cfg.precond, nil, "precond") end
  return self._precond
end

function Experiment:density()
  if not self._density then self._density = spec.instantiate(self.cfg.train_sigma, nil, "train_sigma") end
  return self._density
end

function Experiment:info(h, w)
  local i = core.model_info(self:model(), h, w)
  return i
end

function Experiment:trainer()
  if self._trainer then return self._trainer end
  local c = self.cfg
  local ema = c.ema
  if ema == nil then ema = true end
  local ok, tr = pcall(core.trainer, {
    model = self:model(), precond = self:precond(), density = self:density(), data = self:dataset(),
    batch = c.batch or 32, seed = c.seed or 0, hflip = c.hflip or false,
    label_dropout = c.class_dropout or 0, optim = c.optim, lr_sched = c.lr_sched, ema = ema,
    grad_accum = c.grad_accum or 1, clip_norm = c.clip_norm or 1.0,
    stratified = c.stratified == nil and true or c.stratified,
    distributed = not self._evaluate_only, -- a checkpoint loaded for evaluation trains nothing: no split
  })
  if not ok then
    local msg = tostring(tr)
    -- a world size that cannot split the batch is a usage error: the message alone, on every rank
    if msg:find("cannot be split over", 1, true) then core.fail((msg:gsub("^.-dk%.trainer", "dk.trainer"))) end
    error(tr, 0)
  end
  self._trainer = tr
  return self._trainer
end

-- ---- files -------------------------------------------------------------------

local function mkdir_p(path)
  local ok = os.execute("mkdir -p '" .. path:gsub("'", "'\\''") .. "'")
  if not ok then error("cannot create folder '" .. path .. "': check the path and permissions", 3) end
end

local function file_exists(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- path.tmp.<pid>, every write checked, fsync, rename, fsync of the folder
-- (lua/binding/runfolder.c); on failure path is unchanged and the error is a
-- user error: "writing <path>: <reason>: the previous file is unchanged; ...".
local function write_atomic(path, text)
  local ok, e = core.write_atomic(path, text)
  if not ok then core.fail(e) end
end

-- ---- sampling ----------------------------------------------------------------

-- The sampler, schedule and step count of cfg.sample (k-diffusion's demo
-- defaults when absent: DPM++(2M) SDE heun, eta 0, 50 Karras steps).
function Experiment:sampling(o)
  o = o or {}
  local s = self.cfg.sample or {}
  local sampler = o.sampler or s.sampler or spec.sampler("dpmpp_2m_sde", { eta = 0, solver_type = "heun" })
  if type(sampler) == "string" then
    local opts = {}
    for k, v in pairs(s) do if not SAMPLE_KEYS[k] then opts[k] = v end end
    sampler = spec.sampler(sampler, opts)
  end
  local sched = o.schedule or s.schedule or spec.schedule("karras", { sigma_min = 0.01, sigma_max = 80 })
  local steps = o.steps or s.steps or 50
  return spec.instantiate(sampler, nil, "sample.sampler"), spec.instantiate(sched, nil, "sample.schedule"), steps,
    o.noise or s.noise or "iid", o.cfg or s.cfg or 1
end

-- Samples n images (EMA weights unless use_ema = false). Returns an F64
-- Tensor [n, C, H, W] and the number of model calls. With out = "x.png" also
-- writes a grid (one row per class for class-conditional models).
function Experiment:sample(o)
  o = o or {}
  local model = self:model()
  local info = core.model_info(model)
  local n = o.n or (self.cfg.sample and self.cfg.sample.n) or 64
  local labels = o.labels
  if labels == nil and info.num_classes > 0 then
    labels = {}
    local k = info.num_classes
    local per = math.max(1, n // k)
    for i = 1, n do labels[i] = math.min(k - 1, (i - 1) // per) end
  end
  local sampler, sched, steps, noise, cfg = self:sampling(o)
  local tr = self._trainer
  local use_ema = o.use_ema ~= false and tr ~= nil and self.cfg.ema ~= false
  if use_ema then tr:use_ema(true) end
  local data = self._data
  local shape = o.shape
  if not shape and info.image_size <= 0 then shape = self:dataset():shape() end
  local ok, x, calls = pcall(core.sample, {
    model = model, precond = self:precond(), sampler = sampler, sigmas = sched:sigmas(steps), n = n,
    labels = labels, cfg = cfg, seed = o.seed or self.cfg.seed or 0, noise = noise, shape = shape,
    on_step = o.on_step, x = o.x, offset = o.offset, noise_stream = o.noise_stream,
  })
  if use_ema then tr:use_ema(false) end
  if not ok then error(x, 2) end
  if o.out then
    local cols = o.cols or (info.num_classes > 0 and math.max(1, n // info.num_classes)) or math.ceil(math.sqrt(n))
    core.image_grid(x, o.out, cols)
  end
  _ = data
  return x, calls
end

-- ---- training ----------------------------------------------------------------

local CSV_HEADER = "step,loss,lr,grad_norm,ema_decay,sigma_min,sigma_max,samples_per_s,elapsed_s\n"
local METRICS_HEADER = "step,fid,kid,n,features,seconds\n"
Experiment.METRICS_HEADER = METRICS_HEADER

-- The rows of a run's metrics.csv (eval_every): { { step =, fid =, kid =, n =, features =, seconds = }, ... }
-- in step order; {} when there is none.
function Experiment.read_metrics_csv(path)
  local f = io.open(path, "rb")
  if not f then return {} end
  local rows = {}
  for line in f:lines() do
    local st, fid, kid, n, feat, sec = line:match("^(%d+),([^,]+),([^,]+),(%d+),([^,]*),([^,]+)$")
    if st then
      rows[#rows + 1] = { step = tonumber(st), fid = tonumber(fid), kid = tonumber(kid), n = tonumber(n),
                          features = feat, seconds = tonumber(sec) }
    end
  end
  f:close()
  table.sort(rows, function(a, b) return a.step < b.step end)
  return rows
end

-- exp:train { out =, steps =, log_every = 10, sample_every = 0, checkpoint_every = 0,
--             resume = true, force = false, on_log = function(stats),
--             eval_every = 0, eval_n = 2000, eval_seed = 0 }
-- eval_every = N (or cfg.eval.every) evaluates FID/KID (exp:evaluate, eval_n
-- samples, default cfg.eval.n) every N steps and at the last step into
-- <out>/metrics.csv (step,fid,kid,n,features,seconds); on resume the rows
-- past the checkpoint's step are dropped, as log.csv's, and a step already
-- evaluated is not evaluated again.
-- Returns the last stats (nil when there was nothing to train) and the run folder.
--
-- The run folder is locked while training (dk.run_lock: a second process is
-- refused, naming the holder; a lock left by a killed process is taken over).
-- Resuming removes temporary files of dead processes and drops the log rows
-- written after the checkpoint. `steps` is the target, not part of the run's
-- identity: a larger target continues the run; a smaller one than the
-- checkpoint's step trains nothing and says so. Failures of the run's files
-- (full disk, ...) and of resuming are dk.fail errors: one message, no
-- traceback, and the previous files are unchanged (docs/reliability.md).
function Experiment:train(o)
  o = o or {}
  check_keys(o, { out = 1, steps = 1, log_every = 1, sample_every = 1, checkpoint_every = 1, resume = 1, force = 1,
                  on_log = 1, sample_n = 1, quiet = 1, eval_every = 1, eval_n = 1, eval_seed = 1 }, "exp:train", 3)
  local out = o.out or ("runs/" .. self.name)
  local steps = o.steps or self.cfg.steps or 1000
  steps = math.tointeger(steps) or steps -- 2000.0 is 2000
  if math.type(steps) ~= "integer" or steps < 0 then
    core.fail(("exp:train: steps = %s: the step target must be a whole number >= 0"):format(tostring(steps)))
  end
  -- Data parallelism (docs/distributed.md): every rank trains its share of
  -- each step; rank 0 alone owns the run folder (lock, config, log.csv,
  -- checkpoints, grids, the progress line). The others read the checkpoint to
  -- resume from (the folder must be on a file system every machine sees).
  local rank0, world = core.dist.rank() == 0, core.dist.world()
  if not rank0 then o = setmetatable({ quiet = true, sample_every = 0, checkpoint_every = 0 }, { __index = o }) end
  if rank0 then mkdir_p(out) end
  local lock_, note = nil, nil
  if rank0 then
    lock_, note = core.run_lock(out)
    if not lock_ then core.fail(note) end
  end
  local lock <close> = lock_
  if note then io.stderr:write(note, "\n") end
  local removed, bytes = rank0 and core.clean_tmp(out) or {}, 0
  if #removed > 0 then
    local names = {}
    for i, r in ipairs(removed) do bytes = bytes + r.bytes; if i <= 3 then names[i] = r.name end end
    io.stderr:write(("run folder %s: removed %d temporary file%s of processes that are gone (%.1f MB: %s%s)\n"):format(
      out, #removed, #removed == 1 and "" or "s", bytes / 1e6, table.concat(names, ", "), #removed > 3 and ", ..." or ""))
  end
  if world > 1 then core.dist.barrier() end -- rank 0 has made and locked the folder
  local tr = self:trainer()
  local text = Experiment.config_text(self.cfg)
  local latest = read_file(out .. "/latest")
  if latest and o.resume ~= false then
    latest = latest:gsub("%s+$", "")
    local path = latest:sub(1, 1) == "/" and latest or (out .. "/" .. latest)
    if not file_exists(path) then path = latest end
    local ok, stored = pcall(tr.load, tr, path)
    if not ok then
      core.fail(("cannot resume run folder %s from %s: %s; restore that checkpoint, or train afresh in another folder")
        :format(out, path, tostring(stored)))
    end
    if not stored then
      core.fail(("checkpoint '%s' holds no experiment config (metadata 'config'), so resuming cannot check that it is this run: "
                 .. "it was not written by exp:train; use another out folder or resume = false"):format(path))
    end
    local diff = Experiment.config_diff(identity_text(stored), text)
    if #diff > 0 and not o.force then
      core.fail(("run folder '%s' holds a checkpoint of a different config:\n  %s\nresume with force = true (--force in the paper scripts) to continue anyway, or use another out folder")
        :format(out, table.concat(diff, "\n  ")))
    end
    if not o.quiet then io.stderr:write(("resumed %s at step %d (target %d)\n"):format(path, tr:steps(), steps)) end
    if tr:steps() >= steps and rank0 then
      io.stderr:write(tr:steps() == steps
        and ("run folder %s is already at its target of %d steps: nothing to train\n"):format(out, steps)
        or ("run folder %s is at step %d, past the target of %d steps: nothing to train (a run is never shortened; "
            .. "the checkpoint is unchanged)\n"):format(out, tr:steps(), steps))
    end
  end
  if rank0 and read_file(out .. "/config.txt") ~= text then write_atomic(out .. "/config.txt", text) end
  -- log.csv: the header and the rows up to the checkpoint's step (rows logged
  -- after the last checkpoint by a process that was killed would repeat)
  local csv_path = out .. "/log.csv"
  local done0 = tr:steps()
  local old = rank0 and read_file(csv_path)
  if not rank0 then
    -- log.csv is rank 0's
  elseif done0 == 0 or not old then
    if old ~= CSV_HEADER then write_atomic(csv_path, CSV_HEADER) end
  else
    local keep, dropped = {}, 0
    for line in old:gmatch("[^\n]*\n?") do
      if line ~= "" then
        local step = tonumber(line:match("^(%d+),"))
        if #keep == 0 and not step then keep[1] = line                       -- the header
        elseif step and step <= done0 and line:sub(-1) == "\n" then keep[#keep + 1] = line
        else dropped = dropped + 1 end                                     -- after the checkpoint, or torn
      end
    end
    if dropped > 0 then
      write_atomic(csv_path, table.concat(keep))
      io.stderr:write(("%s: dropped %d row%s logged after step %d, the checkpoint's step\n"):format(
        csv_path, dropped, dropped == 1 and "" or "s", done0))
    end
  end
  -- metrics.csv: FID/KID during training (eval_every), rows up to the
  -- checkpoint's step kept (a resumed run neither repeats nor loses a row)
  local ev = self.cfg.eval or {}
  local eval_every = o.eval_every or ev.every or 0
  local eval_n = o.eval_n or ev.n or 2000
  local mcsv_path = out .. "/metrics.csv"
  local evaluated = {}
  if eval_every > 0 then
    local mold = METRICS_HEADER -- the other ranks only track which steps are done
    if rank0 then mold = read_file(mcsv_path) end
    local keep, dropped = { METRICS_HEADER }, 0
    for line in (mold or ""):gmatch("[^\n]*\n?") do
      local step = tonumber(line:match("^(%d+),"))
      if step and step <= done0 and line:sub(-1) == "\n" and not evaluated[step] then
        keep[#keep + 1] = line
        evaluated[step] = true
      elseif line ~= "" and line ~= METRICS_HEADER then dropped = dropped + 1 end
    end
    local text2 = table.concat(keep)
    if rank0 and mold ~= text2 then write_atomic(mcsv_path, text2) end
    if world > 1 then -- the steps already evaluated are rank 0's to know
      local have = {}
      for st_ in pairs(evaluated) do have[#have + 1] = tostring(st_) end
      evaluated = {}
      for st_ in core.dist.bcast_string(table.concat(have, ","), 0):gmatch("%d+") do evaluated[tonumber(st_)] = true end
    end
    if dropped > 0 then
      io.stderr:write(("%s: dropped %d row%s after step %d, the checkpoint's step\n"):format(
        mcsv_path, dropped, dropped == 1 and "" or "s", done0))
    end
  end
  local function evaluate_at(step)
    if evaluated[step] then return end
    local t1 = core.time()
    -- every rank evaluates (under mpirun the samples are split over the ranks); rank 0 writes
    local ok, r = pcall(self.evaluate, self, { n = eval_n, seed = o.eval_seed or 0, quiet = true })
    if not ok then error(r, 0) end
    evaluated[step] = true
    if not rank0 then return end
    local row = ("%d,%.6f,%.8g,%d,%s,%.2f\n"):format(step, r.fid, r.kid, r.n, r.features, core.time() - t1)
    local f, ferr = io.open(mcsv_path, "ab")
    if not f then core.fail(("writing %s: %s"):format(mcsv_path, tostring(ferr))) end
    local wok, werr = f:write(row)
    if wok then wok, werr = f:close() else f:close() end
    if not wok then core.fail(("writing %s: %s; free disk space and resume"):format(mcsv_path, tostring(werr))) end
    evaluated[step] = true
    if not o.quiet then io.stderr:write(("%s step %d: fid %.3f kid %.5f (n %d)\n"):format(self.name, step, r.fid, r.kid, r.n)) end
  end
  local csv, cerr
  if rank0 then csv, cerr = io.open(csv_path, "ab") else csv = false end
  if csv == nil then core.fail(("writing %s: %s; check the folder and resume"):format(csv_path, tostring(cerr))) end
  local function last_good()
    local have = read_file(out .. "/latest")
    return have and (out .. "/" .. have:gsub("%s+$", "")) or "none (nothing was saved)"
  end
  local log_every = o.log_every or 10
  local prog = (not o.quiet) and tr:steps() < steps and core.progress(self.name, steps) or nil
  local function stop(msg)
    if prog then prog:finish("stopped") end
    if io.type(csv) == "file" then csv:close() end
    core.fail(msg)
  end
  local t0 = core.time()
  local last = nil
  local batch = (self.cfg.batch or 32) * (self.cfg.grad_accum or 1)
  local function checkpoint(step)
    local ok, e = pcall(tr.save, tr, out, text)
    if not ok then
      stop(("saving the checkpoint of step %d failed: %s: the last good checkpoint is still %s, unchanged; "
        .. "free disk space (or fix the cause) and resume"):format(step, tostring(e), last_good()))
    end
  end
  while tr:steps() < steps do
    local ok, st = pcall(tr.step, tr)
    if not ok then
      stop(("%s\nthe last good checkpoint is %s"):format(tostring(st), last_good()))
    end
    last = st
    local elapsed = core.time() - t0
    st.samples_per_s = (st.step - done0) * batch / math.max(elapsed, 1e-9)
    if rank0 and (st.step % log_every == 0 or st.step == steps) then
      local row = ("%d,%.8g,%.8g,%.8g,%.8g,%.6g,%.6g,%.4g,%.3f\n"):format(st.step, st.loss, st.lr, st.grad_norm,
        st.ema_decay, st.sigma_min, st.sigma_max, st.samples_per_s, elapsed)
      local wok, werr = csv:write(row)
      if wok then wok, werr = csv:flush() end
      if not wok then
        stop(("writing %s: %s: training stopped at step %d; the last good checkpoint is %s, unchanged (the rows "
          .. "after it are dropped on resume); free disk space and resume"):format(csv_path, tostring(werr), st.step, last_good()))
      end
      if o.on_log then o.on_log(st) end
    end
    if prog then prog:update(st.step, ("loss %.4f"):format(st.loss)) end
    if (o.sample_every or 0) > 0 and st.step % o.sample_every == 0 then
      local sok, serr = pcall(self.sample, self, { n = o.sample_n, out = ("%s/samples_%08d.png"):format(out, st.step) })
      if not sok then
        stop(("writing the sample grid of step %d failed: %s; the last good checkpoint is %s, unchanged")
          :format(st.step, tostring(serr), last_good()))
      end
    end
    if (o.checkpoint_every or 0) > 0 and st.step % o.checkpoint_every == 0 then checkpoint(st.step) end
    if eval_every > 0 and (st.step % eval_every == 0 or st.step == steps) then
      local eok, eerr = pcall(evaluate_at, st.step)
      if not eok then
        stop(("evaluating step %d failed: %s; the last good checkpoint is %s, unchanged"):format(st.step, tostring(eerr),
          last_good()))
      end
    end
  end
  if prog then prog:finish(last and ("loss %.4f"):format(last.loss) or nil) end
  if eval_every > 0 and not last and tr:steps() > 0 and tr:steps() == steps then
    evaluate_at(tr:steps()) -- a finished run whose last step has no row yet (eval_every added later)
  end
  local cok, cerr2 = true, nil
  if csv then cok, cerr2 = csv:close() end
  if not cok then core.fail(("writing %s: %s; the last good checkpoint is %s"):format(csv_path, tostring(cerr2), last_good())) end
  if rank0 and last and ((o.checkpoint_every or 0) == 0 or last.step % o.checkpoint_every ~= 0) then checkpoint(last.step) end
  return last, out
end

-- ---- evaluation (issue 6; docs/evaluation.md) -------------------------------
-- Added by the evaluation helper; nothing above is changed.

local EVAL_KEYS = { n = 1, batch = 1, features = 1, seed = 1, images = 1, quiet = 1, real = 1 }

-- The short name of the dataset in feature-net names ("fmnist" for
-- Fashion-MNIST, else "data" + 8 hex digits of the data spec).
local function data_tag(d)
  if type(d) == "table" and d[1] == "fashion_mnist" then return "fmnist" end
  if type(d) == "table" then return "data" .. core.hash(table.concat(flatten(d, "", {}), "\n")):sub(1, 8) end
  return "data"
end

-- The feature network: a FeatNet or Inception, "inception:PATH" (pytorch-fid's
-- FID Inception from the user's weights file, docs/interop.md), a
-- path to a feature-net file, or nil = diffkit's own classifier for the
-- dataset (cached; trained on first use).
-- Returns the net and a string identifying it in cache keys (name @ file, and
-- for Inception # a digest of its weights).
function Experiment:feature_net(features, quiet)
  features = features or (self.cfg.eval and self.cfg.eval.features)
  if type(features) == "userdata" then
    return features, features:name() .. (features.digest and ("@" .. features:path() .. "#" .. features:digest()) or "")
  end
  if type(features) == "string" and features:sub(1, 10) == "inception:" then
    local path = features:sub(11)
    if path == "" then error("exp:evaluate: features = \"inception:PATH\" needs the weights file after the colon", 3) end
    local net = core.inception_load(path)
    return net, net:name() .. "@" .. path .. "#" .. net:digest()
  end
  if type(features) == "string" then
    local net = core.featnet_load(features)
    return net, net:name() .. "@" .. features
  end
  if features ~= nil then
    error("exp:evaluate: features must be nil, \"inception:PATH\", a feature-net file path, a FeatNet or an Inception", 3)
  end
  if self._featnet then return self._featnet, self._featnet_key end
  local d = self.cfg.data
  local test
  if type(d) == "table" and d[1] == "fashion_mnist" then
    local t = {}
    for k, v in pairs(d) do t[k] = v end
    t.split = "test"
    test = core.dataset(t)
  end
  local net, path = core.featnet_default { train = self:dataset(), test = test, tag = data_tag(d), verbose = not quiet }
  self._featnet, self._featnet_key = net, net:name() .. "@" .. path
  return net, self._featnet_key
end

-- Features of n real training images (the first n of a seeded permutation),
-- cached in <cache>/features/real-<hash>.safetensors per dataset, feature net, n and seed.
function Experiment:real_features(net, key, n, seed, batch)
  local d = self.cfg.data
  local spec = type(d) == "table" and table.concat(flatten(d, "", {}), "\n") or nil
  local path
  if spec then
    local dir = core.cache_dir() .. "/features"
    mkdir_p(dir)
    path = ("%s/real-%s.safetensors"):format(dir, core.hash(("%s\n%s\nn=%d seed=%d"):format(spec, key, n, seed)))
    if file_exists(path) then
      local t = core.load(path)
      if t.features then return t.features end
    end
  end
  local f = net:dataset_features(self:dataset(), n, seed, batch)
  if path then core.save(path .. ".part", { features = f }, { feature_net = net:name(), n = n, seed = seed }) os.rename(path .. ".part", path) end
  return f
end

-- exp:evaluate { n = 2000, batch = 100, features = nil, seed = 0, images = nil, quiet = false }
--   -> { fid =, kid =, features = "fmnist-cnn-v2", n =, accuracy_of_feature_net =,
--        ["fid[fmnist-cnn-v2]"] =, ["kid[fmnist-cnn-v2]"] =, model_calls =, seconds = }
-- Real features: n un-augmented training images. Fake features: n samples
-- with the experiment's sample settings and EMA weights (exp:sample), in
-- batches of `batch`, batch i drawn with seed (seed * 100003 + i); or the
-- given `images` tensor [N, C, H, W] instead of sampling.
-- features = "inception:PATH": pytorch-fid's FID Inception from the user's
-- weights file (features "inception-2015-12-05", accuracy nil;
-- docs/interop.md).
function Experiment:evaluate(o)
  o = o or {}
  check_keys(o, EVAL_KEYS, "exp:evaluate", 3)
  local ev = self.cfg.eval or {}
  local n = o.n or ev.n or 2000
  local batch = o.batch or 100
  local seed = o.seed or 0
  if n < 2 then error("exp:evaluate: n = " .. tostring(n) .. ", need at least 2 samples", 2) end
  local t0 = core.time()
  -- Under mpirun (docs/distributed.md) rank r samples the batches i with
  -- i % ranks == r and every batch's features are broadcast from its rank in
  -- the order of i, so each rank holds the single process's feature matrix,
  -- bit for bit, and computes the same FID/KID. Rank 0 trains or reads the
  -- cached feature net and real features first; the others then read its cache.
  local dist = core.dist
  local world, rank = dist.world(), dist.rank()
  local quiet = o.quiet or rank ~= 0
  local net, key, real
  for turn = 0, world > 1 and 1 or 0 do
    if (turn == 0) == (rank == 0) then
      net, key = self:feature_net(o.features, quiet)
      real = self:real_features(net, key, n, seed, batch)
    end
    if world > 1 and turn == 0 then dist.barrier() end
  end
  local fake, calls = nil, 0
  if o.images then
    fake = net:features(o.images, batch)
  else
    local parts, done, i = {}, 0, 0
    local prog = (not quiet) and core.progress("sampling for evaluation", n) or nil
    while done < n do
      local m = math.min(batch, n - done)
      if i % world == rank then
        local x, c = self:sample { n = m, seed = seed * 100003 + i }
        parts[#parts + 1] = net:features(x, batch)
        calls = calls + (c or 0)
      else
        parts[#parts + 1] = false
      end
      done, i = done + m, i + 1
      if prog then prog:update(done) end
    end
    if prog then prog:finish() end
    if world > 1 then
      for j = 1, #parts do parts[j] = dist.bcast_tensor(parts[j] or nil, (j - 1) % world) end
      local all = 0
      for r = 0, world - 1 do all = all + tonumber(dist.bcast_string(tostring(calls), r)) end
      calls = all
    end
    fake = core.cat0(parts)
  end
  local fid, kid = core.fid(real, fake), core.kid(real, fake)
  local name = net:name()
  local r = { fid = fid, kid = kid, features = name, n = n, accuracy_of_feature_net = net:accuracy(),
              model_calls = calls, seconds = core.time() - t0 }
  r["fid[" .. name .. "]"] = fid
  r["kid[" .. name .. "]"] = kid
  return r
end

-- Parses a config text (Experiment.config_text) back into a table, as data:
-- core.parse_config is a strict literal parser (core/src/literal.c) that
-- never runs the text, so a hostile checkpoint cannot execute code or hang
-- the reader; a function or userdata value cannot be rebuilt (error naming
-- the key, line and column). `what` names the source in errors.
function Experiment.parse_config_text(text, what)
  local ok, cfg = pcall(core.parse_config, text, what or "config text")
  if not ok then error(cfg, 2) end
  return cfg
end

-- Rebuilds the experiment of a checkpoint (its "config" metadata, written by
-- exp:train) and loads its weights, EMA and step: `diffkit eval CHECKPOINT`.
function Experiment.from_checkpoint(path)
  local meta = core.st_meta(path)
  if not meta.config then
    error(("checkpoint '%s' holds no experiment config (metadata 'config'): it was not written by exp:train"):format(path), 2)
  end
  local exp = new(Experiment.parse_config_text(meta.config, ("checkpoint '%s': config"):format(path)))
  exp._evaluate_only = true
  exp:trainer():load(path)
  exp.checkpoint_step = tonumber(meta.step)
  return exp
end

local M = setmetatable({ new = new, Experiment = Experiment, config_text = Experiment.config_text,
                         config_diff = Experiment.config_diff, KEYS = KEYS }, {
  __call = function(_, cfg) return new(cfg) end,
})
return M
