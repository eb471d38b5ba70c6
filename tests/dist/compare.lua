-- compare.lua: diffkit run compare.lua RUN_A RUN_B [TOL]: compares the latest
-- checkpoints of two run folders tensor by tensor (model, EMA, optimizer) and
-- prints the largest relative difference max|a-b| / max|b|; exit 1 when it
-- is above TOL (default 0: bit-identical).
local dk = require "diffkit"
local function latest(dir)
  local f = assert(io.open(dir .. "/latest", "rb"), "no checkpoint in " .. dir)
  local name = f:read("a"):gsub("%s+$", "")
  f:close()
  return dk.load(dir .. "/" .. name)
end
local a, b, tol = latest(arg[1]), latest(arg[2]), tonumber(arg[3] or "0")
local n, worst, where = 0, 0, "-"
for name, t in pairs(a) do
  if type(name) == "string" and type(t) == "userdata" then
    local u = assert(b[name], "tensor " .. name .. " missing in " .. arg[2])
    local d, m = t:max_abs_diff(u), u:max_abs_diff(u * 0)
    local rel = d == 0 and 0 or d / math.max(m, 1e-30)
    if rel > worst then worst, where = rel, name end
    n = n + 1
  end
end
print(("%d tensors, largest relative difference %.3g (%s)"):format(n, worst, where))
if n < 20 or worst > tol then os.exit(1) end
