-- test_io.lua: safetensors round trips from Lua, golden-file reading, and
-- the errors for a missing and a truncated file.
-- arg[1]: a scratch folder; arg[2]: tests/data.
local dk = require "diffkit"
local check = require "check"
local tmp, data = assert(arg[1], "scratch folder"), assert(arg[2], "data folder")

local x = dk.tensor({{1.5, -2}, {3.25, 1e-300}})
local y = dk.tensor({1, 2, 3}, "F32")
local n = dk.tensor({7, -8}, "I64")
dk.save(tmp .. "/rt.safetensors", { x = x, y = y, n = n }, { section = "test", steps = 4 })
local t, meta = dk.load(tmp .. "/rt.safetensors")
check.eq(t.x:dtype(), "F64")
check.eq(t.x:max_abs_diff(x), 0, "F64 round trip is exact")
check.eq(t.x:get(2, 2), 1e-300, "denormal-range value kept")
check.eq(t.y:dtype(), "F32")
check.eq(t.y:max_abs_diff(y), 0, "F32 round trip")
check.eq(t.n:dtype(), "I64")
check.eq(t.n[2], -8, "I64 round trip")
check.eq(meta.section, "test", "metadata string")
check.eq(meta.steps, "4", "metadata values are strings")

-- a golden file written by the reference dumper
local g, gm = dk.load(data .. "/golden/discrete.safetensors")
check.ok(gm.section ~= nil, "golden file has a section")
local count = 0
for _ in pairs(g) do count = count + 1 end
check.ok(count > 0, "golden file has tensors")

-- errors
check.raises(function() dk.load(tmp .. "/missing.safetensors") end, "missing.safetensors: cannot open")
local f = assert(io.open(tmp .. "/rt.safetensors", "rb"))
local bytes = f:read("a")
f:close()
local tr = assert(io.open(tmp .. "/truncated.safetensors", "wb"))
tr:write(bytes:sub(1, #bytes - 5))
tr:close()
check.raises(function() dk.load(tmp .. "/truncated.safetensors") end, "truncated.safetensors")
check.raises(function() dk.save(tmp .. "/bad.safetensors", { x = 3 }) end, "'x' is a number, not a Tensor")

check.finish()
