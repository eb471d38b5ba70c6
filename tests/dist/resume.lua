-- resume.lua: a checkpoint written by N ranks resumes on M ranks with the
-- same data order and RNG streams: 4 ranks for N/2 steps, then 2 ranks (and,
-- in another folder, 1 process) for N/2, equal 2 ranks all the way, bit for
-- bit (batch 16, grad_accum 4: every world size divides grad_accum, so the
-- micro-batches are the config's own for all of them; docs/distributed.md).
local dc = dofile(arg[0]:match("(.*/)") .. "dist_common.lua")
local check = dofile(dc.here .. "../lua/check.lua")
dc.need_mpi()
local N = 20
local straight, a, b = dc.tmpdir("resume-2"), dc.tmpdir("resume-4-2"), dc.tmpdir("resume-4-1")
check.eq(select(2, dc.train(2, straight, 16, 4, N)), 0, "2 ranks, N steps")
check.eq(select(2, dc.train(4, a, 16, 4, N // 2)), 0, "4 ranks, N/2 steps")
os.execute(("cp -r '%s/.' '%s/'"):format(a, b))
check.eq(select(2, dc.train(2, a, 16, 4, N)), 0, "resumed on 2 ranks")
check.eq(select(2, dc.train(0, b, 16, 4, N)), 0, "resumed in 1 process")
local r1, l1 = dc.compare(a, straight)
local r2, l2 = dc.compare(b, straight)
print("4 -> 2 ranks: " .. l1)
print("4 ranks -> 1 process: " .. l2)
check.eq(r1, 0, "4 ranks then 2 == 2 ranks all the way")
check.eq(r2, 0, "4 ranks then 1 process == 2 ranks all the way")
-- the log of the resumed run holds each step once
local csv = dc.common.read(a .. "/log.csv")
local steps = dc.common.log_steps(csv)
check.ok(#steps == 2 and steps[1] == 10 and steps[2] == 20, "log.csv (rank 0's) holds each logged step once: " .. table.concat(steps, ","))
check.finish()
