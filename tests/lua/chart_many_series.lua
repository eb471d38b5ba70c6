-- chart_many_series.lua: dk.chart_loglog with many series (the paper table
-- charts 16 rows, one series each). The binding once kept 5 Lua stack slots
-- per series without lua_checkstack; past LUA_MINSTACK (20) slots that wrote
-- beyond the Lua stack and corrupted the heap: glibc aborted at exit
-- ("corrupted size vs. prev_size") or the process segfaulted. This script must
-- run to the end, write correct PNGs and exit 0.
--   diffkit run tests/lua/chart_many_series.lua OUT_DIR
local dk = require "diffkit"
local check = dofile((arg[0]:match("^(.*)/") or ".") .. "/check.lua")
local out = assert(arg[1], "usage: chart_many_series.lua OUT_DIR")
os.execute("mkdir -p '" .. out .. "'")

local slurp = check.slurp
local function be32(s, i) return ((s:byte(i) * 256 + s:byte(i + 1)) * 256 + s:byte(i + 2)) * 256 + s:byte(i + 3) end

for _, ns in ipairs { 16, 64, 300 } do
  local series = {}
  for i = 1, ns do
    series[i] = { label = "row" .. i, x = { 10 + i, 20 + i }, y = { 30 + i, 5 + i }, dashed = i % 2 == 0 }
  end
  collectgarbage("collect") -- shrinks the Lua stack to about twice what is in use
  local path = ("%s/chart_%d.png"):format(out, ns)
  os.remove(path)
  local ret = dk.chart_loglog { path = path, width = 900, height = 600, title = "many series", xlabel = "x",
                                ylabel = "y", series = series }
  check.eq(ret, path, ("chart_loglog returns the path (%d series)"):format(ns))
  collectgarbage("collect")
  local png = slurp(path)
  check.ok(png and png:sub(1, 8) == "\137PNG\r\n\26\n", ("%d series: a PNG was written"):format(ns))
  check.ok(png and png:sub(13, 16) == "IHDR" and be32(png, 17) == 900 and be32(png, 21) == 600,
           ("%d series: the PNG is 900x600"):format(ns))
end
check.finish()
