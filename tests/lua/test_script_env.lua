-- test_script_env.lua: the environment `diffkit run` gives a script — arg,
-- varargs, strict globals, package.path — and dk.extend.
local dk = require "diffkit"
local check = require "check"
local a1, a2 = ...

check.eq(arg[1], "alpha", "arg[1]")
check.eq(arg[2], "beta two", "arg[2]")
check.eq(a1, "alpha", "... first")
check.eq(a2, "beta two", "... second")
check.ok(arg[0]:find("test_script_env%.lua$") ~= nil, "arg[0] is the script")
-- arg[-1] is "run" (diffkit run X.lua) or the binary (diffkit X.lua)
check.ok(arg[-1] == "run" or arg[-1]:find("diffkit$") ~= nil, "arg[-1]")

-- strict globals: reading an unassigned global raises at the reading line
local err = check.raises(function() return undefined_thing end, "undefined global 'undefined_thing'")
check.ok(err and err:find("test_script_env.lua:%d+:") ~= nil, "the error names file:line")
new_global = 42 -- assigning is allowed
check.eq(new_global, 42, "assigned global reads back")
check.eq(rawget(_G, "still_missing"), nil, "rawget tests optional globals")

-- the diffkit module
check.eq(type(dk.tensor), "function")
check.eq(dk.core.tensor, dk.tensor, "dk re-exports diffkit.core")
check.raises(function() return dk.no_such_field end, "diffkit has no field 'no_such_field'")

-- dk.extend: deep merge of string-keyed tables; arrays replace
local base = { name = "A", model = { widths = { 128, 256 }, depth = 2 }, seed = 0 }
local e = dk.extend(base, { name = "B", model = { widths = { 64 } } })
check.eq(e.name, "B")
check.eq(e.model.depth, 2, "nested fields kept")
check.eq(#e.model.widths, 1, "arrays replace")
check.eq(e.model.widths[1], 64)
check.eq(base.model.widths[2], 256, "base untouched")
check.eq(base.name, "A")

check.finish()
