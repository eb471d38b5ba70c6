-- diffkit/sample_cmd.lua: `diffkit sample CHECKPOINT --n N --out OUT [...]`
-- (lua/cli/sample.c calls main with the arguments and holds the help text;
-- docs/interop.md).
local core = require "diffkit.core"
local spec = require "diffkit.spec"
local interop = require "diffkit.interop"

local M = {}


local function usage(fmt, ...)
  io.stderr:write("diffkit: ", fmt:format(...), " (run 'diffkit sample --help' for usage)\n")
  return 2
end

local function int_arg(name, v, min)
  local x = v and math.tointeger(tonumber(v))
  if not x or x < min then return nil, ("%s needs a whole number >= %d, got '%s'"):format(name, min, tostring(v)) end
  return x
end

-- Parses argv; returns options or nil, message.
function M.parse(argv)
  local o = { seed = 0, batch = 64, labels = "cycle" }
  local i = 1
  local function val(name)
    i = i + 1
    if argv[i] == nil then error({ usage = name .. " needs a value" }) end
    return argv[i]
  end
  local ok, e = pcall(function()
    while i <= #argv do
      local a = argv[i]
      local x, m
      if a == "--n" then x, m = int_arg(a, val(a), 1); o.n = x
      elseif a == "--out" then o.out = val(a)
      elseif a == "--sampler" then o.sampler = val(a)
      elseif a == "--steps" then x, m = int_arg(a, val(a), 1); o.steps = x
      elseif a == "--cfg" then x = tonumber(val(a)); if not x or x ~= x then m = "--cfg needs a number" end; o.cfg = x
      elseif a == "--seed" then x, m = int_arg(a, val(a), 0); o.seed = x
      elseif a == "--labels" then o.labels = val(a)
      elseif a == "--batch" then x, m = int_arg(a, val(a), 1); o.batch = x
      elseif a == "--device" then
        o.device = val(a)
        if o.device ~= "cpu" and not o.device:match("^cuda") then m = "--device '" .. o.device .. "': use cpu, cuda or cuda:N" end
      elseif a == "--no-ema" then o.use_ema = false
      elseif a == "--key" then o.key = val(a)
      elseif a == "--heads" then x, m = int_arg(a, val(a), 1); o.num_heads = x
      elseif a == "--force" then o.force = true
      elseif a == "--quiet" then o.quiet = true
      elseif a:sub(1, 1) == "-" and #a > 1 then m = "unknown option '" .. a .. "'"
      elseif o.checkpoint then m = ("one checkpoint only (got '%s' and '%s')"):format(o.checkpoint, a)
      else o.checkpoint = a end
      if m then error({ usage = m }) end
      i = i + 1
    end
  end)
  if not ok then
    if type(e) == "table" and e.usage then return nil, e.usage end
    error(e, 0)
  end
  if not o.checkpoint then return nil, "no checkpoint given" end
  if not o.n then return nil, "--n N is required" end
  if not o.out then return nil, "--out DIR|FILE.npz|GRID.png is required" end
  return o
end

-- The n labels of the run (nil for an unconditional model).
function M.labels(spec_, n, classes, seed)
  if classes <= 0 then
    if spec_ ~= "cycle" then core.fail("--labels: the model is not class-conditional") end
    return nil
  end
  local t = {}
  if spec_ == "cycle" then
    for i = 1, n do t[i] = (i - 1) % classes end
  elseif spec_ == "random" then
    -- Lua 5.4's xoshiro256** from the seed: the same labels on every machine
    math.randomseed(seed)
    for i = 1, n do t[i] = math.random(0, classes - 1) end
  else
    local one = math.tointeger(tonumber(spec_))
    if one then
      for i = 1, n do t[i] = one end
    else
      for v in spec_:gmatch("[^,]+") do
        local x = math.tointeger(tonumber(v))
        if not x then core.fail(("--labels: '%s' is not a class number"):format(v)) end
        t[#t + 1] = x
      end
      if #t ~= n then core.fail(("--labels: %d labels for --n %d"):format(#t, n)) end
    end
    for i = 1, n do
      if t[i] < 0 or t[i] >= classes then core.fail(("--labels: class %d is outside 0..%d"):format(t[i], classes - 1)) end
    end
  end
  return t
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end

-- exp:sample in batches into the chosen output; returns the number of model calls.
function M.run(exp, o, about)
  local info = core.model_info(exp:model())
  local n, batch = o.n, math.min(o.batch, o.n)
  local labels = M.labels(o.labels, n, info.num_classes, o.seed)
  local overrides = {}
  if o.sampler then overrides.sampler = spec.sampler(o.sampler, {}) end
  overrides.steps, overrides.cfg = o.steps, o.cfg
  -- a respaced DDPM schedule (DiT's sample.py --num-sampling-steps): --steps K respaces to K
  local sc = exp.cfg.sample and exp.cfg.sample.schedule
  if o.steps and type(sc) == "table" and sc.name == "ddpm" and sc.opts and sc.opts.respacing and sc.opts.respacing ~= "" then
    local opts = {}
    for k, v in pairs(sc.opts) do opts[k] = v end
    opts.respacing = tostring(o.steps)
    overrides.schedule = spec.schedule("ddpm", opts)
  end
  local sampler, sched, steps, noise, cfg = exp:sampling(overrides)
  local out = o.out
  local mode = out:match("%.npz$") and "npz" or (out:match("%.png$") and "grid" or "dir")
  local shape = info.image_size > 0 and { info.in_channels, info.image_size, info.image_size } or exp:dataset():shape()
  local C, H, W = shape[1], shape[2], shape[3]
  -- Under mpirun (docs/distributed.md) batch b is sampled by rank b % R (same
  -- noise as one process: start noise by image index, step noise by batch);
  -- PNGs are written by their rank, .npz and grid batches are sent to rank 0,
  -- which writes them in order: the files equal one process's.
  local dist = core.dist
  local world, rank = dist.world(), dist.rank()
  local quiet = o.quiet or rank ~= 0
  local z, parts
  if mode == "npz" then
    if rank == 0 then z = core.npz_writer(out, n, H, W, C) end
  elseif mode == "grid" then
    parts = {}
  elseif rank == 0 then
    os.execute("mkdir -p '" .. out:gsub("'", "'\\''") .. "'")
    if not exists(out .. "/.") then core.fail(("--out %s: cannot create the folder (check the path and permissions)"):format(out)) end
    if not o.force and exists(out .. "/000000.png") then
      core.fail(("--out %s: the folder already holds samples (000000.png): choose another folder, or --force to overwrite"):format(out))
    end
  end
  if world > 1 then dist.barrier() end -- rank 0 has made the folder or the writer
  if not quiet then
    io.stderr:write(("%s\nsampling %d images %dx%dx%d: %s, %d steps, cfg %g, seed %d, batch %d, %s%s\n"):format(
      about, n, C, H, W, sampler:name(), steps, cfg, o.seed, batch, exp:device(),
      world > 1 and (", %d ranks"):format(world) or ""))
  end
  local prog = (not quiet) and core.progress("sampling", n) or nil
  local t0, calls, done, b = core.time(), 0, 0, 0
  while done < n do
    local m = math.min(batch, n - done)
    local owner = b % world
    local x
    if owner == rank then
      local lab = nil
      if labels then lab = {} for i = 1, m do lab[i] = labels[done + i] end end
      local c
      x, c = exp:sample { n = m, labels = lab, seed = o.seed, offset = done, noise_stream = b,
                          sampler = sampler, schedule = sched, steps = steps, cfg = cfg, noise = noise,
                          use_ema = o.use_ema, shape = shape }
      calls = calls + (c or 0)
    end
    if mode == "dir" then
      if x then core.save_pngs(x, out, done) end
    else
      if world > 1 then x = dist.bcast_tensor(x, owner) end
      if rank == 0 then
        if mode == "npz" then z:append(x) else parts[#parts + 1] = x end
      end
    end
    done, b = done + m, b + 1
    if prog then prog:update(done) end
  end
  if prog then prog:finish() end
  if world > 1 then
    local all = 0
    for r = 0, world - 1 do all = all + tonumber(dist.bcast_string(tostring(calls), r)) end
    calls = all
    dist.barrier() -- every rank's PNGs are written
  end
  if rank ~= 0 then return calls end
  if mode == "npz" then
    z:finish(labels)
  elseif mode == "grid" then
    local all = core.cat0(parts)
    local cols = info.num_classes > 0 and o.labels == "cycle" and math.min(n, info.num_classes) or 0
    core.image_grid(all, out, cols)
  elseif labels then
    local lines = {}
    for i = 1, n do lines[i] = ("%06d.png %d"):format(i - 1, labels[i]) end
    local ok, e = core.write_atomic(out .. "/labels.txt", table.concat(lines, "\n") .. "\n")
    if not ok then core.fail(e) end
  end
  local dt = core.time() - t0
  print(("wrote %d images (%dx%dx%d) to %s: %d model calls, %.1f s, %.2f images/s"):format(n, C, H, W, out, calls, dt, n / dt))
  return calls
end

function M.main(...)
  local argv = { ... }
  local o, m = M.parse(argv)
  if not o then return usage("%s", m) end
  local exp, about = interop.open(o.checkpoint, o)
  M.run(exp, o, about)
  return 0
end

return M
