-- interop_dit.lua: a facebookresearch/DiT checkpoint in pixel space (the HDiT
-- paper's R1) samples in diffkit as DiT's sample.py does (golden
-- tests/data/interop/dit_tiny.*, made with the real DiT code:
-- tests/data/interop/README.md).
--   - train.py's .pt ({model, ema, opt, args}) and a bare state dict (the form
--     of DiT's released weights) load through diffkit's torch reader; the
--     model's shape comes from the tensors (hidden 32, depth 2, patch 2,
--     3 channels, learned sigma, 10 classes + the null class);
--   - sample.py's procedure (250 -> here 10 respaced steps of the linear
--     1000-step schedule, learned variance, p_sample_loop) with the golden's
--     start noise and replayed step noise gives DiT's samples with and
--     without CFG (scale 4) to 1e-6 relative: DiT computes its schedule
--     coefficients in float32 (_extract_into_tensor), diffkit in F64, which
--     accounts for ~4e-7;
--   - ema is the default weights; a latent (4-channel) DiT is refused.
-- Usage: diffkit run tests/lua/interop_dit.lua [DATA_DIR]
local here = arg[0]:match("(.*/)") or "./"
local check = dofile(here .. "check.lua")
local dk = require "diffkit"
local interop = require "diffkit.interop"

local data = (...) or (here .. "../data/interop")
local g = dk.load(data .. "/dit_tiny.sample.safetensors")
local labels = {}
for i = 1, g.labels:numel() do labels[i] = g.labels:get(i) end
local K, n, per = 10, 4, 3 * 8 * 8

-- the rows [0, n) of a stream [K, rows, 3, 8, 8]: the conditional half (DiT
-- doubles the batch for CFG; diffkit's denoiser does the doubling inside)
local function first_rows(stream, rows)
  local t = dk.zeros({ K, n, 3, 8, 8 }, "F64")
  for k = 0, K - 1 do
    for i = 0, n - 1 do
      for j = 1, per do t:set(k * n * per + i * per + j, stream:get(k * rows * per + i * per + j)) end
    end
  end
  return t
end

for _, file in ipairs { "dit_tiny_train.pt", "dit_tiny_ema_only.pt" } do
  local path = data .. "/" .. file
  local exp, about = interop.open(path, { dtype = "F64", num_heads = 2 })
  print(about)
  local mo = exp.cfg.model.opts
  check.eq(exp.cfg.model.name, "dit", file .. ": a dit model")
  check.ok(mo.hidden_size == 32 and mo.depth == 2 and mo.patch_size == 2 and mo.in_channels == 3 and mo.input_size == 8,
    file .. ": shape from the tensors")
  check.ok(mo.learn_sigma == true and mo.num_classes == 10 and mo.class_dropout_prob > 0, file .. ": learned sigma, 10 classes + null")
  check.eq(exp.cfg.precond.name, "ddpm_learned_var", file .. ": DiT's learned-variance wrapper")
  check.eq(exp.cfg.sample.steps, 250, file .. ": sample.py's 250 steps by default")
  check.eq(exp.cfg.sample.cfg, 4, file .. ": sample.py's cfg scale 4 by default")
  if file == "dit_tiny_train.pt" then check.ok(about:match("'ema' weights") ~= nil, "ema is the default weights") end
  exp.cfg.sample.schedule.opts.respacing = tostring(K)
  for _, c in ipairs { { 1, "samples_nocfg", g.noise_stream_nocfg, n }, { 4, "samples", g.noise_stream, 2 * n } } do
    local x = exp:sample { n = n, labels = labels, x = g.z, noise = first_rows(c[3], c[4]), cfg = c[1], steps = K }
    local scale = g[c[2]]:abs():max()
    local d = x:max_abs_diff(g[c[2]])
    print(("%-22s cfg %g: max |diff| %.3g (scale %.3g)"):format(file, c[1], d, scale))
    check.ok(d <= 1e-6 * scale, ("%s: DiT's p_sample_loop with cfg %g to 1e-6 relative (got %.3g)"):format(file, c[1], d / scale))
  end
end

-- the raw weights differ from the EMA
local raw = interop.open(data .. "/dit_tiny_train.pt", { use_ema = false, num_heads = 2 })
local ema = interop.open(data .. "/dit_tiny_train.pt", { num_heads = 2 })
raw.cfg.sample.schedule.opts.respacing, ema.cfg.sample.schedule.opts.respacing = "10", "10"
local xr = raw:sample { n = n, labels = labels, x = g.z, steps = 10 }
local xe = ema:sample { n = n, labels = labels, x = g.z, steps = 10 }
check.ok(xr:max_abs_diff(xe) > 1e-3, "--no-ema takes 'model', whose samples differ")
-- no head count for a non-standard width
check.raises(function() interop.open(data .. "/dit_tiny_ema_only.pt", {}) end, "give --heads N", "heads cannot be guessed")
-- diffkit eval on a DiT checkpoint needs --data (the checkpoint names no dataset diffkit reads)
local bin = os.getenv("DIFFKIT_BIN") or arg[-2]
if bin then
  local p = io.popen(("'%s' eval '%s/dit_tiny_train.pt' --heads 2 --n 4 2>&1; echo \"rc=$?\""):format(bin, data))
  local out = p:read("a")
  p:close()
  check.ok(out:match("rc=1") and out:match("give %-%-data fashion_mnist or %-%-data DIR"), "diffkit eval asks for --data: " .. out)
end
check.finish()
