-- test_tensor.lua: the Tensor userdata — construction, shape, indexing,
-- arithmetic values, reductions and error messages.
local dk = require "diffkit"
local check = require "check"

local a = dk.tensor({{1, 2, 3}, {4, 5, 6}})
check.eq(a:dtype(), "F64", "default dtype")
check.eq(a:ndim(), 2, "ndim")
check.eq(#a, 6, "#t is numel")
check.eq(a:numel(), 6, "numel")
local s = a:shape()
check.ok(#s == 2 and s[1] == 2 and s[2] == 3, "shape {2, 3}")
check.eq(a[1], 1, "flat index 1")
check.eq(a[6], 6, "flat index 6")
check.eq(a:get(2, 1), 4, "get(2, 1)")
check.eq(a:get(1, 3), 3, "get(1, 3)")
a:set(2, 2, 50)
check.eq(a[5], 50, "set(2, 2) is flat 5")
a[5] = 5
check.eq(a:get(2, 2), 5, "t[i] = v")

-- arithmetic: elementwise, with numbers on either side
local b = dk.tensor({{6, 5, 4}, {3, 2, 1}})
local sum = a + b
check.eq(sum:dtype(), "F64")
for i = 1, 6 do check.eq(sum[i], 7, "a + b element " .. i) end
local d = a - b
check.eq(d[1], -5, "a - b [1]")
check.eq(d[6], 5, "a - b [6]")
local p = a * b
check.eq(p[2], 10, "a * b [2]")
local q = a / 2
check.eq(q[3], 1.5, "a / 2 [3]")
local r = 12 / a
check.eq(r[4], 3, "12 / a [4]")
local m = 1 - a
check.eq(m[6], -5, "1 - a [6]")
check.eq((-a)[2], -2, "unary minus")
check.eq((a * 2):sum(), 42, "(a * 2):sum()")
check.eq(a:sum(), 21, "sum")
check.eq(a:mean(), 3.5, "mean")
check.eq(a:max(), 6, "max")
check.eq(a:min(), 1, "min")
check.eq((-a):abs():sum(), 21, "abs")
check.eq(a:max_abs_diff(b), 5, "max_abs_diff")
check.eq(a:max_abs_diff(a:clone()), 0, "clone equals")

-- dtypes and conversions
local f = dk.tensor({0.1, 0.2}, "F32")
check.eq(f:dtype(), "F32")
check.near(f[1], 0.1, 1e-8, "F32 value")
check.ok(f[1] ~= 0.1, "F32 rounds 0.1")
check.eq((f + 1):dtype(), "F32", "F32 + number stays F32")
check.eq((f + dk.tensor({1, 2})):dtype(), "F64", "F32 + F64 is F64")
local i64 = dk.tensor({1, 2, 3}, "I64")
check.eq(math.type(i64[2]), "integer", "I64 elements are Lua integers")
check.eq((i64 + 1):dtype(), "I64", "I64 + integer is I64")
check.eq((i64 / 2):dtype(), "F64", "I64 / 2 is F64")
check.eq(f:to("F64"):dtype(), "F64", "to F64")

-- constructors
local z = dk.zeros({2, 2, 2}, "F32")
check.eq(z:numel(), 8)
check.eq(z:sum(), 0)
check.eq(dk.ones({3}):sum(), 3)
check.eq(dk.full({2, 3}, 2.5):sum(), 15)
check.eq(dk.tensor(4.5)[1], 4.5, "scalar")
local rs = a:reshape(3, 2)
check.eq(rs:get(3, 2), 6, "reshape keeps row-major order")
check.eq(a:reshape({6})[4], 4, "reshape with a table")

-- totable round trip
local t = a:totable()
check.eq(#t, 2)
check.eq(t[2][3], 6)
check.eq(dk.tensor(t):max_abs_diff(a), 0, "totable round trip")
check.ok(tostring(a):find("Tensor F64 [2, 3]", 1, true) ~= nil, "tostring")

-- errors
check.raises(function() return a + dk.tensor({1, 2}) end, "shapes must match")
check.raises(function() return a[7] end, "out of range")
check.raises(function() return a:get(3, 1) end, "index 3 of dimension 1 is out of range 1..2")
check.raises(function() return dk.tensor({{1, 2}, {3}}) end, "ragged")
check.raises(function() return dk.tensor({1, "x"}) end, "not a number")
check.raises(function() return dk.zeros({2}, "F17") end, "unknown dtype 'F17'")
check.raises(function() return a:nosuch() end, "no method or field 'nosuch'")
check.raises(function() return a:reshape(4, 2) end, "")

-- __close releases
do
  local c <close> = dk.tensor({1, 2})
  check.eq(c:sum(), 3)
end

check.finish()
