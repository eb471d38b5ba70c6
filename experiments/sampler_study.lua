-- sampler_study.lua: error against NFE for every sampler on an exact
-- Gaussian-mixture denoiser (no network, so the only error is the solver's).
--
--   diffkit run experiments/sampler_study.lua [OUT_DIR] [--smoke]
--
-- Writes OUT_DIR/sampler_study.csv (sampler, kind, steps, nfe, error) and
-- OUT_DIR/sampler_study.png (a log-log chart), and prints the fitted orders
-- (OUT_DIR/sampler_orders.csv). --smoke runs euler and heun on a few step
-- counts only (the ctest lua.sampler_study_smoke).
--
-- Model: a 2-D mixture of four isotropic Gaussians (dk.gmm, exact D(x; sigma)),
-- 64 samples from the same start noise, Karras et al. (2022) sigmas
-- (sigma_max 80, sigma_min 0.002, rho 7).
--
-- What is measured (docs/samplers.md, "Sampler study"):
--  * ODE samplers (eta = 0): the state x at sigma_min (the last non-zero
--    sigma) against a very fine reference solve of the probability-flow ODE
--    (dpm_adaptive, rtol 1e-10, atol 1e-12, about 17000 calls; its own error
--    is bounded by its distance to the rtol 1e-9 solve, 2e-10). Measuring at sigma_min, not after the final jump to 0 (which
--    every sampler takes the same way, as D(x; sigma_min)), keeps that jump's
--    fixed error from masking the order.
--  * SDE samplers (eta = 1): the strong error: the same Brownian path for
--    every run (noise = "brownian", one Brownian tree per sample, consistent
--    across step counts), against a reference solve of that path
--    (dpmpp_2m_sde heun on 8192 steps, against the same on
--    4096 as a check of the reference). Every eta = 1 sampler here discretises the same reverse SDE
--    dx = -2 sigma D'(x; sigma) dsigma + sqrt(2 sigma) dW (the ancestral
--    noise su^2 = sigma'^2 (sigma^2 - sigma'^2)/sigma^2 ~ 2 sigma dsigma), so
--    they share one reference.
--  The ODE error is the RMS over samples and coordinates; the SDE error the
--  median over samples of each sample's RMS error (see median_err). NFE counts the
--  denoiser calls actually made. Orders are the least-squares slope of
--  log error against log NFE over the asymptotic range: the largest NFEs
--  whose error stays 1000x above the reference's own error.
local dk = require "diffkit"

local out, smoke = "runs/sampler_study", false
for _, a in ipairs(arg) do
  if a == "--help" or a == "-h" then
    io.stdout:write([[
usage: diffkit run experiments/sampler_study.lua [OUT_DIR] [--smoke]

Error against NFE for every sampler on an exact Gaussian-mixture denoiser.
Writes OUT_DIR/sampler_study.csv, sampler_study.png and sampler_orders.csv
(OUT_DIR defaults to runs/sampler_study).

  --smoke     euler and heun on a few step counts only
  --help, -h  this text
]])
    os.exit(0, true)
  elseif a:sub(1, 1) == "-" and a ~= "--smoke" then
    dk.fail(("unknown option '%s' (options: OUT_DIR, --smoke; --help)"):format(a))
  end
  if a == "--smoke" then smoke = true else out = a end
end
assert(os.execute("mkdir -p '" .. out .. "'"), "cannot create " .. out)
local t_start = dk.time and dk.time() or os.clock()

-- the model ---------------------------------------------------------------
local means = dk.tensor({ { -2.0, -1.0 }, { 1.5, 2.0 }, { 2.0, -1.5 }, { -0.5, 1.0 } })
local gmm = dk.gmm(means, dk.tensor({ 0.3, 0.5, 0.4, 0.25 }), dk.tensor({ 0.3, 0.2, 0.35, 0.15 }))
local B, D = 64, 2
local sigma_max, sigma_min = 80, 0.002
local sched = dk.plugin("schedule", "karras", { sigma_min = sigma_min, sigma_max = sigma_max, rho = 7 })
local x0 = dk.randn({ B, D }, 1234) * sigma_max
local seed = 99 -- Brownian tree seeds seed + b

local function rms(a, b)
  local d = a - b
  return math.sqrt((d * d):mean())
end

-- The median over samples of the per-sample RMS error. For the SDEs: a few
-- paths that pass near the boundary between two components end in the other
-- component at some step counts and not at others (an O(1) error whose
-- probability shrinks with the step), which makes the RMS jump around; the
-- median shows the typical path's strong error.
local function median_err(a, b)
  local d, e = a - b, {}
  for i = 1, B do
    local s = 0
    for j = 1, D do s = s + d[(i - 1) * D + j] ^ 2 end
    e[i] = math.sqrt(s / D)
  end
  table.sort(e)
  return 0.5 * (e[B // 2] + e[B // 2 + 1])
end

-- Runs one sampler. Returns the state at sigma_min and the number of model
-- calls. For samplers that take the whole schedule, x at sigma_min is the x
-- of the last call at sigma_min (every step to 0 starts with D(x_n; sigma_min));
-- dpm_fast and dpm_adaptive stop at sigma_min and return x there.
local function run(spec, n, noise)
  local opts = dk.extend(spec.opts or {}, {})
  local sigmas
  if spec.own_sigmas then
    sigmas = dk.tensor({ sigma_max, sigma_min, 0 })
    if spec.sweep == "nfe" then opts.nfe = n end
    if spec.sweep == "rtol" then opts.rtol = n; opts.atol = n * 1e-2 end
  else
    sigmas = sched:sigmas(n)
  end
  local last = sigmas[#sigmas - 1] -- the last non-zero sigma (sigma_min up to rounding)
  local calls, at_min = 0, nil
  local function denoise(x, sig)
    calls = calls + 1
    if sig[1] == last then at_min = x end
    return gmm:denoise(x, sig[1])
  end
  local s = dk.plugin("sampler", spec.name, opts)
  local x = s:sample(x0, sigmas, { denoise = denoise, seed = seed, noise = noise })
  s:release()
  if spec.own_sigmas then return x, calls end
  assert(at_min, spec.label .. ": no model call at sigma_min")
  return at_min, calls
end

-- the samplers ------------------------------------------------------------
-- theory: the order of the local truncation error in the step size (ODE), or
-- the strong order (SDE); NFE is proportional to steps, so it is also the
-- slope against NFE.
local ode = {
  { label = "euler", name = "euler", theory = "1" },
  { label = "ddim (eta 0)", name = "ddim", opts = { eta = 0 }, theory = "1 (= euler)" },
  { label = "heun", name = "heun", theory = "2" },
  { label = "dpm_2", name = "dpm_2", theory = "2" },
  { label = "lms (order 4)", name = "lms", opts = { order = 4 }, theory = "4" },
  { label = "dpmpp_2m", name = "dpmpp_2m", theory = "2" },
  { label = "dpmpp_2s_ancestral (eta 0)", name = "dpmpp_2s_ancestral", opts = { eta = 0 }, theory = "2" },
  { label = "dpmpp_sde (eta 0)", name = "dpmpp_sde", opts = { eta = 0 }, theory = "2" },
  { label = "dpmpp_2m_sde midpoint (eta 0)", name = "dpmpp_2m_sde", opts = { eta = 0, solver_type = "midpoint" }, theory = "2" },
  { label = "dpmpp_2m_sde heun (eta 0)", name = "dpmpp_2m_sde", opts = { eta = 0, solver_type = "heun" }, theory = "2" },
  { label = "dpmpp_3m_sde (eta 0)", name = "dpmpp_3m_sde", opts = { eta = 0 }, theory = "3" },
  { label = "dpm_fast", name = "dpm_fast", own_sigmas = true, sweep = "nfe", theory = "3" },
  { label = "dpm_adaptive (rtol sweep)", name = "dpm_adaptive", own_sigmas = true, sweep = "rtol", theory = "3" },
}
local sde = {
  { label = "euler_ancestral", name = "euler_ancestral", theory = "1" },
  { label = "dpm_2_ancestral", name = "dpm_2_ancestral", theory = "1" },
  { label = "dpmpp_2s_ancestral", name = "dpmpp_2s_ancestral", theory = "1" },
  { label = "dpmpp_sde", name = "dpmpp_sde", theory = "1" },
  { label = "dpmpp_2m_sde midpoint", name = "dpmpp_2m_sde", opts = { solver_type = "midpoint" }, theory = "1" },
  { label = "dpmpp_2m_sde heun", name = "dpmpp_2m_sde", opts = { solver_type = "heun" }, theory = "1" },
  { label = "dpmpp_3m_sde", name = "dpmpp_3m_sde", theory = "1" },
}
local ode_steps = { 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512 }
local fast_nfe = { 6, 9, 12, 18, 24, 36, 48, 72, 96, 144, 192, 288, 384 }
local rtols = { 1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 3e-6, 1e-6, 3e-7, 1e-7 }
local sde_steps = { 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256 }
local ref_sde_steps = 8192
if smoke then
  ode = { ode[1], ode[3] }
  sde = {}
  ode_steps = { 32, 48, 64, 96, 128 }
end

-- references ---------------------------------------------------------------
local ref_ode = run({ label = "reference", name = "dpm_adaptive", own_sigmas = true,
                      opts = { rtol = 1e-10, atol = 1e-12 } }, nil, "iid")
-- the reference's own error, bounded by its distance to a 10x looser solve
local ref_ode_err = rms(ref_ode, (run({ label = "reference check", name = "dpm_adaptive", own_sigmas = true,
                                        opts = { rtol = 1e-9, atol = 1e-11 } }, nil, "iid")))
print(string.format("ODE reference: dpm_adaptive rtol 1e-10 vs rtol 1e-9: RMS difference %.2e", ref_ode_err))
local ref_sde, ref_sde_err
if #sde > 0 then
  ref_sde = run({ label = "SDE reference", name = "dpmpp_2m_sde", opts = { solver_type = "heun" } }, ref_sde_steps, "brownian")
  local check = run({ label = "SDE check", name = "dpmpp_2m_sde", opts = { solver_type = "heun" } }, ref_sde_steps // 2, "brownian")
  ref_sde_err = median_err(ref_sde, check)
  print(string.format("SDE reference: dpmpp_2m_sde heun, %d vs %d steps, same Brownian paths: median difference %.2e",
                      ref_sde_steps, ref_sde_steps // 2, ref_sde_err))
end

-- the runs -----------------------------------------------------------------
local csv = assert(io.open(out .. "/sampler_study.csv", "w"))
csv:write("sampler,kind,steps,nfe,error\n")
local results = {}

local function study(spec, kind, ref, counts, noise, metric)
  local r = { label = spec.label, kind = kind, theory = spec.theory, nfe = {}, err = {} }
  for _, n in ipairs(counts) do
    local x, calls = run(spec, n, noise)
    local e = metric(x, ref)
    r.nfe[#r.nfe + 1] = calls
    r.err[#r.err + 1] = e
    csv:write(string.format("%s,%s,%s,%d,%.6e\n", spec.label, kind, tostring(n), calls, e))
  end
  results[#results + 1] = r
  return r
end

-- Least-squares slope of log(err) against log(nfe) over the asymptotic
-- range: the points whose error is above `floor`, then the (up to) 4 with the
-- largest NFE. Returns -slope, and the NFE range used.
local function fit(r, floor)
  local pts = {}
  for i = 1, #r.nfe do
    if r.err[i] > floor then pts[#pts + 1] = { math.log(r.nfe[i]), math.log(r.err[i]), r.nfe[i] } end
  end
  table.sort(pts, function(a, b) return a[1] < b[1] end)
  while #pts > 4 do table.remove(pts, 1) end
  if #pts < 2 then return nil end
  local mx, my = 0, 0
  for _, p in ipairs(pts) do mx, my = mx + p[1], my + p[2] end
  mx, my = mx / #pts, my / #pts
  local sxy, sxx = 0, 0
  for _, p in ipairs(pts) do sxy, sxx = sxy + (p[1] - mx) * (p[2] - my), sxx + (p[1] - mx) ^ 2 end
  return -sxy / sxx, pts[1][3], pts[#pts][3]
end

for _, spec in ipairs(ode) do
  local counts = spec.sweep == "nfe" and fast_nfe or spec.sweep == "rtol" and rtols or ode_steps
  study(spec, "ode", ref_ode, counts, "iid", rms)
end
for _, spec in ipairs(sde) do study(spec, "sde", ref_sde, sde_steps, "brownian", median_err) end
csv:close()

-- orders -----------------------------------------------------------------------
local ord = assert(io.open(out .. "/sampler_orders.csv", "w"))
ord:write("sampler,kind,observed,theory,nfe_from,nfe_to\n")
print(string.format("\n%-32s %-4s %8s  %-12s %s", "sampler", "kind", "observed", "theory", "fitted over NFE"))
for _, r in ipairs(results) do
  local floor = 10 * (r.kind == "ode" and math.max(ref_ode_err, 1e-14) or math.max(ref_sde_err, 1e-14))
  local p, lo, hi = fit(r, floor)
  r.order = p
  print(string.format("%-32s %-4s %8s  %-12s %s", r.label, r.kind, p and string.format("%.2f", p) or "-", r.theory,
                      p and (lo .. ".." .. hi) or "(too few points above the reference error)"))
  ord:write(string.format("%s,%s,%s,%s,%s,%s\n", r.label, r.kind, p and string.format("%.3f", p) or "", r.theory,
                          lo or "", hi or ""))
end
ord:close()

-- chart ------------------------------------------------------------------------
local series = {}
for _, r in ipairs(results) do
  series[#series + 1] = { label = string.format("%s%s", r.kind == "sde" and "SDE " or "", r.label),
                          x = r.nfe, y = r.err, dashed = r.kind == "sde" }
end
dk.chart_loglog{
  path = out .. "/sampler_study.png", width = 1400, height = 900,
  title = "Sampler error against NFE on a 2-D Gaussian mixture (Karras sigmas 80 to 0.002)",
  xlabel = "NFE (denoiser calls)",
  ylabel = "error at sigma_min: ODE RMS vs a fine solve; SDE (dashed) median strong error, same Brownian path",
  series = series,
}
print(string.format("\nwrote %s/sampler_study.csv, %s/sampler_orders.csv and %s/sampler_study.png", out, out, out))
