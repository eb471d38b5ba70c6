-- gmm_demo.lua: a first look at diffkit's samplers, with nothing to train.
--
--   diffkit run experiments/gmm_demo.lua [OUT_DIR]      (default runs/gmm_demo)
--
-- 1. lists the plugins this build found;
-- 2. builds a Gaussian mixture of four 8x8 patterns whose denoiser is exact
--    (no network to train), and samples it with several samplers from the
--    same starting noise on the Karras et al. (2022) schedule;
-- 3. measures each ODE sampler's error against a 400-step reference solution
--    as the number of steps grows (the sampler-error-vs-NFE study in small);
-- 4. writes a PNG grid: one row per sampler, plus a row of exact draws.
local dk = require "diffkit"

if arg[1] == "--help" or arg[1] == "-h" then
  io.stdout:write([[
usage: diffkit run experiments/gmm_demo.lua [OUT_DIR]

Samples an exact Gaussian-mixture denoiser with several samplers (nothing to
train), prints each ODE sampler's error against NFE and writes a grid, one row
per sampler, to OUT_DIR (default runs/gmm_demo).
]])
  os.exit(0, true)
elseif arg[1] and arg[1]:sub(1, 1) == "-" then
  dk.fail(("unknown option '%s' (usage: diffkit run experiments/gmm_demo.lua [OUT_DIR]; --help)"):format(arg[1]))
end
local out = arg[1] or "runs/gmm_demo"
assert(os.execute("mkdir -p '" .. out .. "'"), "cannot create " .. out)

-- 1. plugins ---------------------------------------------------------------
print("plugins found:")
for _, kind in ipairs({ "model", "precond", "schedule", "sampler" }) do
  local names = {}
  for _, p in ipairs(dk.plugins(kind)) do names[#names + 1] = p.name end
  print(string.format("  %-8s %2d  %s", kind, #names, table.concat(names, " ")))
end

-- 2. an exact mixture of four 1x8x8 patterns --------------------------------
local H = 8
local function pattern(f)
  local img = {}
  for y = 1, H do
    local row = {}
    for x = 1, H do row[x] = f(x, y) end
    img[y] = row
  end
  return { img }                      -- [C = 1, H, W]
end
local means = dk.tensor({
  pattern(function(x, y) return (x + y) % 2 == 0 and 0.8 or -0.8 end),      -- checkerboard
  pattern(function(x, _) return x <= H / 2 and 0.8 or -0.8 end),            -- left half
  pattern(function(x, y) return (x - 4.5) ^ 2 + (y - 4.5) ^ 2 < 9 and 0.8 or -0.8 end), -- disc
  pattern(function(_, y) return -0.8 + 1.6 * (y - 1) / (H - 1) end),        -- gradient
})
local gmm = dk.gmm(means, dk.tensor({ 0.15, 0.15, 0.15, 0.15 }), dk.tensor({ 0.25, 0.25, 0.25, 0.25 }))

local sigma_max, n_samples, seed = 80, 8, 0
local karras = function(n)
  return dk.plugin("schedule", "karras", { sigma_min = 0.002, sigma_max = sigma_max, rho = 7 }):sigmas(n)
end
local x0 = dk.randn({ n_samples, 1, H, H }, seed) * sigma_max

local rows, labels = {}, {}
local function have(name)
  for _, p in ipairs(dk.plugins("sampler")) do if p.name == name then return true end end
  return false
end

print("\nsampling " .. n_samples .. " images of the mixture, 20 steps, same start noise:")
for _, name in ipairs({ "euler", "heun", "dpmpp_2m", "euler_ancestral", "dpmpp_2m_sde" }) do
  if have(name) then
    local sampler = dk.plugin("sampler", name)
    local t0 = os.clock()
    local x = sampler:sample(x0, karras(20), { denoise = gmm, seed = seed })
    -- distance of each sample to its nearest pattern, in pixels (RMS)
    local worst = 0
    for i = 1, n_samples do
      local best = math.huge
      for k = 1, 4 do
        local d = 0
        for j = 1, H * H do
          local diff = x[(i - 1) * H * H + j] - means[(k - 1) * H * H + j]
          d = d + diff * diff
        end
        best = math.min(best, math.sqrt(d / (H * H)))
      end
      worst = math.max(worst, best)
    end
    print(string.format("  %-16s max RMS distance to the nearest pattern %.3f  (%.2fs)", name, worst, os.clock() - t0))
    rows[#rows + 1] = x
    labels[#labels + 1] = name
  end
end

-- 3. ODE error against NFE ----------------------------------------------------
if have("dpmpp_2m") then
  local reference = dk.plugin("sampler", "dpmpp_2m"):sample(x0, karras(400), { denoise = gmm })
  print("\nmax abs error against a 400-step dpmpp_2m solution (deterministic samplers):")
  print(string.format("  %-10s %10s %10s %10s %10s", "steps", "5", "10", "20", "40"))
  for _, name in ipairs({ "euler", "heun", "dpmpp_2m" }) do
    if have(name) then
      local line = string.format("  %-10s", name)
      for _, n in ipairs({ 5, 10, 20, 40 }) do
        local x = dk.plugin("sampler", name):sample(x0, karras(n), { denoise = gmm })
        line = line .. string.format(" %10.2e", x:max_abs_diff(reference))
      end
      print(line)
    end
  end
end

-- 4. the grid -------------------------------------------------------------------
rows[#rows + 1] = gmm:sample(n_samples, { seed = seed })
labels[#labels + 1] = "exact draws"
local all = {}
for _, r in ipairs(rows) do
  for i = 1, n_samples do
    local img = {}
    for j = 1, H * H do img[j] = r[(i - 1) * H * H + j] end
    all[#all + 1] = img
  end
end
local grid = dk.tensor(all):reshape(#all, 1, H, H)
dk.image_grid(grid, out .. "/samples.png", n_samples)
print("\nwrote " .. out .. "/samples.png (rows: " .. table.concat(labels, ", ") .. ")")
