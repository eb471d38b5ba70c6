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

-- A rank that fails with an error while the others are in the next step's
-- collectives: it ends every rank (MPI_Abort), naming itself.
local d2 = dc.tmpdir("fail")
local t1 = dk.time()
local out2, code2 = dc.run(2, ("run '%sworker.lua' '%s' 64 1 100000 5"):format(dc.here, d2),
  { DK_TEST_FAIL_RANK = 1, DK_TEST_FAIL_STEP = 6 })
local took = dk.time() - t1
print(("rank 1 failed at step 6: the job ended with status %s, %.1f s after it started"):format(tostring(code2), took))
check.ok(code2 ~= 0 and took < 60, "the job fails and ends (no hang)")
check.ok(out2:find("injected failure on rank 1", 1, true) ~= nil, "the failing rank's message is shown")
check.ok(out2:find("rank 1 of 2", 1, true) ~= nil, "the abort names the failed rank: " .. (out2:match("diffkit: rank[^\n]*") or "?"))

-- A failure inside a step (a corrupt image in one rank's share of the batch),
-- with the gradient sum overlapped in many buckets: every rank finishes the
-- step's collectives, all see which rank failed, and the job ends.
local d3 = dc.tmpdir("fail-in-step")
os.execute(("mkdir -p '%s/images'"):format(d3))
for i = 0, 6 do dk.image_grid(dk.randn({ 1, 1, 32, 32 }, i), ("%s/images/img%d.png"):format(d3, i), 1) end
local bad = assert(io.open(d3 .. "/images/img7.png", "wb"))
bad:write("not a png")
bad:close()
local t2 = dk.time()
local out3, code3 = dc.run(2, ("run '%sfail_worker.lua' '%s/images' '%s/run'"):format(dc.here, d3, d3), { DIFFKIT_DIST_BUCKET = 2000 })
local took3 = dk.time() - t2
print(("a corrupt image in one rank's share: status %s after %.1f s"):format(tostring(code3), took3))
check.ok(code3 ~= 0 and took3 < 60, "the job fails and ends (no hang)")
check.ok(out3:find("img7.png", 1, true) ~= nil, "the failing rank names the corrupt file")
local who = out3:match("failed on rank (%d) of 2")
check.ok(who ~= nil, "the other rank reports which rank failed: " .. tostring(out3:match("micro%-batch[^\n]*")))
check.finish()
