-- eval.lua: exp:evaluate / diffkit eval under mpirun split the samples over
-- the ranks and gather the features (docs/distributed.md): the FID and KID of
-- a checkpoint on 2 and 3 ranks equal the single-process values (to 1e-9;
-- they are in fact identical), and `diffkit eval` prints its result once.
local dc = dofile(arg[0]:match("(.*/)") .. "dist_common.lua")
local check = dofile(dc.here .. "../lua/check.lua")
local dk = require "diffkit"
dc.need_mpi()
local d = dc.tmpdir("eval")
-- a fresh cache: rank 0 computes the real features, the other ranks read them
local cache = d .. "/cache"
os.execute("mkdir -p '" .. cache .. "'")
check.eq(select(2, dc.train(0, d .. "/run", 16, 1, 10)), 0, "a checkpoint to evaluate")
local train = dk.dataset { "fashion_mnist", split = "train", pad = 2 }
local test = dk.dataset { "fashion_mnist", split = "test", pad = 2 }
local net = dk.featnet_train { train = train, test = test, name = "fmnist-cnn-dist-test", steps = 20, batch = 32,
                               train_limit = 500, test_limit = 200 }
local netpath = d .. "/featnet.safetensors"
net:save(netpath)
local n, batch = 250, 50 -- 5 batches: uneven over 2 and 3 ranks
local function evaluate(np)
  local out, code = dc.run(np, ("run '%seval_worker.lua' '%s/run' '%s' %d %d"):format(dc.here, d, netpath, n, batch),
    { DIFFKIT_CACHE = cache })
  local fid, kid, calls = out:match("fid=(%S+) kid=(%S+) calls=(%d+)")
  check.eq(code, 0, np .. " ranks: evaluation runs")
  return tonumber(fid), tonumber(kid), tonumber(calls), out
end
local f1, k1, c1 = evaluate(0)
local f2, k2, c2 = evaluate(2)
local f3, k3, c3 = evaluate(3)
print(("1 process: fid %.17g kid %.17g (%s model calls)"):format(f1 or 0 / 0, k1 or 0 / 0, tostring(c1)))
print(("2 ranks:   fid %.17g kid %.17g (%s)"):format(f2 or 0 / 0, k2 or 0 / 0, tostring(c2)))
print(("3 ranks:   fid %.17g kid %.17g (%s)"):format(f3 or 0 / 0, k3 or 0 / 0, tostring(c3)))
check.ok(f1 and f2 and f3 and math.abs(f2 - f1) <= 1e-9 and math.abs(f3 - f1) <= 1e-9, "FID on 2 and 3 ranks == 1 process (1e-9)")
check.ok(k1 and k2 and k3 and math.abs(k2 - k1) <= 1e-9 and math.abs(k3 - k1) <= 1e-9, "KID on 2 and 3 ranks == 1 process (1e-9)")
check.eq(c2, c1, "model calls summed over the ranks")
-- diffkit eval under mpirun: one result line
local out = dc.run(2, ("eval '%s/run' --n %d --batch %d --features '%s'"):format(d, n, batch, netpath), { DIFFKIT_CACHE = cache })
local lines = 0
for _ in out:gmatch("fid%[") do lines = lines + 1 end
check.eq(lines, 1, "diffkit eval under mpirun prints the result once (rank 0)")
check.finish()
