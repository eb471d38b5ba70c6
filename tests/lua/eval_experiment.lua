-- eval_experiment.lua: exp:evaluate and `diffkit eval` end to end on a tiny
-- DiT trained for a few steps on Fashion-MNIST, with a feature network
-- trained briefly here and passed as a file (the user-supplied path):
--   - FID/KID are finite, named after the feature network, n as asked;
--   - real (test split) vs real (train split) FID is small next to real vs noise,
--     and next to the barely trained model;
--   - `diffkit eval CHECKPOINT` rebuilds the experiment from the checkpoint's
--     config text and prints the same numbers as exp:evaluate.
-- Exit 77 without the dataset.   diffkit run tests/lua/eval_experiment.lua
local here = arg[0]:match("(.*/)") or "./"
local check = dofile(here .. "check.lua")
local dk = require "diffkit"

check.need_fashion_mnist()

local tmp = (os.getenv("DK_TEST_TMP") or "/tmp") .. "/diffkit-eval-experiment"
os.execute("rm -rf '" .. tmp .. "' && mkdir -p '" .. tmp .. "/cache'")

-- a short feature net (the full recipe is the slow test eval.featnet_full)
local train = dk.dataset { "fashion_mnist", split = "train", pad = 2 }
local test = dk.dataset { "fashion_mnist", split = "test", pad = 2 }
local net = dk.featnet_train { train = train, test = test, name = "fmnist-cnn-short", steps = 150, batch = 32,
                               train_limit = 3000, test_limit = 1000 }
print(("feature net %s: %d features, test accuracy %.1f %%"):format(net:name(), net:dim(), 100 * net:accuracy()))
check.ok(net:accuracy() > 0.5, "short feature net is far above chance")
local netpath = tmp .. "/featnet.safetensors"
net:save(netpath)

local exp = dk.experiment {
  name = "eval_tiny", seed = 5,
  data = dk.data.fashion_mnist { split = "train", pad = 2 },
  model = dk.model("dit", { input_size = 32, patch_size = 8, in_channels = 1, hidden_size = 32, depth = 1,
                            num_heads = 2, num_classes = 10, class_dropout_prob = 0.1, learn_sigma = false }),
  precond = dk.precond("edm", { sigma_data = 0.5 }),
  train_sigma = dk.schedule("lognormal", { loc = -1.2, scale = 1.2 }),
  optim = { "adamw", lr = 2e-3 }, ema = { power = 0.75, max = 0.999 }, batch = 16, steps = 20,
  sample = { sampler = dk.sampler("euler"), steps = 4, schedule = dk.schedule("karras", { sigma_min = 0.01, sigma_max = 80 }) },
}
exp:train { out = tmp .. "/run", quiet = true }

local n = 200
local r = exp:evaluate { n = n, batch = 100, features = netpath, quiet = true }
print(("model:       fid[%s] = %.4f  kid = %.5f  (%d model calls, %.1f s)"):format(r.features, r.fid, r.kid, r.model_calls, r.seconds))
local function finite(x) return type(x) == "number" and x == x and x > -math.huge and x < math.huge end
check.ok(finite(r.fid) and finite(r.kid), "fid and kid are finite numbers")
check.eq(r.features, "fmnist-cnn-short", "the result names the feature network")
check.eq(r.n, n, "n")
check.eq(r["fid[fmnist-cnn-short]"], r.fid, "named fid key")
check.near(r.accuracy_of_feature_net, net:accuracy(), 1e-6, "accuracy of the feature net is reported")
check.eq(r.model_calls, (n // 100) * 4, "one batched model call per batch of 100 and step (euler, 4 steps)")

-- real-vs-real: 200 test images vs the train subset; real-vs-noise
local imgs = {}
for i = 0, n - 1 do imgs[#imgs + 1] = test:get(i) end
local real = dk.cat0(imgs):reshape { n, 1, 32, 32 }
local rr = exp:evaluate { n = n, features = netpath, images = real, quiet = true }
local rn = exp:evaluate { n = n, features = netpath, images = dk.randn({ n, 1, 32, 32 }, 9), quiet = true }
print(("real/real:   fid = %.4f  kid = %.5f"):format(rr.fid, rr.kid))
print(("real/noise:  fid = %.4f  kid = %.5f"):format(rn.fid, rn.kid))
check.ok(rr.fid < 0.1 * rn.fid, "real-vs-real FID is small next to real-vs-noise")
check.ok(rr.kid < 0.1 * rn.kid, "real-vs-real KID is small next to real-vs-noise")
check.ok(rr.fid < r.fid, "real-vs-real FID is below the barely trained model's")

-- the real features were cached: a second call reads the same file
local cached = 0
for _ in io.popen("ls '" .. dk.cache_dir() .. "/features' 2>/dev/null"):lines() do cached = cached + 1 end
check.ok(cached >= 1, "real features cached under " .. dk.cache_dir())

-- `diffkit eval` on the checkpoint gives the same numbers
local bin = os.getenv("DIFFKIT_BIN") or arg[-2]
assert(bin, "set DIFFKIT_BIN to the diffkit binary")
local latest = tmp .. "/run"
local p = io.popen(("'%s' eval '%s' --n %d --batch 100 --features '%s' 2>&1"):format(bin, latest, n, netpath))
local out = p:read("a")
p:close()
io.write(out)
local cf = tonumber(out:match("fid%[fmnist%-cnn%-short%] = (%S+)"))
local ck = tonumber(out:match("kid%[fmnist%-cnn%-short%] = (%S+)"))
check.ok(cf ~= nil and math.abs(cf - r.fid) <= 1e-5 * math.abs(r.fid), "diffkit eval prints exp:evaluate's FID")
check.ok(ck ~= nil and math.abs(ck - r.kid) <= 1e-5 * math.abs(r.kid) + 1e-9, "diffkit eval prints exp:evaluate's KID")
check.finish()
