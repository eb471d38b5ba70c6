-- curves.lua: the learning-curve chart of one or more runs (their
-- metrics.csv, written by exp:train with eval_every): FID against training
-- step, log-log, one line per run.
--
--   diffkit run experiments/curves.lua --out curves.png runs/study/R1.seed1 runs/study/R2.seed1 [...]
--
-- A label=DIR argument names the line (default: the folder's name).
local dk = require "diffkit"
local out, runs = "curves.png", {}
local i = 1
while arg[i] do
  if arg[i] == "--out" then i = i + 1; out = arg[i]
  elseif arg[i] == "--help" or arg[i] == "-h" then
    print("usage: diffkit run experiments/curves.lua --out CHART.png RUN_DIR|LABEL=RUN_DIR...")
    os.exit(0, true)
  else
    local label, dir = arg[i]:match("^([^=/]+)=(.+)$")
    dir = dir or arg[i]
    runs[#runs + 1] = { label = label or dir:gsub("/+$", ""):match("([^/]+)$"), dir = dir }
  end
  i = i + 1
end
if #runs == 0 then dk.fail("curves.lua: give one or more run folders (diffkit run experiments/curves.lua --help)") end
for _, r in ipairs(runs) do
  if #dk.paper.curve(r.dir) == 0 then dk.fail(("%s: no metrics.csv rows (train with eval_every)"):format(r.dir)) end
end
dk.r2study.curve_chart { path = out, title = "FID during training", runs = runs }
print("wrote " .. out)
