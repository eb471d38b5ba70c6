-- child.lua: trains the tiny experiment of common.lua as its own process, for
-- the tests that need a second process, kill -9 or the command line's output:
--
--   diffkit run tests/train/child.lua OUT STEPS [CHECKPOINT_EVERY [LR]]
--
-- STEPS is the experiment's `steps` (as quickstart's --steps); one log row per
-- step; a checkpoint every CHECKPOINT_EVERY steps (default 5).
package.path = arg[0]:match("(.*/)") .. "?.lua;" .. package.path
local common = require "common"
local dk = require "diffkit"
local out, steps = arg[1], math.tointeger(tonumber(arg[2] or ""))
if not out or not steps then dk.fail("usage: diffkit run tests/train/child.lua OUT STEPS [CHECKPOINT_EVERY [LR]]") end
local over = { steps = steps }
if arg[4] then over.optim = { lr = tonumber(arg[4]) } end
local last = dk.experiment(common.base(over)):train { out = out, log_every = 1, quiet = true,
  checkpoint_every = math.tointeger(tonumber(arg[3] or "5")) }
print(("child: %s"):format(last and ("trained to step " .. last.step) or "nothing trained"))
