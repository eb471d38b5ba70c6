-- worker.lua: one rank of a data-parallel test run (started by mpirun from
-- the tests of tests/dist.cmake): trains the tiny DiT of tests/train/common.lua.
--   diffkit run worker.lua OUT BATCH GRAD_ACCUM STEPS [CHECKPOINT_EVERY]
-- Writes OUT/pid.<rank> (its process id, for the kill test) before training.
-- DK_TEST_FAIL_RANK / DK_TEST_FAIL_STEP inject an error on one rank.
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
-- DK_TEST_ROW=E: a paper-table row at the mini preset (HDiT) instead of the tiny DiT
if os.getenv("DK_TEST_ROW") then
  dk.paper._dir = arg[0]:match("(.*/)") .. "../../experiments"
  cfg = dk.paper.config(os.getenv("DK_TEST_ROW"), "mini")
  cfg.batch, cfg.grad_accum, cfg.steps = math.tointeger(batch), math.tointeger(accum), math.tointeger(steps)
end
local exp = dk.experiment(cfg)
-- DK_TEST_FAIL_RANK=r DK_TEST_FAIL_STEP=s: rank r raises an error after step s
-- while the others go on into step s+1 (tests/dist/kill.lua)
local fail_rank, fail_step = tonumber(os.getenv("DK_TEST_FAIL_RANK") or ""), tonumber(os.getenv("DK_TEST_FAIL_STEP") or "")
if fail_rank and fail_step then
  exp:train { out = out, quiet = true, steps = math.tointeger(fail_step), checkpoint_every = math.tointeger(every) }
  if dk.dist.rank() == fail_rank then error("injected failure on rank " .. fail_rank) end
end
exp:train { out = out, quiet = true, checkpoint_every = math.tointeger(every) }
