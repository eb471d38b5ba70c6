-- common.lua: a tiny class-conditional DiT experiment on Fashion-MNIST for
-- the training integration tests (fast on 2 cores).
local dk = require "diffkit"
local M = {}

function M.base(over)
  return dk.extend({
    name = "tiny", seed = 7,
    data = dk.data.fashion_mnist { split = "train", pad = 2 },
    model = dk.model("dit", { input_size = 32, patch_size = 8, in_channels = 1, hidden_size = 32, depth = 2,
                              num_heads = 2, num_classes = 10, class_dropout_prob = 0.1, learn_sigma = false }),
    precond = dk.precond("edm", { sigma_data = 0.5, weighting = "soft-min-snr" }),
    train_sigma = dk.schedule("lognormal", { loc = -1.2, scale = 1.2 }),
    optim = { "adamw", lr = 2e-3, betas = { 0.9, 0.95 }, weight_decay = 1e-2 },
    ema = { power = 0.75, max = 0.999 }, batch = 16, steps = 10, class_dropout = 0.1,
  }, over or {})
end

-- A fresh temporary run folder.
function M.tmpdir(name)
  local d = (os.getenv("DK_TEST_TMP") or "/tmp") .. "/diffkit-train-" .. name
  os.execute("rm -rf '" .. d .. "' && mkdir -p '" .. d .. "'")
  return d
end

function M.read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

-- Skip (exit 77) when the dataset package is missing.
function M.need_fashion_mnist()
  local f = io.open("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", "rb")
  if not f and not os.getenv("DIFFKIT_FASHION_MNIST") then
    print("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist): skipped")
    os.exit(77)
  end
  if f then f:close() end
end

return M
