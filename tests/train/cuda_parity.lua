-- cuda_parity.lua: training on the GPU against the CPU (docs/cuda.md).
--  - 50 steps of a tiny class-conditional DiT (AdamW, EMA, clipping, soft-min-snr,
--    stratified sigma) in F64 on cpu and on cuda: every logged loss and every
--    tensor of the final checkpoint (weights, EMA, optimizer state) agree to
--    1e-9 relative (the kernels differ only in summation order);
--  - the same in F32 (TF32 off): losses to 1e-3 relative, tensors to 1e-2 of
--    each tensor's largest value (F32 rounding grows over 50 AdamW steps);
--  - cross-device resume: 25 steps on cpu, a checkpoint, 25 more on cuda,
--    against 50 on cuda (F64, 1e-9); a GPU checkpoint loads on the CPU;
--  - the data are written here as small IDX files (no dataset needed).
-- Exits 77 (skipped) without a CUDA device.
package.path = arg[0]:match("(.*/)") .. "?.lua;" .. package.path
local check = dofile(arg[0]:match("(.*/)") .. "../lua/check.lua")
local common = require "common"
local dk = require "diffkit"

-- DK_TEST_PARITY_ON_CPU=1 runs the "cuda" side on the CPU too: a check of this
-- script itself (every difference is then 0) on machines without a GPU.
local GPU = os.getenv("DK_TEST_PARITY_ON_CPU") == "1" and "cpu" or "cuda"
local info = dk.device_info()
if GPU == "cuda" and not info.cuda then
  print("skipped: no CUDA device: " .. tostring(info.cuda_unavailable))
  os.exit(77)
end
print(info.cuda or "harness check: both sides on the cpu")

local dir = common.tmpdir("cuda_parity")
-- 256 images 28x28 (a smooth pattern per class plus hashed noise) and labels
local N = 256
local function write(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end
local px, lab = {}, {}
for i = 0, N - 1 do
  local c = i % 10
  lab[#lab + 1] = string.char(c)
  for y = 0, 27 do
    for x = 0, 27 do
      local h = ((i * 28 + y) * 28 + x) * 2654435761 % 4294967296
      local v = 128 + 90 * math.sin((x + 2 * c) / 4) * math.cos((y - c) / 5) + (h % 41) - 20
      px[#px + 1] = string.char(math.max(0, math.min(255, math.floor(v))))
    end
  end
end
write(dir .. "/img.idx", string.pack(">I4I4I4I4", 0x803, N, 28, 28) .. table.concat(px))
write(dir .. "/lab.idx", string.pack(">I4I4", 0x801, N) .. table.concat(lab))

local function cfg(dtype, device)
  return common.base { name = "cuda_parity", dtype = dtype, device = device, steps = 50, batch = 16,
                       data = dk.data.idx { images = dir .. "/img.idx", labels = dir .. "/lab.idx", pad = 2 } }
end

local function train(dtype, device, out, steps)
  local losses = {}
  dk.experiment(cfg(dtype, device)):train { out = out, steps = steps, quiet = true, log_every = 1,
                                            checkpoint_every = 25, on_log = function(st) losses[st.step] = st.loss end }
  return losses
end

local function last(out)
  return dk.load(out .. "/" .. common.read(out .. "/latest"):gsub("%s+$", ""))
end

-- worst relative difference of two checkpoints' tensors (relative to each tensor's largest value)
local function compare(a, b, what, tol)
  local worst, wname, n = 0, "", 0
  for name, t in pairs(a) do
    if type(name) == "string" and type(t) == "userdata" then
      n = n + 1
      local u = b[name]
      local scale = math.max(t:abs():max(), 1e-30)
      local d = u and t:max_abs_diff(u) / scale or math.huge
      if not (d <= worst) then worst, wname = d, name end
    end
  end
  print(("%s: %d tensors, worst relative difference %.3g (%s)"):format(what, n, worst, wname))
  check.ok(n > 20, what .. ": checkpoint holds model, EMA and optimizer tensors")
  check.ok(worst <= tol, ("%s: tensors within %g"):format(what, tol))
end

local function compare_losses(la, lb, what, tol)
  local worst = 0
  for s = 1, 50 do
    local d = math.abs(la[s] - lb[s]) / math.abs(la[s])
    if not (d <= worst) then worst = d end
  end
  print(("%s: losses %.6f -> %.6f (cpu), worst relative difference %.3g"):format(what, la[1], la[50], worst))
  check.ok(worst <= tol, ("%s: losses within %g"):format(what, tol))
end

for _, case in ipairs { { "F64", 1e-9, 1e-9 }, { "F32", 1e-3, 1e-2 } } do
  local dt, ltol, wtol = case[1], case[2], case[3]
  local a, b = dir .. "/cpu_" .. dt, dir .. "/cuda_" .. dt
  local la = train(dt, "cpu", a, 50)
  local lb = train(dt, GPU, b, 50)
  compare_losses(la, lb, dt .. " cpu vs cuda", ltol)
  compare(last(a), last(b), dt .. " cpu vs cuda", wtol)
end

-- cross-device resume (F64): 25 steps on cpu, 25 on cuda, against 50 on cuda
local r = dir .. "/resume"
os.execute("rm -rf '" .. r .. "'")
train("F64", "cpu", r, 25)
local lr = train("F64", GPU, r, 50)
check.ok(lr[26] ~= nil and lr[25] == nil, "the cuda run resumed the cpu checkpoint at step 25")
compare(last(r), last(dir .. "/cuda_F64"), "resume cpu -> cuda", 1e-9)
-- a GPU checkpoint loads and samples on the CPU (a run at its last step only loads it)
local function sample_from(device)
  local e = dk.experiment(cfg("F64", device))
  e:train { out = dir .. "/cuda_F64", steps = 50, quiet = true }
  return e:sample { n = 4, seed = 3 }
end
local s1, s2 = sample_from("cpu"), sample_from(GPU)
local d = s1:max_abs_diff(s2)
print(("samples of a GPU checkpoint, cpu vs cuda: max abs difference %.3g"):format(d))
check.ok(d <= 1e-6, "samples of a GPU checkpoint agree on cpu and cuda")
check.finish()
