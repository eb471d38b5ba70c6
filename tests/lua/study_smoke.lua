-- study_smoke.lua: runs experiments/sampler_study.lua in its reduced mode
-- (--smoke: euler and heun on 32..128 steps) and checks its outputs: the CSV
-- and PNG exist, the fitted orders of euler and heun are about 1 and 2.
--   diffkit run tests/lua/study_smoke.lua DIFFKIT_BINARY STUDY_SCRIPT OUT_DIR
local check = dofile((arg[0]:match("^(.*)/") or ".") .. "/check.lua")
local cli, script, out = arg[1], arg[2], arg[3]
assert(cli and script and out, "usage: study_smoke.lua DIFFKIT_BINARY STUDY_SCRIPT OUT_DIR")
os.remove(out .. "/sampler_study.csv")
os.remove(out .. "/sampler_study.png")
os.remove(out .. "/sampler_orders.csv")
local ok = os.execute(string.format("'%s' run '%s' '%s' --smoke", cli, script, out))
check.ok(ok, "the study script ran")

local slurp = check.slurp
local csv = slurp(out .. "/sampler_study.csv")
check.ok(csv ~= nil, "sampler_study.csv exists")
check.ok(csv and csv:match("^sampler,kind,steps,nfe,error\n"), "CSV header")
local rows = 0
for _ in (csv or ""):gmatch("\n[^\n]+") do rows = rows + 1 end
check.eq(rows, 10, "CSV rows (2 samplers x 5 step counts)")
check.ok(csv and csv:find("\nheun,ode,64,127,", 1, true), "heun at 64 steps makes 127 model calls")

local png = slurp(out .. "/sampler_study.png")
check.ok(png and png:sub(1, 8) == "\137PNG\r\n\26\n", "sampler_study.png is a PNG")
check.ok(png and #png > 5000, "the PNG has content")

local orders = {}
for line in (slurp(out .. "/sampler_orders.csv") or ""):gmatch("[^\n]+") do
  local name, kind, p = line:match("^([^,]+),([^,]+),([^,]*),")
  if kind == "ode" then orders[name] = tonumber(p) end
end
check.near(orders.euler, 1.0, 0.1, "fitted order of euler")
check.near(orders.heun, 2.0, 0.15, "fitted order of heun")
check.finish()
