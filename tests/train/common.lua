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

-- The steps of the rows of a log.csv text, in order; and whether it holds
-- exactly the steps 1..n once each (no duplicate, no gap, no torn line).
function M.log_steps(csv)
  local steps = {}
  for line in csv:gmatch("[^\n]*\n") do
    local s = line:match("^(%d+),")
    if s then steps[#steps + 1] = tonumber(s) end
  end
  return steps
end

function M.log_is_1_to(csv, n)
  local steps = M.log_steps(csv)
  if #steps ~= n or csv:sub(-1) ~= "\n" then return false, ("%d rows, want %d"):format(#steps, n) end
  for i, s in ipairs(steps) do
    if s ~= i then return false, ("row %d is step %d"):format(i, s) end
  end
  return true
end

-- Runs the diffkit binary (DK_CLI, set by tests/train.cmake) with a shell
-- argument string; returns its stdout+stderr and exit status.
function M.cli(args)
  local cli = os.getenv("DK_CLI") or "diffkit"
  local p = io.popen(("'%s' %s 2>&1"):format(cli, args))
  local out = p:read("a")
  local _, _, code = p:close()
  return out, code
end

-- The folder of the test scripts, and the repository root.
M.here = arg[0]:match("(.*/)") or "./"
M.root = M.here .. "../../"

-- Skip (exit 77) when the dataset package is missing (tests/lua/check.lua).
M.need_fashion_mnist = dofile(M.here .. "../lua/check.lua").need_fashion_mnist

return M
