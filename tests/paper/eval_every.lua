-- eval_every.lua TMP: FID/KID during training (exp:train eval_every) into
-- metrics.csv: rows at the right steps; evaluating does not change training;
-- a run resumed from an earlier checkpoint drops the rows past it and
-- re-evaluates them to the same values, without duplicates; a finished run
-- adds nothing.
local check = dofile(arg[0]:match("(.*/)") .. "../lua/check.lua")
local dk = require "diffkit"
local E = require "diffkit.experiment"
local tmp = assert(arg[1], "usage: eval_every.lua TMP")
dk.paper._dir = arg[0]:match("(.*/)") .. "../../experiments"
os.execute("rm -rf '" .. tmp .. "' && mkdir -p '" .. tmp .. "'")

local function cfg()
  local c = dk.paper.config("R4", "tiny")
  c.steps = 12
  return c
end
local function slurp(p) local f = io.open(p, "rb"); if not f then return nil end local s = f:read("a"); f:close(); return s end
local function losses(p)
  local t = {}
  for l in (slurp(p) or ""):gmatch("[^\n]+") do local s, loss = l:match("^(%d+),([^,]+)"); if s then t[#t + 1] = s .. ":" .. loss end end
  return table.concat(t, " ")
end

-- with evaluation every 4 steps (and at the end), checkpoints every 6
local a = tmp .. "/a"
dk.experiment(cfg()):train { out = a, eval_every = 4, eval_n = 24, checkpoint_every = 6, log_every = 1, quiet = true }
local rows = E.Experiment.read_metrics_csv(a .. "/metrics.csv")
local steps = {}
for _, r in ipairs(rows) do steps[#steps + 1] = r.step end
check.eq(table.concat(steps, ","), "4,8,12", "evaluated steps")
for _, r in ipairs(rows) do
  check.ok(r.fid == r.fid and r.fid > 0 and r.n == 24 and r.features == "fmnist-cnn-v2", "row " .. r.step .. " is a measurement")
end
check.eq(slurp(a .. "/metrics.csv"):match("^[^\n]*"), "step,fid,kid,n,features,seconds", "metrics.csv header")

-- without evaluation: the same training, loss for loss
local b = tmp .. "/b"
dk.experiment(cfg()):train { out = b, checkpoint_every = 6, log_every = 1, quiet = true }
check.eq(losses(b .. "/log.csv"), losses(a .. "/log.csv"), "evaluation during training leaves training unchanged")
check.ok(slurp(b .. "/metrics.csv") == nil, "no metrics.csv without eval_every")

-- a run killed after step 12 was evaluated, its last checkpoint at step 6: resume
local c = tmp .. "/c"
os.execute(("cp -r '%s' '%s' && rm -f '%s'/ckpt_00000012.safetensors && printf 'ckpt_00000006.safetensors\\n' > '%s/latest'")
  :format(a, c, c, c))
dk.experiment(cfg()):train { out = c, eval_every = 4, eval_n = 24, checkpoint_every = 6, log_every = 1, quiet = true }

local ra, rc = E.Experiment.read_metrics_csv(a .. "/metrics.csv"), E.Experiment.read_metrics_csv(c .. "/metrics.csv")
check.eq(#rc, 3, "resumed run: one row per evaluated step (rows past the checkpoint dropped, then redone)")
for i = 1, math.min(#ra, #rc) do
  check.eq(rc[i].step, ra[i].step, "resumed row step")
  check.ok(math.abs(rc[i].fid - ra[i].fid) < 1e-9, ("resumed step %d: fid %.6f, uninterrupted %.6f"):format(rc[i].step, rc[i].fid, ra[i].fid))
end
-- a finished run adds no row
dk.experiment(cfg()):train { out = c, eval_every = 4, eval_n = 24, checkpoint_every = 6, quiet = true }
check.eq(#E.Experiment.read_metrics_csv(c .. "/metrics.csv"), 3, "a finished run adds no row")
-- eval_every added to a finished run: its last step is evaluated once
dk.experiment(cfg()):train { out = b, eval_every = 4, eval_n = 24, quiet = true }
local rb = E.Experiment.read_metrics_csv(b .. "/metrics.csv")
check.eq(#rb, 1, "a finished run without rows gets its last step evaluated")
check.ok(rb[1] and rb[1].step == 12 and math.abs(rb[1].fid - ra[3].fid) < 1e-9, "and it is the same measurement")

-- the learning-curve chart of these runs
local png = tmp .. "/curve.png"
dk.r2study.curve_chart { path = png, title = "test", runs = { { label = "a", dir = a }, { label = "c", dir = c } } }
check.ok(slurp(png) and #slurp(png) > 1000, "learning-curve chart written")
check.finish()
