-- hdit_info_exp.lua: an experiment script for `diffkit info` (tests/hdit.cmake):
-- in info mode :train only prints the model's size, so nothing is trained
-- and the dataset is never opened (the model states its image_size).
local dk = require "diffkit"
local preset = rawget(_G, "DIFFKIT_INFO") and DIFFKIT_INFO.preset or "tiny"
local widths = preset == "wide" and { 64, 128 } or { 32, 64 }
local exp = dk.experiment {
  name = "hdit_" .. preset, seed = 0,
  data = dk.data.fashion_mnist { split = "train", pad = 2 },
  model = dk.model("hdit", { in_channels = 1, patch = 4, widths = widths, depths = { 1, 1 }, d_head = 16,
                             kernel = 5, mapping_width = 64, mapping_depth = 1, num_classes = 10,
                             image_size = 32, pos = "additive" }),
  precond = dk.precond("edm", { sigma_data = 0.5 }),
  train_sigma = dk.schedule("lognormal", { loc = -1.2, scale = 1.2 }),
  optim = { "adamw", lr = 1e-3 }, batch = 8, steps = 1000000,
}
exp:train { out = "/nonexistent/should-not-be-created" }
