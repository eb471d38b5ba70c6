-- interop_kdiffusion.lua: a k-diffusion HDiT checkpoint samples in diffkit as
-- in k-diffusion (golden tests/data/interop/kdiff_tiny.*, made with the real
-- k-diffusion code: tests/data/interop/README.md).
--   - the checkpoint is train.py's .pth (config + model + model_ema + opt ...),
--     read by diffkit's torch reader; its config becomes an hdit + edm
--     experiment and model_ema its weights;
--   - the inference form (convert_for_inference.py: .safetensors with the
--     config JSON in the metadata), written here by `diffkit convert`, gives
--     the same experiment;
--   - for the same start noise the denoiser call and three samplers (sample.py's
--     LMS, train.py's demo DPM++(2M) SDE heun eta 0, Heun) match the golden
--     images computed in float64, here in F64 (tolerance 1e-9 relative to the
--     largest value) and through `diffkit sample` in the default F32 (1e-4);
--   - --no-ema / key model gives other weights; a wrong key names the keys;
--   - dk.load_weights reads the .pth with a prefix.
-- Usage: diffkit run tests/lua/interop_kdiffusion.lua [DATA_DIR]
local here = arg[0]:match("(.*/)") or "./"
local check = dofile(here .. "check.lua")
local dk = require "diffkit"
local interop = require "diffkit.interop"

local data = (...) or (here .. "../data/interop")
local tmp = (os.getenv("DK_TEST_TMP") or "/tmp") .. "/diffkit-interop-kd"
os.execute("rm -rf '" .. tmp .. "' && mkdir -p '" .. tmp .. "'")
local bin = os.getenv("DIFFKIT_BIN") or arg[-2]

local g = dk.load(data .. "/kdiff_tiny.sample.safetensors")
local function maxabs(t)
  local m = 0
  for i = 1, t:numel() do m = math.max(m, math.abs(t:get(i))) end
  return m
end
local function compare(got, want, rtol, what)
  local scale = math.max(maxabs(want), 1e-30)
  local d = got:max_abs_diff(want)
  print(("%-46s max |diff| %.3g (scale %.3g)"):format(what, d, scale))
  check.ok(d <= rtol * scale, ("%s within %g of the largest value (got %.3g)"):format(what, rtol, d / scale))
end

-- the experiment from train.py's .pth, weights as F64 for the precise comparison
local pth = data .. "/kdiff_tiny.pth"
local exp, about = interop.open(pth, {})
print(about)
check.ok(about:match("'model_ema' weights") ~= nil, "model_ema is the default weights")
local mo = exp.cfg.model.opts
check.eq(exp.cfg.model.name, "hdit", "an hdit model")
check.eq(table.concat(mo.attn, ","), "neighborhood,global", "self_attns types")
check.eq(mo.kernel[1], 5, "kernel_size of level 0")
check.eq(mo.d_head[1], 16, "d_head")
check.eq(mo.null_class, true, "class_emb has num_classes + 1 rows: the null class")
check.eq(exp.cfg.precond.name, "edm", "k-diffusion's Denoiser is the edm precond")
check.eq(exp.cfg.precond.opts.sigma_data, 0.5, "sigma_data from the config")
check.eq(exp.cfg.precond.opts.weighting, "soft-min-snr", "loss weighting from the config")

local labels = {}
for i = 1, g.labels:numel() do labels[i] = g.labels:get(i) end
local e64 = interop.open(pth, { dtype = "F64" })

local noise = g.noise
local sigmas = {}
for i = 1, g.sigmas:numel() do sigmas[i] = g.sigmas:get(i) end

-- one denoiser call at sigma 1.5 (the golden's `denoised`) through a 1-step Euler run:
-- x_1 = x + (D - x)/sigma * (0 - sigma) = D when the last sigma is 0
-- (dk.sample scales the unit start noise x by sigmas[1]: give noise / 1.5)
local d2 = dk.sample { model = e64:model(), precond = e64:precond(), sampler = dk.plugin("sampler", "euler"),
                       sigmas = { 1.5, 0 }, n = 4, labels = labels, x = noise * (1 / 1.5) }
compare(d2, g.denoised, 1e-9, "denoiser D(noise; 1.5) (F64)")

for _, case in ipairs { { "lms", "x_lms", {} }, { "dpmpp_2m_sde", "x_dpmpp_2m_sde", { eta = 0, solver_type = "heun" } },
                        { "heun", "x_heun", {} } } do
  local sampler = dk.plugin("sampler", case[1], case[3])
  local x = dk.sample { model = e64:model(), precond = e64:precond(), sampler = sampler, sigmas = sigmas, n = 4,
                        labels = labels, x = noise }
  compare(x, g[case[2]], 1e-9, case[1] .. " (F64, 10 Karras steps)")
end

-- the inference form, written by `diffkit convert`, gives the same experiment and weights
if bin then
  local st = tmp .. "/kd_inference.safetensors"
  local p = io.popen(("'%s' convert '%s' '%s' 2>&1; echo \"rc=$?\""):format(bin, pth, st))
  local out = p:read("a")
  p:close()
  io.write(out)
  check.ok(out:match("rc=0") ~= nil, "diffkit convert kdiff_tiny.pth")
  local e2, about2 = interop.open(st, {})
  print(about2)
  check.ok(about2:match("k%-diffusion inference checkpoint") ~= nil, "recognised as k-diffusion's inference form")
  check.eq(dk.experiment.config_text(e2.cfg), dk.experiment.config_text(exp.cfg), "the same experiment as from the .pth")
  -- `diffkit sample` in F32 with the golden's sampler: start noise differs (diffkit's
  -- own stream), so compare exp:sample with x = the golden noise instead
  local x32 = e2:sample { n = 4, labels = labels, x = noise, steps = 10 }
  compare(x32, g.x_lms, 1e-4, "lms through the converted file (F32)")
  p = io.popen(("'%s' sample '%s' --n 4 --steps 10 --quiet --out '%s/kd.npz' 2>&1; echo \"rc=$?\""):format(bin, st, tmp))
  out = p:read("a")
  p:close()
  io.write(out)
  check.ok(out:match("rc=0") ~= nil, "diffkit sample on the converted k-diffusion checkpoint")
  p = io.popen(("'%s' sample '%s' --n 4 --steps 10 --quiet --out '%s/kd2.npz' 2>&1; echo \"rc=$?\""):format(bin, pth, tmp))
  out = p:read("a")
  p:close()
  io.write(out)
  check.ok(out:match("rc=0") ~= nil, "diffkit sample on the .pth")
  check.ok(check.slurp(tmp .. "/kd.npz") == check.slurp(tmp .. "/kd2.npz"), "the .pth and its conversion sample the same images")
end

-- other weights, and a wrong key
local raw = interop.open(pth, { use_ema = false })
local xr = raw:sample { n = 4, labels = labels, x = noise, steps = 10 }
local xe = exp:sample { n = 4, labels = labels, x = noise, steps = 10 }
check.ok(xr:max_abs_diff(xe) > 1e-3, "--no-ema takes 'model', whose samples differ")
-- dk.load_weights reads the .pth directly with the key as prefix
local e3 = interop.open(pth, { use_ema = false })
dk.load_weights(e3:model(), pth, "model_ema.")
check.eq(e3:sample { n = 4, labels = labels, x = noise, steps = 10 }:max_abs_diff(xe), 0,
  "dk.load_weights(model, kdiff_tiny.pth, 'model_ema.') loads the EMA weights")
check.raises(function() dk.load_weights(e3:model(), pth, "nope.") end, "nope.", "a missing prefix names the tensor")
check.raises(function() interop.open(pth, { key = "nope" }) end, "no state dict under the key 'nope'", "a wrong key")
check.finish()
