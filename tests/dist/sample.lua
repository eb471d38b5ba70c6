-- sample.lua: `diffkit sample` under mpirun splits the batches over the ranks
-- (batch b on rank b % R) and gives the files of one process, byte for byte:
-- an .npz (rank 0 writes the batches in order) with 2 and 3 ranks, and a
-- folder of PNGs (each rank writes its own) with 3 ranks; uneven batches;
-- the model calls summed over the ranks equal one process's.
local dc = dofile(arg[0]:match("(.*/)") .. "dist_common.lua")
local check = dofile(dc.here .. "../lua/check.lua")
dc.need_mpi()
local d = dc.tmpdir("sample")
check.eq(select(2, dc.train(0, d .. "/run", 16, 1, 6)), 0, "a checkpoint to sample")
local function sample(np, out, extra)
  local text, code = dc.run(np, ("sample '%s/run' --n 11 --batch 3 --seed 5 --sampler heun --steps 4 --quiet %s --out '%s'")
    :format(d, extra or "", out))
  check.eq(code, 0, ("%d ranks: diffkit sample --out %s"):format(np, out))
  return text
end
local out1 = sample(0, d .. "/one.npz")
local out2 = sample(2, d .. "/two.npz")
sample(3, d .. "/three.npz")
local one = check.slurp(d .. "/one.npz")
check.ok(one and #one > 11 * 32 * 32, "the single-process .npz")
check.ok(check.slurp(d .. "/two.npz") == one, "2 ranks write the single process's .npz byte for byte")
check.ok(check.slurp(d .. "/three.npz") == one, "3 ranks (4 batches of 3, 3, 3, 2) write the same bytes")
local lines = 0
for _ in out2:gmatch("wrote 11 images") do lines = lines + 1 end
check.eq(lines, 1, "rank 0 alone prints the summary")
-- the model calls are summed over the ranks: equal to one process's only if
-- each batch was sampled once, by one rank
local c1, c2 = tonumber(out1:match("(%d+) model calls")), tonumber(out2:match("(%d+) model calls"))
check.ok(c1 and c1 > 0 and c2 == c1, ("each batch sampled by one rank (model calls %s and %s)"):format(c1, c2))
sample(0, d .. "/pngs1")
sample(3, d .. "/pngs3")
local same = os.execute(("diff -r '%s/pngs1' '%s/pngs3' > /dev/null"):format(d, d))
check.ok(same, "3 ranks write the same PNGs and labels.txt as one process")
check.finish()
