-- reliability_checkpoint.lua: checkpoint integrity (docs/reliability.md).
--   - one flipped bit in a tensor's data: resume (exp:train) and `diffkit
--     eval` both fail naming the tensor and its checksums (before, both went
--     on silently with the corrupt weights);
--   - the same file with the bit restored resumes;
--   - a checkpoint without checksums (older diffkit) loads, with one warning;
--   - metadata: wrong diffkit.kind, step out of range, a step beyond the run's
--     steps, a missing config: each refused with its own message.
-- Exit 77 without Fashion-MNIST.   env DK_TEST_TMP, DIFFKIT_BIN
local here = arg[0]:match("(.*/)") or "./"
local check = dofile(here .. "check.lua")
local dk = require "diffkit"

check.need_fashion_mnist()
local bin = assert(os.getenv("DIFFKIT_BIN"), "DIFFKIT_BIN is not set")
local tmp = (os.getenv("DK_TEST_TMP") or "/tmp") .. "/diffkit-reliability-ckpt"
os.execute("rm -rf '" .. tmp .. "' && mkdir -p '" .. tmp .. "'")

local function make()
  return dk.experiment {
    name = "ckpt_tiny", seed = 3,
    data = dk.data.fashion_mnist { split = "train", pad = 2 },
    model = dk.model("dit", { input_size = 32, patch_size = 8, in_channels = 1, hidden_size = 32, depth = 1,
                              num_heads = 2, num_classes = 10, class_dropout_prob = 0.1, learn_sigma = false }),
    precond = dk.precond("edm", { sigma_data = 0.5 }),
    train_sigma = dk.schedule("lognormal", { loc = -1.2, scale = 1.2 }),
    optim = { "adamw", lr = 2e-3 }, ema = { power = 0.75, max = 0.999 }, batch = 4, steps = 2,
    sample = { sampler = dk.sampler("euler"), steps = 2, schedule = dk.schedule("karras", { sigma_min = 0.01, sigma_max = 80 }) },
  }
end
local run = tmp .. "/run"
make():train { out = run, quiet = true }
local ckpt = run .. "/ckpt_00000002.safetensors"
local good = check.slurp(ckpt)
check.ok(good ~= nil, "the checkpoint was written")
local meta = dk.st_meta(ckpt)
check.eq(meta["diffkit.checksums"], "crc32", "checksums recorded")
check.ok((meta["checksum.pos_embed"] or meta["checksum.x_embedder.proj.weight"] or ""):match("^crc32:%x%x%x%x%x%x%x%x$") ~= nil,
         "a tensor's checksum is crc32:8 hex digits")

-- the tensor whose data starts at offset 0, and the file offset of its first byte
local hlen = string.unpack("<I8", good)
local header = good:sub(9, 8 + hlen)
local first = header:match('"([^"]+)":%s*{[^}]-"data_offsets":%s*%[%s*0%s*,')
check.ok(first ~= nil, "found the first tensor in the header")
local pos = 8 + hlen + 1 -- 1-based index of its first data byte
local function write(path, s) local h = assert(io.open(path, "wb")); h:write(s); h:close() end
local flipped = good:sub(1, pos - 1) .. string.char(good:byte(pos) ~ 0x10) .. good:sub(pos + 1)
write(ckpt, flipped)

-- resume: refused naming the tensor
local ok, err = pcall(function() make():train { out = run, steps = 3, quiet = true } end)
err = tostring(err)
print("resume of the flipped file: " .. err:match("[^\n]*"))
check.ok(not ok, "resume of a flipped checkpoint fails")
check.ok(err:find("tensor '" .. first .. "' fails its checksum", 1, true) ~= nil, "the resume error names the tensor: " .. err)
check.ok(err:find("use an earlier checkpoint", 1, true) ~= nil, "the resume error says what to do")

-- diffkit eval: refused naming the tensor, before any sampling
local p = io.popen(("'%s' eval '%s' --n 2 2>&1; echo \"status $?\""):format(bin, ckpt))
local out = p:read("a")
p:close()
print("eval of the flipped file: " .. (out:match("diffkit eval: [^\n]*") or out))
check.ok(out:find("status 1\n", 1, true) ~= nil, "diffkit eval exits 1")
check.ok(out:find("tensor '" .. first .. "' fails its checksum (stored crc32:", 1, true) ~= nil, "the eval error names the tensor")

-- restored: resumes
write(ckpt, good)
ok, err = pcall(function() make():train { out = run, steps = 3, quiet = true } end)
check.ok(ok, "the restored checkpoint resumes: " .. tostring(err))

-- rewrite a copy with other metadata (same tensor bytes)
local tensors, m0 = dk.load(ckpt)
local function variant(name, change)
  local m = {}
  for k, v in pairs(m0) do m[k] = v end
  change(m)
  local path = tmp .. "/" .. name .. ".safetensors"
  dk.save(path, tensors, m)
  return path
end
local function load_err(path)
  local e = make()
  local okk, msg = pcall(function() e:trainer():load(path) end)
  return okk, tostring(msg)
end

-- older file: no checksums -> loads, with one warning (checked in a child process)
local legacy = variant("legacy", function(m)
  for k in pairs(m) do if k:match("^checksum%.") or k == "diffkit.checksums" then m[k] = nil end end
end)
check.ok((load_err(legacy)), "a checkpoint without checksums loads")
local script = tmp .. "/load_legacy.lua"
write(script, ([[
local E = dofile(%q)
E:trainer():load(%q)
E:trainer():load(%q)
print("loaded")
]]):format(tmp .. "/make.lua", legacy, legacy))
-- make.lua: the same experiment (a source copy of make() above)
local src = check.slurp(arg[0])
write(tmp .. "/make.lua", "local dk = require 'diffkit'\n" ..
  src:match("(local function make%(%).-\nend\n)") .. "return make()\n")
p = io.popen(("'%s' run '%s' 2>&1"):format(bin, script))
out = p:read("a")
p:close()
local _, n_warn = out:gsub("has no checksums", "")
check.ok(out:find("loaded", 1, true) ~= nil, "the legacy checkpoint loads in a child process: " .. out)
check.eq(n_warn, 1, "one warning for two loads of an unchecked checkpoint")

-- metadata
local okk, msg = load_err(variant("kind", function(m) m["diffkit.kind"] = "weights" end))
check.ok(not okk and msg:find("is not a training checkpoint", 1, true) ~= nil, "wrong diffkit.kind: " .. msg)
okk, msg = load_err(variant("nock", function(m) m["checksum." .. first] = nil end))
check.ok(not okk and msg:find("tensor '" .. first .. "' has no checksum", 1, true) ~= nil, "a missing checksum: " .. msg)
okk, msg = load_err(variant("badck", function(m) m["checksum." .. first] = "crc32:-0000001" end))
check.ok(not okk and msg:find("has a malformed checksum", 1, true) ~= nil, "a malformed checksum: " .. msg)
okk, msg = load_err(variant("neg", function(m) m.step = "-1" end))
check.ok(not okk and msg:find("step = -1 is out of range", 1, true) ~= nil, "negative step: " .. msg)
okk, msg = load_err(variant("huge", function(m) m.step = "99999999999999999" end))
check.ok(not okk and msg:find("is out of range", 1, true) ~= nil, "huge step: " .. msg)

local function resume_err(name, change)
  local dir = tmp .. "/" .. name
  os.execute("mkdir -p '" .. dir .. "'")
  local path = variant(name .. "/ckpt", change)
  write(dir .. "/latest", "ckpt.safetensors\n")
  local okr, e = pcall(function() make():train { out = dir, quiet = true } end)
  return okr, tostring(e), path
end
okk, msg = resume_err("beyond", function(m) m.step = "1000" end)
-- a checkpoint past the run's target trains nothing and says so (training
-- longer is a resume, a run is never shortened: docs/training.md "Resuming")
check.ok(okk, "step beyond the run's target is a no-op, not a failure: " .. msg)
okk, msg = resume_err("noconfig", function(m) m.config = nil end)
check.ok(not okk and msg:find("holds no experiment config", 1, true) ~= nil, "missing config: " .. msg)
check.finish()
