-- reliability_config.lua: stored configs are data (docs/reliability.md).
--   - Experiment.config_text round-trips through the strict parser
--     (strings with escapes, integers, floats incl. inf/nan, booleans, {});
--   - hostile config text (code in a string concatenation, a call, an
--     unfinished string, deep nesting) is refused with the key and position,
--     without running anything;
--   - `diffkit eval` on a checkpoint whose config holds code fails with that
--     error within seconds (it hung before: load("return " .. val)).
-- diffkit run tests/lua/reliability_config.lua   (env DIFFKIT_BIN, DK_TEST_TMP)
local here = arg[0]:match("(.*/)") or "./"
local check = dofile(here .. "check.lua")
local dk = require "diffkit"
local E = require "diffkit.experiment"

-- 1. round trip
local cfg = { name = "rt \"quoted\"\t\\ \1 end", batch = 20, lr = 1e-4, big = math.huge, small = -math.huge,
              flag = true, off = false, empty = {}, model = { "dit", depth = 2, widths = { 64, 128 } },
              neg = -3, f = 0.1, mi = math.mininteger, s = "line1\nline2" }
local text = E.Experiment.config_text(cfg)
local back = E.Experiment.parse_config_text(text)
check.eq(E.Experiment.config_text(back), text, "config_text round-trips through parse_config_text")
check.eq(back.name, cfg.name, "string with escapes")
check.eq(math.type(back.batch), "integer", "integers stay integers")
check.eq(back.big, math.huge, "inf")
check.eq(back.small, -math.huge, "-inf")
check.eq(back.model[1], "dit", "integer keys")
check.eq(back.model.widths[2], 128, "nested list")
check.eq(back.s, "line1\nline2", "a newline inside a string (written as \\<newline>)")
check.eq(back.mi, math.mininteger, "math.mininteger")
local nan = dk.parse_config("x = nan\ny = -nan\n").x
check.ok(nan ~= nan, "nan reads back as NaN")

-- 2. hostile text: refused, nothing runs
_G.DK_PWNED = nil
local hostile = {
  { 'name = "a" .. (function() while true do end end)()', "name", "unexpected text after the value" },
  { "name = (function() while true do end end)()", "name", "expected a value" },
  { 'name = "a" .. (function() DK_PWNED = 1 end)()', "name", "unexpected text" },
  { 'x = "unfinished', "x", "unfinished string" },
  { "x = " .. ("{"):rep(100) .. ("}"):rep(100), "x", "nested more than 32 deep" },
  { "x = 0x10", "x", "malformed number" },
  { "x = <function>", "x", "function value cannot be rebuilt" },
  { "a = 1\na.b = 2", "a.b", "not a table" },
  { "x = 1\nx = 2", "x", "given twice" },
  { "just words", nil, "expected a line 'path = value'" },
  { 'x = "\\q"', "x", "invalid escape" },
  { ("a."):rep(40) .. "b = 1", nil, "key nested more than 32 deep" },
}
for _, h in ipairs(hostile) do
  local ok, e = pcall(dk.parse_config, h[1], "test config")
  check.ok(not ok, "hostile config refused: " .. h[1]:sub(1, 40))
  e = tostring(e)
  check.ok(e:find(h[3], 1, true) ~= nil, ("error says '%s': %s"):format(h[3], e))
  check.ok(e:find("test config: line %d+, column %d+") ~= nil, "error names line and column: " .. e)
  if h[2] then check.ok(e:find("key '" .. h[2] .. "'", 1, true) ~= nil, "error names the key: " .. e) end
end
check.eq(rawget(_G, "DK_PWNED"), nil, "no hostile code ran")
check.eq(dk.parse_literal("{ fid = 1.5, row = 'A', steps = 3, [2] = true }").fid, 1.5, "metrics literal")
check.ok(not pcall(dk.parse_literal, "os.exit(3)"), "parse_literal refuses code")

-- 3. diffkit eval on a checkpoint whose config holds code
local bin, tmp = os.getenv("DIFFKIT_BIN"), os.getenv("DK_TEST_TMP")
if bin and tmp then
  local path = tmp .. "/hostile_config.safetensors"
  dk.save(path, { w = dk.zeros { 2 } }, { ["diffkit.format"] = 1, ["diffkit.kind"] = "checkpoint", step = 1,
    config = 'data = "fashion_mnist"\nname = "x" .. (function() while true do end end)()\n' })
  local t0 = dk.time()
  local p = io.popen(("timeout 60 '%s' eval '%s' 2>&1; echo \"status $?\""):format(bin, path))
  local out = p:read("a")
  p:close()
  local took = dk.time() - t0
  io.write(out)
  check.ok(took < 30, ("diffkit eval returned within 30 s (took %.1f s)"):format(took))
  check.ok(out:find("status 1\n", 1, true) ~= nil, "diffkit eval fails with status 1")
  check.ok(out:find("key 'name'", 1, true) ~= nil and out:find("never run", 1, true) ~= nil,
           "diffkit eval names the key and says the text is not run")
end
check.finish()
