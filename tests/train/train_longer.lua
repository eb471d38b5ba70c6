-- train_longer.lua: the step target is not part of a run's identity
-- (docs/training.md, "Resuming"): a larger target resumes the run and gives
-- the same weights, bit for bit, as training that far straight; a smaller one
-- trains nothing, says so and keeps the checkpoint. What users are told: a
-- resume error is its message without a Lua traceback, and `--help` on the
-- experiment scripts prints their usage (exit 0).
package.path = arg[0]:match("(.*/)") .. "?.lua;" .. package.path
local check = dofile(arg[0]:match("(.*/)") .. "../lua/check.lua")
local common = require "common"
local dk = require "diffkit"
common.need_fashion_mnist()

local a, b = common.tmpdir("longer_a"), common.tmpdir("longer_b")
dk.experiment(common.base { steps = 12 }):train { out = a, log_every = 1, quiet = true }
dk.experiment(common.base { steps = 6 }):train { out = b, log_every = 1, quiet = true }
-- quickstart --steps 12 after --steps 6: a new experiment whose steps is 12
local ok, st = pcall(function() return dk.experiment(common.base { steps = 12 }):train { out = b, log_every = 1, quiet = true } end)
check.ok(ok, "a larger step target resumes: " .. tostring(st))
check.eq(ok and st and st.step, 12, "trained on to the new target")
local la = common.read(a .. "/latest"):gsub("%s+$", "")
local lb = common.read(b .. "/latest"):gsub("%s+$", "")
check.eq(lb, "ckpt_00000012.safetensors", "the longer run's checkpoint")
local fa, fb = dk.load(a .. "/" .. la), dk.load(b .. "/" .. lb)
local n, same = 0, 0
for name, t in pairs(fa) do
  if type(name) == "string" and type(t) == "userdata" then
    n = n + 1
    if fb[name] and t:max_abs_diff(fb[name]) == 0 then same = same + 1 end
  end
end
check.ok(n > 20, "tensors compared")
check.eq(same, n, "6 steps then 6 more = 12 straight, bit for bit")
local okl, why = common.log_is_1_to(common.read(b .. "/log.csv"), 12)
check.ok(okl, "log.csv holds steps 1..12 once each: " .. tostring(why))

-- A smaller target than the checkpoint's step: nothing trained, said so.
local before = common.read(b .. "/" .. lb)
local out, code = common.cli(("run '%schild.lua' '%s' 8"):format(common.here, b))
print(out)
check.eq(code, 0, "a smaller target is not an error")
check.ok(out:find("is at step 12, past the target of 8 steps: nothing to train", 1, true) ~= nil, "says so")
check.eq(common.read(b .. "/latest"):gsub("%s+$", ""), lb, "latest unchanged")
check.ok(common.read(b .. "/" .. lb) == before, "checkpoint unchanged")

-- A different config: refused, the difference listed, no traceback, exit 1.
out, code = common.cli(("run '%schild.lua' '%s' 14 5 1e-3"):format(common.here, b))
print(out)
check.eq(code, 1, "a different config is refused")
check.ok(out:find("holds a checkpoint of a different config", 1, true) ~= nil, "names the problem")
check.ok(out:find("+ optim.lr = 0.001", 1, true) ~= nil, "lists the difference")
check.ok(out:find("traceback", 1, true) == nil, "no Lua traceback")

-- A checkpoint that cannot be loaded: one line naming it and what to do.
local c = common.tmpdir("longer_c")
os.execute(("cp '%s'/* '%s'/ && truncate -s 1000 '%s/%s'"):format(b, c, c, lb))
out, code = common.cli(("run '%schild.lua' '%s' 20"):format(common.here, c))
print(out)
check.eq(code, 1, "a truncated checkpoint stops the resume")
check.ok(out:find(("cannot resume run folder %s from %s/%s: "):format(c, c, lb), 1, true) == 1, "names the checkpoint")
check.ok(out:find("; restore that checkpoint, or train afresh in another folder\n$") ~= nil, "says what to do, last")
check.eq(select(2, out:gsub("\n", "")), 1, "one line")

-- --help on the scripts: their usage on stdout, exit 0, no traceback.
for _, s in ipairs { "quickstart.lua", "E.lua", "paper_table.lua", "gmm_demo.lua", "sampler_study.lua" } do
  out, code = common.cli(("run '%sexperiments/%s' --help"):format(common.root, s))
  check.eq(code, 0, s .. " --help exits 0")
  check.ok(out:find("^usage: diffkit run experiments/") ~= nil, s .. " --help prints its usage: " .. out)
  check.ok(out:find("traceback", 1, true) == nil, s .. " --help: no traceback")
end
out, code = common.cli(("run '%sexperiments/quickstart.lua' --stpes 10"):format(common.root))
check.eq(code, 1, "an unknown option fails")
check.eq(out, "unknown option '--stpes' (options: --steps N, --out DIR, --batch B; --help)\n", "one line, no traceback")
out, code = common.cli(("run '%sexperiments/quickstart.lua' --steps ten"):format(common.root))
check.eq(out, "option --steps: 'ten' is not a whole number >= 1\n", "a bad value: one line")
check.finish()
