-- fail_worker.lua: diffkit run fail_worker.lua IMAGE_DIR OUT: trains a tiny
-- unconditional DiT on a folder of 8 images, one of them corrupt, batch 8 on
-- the ranks of mpirun: the rank whose share holds the corrupt image fails
-- inside the step (tests/dist/kill.lua).
local dk = require "diffkit"
local dir, out = arg[1], arg[2]
dk.experiment({
  name = "fail", seed = 3,
  data = dk.data.image_folder { path = dir, size = 32, channels = 1 },
  model = dk.model("dit", { input_size = 32, patch_size = 8, in_channels = 1, hidden_size = 32, depth = 2,
                            num_heads = 2, num_classes = 0, learn_sigma = false }),
  precond = dk.precond("edm", { sigma_data = 0.5 }),
  train_sigma = dk.schedule("lognormal", { loc = -1.2, scale = 1.2 }),
  optim = { "adamw", lr = 1e-3 }, batch = 8, steps = 3,
}):train { out = out, quiet = true }
