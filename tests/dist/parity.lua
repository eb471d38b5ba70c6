-- parity.lua: data-parallel training equals one process, bit for bit
-- (docs/distributed.md): after 20 steps of the tiny DiT, the checkpoints
-- (weights, EMA, AdamW moments) of
--   2 ranks, batch 64, grad_accum 1  ==  1 process, batch 32, grad_accum 2
--   3 ranks, batch 48               ==  1 process, batch 16, grad_accum 3
--   4 ranks, batch 64               ==  1 process, batch 16, grad_accum 4
--   2 and 4 ranks, batch 16, grad_accum 4 == 1 process of that config
-- with the gradient sum overlapped with backward (default; also in many
-- small buckets) and not
-- (the issue asks 3 and 4 ranks within 1e-6 relative; the fixed-order sum
-- makes them exact, and the test holds them to 0).
local dc = dofile(arg[0]:match("(.*/)") .. "dist_common.lua")
local check = dofile(dc.here .. "../lua/check.lua")
dc.need_mpi()
local N = 20
local function case(label, np, batch, accum, ref_batch, ref_accum, env)
  local d = dc.tmpdir("parity-" .. label)
  local r = dc.tmpdir("parity-" .. label .. "-ref")
  local _, c1 = dc.train(np, d, batch, accum, N, 0, env)
  local _, c2 = dc.train(0, r, ref_batch, ref_accum, N, 0, env and env.DK_TEST_ROW and { DK_TEST_ROW = env.DK_TEST_ROW } or nil)
  check.ok(c1 == 0 and c2 == 0, label .. ": both runs finish")
  local rel, line = dc.compare(d, r)
  print(label .. ": " .. line)
  check.eq(rel, 0, label .. ": bit-identical to one process")
end
case("2x32", 2, 64, 1, 32, 2)
case("3x16", 3, 48, 1, 16, 3)
case("4x16", 4, 64, 1, 16, 4)
case("2-of-accum4", 2, 16, 4, 16, 4)
case("4-of-accum4", 4, 16, 4, 16, 4)
-- the gradient sum overlapped with backward in many small buckets (started
-- as their parameters' gradients are final), and not overlapped: the same bits
case("2x32-buckets-of-3000", 2, 64, 1, 32, 2, { DIFFKIT_DIST_BUCKET = 3000 })
case("3x16-buckets-of-777", 3, 48, 1, 16, 3, { DIFFKIT_DIST_BUCKET = 777 })
case("2x32-no-overlap", 2, 64, 1, 32, 2, { DIFFKIT_DIST_OVERLAP = 0 })
-- the mini HDiT of row E (the paper table), overlapped in buckets of 1000
N = 5
case("hdit-E-2x8-buckets-of-1000", 2, 16, 1, 8, 2, { DK_TEST_ROW = "E", DIFFKIT_DIST_BUCKET = 1000 })
N = 20
-- one rank whose sums go through MPI anyway (the path tests/dist/nccl.lua takes on a GPU)
case("1-forced-through-mpi", 1, 32, 2, 32, 2, { DIFFKIT_DIST_FORCE = 1 })
check.finish()
