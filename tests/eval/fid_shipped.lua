-- fid_shipped.lua CHECKPOINT [N] [EXPECTED_FID EXPECTED_KID]: the FID of a
-- fixed checkpoint with the shipped feature network (data/featnet/) is the
-- stored value to 1e-3 on any machine (eval.fid_shipped). Without the
-- expected values it prints them (to record them once).
--
-- Why 1e-3 holds across CPUs: the checkpoint is fixed (training is not
-- reproduced), the sampler is deterministic, the real images are the first N
-- of a seeded permutation and the feature network is the shipped file, so
-- the only machine dependence left is rounding: OpenBLAS picks GEMM kernels
-- by CPU (and diffkit's own kernels by -march), which changes features by
-- ~1e-6 relative (docs/reliability.md). FID is a smooth function of the
-- feature means and covariances (computed in double), so it moves by about
-- 2e-6 relative, ~1e-4 at this FID of ~60: ten times inside the tolerance.
-- The same test under three OpenBLAS kernel sets (OPENBLAS_CORETYPE) checks
-- it on this machine (tests/eval.cmake).
local check = dofile(arg[0]:match("(.*/)") .. "../lua/check.lua")
local dk = require "diffkit"
local E = require "diffkit.experiment"
local path, n = arg[1], tonumber(arg[2] or "200")
local want_fid, want_kid = tonumber(arg[3]), tonumber(arg[4])
local exp = E.Experiment.from_checkpoint(path)
local r = exp:evaluate { n = n, batch = 100, quiet = true }
print(("fid %.6f kid %.8f features %s accuracy %.4f n %d"):format(r.fid, r.kid, r.features,
  r.accuracy_of_feature_net, r.n))
check.eq(r.features, "fmnist-cnn-v2", "the shipped network's name")
check.ok(math.abs(r.accuracy_of_feature_net - 0.9137) < 1e-6, "the shipped network (91.37 % test accuracy)")
local _, fpath = exp:feature_net(nil, true)
check.ok(fpath:find("data/featnet/fmnist-cnn-v2.safetensors", 1, true) ~= nil, "loaded from data/featnet: " .. fpath)
if want_fid then
  check.ok(math.abs(r.fid - want_fid) <= 1e-3, ("FID %.6f, stored %.6f (tolerance 1e-3)"):format(r.fid, want_fid))
  check.ok(math.abs(r.kid - want_kid) <= 1e-5, ("KID %.8f, stored %.8f (tolerance 1e-5)"):format(r.kid, want_kid))
end
check.finish()
