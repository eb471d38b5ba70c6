-- eval_inception.lua: `features = "inception:PATH"` end to end (issue: standard
-- FID; docs/interop.md), with the deterministic-hash weights that
-- unit.eval_inception writes (DK_INCEPTION_WEIGHTS; a CTest fixture):
--   - exp:feature_net("inception:PATH") gives the Inception userdata: name
--     inception-2015-12-05, 2048 features, accuracy nil, a cache key naming
--     the network, the file and a digest of the weights;
--   - its features of the golden images match torch's (as the C test);
--   - real features are cached per (network, file, n, seed) apart from the
--     own network's;
--   - bad specs give clear errors;
--   - `diffkit eval RUN --features inception:PATH` runs exp:evaluate and
--     prints fid[inception-2015-12-05], kid[...] and "accuracy unknown".
-- Exit 77 without Fashion-MNIST or the weights file.
local here = arg[0]:match("(.*/)") or "./"
local check = dofile(here .. "check.lua")
local dk = require "diffkit"

local weights = os.getenv("DK_INCEPTION_WEIGHTS")
local wf = weights and io.open(weights, "rb")
if not wf then
  print("DK_INCEPTION_WEIGHTS (written by unit.eval_inception with DK_INCEPTION_WEIGHTS_OUT) is missing: skipped")
  os.exit(77)
end
wf:close()
check.need_fashion_mnist()

local tmp = (os.getenv("DK_TEST_TMP") or "/tmp") .. "/diffkit-eval-inception"
os.execute("rm -rf '" .. tmp .. "' && mkdir -p '" .. tmp .. "/cache'")

local exp = dk.experiment {
  name = "eval_inception_tiny", seed = 5,
  data = dk.data.fashion_mnist { split = "train", pad = 2 },
  model = dk.model("dit", { input_size = 32, patch_size = 8, in_channels = 1, hidden_size = 32, depth = 1,
                            num_heads = 2, num_classes = 10, class_dropout_prob = 0.1, learn_sigma = false }),
  precond = dk.precond("edm", { sigma_data = 0.5 }),
  train_sigma = dk.schedule("lognormal", { loc = -1.2, scale = 1.2 }),
  optim = { "adamw", lr = 2e-3 }, ema = { power = 0.75, max = 0.999 }, batch = 8, steps = 2,
  sample = { sampler = dk.sampler("euler"), steps = 2, schedule = dk.schedule("karras", { sigma_min = 0.01, sigma_max = 80 }) },
}
exp:train { out = tmp .. "/run", quiet = true }

-- the network through the experiment's feature_net
local net, key = exp:feature_net("inception:" .. weights, true)
check.eq(net:name(), "inception-2015-12-05", "name")
check.eq(net:dim(), 2048, "dim")
check.eq(net:accuracy(), nil, "no accuracy for Inception")
check.ok(net:digest():match("^%x+$") and #net:digest() == 16, "digest: 16 hex digits")
check.eq(key, "inception-2015-12-05@" .. weights .. "#" .. net:digest(), "cache key: network, file and weights digest")

-- parity through Lua: the golden images (same weights formula as torch's)
local gold = dk.load(here .. "../data/inception/golden.safetensors")
local got = net:features(gold["input.rgb32"], 1)
local want = gold["features.rgb32"]
local worst = 0
for i = 1, want:numel() do
  local d = math.abs(got:get(i) - want:get(i)) / (1 + math.abs(want:get(i)))
  if d > worst then worst = d end
end
print(("Lua parity: max |d| / (1 + |torch|) = %.3g"):format(worst))
check.ok(worst <= 1e-4, "features of the golden images match torch's within 1e-4")

-- real features, cached apart from the own network's
local r1 = exp:real_features(net, key, 4, 0, 4)
check.eq(r1:shape()[1], 4, "real features rows")
check.eq(r1:shape()[2], 2048, "real features width")
local r2 = exp:real_features(net, key, 4, 0, 4)
local same = true
for i = 1, r1:numel() do same = same and r1:get(i) == r2:get(i) end
check.ok(same, "cached real features read back unchanged")
local r3 = exp:real_features(net, "fmnist-cnn-v2@other", 4, 0, 4)
local files = 0
for _ in io.popen("ls '" .. dk.cache_dir() .. "/features' | grep '^real-'"):lines() do files = files + 1 end
check.eq(files, 2, "a cache file per (network, file): the Inception key and another key never share one")
r3 = nil

-- errors
local ok, err = pcall(exp.feature_net, exp, "inception:")
check.ok(not ok and tostring(err):find("needs the weights file", 1, true), "empty inception: path: " .. tostring(err))
ok, err = pcall(exp.feature_net, exp, "inception:" .. tmp .. "/nope.safetensors")
check.ok(not ok and tostring(err):find("nope.safetensors", 1, true), "missing file named: " .. tostring(err))
ok, err = pcall(exp.feature_net, exp, "inception:" .. tmp .. "/pt_inception-2015-12-05-6726825d.pth")
check.ok(not ok and tostring(err):find("pt_inception-2015-12-05-6726825d.pth", 1, true), "a broken .pth is refused naming it: " .. tostring(err))

-- `diffkit eval --features inception:PATH` (exp:evaluate end to end; FID at d = 2048 takes ~1 min)
local bin = os.getenv("DIFFKIT_BIN") or arg[-2]
assert(bin, "set DIFFKIT_BIN to the diffkit binary")
local p = io.popen(("'%s' eval '%s' --n 4 --batch 4 --features 'inception:%s' 2>&1"):format(bin, tmp .. "/run", weights))
local out = p:read("a")
p:close()
io.write(out)
local cf = tonumber(out:match("fid%[inception%-2015%-12%-05%] = (%S+)"))
local ck = tonumber(out:match("kid%[inception%-2015%-12%-05%] = (%S+)"))
check.ok(cf ~= nil and cf == cf and cf > 0 and cf < math.huge, "diffkit eval prints a finite fid[inception-2015-12-05]")
check.ok(ck ~= nil and ck == ck, "diffkit eval prints kid[inception-2015-12-05]")
check.ok(out:find("feature net inception-2015-12-05 test accuracy unknown", 1, true), "accuracy unknown")
check.finish()
