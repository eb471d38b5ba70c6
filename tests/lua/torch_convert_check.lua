-- torch_convert_check.lua: the outputs of `diffkit convert` (tests/torch.cmake)
-- hold exactly the expected tensors (gen_torch_files.py's
-- *.expected.safetensors) and the checkpoint's config / args as JSON.
-- arg[1]: the scratch folder of the conversions; arg[2]: tests/data.
local dk = require "diffkit"
local check = require "check"
local out, data = assert(arg[1]), assert(arg[2]) .. "/torch/"

-- the tensors under `prefix.` in an expected file, renamed without the prefix
local function expected(file, prefix)
  local all = dk.load(data .. file)
  local r, n = {}, 0
  for name, t in pairs(all) do
    if prefix == "" then r[name] = t; n = n + 1
    elseif name:sub(1, #prefix + 1) == prefix .. "." then r[name:sub(#prefix + 2)] = t; n = n + 1 end
  end
  return r, n
end

local function same(file, want, nwant, f32)
  local got, meta = dk.load(out .. "/" .. file)
  local n = 0
  for name, t in pairs(got) do
    n = n + 1
    local e = assert(want[name], file .. ": unexpected tensor " .. name)
    if f32 then
      check.ok(t:dtype() ~= "F16" and t:dtype() ~= "BF16" and t:dtype() ~= "F64", name .. " converted to F32")
      e = e:to(t:dtype())
    else
      check.eq(t:dtype(), e:dtype(), name .. " dtype")
    end
    check.eq(t:max_abs_diff(e), 0, file .. ": " .. name)
  end
  check.eq(n, nwant, file .. ": tensor count")
  return meta
end

local w, nw = expected("kdiff_ckpt.expected.safetensors", "model_ema")
local meta = same("kdiff.safetensors", w, nw)
check.eq(meta.key, "model_ema")
check.eq(meta.source_format, "torch.save zip")
check.ok(meta.config:find('"optimizer": {"type": "adamw", "lr": 0.0001', 1, true), "config JSON: " .. tostring(meta.config))
check.ok(meta.args == nil)

w, nw = expected("kdiff_ckpt.expected.safetensors", "model")
same("model.safetensors", w, nw)

w, nw = expected("dit_ckpt.expected.safetensors", "ema")
meta = same("dit.safetensors", w, nw)
check.eq(meta.key, "ema")
check.ok(meta.args:find('"model": "DiT-XL/2"', 1, true), "args JSON: " .. tostring(meta.args))

w, nw = expected("legacy.expected.safetensors", "")
meta = same("legacy.safetensors", w, nw, true)
check.eq(meta.source_format, "torch.save legacy")
local one = dk.load(out .. "/one.safetensors")
w = expected("views.expected.safetensors", "")
check.eq(one.transpose:max_abs_diff(w.transpose), 0, "a single tensor under its key")
print("ok")
