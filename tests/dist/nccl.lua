-- nccl.lua: the NCCL path end to end on one GPU (tests/gpu/run.sh runs it
-- with `ctest -L cuda`): DIFFKIT_DIST_FORCE=1 (under mpirun -np 1 where MPI
-- is built in and mpirun installed, else in a plain process) sends the
-- gradient sums of a CUDA training run (tiny DiT, grad_accum 2) through
-- NCCL (send/recv + the rank-order sum + broadcast) although the world has
-- one rank; the weights equal the same run without it bit for bit. Two NCCL
-- ranks need two GPUs: one GPU cannot host two NCCL ranks of one
-- communicator (docs/distributed.md). Exit 77 without a GPU or a loadable
-- libnccl.so.2 (DIFFKIT_NCCL_LIB may name PyTorch's).
local dc = dofile(arg[0]:match("(.*/)") .. "dist_common.lua")
local check = dofile(dc.here .. "../lua/check.lua")
local dk = require "diffkit"
dc.common.need_fashion_mnist()
if not dk.dist.nccl_built() then
  print("this diffkit was built without NCCL (a CUDA build finds nccl.h in the CUDA toolkit or $NCCL_HOME): skipped")
  os.exit(77)
end
if dk.device_info().cuda_devices < 1 then
  print("no CUDA device here: skipped (tests/gpu/run.sh runs this on a GPU machine)")
  os.exit(77)
end
local ok, why = dk.dist.nccl_available()
if not ok then
  print("NCCL cannot be loaded: " .. tostring(why) .. ": skipped")
  os.exit(77)
end
-- under mpirun -np 1 where MPI is there (the MPI bootstrap too), else one plain process
local np = (dk.dist.built() and os.execute("command -v mpirun >/dev/null 2>&1")) and 1 or 0
local a, b = dc.tmpdir("nccl-forced"), dc.tmpdir("nccl-plain")
local env = { DIFFKIT_DEVICE = "cuda" }
local _, c1 = dc.train(0, b, 32, 2, 10, 0, env)
env.DIFFKIT_DIST_FORCE = 1
local _, c2 = dc.train(np, a, 32, 2, 10, 0, env)
check.eq(c1, 0, "plain CUDA run")
check.eq(c2, 0, "CUDA run with its gradient sums through NCCL")
local rel, line = dc.compare(a, b)
print("NCCL vs plain: " .. line)
check.eq(rel, 0, "NCCL path == plain run, bit for bit")
check.finish()
