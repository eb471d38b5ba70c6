-- study_verify_make.lua: writes altered copies of the public golden files for
-- the `diffkit verify` robustness tests of tests/study.cmake.
--   diffkit run tests/lua/study_verify_make.lua GOLDEN_DIR OUT_DIR
-- Files that must PASS (their expected outputs follow from the originals):
--   b1_<case>.safetensors   one sample (index 2) of a stochastic sampler case:
--                           samples are independent (per-sample noise slices,
--                           a per-sample denoiser), so every tensor is the
--                           original's slice and the batch shape is new;
--   extras.safetensors      heun_churn with an extra tensor and metadata key.
-- Files that must FAIL with a clear message (exit 1, never a crash):
--   short_noise             noise_stream cut to 5 of its 10 slices;
--   wrong_count             noise_slices_consumed 11 instead of 10;
--   wrong_x_final           x_final moved by 1e-6;
--   no_x_final              x_final removed;
--   no_x0_rule              metadata x0_rule removed;
--   bad_option              opt.s_churn = "abc";
--   bad_sampler             sampler = "sample_heunn";
--   bad_shape               noise_init reshaped to [4, 1, 2, 8] (means are [3, 1, 4, 4]);
--   bad_std                 gmm.stds with a negative entry;
--   missing_<section>       a golden file of each section with its first
--                           tensor (by name) removed (noise_init for the
--                           sampler file, whose calls.* and traj are optional);
--   trunc_<section>         each golden file cut to 60% of its bytes;
--   bad_header, empty, huge_header: a corrupt header, an empty file, a header
--                           length larger than the file.
local dk = require "diffkit"
local golden, out = arg[1], arg[2]
assert(golden and out, "usage: study_verify_make.lua GOLDEN_DIR OUT_DIR")
assert(os.execute("mkdir -p '" .. out .. "'"))

local function copy(t)
  local r = {}
  for k, v in pairs(t) do r[k] = v end
  return r
end

-- The slice b (1-based) of dimension dim (1-based) of t, keeping the dimension.
local function slice(t, dim, b)
  local shape = t:shape()
  local inner = 1
  for d = dim + 1, #shape do inner = inner * shape[d] end
  local outer = 1
  for d = 1, dim - 1 do outer = outer * shape[d] end
  local n = shape[dim]
  local ns = copy(shape)
  ns[dim] = 1
  local r = dk.zeros(ns, t:dtype())
  for o = 0, outer - 1 do
    for i = 1, inner do r[o * inner + i] = t[(o * n + (b - 1)) * inner + i] end
  end
  return r
end

-- one sample of a sampler case
for _, case in ipairs({ "heun_churn", "dpmpp_2m_sde_midpoint", "dpmpp_sde", "euler_ancestral", "lms" }) do
  local t, m = dk.load(golden .. "/sampler_" .. case .. ".safetensors")
  local b = 3
  local r = copy(t)
  r.x_final = slice(t.x_final, 1, b)
  r.noise_init = slice(t.noise_init, 1, b)
  for _, k in ipairs({ "noise_stream", "traj", "calls.x", "calls.denoised", "calls.sigma" }) do
    if t[k] and t[k]:ndim() >= 2 then r[k] = slice(t[k], 2, b) end
  end
  local shape = t.x_final:shape()
  shape[1] = 1
  local mm = copy(m)
  mm.shape = "[" .. table.concat(shape, ",") .. "]"
  dk.save(out .. "/b1_" .. case .. ".safetensors", r, mm)
end

local base = golden .. "/sampler_heun_churn.safetensors"
local t, m = dk.load(base)
local function variant(name, tf, mf)
  local r, mm = copy(t), copy(m)
  if tf then tf(r) end
  if mf then mf(mm) end
  dk.save(out .. "/" .. name .. ".safetensors", r, mm)
end
variant("extras", function(r) r["extra.note"] = dk.tensor({ 1, 2, 3 }) end, function(mm) mm["extra.key"] = "ignored" end)
variant("short_noise", function(r)
  local s = r.noise_stream:shape()
  local n = s[1] // 2
  local per = r.noise_stream:numel() // s[1]
  s[1] = n
  local c = dk.zeros(s)
  for i = 1, n * per do c[i] = r.noise_stream[i] end
  r.noise_stream = c
end)
variant("wrong_count", nil, function(mm) mm.noise_slices_consumed = "11" end)
variant("wrong_x_final", function(r) r.x_final = r.x_final + 1e-6 end)
variant("no_x_final", function(r) r.x_final = nil end)
variant("no_x0_rule", nil, function(mm) mm.x0_rule = nil end)
variant("bad_option", nil, function(mm) mm["opt.s_churn"] = "abc" end)
variant("bad_sampler", nil, function(mm) mm.sampler = "sample_heunn" end)
variant("bad_shape", function(r) r.noise_init = r.noise_init:reshape(4, 1, 2, 8) end)
variant("bad_std", function(r)
  local s = r["gmm.stds"]:clone()
  s[2] = -0.5
  r["gmm.stds"] = s
end)

-- every section: one tensor removed, and the file cut short
local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end
local function write(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end
for _, sec in ipairs({ "schedules", "discrete", "precond", "densities", "gmm_check", "sampler_euler" }) do
  local path = golden .. "/" .. sec .. ".safetensors"
  local tt, mm = dk.load(path)
  local names = {}
  for k in pairs(tt) do
    if not k:match("^gmm%.") then names[#names + 1] = k end
  end
  table.sort(names)
  -- (calls.* and traj are optional in a sampler file: remove noise_init there)
  tt[sec == "sampler_euler" and "noise_init" or names[1]] = nil
  dk.save(out .. "/missing_" .. sec .. ".safetensors", tt, mm)
  local bytes = read(path)
  write(out .. "/trunc_" .. sec .. ".safetensors", bytes:sub(1, math.floor(#bytes * 0.6)))
end
local bytes = read(base)
write(out .. "/bad_header.safetensors", bytes:sub(1, 8) .. string.rep("}", 16) .. bytes:sub(25))
write(out .. "/empty.safetensors", "")
write(out .. "/huge_header.safetensors", string.pack("<I8", 1 << 40) .. bytes:sub(9))
print("wrote the variants to " .. out)
