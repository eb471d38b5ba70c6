-- hdit_train.lua: a short Fashion-MNIST training run of a two-level HDiT
-- (neighborhood attention at 8x8 tokens, global at 4x4; GEGLU, axial RoPE,
-- lerp skip, AdaRMSNorm: row E's switches in miniature) lowers the loss and
-- writes a sample grid. Asserts: mean loss of the last 20 steps < 0.8 x that
-- of the first 20, and the grid PNG exists. Exit 77 without the dataset.
--   diffkit run tests/lua/hdit_train.lua
local here = arg[0]:match("(.*/)") or "./"
local check = dofile(here .. "check.lua")
local dk = require "diffkit"

check.need_fashion_mnist()

local steps = 200
local out = (os.getenv("DK_TEST_TMP") or "/tmp") .. "/diffkit-hdit-train"
os.execute("rm -rf '" .. out .. "' && mkdir -p '" .. out .. "'")

local exp = dk.experiment {
  name = "hdit_tiny_fmnist", seed = 3,
  data = dk.data.fashion_mnist { split = "train", pad = 2 },          -- 1 x 32 x 32
  model = dk.model("hdit", { in_channels = 1, patch = 4, widths = { 32, 64 }, depths = { 1, 1 },
                             attn = { "neighborhood", "global" }, kernel = 5, d_head = 16,
                             mapping_width = 64, mapping_depth = 1, num_classes = 10 }),
  precond = dk.precond("edm", { sigma_data = 0.5, weighting = "soft-min-snr" }),
  train_sigma = dk.schedule("lognormal", { loc = -1.2, scale = 1.2 }),
  optim = { "adamw", lr = 2e-3, betas = { 0.9, 0.95 }, weight_decay = 1e-2 },
  ema = { power = 0.75, max = 0.999 }, batch = 16, steps = steps, class_dropout = 0.1,
}

local info = exp:info(32, 32)
print(("hdit: %d parameters, %.4f MMACs per 32x32 image"):format(info.params, info.macs / 1e6))
check.ok(info.macs > 0 and info.params > 0, "info reports parameters and MACs")

local losses = {}
exp:train { out = out, log_every = 1, quiet = true, on_log = function(st) losses[#losses + 1] = st.loss end }
check.eq(#losses, steps, "one log line per step")
local function mean(a, b) local s = 0 for i = a, b do s = s + losses[i] end return s / (b - a + 1) end
local first, last = mean(1, 20), mean(steps - 19, steps)
print(("mean loss: first 20 steps %.4f, last 20 steps %.4f"):format(first, last))
check.ok(last < 0.8 * first, ("loss fell: %.4f -> %.4f"):format(first, last))

exp:sample { n = 10, steps = 8, out = out .. "/grid.png" }
local g = io.open(out .. "/grid.png", "rb")
check.ok(g ~= nil and g:read(8) == "\137PNG\r\n\26\n", "grid PNG written")
if g then g:close() end
check.finish()
