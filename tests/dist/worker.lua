-- worker.lua: one rank of a data-parallel test run (started by mpirun from
-- the tests of tests/dist.cmake): trains the tiny DiT of tests/train/common.lua.
--   diffkit run worker.lua OUT BATCH GRAD_ACCUM STEPS [CHECKPOINT_EVERY]
-- Writes OUT/pid.<rank> (its process id, for the kill test) before training.
package.path = arg[0]:match("(.*/)") .. "../train/?.lua;" .. package.path
local common = require "common"
local dk = require "diffkit"
local out, batch, accum, steps, every = arg[1], tonumber(arg[2]), tonumber(arg[3]), tonumber(arg[4]), tonumber(arg[5] or "0")
os.execute("mkdir -p '" .. out .. "'")
local f = assert(io.open(("%s/pid.%d"):format(out, dk.dist.rank()), "w"))
f:write(tostring(dk.pid and dk.pid() or 0))
f:close()
local cfg = common.base { batch = math.tointeger(batch), grad_accum = math.tointeger(accum), steps = math.tointeger(steps),
                          hflip = true, stratified = os.getenv("DK_TEST_STRATIFIED") ~= "0" }
dk.experiment(cfg):train { out = out, quiet = true, checkpoint_every = math.tointeger(every) }
