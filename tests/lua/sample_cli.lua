-- sample_cli.lua: `diffkit sample` on a diffkit checkpoint (a tiny DiT trained
-- a few steps on Fashion-MNIST), end to end through the binary:
--   - .npz: a stored zip with arr_0.npy (|u1, (N, H, W, C)) and arr_1.npy
--     (<i8 labels), parsed here byte by byte; the pixels equal exp:sample's
--     images of the same seed rounded as image.h says;
--   - reproducible: the same arguments give the same file; a deterministic
--     sampler gives the same file for --batch 3 and --batch 10; another seed
--     gives other images;
--   - a folder of PNGs with labels.txt; a second export into it is refused
--     without --force; a grid PNG;
--   - usage errors exit 2, bad inputs exit 1 with one line naming the problem.
-- Exit 77 without the dataset.   diffkit run tests/lua/sample_cli.lua
local here = arg[0]:match("(.*/)") or "./"
local check = dofile(here .. "check.lua")
local dk = require "diffkit"

check.need_fashion_mnist()

local tmp = (os.getenv("DK_TEST_TMP") or "/tmp") .. "/diffkit-sample-cli"
os.execute("rm -rf '" .. tmp .. "' && mkdir -p '" .. tmp .. "'")
local bin = os.getenv("DIFFKIT_BIN") or arg[-2]
assert(bin, "set DIFFKIT_BIN to the diffkit binary")

local cfg = {
  name = "sample_tiny", seed = 3,
  data = dk.data.fashion_mnist { split = "train", pad = 2 },
  model = dk.model("dit", { input_size = 32, patch_size = 8, in_channels = 1, hidden_size = 32, depth = 1,
                            num_heads = 2, num_classes = 10, class_dropout_prob = 0.1, learn_sigma = false }),
  precond = dk.precond("edm", { sigma_data = 0.5 }),
  train_sigma = dk.schedule("lognormal", { loc = -1.2, scale = 1.2 }),
  optim = { "adamw", lr = 2e-3 }, ema = { power = 0.75, max = 0.999 }, batch = 8, steps = 4,
  sample = { sampler = dk.sampler("euler"), steps = 4, schedule = dk.schedule("karras", { sigma_min = 0.01, sigma_max = 80 }) },
}
local exp = dk.experiment(cfg)
exp:train { out = tmp .. "/run", quiet = true }

local function sh(args)
  local p = io.popen(("'%s' sample %s 2>&1; echo \"rc=$?\""):format(bin, args))
  local out = p:read("a")
  p:close()
  return tonumber(out:match("rc=(%d+)%s*$")), out
end

local function u16(s, i) return s:byte(i) + 256 * s:byte(i + 1) end
local function u32(s, i) return u16(s, i) + 65536 * u16(s, i + 2) end

-- a minimal reader of the stored zip numpy.savez writes: name -> member bytes
local function read_npz(path)
  local s = check.slurp(path)
  local members, pos = {}, 1
  while s:sub(pos, pos + 3) == "PK\3\4" do
    check.eq(u16(s, pos + 8), 0, path .. ": stored (method 0)")
    local size, nl, el = u32(s, pos + 22), u16(s, pos + 26), u16(s, pos + 28)
    check.eq(u32(s, pos + 18), size, path .. ": compressed size = size")
    local name = s:sub(pos + 30, pos + 29 + nl)
    members[name] = s:sub(pos + 30 + nl + el, pos + 29 + nl + el + size)
    pos = pos + 30 + nl + el + size
  end
  check.eq(s:sub(pos, pos + 3), "PK\1\2", path .. ": the central directory follows the members")
  check.eq(s:sub(-22, -19), "PK\5\6", path .. ": end of central directory record last")
  return members
end

local function npy(m)
  check.eq(m:sub(1, 8), "\147NUMPY\1\0", "npy magic and version 1.0")
  local hl = u16(m, 9)
  check.eq((10 + hl) % 64, 0, "npy data aligned to 64 bytes")
  return m:sub(11, 10 + hl), m:sub(11 + hl)
end

local N = 10
local run = "'" .. tmp .. "/run'"
local rc, out = sh(run .. " --n 10 --batch 3 --seed 7 --out '" .. tmp .. "/a.npz'")
io.write(out)
check.eq(rc, 0, "diffkit sample --out a.npz")
check.ok(out:match("wrote 10 images %(1x32x32%)") ~= nil, "the summary line names the count and shape")
check.ok(out:match("EMA weights") ~= nil, "the EMA weights are used and said so")
local z = read_npz(tmp .. "/a.npz")
local h0, px = npy(z["arr_0.npy"])
check.ok(h0:match("^{'descr': '|u1', 'fortran_order': False, 'shape': %(10, 32, 32, 1%), } *\n$") ~= nil,
  "arr_0.npy header: " .. h0)
check.eq(#px, N * 32 * 32, "arr_0 holds N*H*W*C bytes")
local h1, lb = npy(z["arr_1.npy"])
check.ok(h1:match("^{'descr': '<i8', 'fortran_order': False, 'shape': %(10,%), } *\n$") ~= nil, "arr_1.npy header: " .. h1)
for i = 1, N do
  check.eq(u32(lb, (i - 1) * 8 + 1), (i - 1) % 10, "label " .. i .. " cycles through the classes")
end

-- the pixels are exp:sample's images (EMA weights, same seed, start noise at offset 0)
local ref = dk.experiment.Experiment.from_checkpoint((function()
  local l = check.slurp(tmp .. "/run/latest"):gsub("%s+$", "")
  return l:sub(1, 1) == "/" and l or (tmp .. "/run/" .. l)
end)())
local labels = {}
for i = 1, N do labels[i] = (i - 1) % 10 end
local x = ref:sample { n = N, labels = labels, seed = 7 }
local worst = 0
for i = 0, N * 32 * 32 - 1 do
  local v = x:get(i + 1)
  local u = (v + 1) * 127.5
  u = (u ~= u or u <= 0) and 0 or (u >= 255 and 255 or math.floor(u + 0.5))
  local got = px:byte(i + 1)
  -- one step of rounding may differ where a value sits on a rounding edge:
  -- the CLI sampled in batches of 3 (OpenBLAS sums M-dependently, ~1e-7)
  worst = math.max(worst, math.abs(got - u))
end
check.ok(worst <= 1, "arr_0 = round(127.5 (x + 1)) of exp:sample's images (max difference " .. worst .. " levels)")

-- reproducible, batch-independent for a deterministic sampler (euler)
rc = sh(run .. " --n 10 --batch 3 --seed 7 --quiet --out '" .. tmp .. "/b.npz'")
check.eq(rc, 0, "second export")
check.ok(check.slurp(tmp .. "/a.npz") == check.slurp(tmp .. "/b.npz"), "the same arguments give the same bytes")
rc = sh(run .. " --n 10 --batch 10 --seed 7 --quiet --out '" .. tmp .. "/c.npz'")
local a_px, c_px = px, select(2, npy(read_npz(tmp .. "/c.npz")["arr_0.npy"]))
local diff = 0
for i = 1, #a_px do diff = math.max(diff, math.abs(a_px:byte(i) - c_px:byte(i))) end
check.ok(diff <= 1, "--batch 10 gives the images of --batch 3 (deterministic sampler; max difference " .. diff .. " levels)")
rc = sh(run .. " --n 10 --seed 8 --quiet --out '" .. tmp .. "/d.npz'")
check.ok(check.slurp(tmp .. "/d.npz") ~= check.slurp(tmp .. "/a.npz"), "another seed gives other images")

-- a folder of PNGs, labels.txt, refusal to mix
rc, out = sh(run .. " --n 5 --labels 4 --quiet --out '" .. tmp .. "/pngs'")
check.eq(rc, 0, "export to a folder")
local count = 0
for _ in io.popen("ls '" .. tmp .. "/pngs' | grep -c png"):lines() do count = count + 1 end
check.ok(check.slurp(tmp .. "/pngs/000004.png"):sub(2, 4) == "PNG", "PNG files 000000.png ... 000004.png")
check.eq(check.slurp(tmp .. "/pngs/labels.txt"), "000000.png 4\n000001.png 4\n000002.png 4\n000003.png 4\n000004.png 4\n",
  "labels.txt lists each file's class")
rc, out = sh(run .. " --n 5 --quiet --out '" .. tmp .. "/pngs'")
check.eq(rc, 1, "a second export into the same folder is refused")
check.ok(out:match("already holds samples") and out:match("%-%-force") ~= nil, "the refusal says why and what to do: " .. out)
rc = sh(run .. " --n 5 --quiet --force --out '" .. tmp .. "/pngs'")
check.eq(rc, 0, "--force overwrites")
rc = sh(run .. " --n 12 --quiet --out '" .. tmp .. "/grid.png'")
check.eq(rc, 0, "grid export")
check.eq(check.slurp(tmp .. "/grid.png"):sub(2, 4), "PNG", "grid.png is a PNG")

-- errors
rc, out = sh(run .. " --out x.npz")
check.eq(rc, 2, "--n missing is a usage error")
check.ok(out:match("%-%-n N is required") ~= nil, "names the missing option: " .. out)
rc, out = sh(run .. " --n 2 --out x.npz --steps zero")
check.eq(rc, 2, "--steps zero is a usage error")
rc, out = sh("'" .. tmp .. "/nothing' --n 2 --out '" .. tmp .. "/x.npz'")
check.eq(rc, 1, "a missing checkpoint fails")
check.ok(out:match("no such file or folder") ~= nil and not out:match("traceback"), "one line: " .. out)
rc, out = sh(run .. " --n 2 --labels 12 --out '" .. tmp .. "/x.npz'")
check.eq(rc, 1, "a class outside the model's is refused")
check.ok(out:match("class 12 is outside 0..9") ~= nil, "names the class and the range: " .. out)
check.ok(io.open(tmp .. "/x.npz", "rb") == nil, "no file is left behind by a failed export")
rc, out = sh("'" .. tmp .. "/run/config.txt' --n 2 --out '" .. tmp .. "/x.npz'")
check.eq(rc, 1, "a file that is no checkpoint is refused")
check.ok(out:match("not a checkpoint diffkit reads") ~= nil, "says what it expected: " .. out)
check.finish()
