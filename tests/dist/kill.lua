-- kill.lua: kill -9 of one rank mid-run: every other rank exits within 60 s,
-- mpirun's message names the dead rank (no hang), and the last checkpoint is
-- intact and resumes in one process (docs/distributed.md, "When a rank dies").
local dc = dofile(arg[0]:match("(.*/)") .. "dist_common.lua")
local check = dofile(dc.here .. "../lua/check.lua")
local dk = require "diffkit"
dc.need_mpi()
local d = dc.tmpdir("kill")
local log = d .. "/mpirun.log"
-- a long run in the background, a checkpoint every 5 steps
os.execute(("(mpirun --allow-run-as-root --oversubscribe -np 2 -x OMP_NUM_THREADS=1 '%s' run '%sworker.lua' '%s' 64 1 100000 5 "
  .. "> '%s' 2>&1; echo \"exit $?\" >> '%s'; date +%%s.%%N > '%s/ended') &"):format(dc.cli, dc.here, d, log, log, d))
local function exists(p) local f = io.open(p, "rb") if f then f:close() return true end return false end
local t0 = dk.time()
while not (exists(d .. "/latest") and exists(d .. "/pid.1")) and dk.time() - t0 < 120 do os.execute("sleep 0.2") end
check.ok(exists(d .. "/latest"), "the run wrote a checkpoint")
os.execute("sleep 1")
local pid = dc.common.read(d .. "/pid.1")
local killed = dk.time()
os.execute("kill -9 " .. pid)
while not exists(d .. "/ended") and dk.time() - killed < 90 do os.execute("sleep 0.2") end
local waited = dk.time() - killed
print(("the job ended %.1f s after kill -9 of rank 1"):format(waited))
check.ok(exists(d .. "/ended") and waited < 60, "every rank exits within 60 s")
local out = dc.common.read(log)
print(out)
check.ok(out:find("rank 1", 1, true) ~= nil, "the message names the dead rank (rank 1)")
check.ok(out:find("exit 0", 1, true) == nil, "the job fails")
-- the last checkpoint is intact: one process resumes from it for 5 more steps
local latest = dc.common.read(d .. "/latest"):gsub("%s+$", "")
local step = tonumber(latest:match("(%d+)"))
local _, code = dc.train(0, d, 64, 1, step + 5)
check.eq(code, 0, "the last checkpoint (" .. latest .. ") resumes in one process")
check.finish()
