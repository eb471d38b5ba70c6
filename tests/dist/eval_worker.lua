-- eval_worker.lua: diffkit run eval_worker.lua RUN_DIR FEATNET N BATCH
-- exp:evaluate of the run's latest checkpoint (every rank under mpirun);
-- rank 0 prints "fid=<%.17g> kid=<%.17g> calls=<n>".
local dk = require "diffkit"
local E = require "diffkit.experiment"
local dir, featnet, n, batch = arg[1], arg[2], math.tointeger(tonumber(arg[3])), math.tointeger(tonumber(arg[4]))
local f = assert(io.open(dir .. "/latest", "rb"))
local path = dir .. "/" .. f:read("a"):gsub("%s+$", "")
f:close()
local exp = E.Experiment.from_checkpoint(path)
local r = exp:evaluate { n = n, batch = batch, features = featnet, quiet = true }
if dk.dist.rank() == 0 then print(("fid=%.17g kid=%.17g calls=%d"):format(r.fid, r.kid, r.model_calls)) end
