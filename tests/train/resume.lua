-- resume.lua: N steps straight equal N/2 steps, a checkpoint, a resume in a
-- fresh experiment, and N/2 more steps: identical weights, EMA and optimizer
-- state, bit for bit. Also: resuming with a different config lists the
-- differences and refuses unless forced.
package.path = arg[0]:match("(.*/)") .. "?.lua;" .. package.path
local check = dofile(arg[0]:match("(.*/)") .. "../lua/check.lua")
local common = require "common"
local dk = require "diffkit"
common.need_fashion_mnist()

local N = 12
local a = common.tmpdir("resume_a")
local b = common.tmpdir("resume_b")
local cfg = common.base { steps = N, stratified = true, grad_accum = 2 }

dk.experiment(cfg):train { out = a, quiet = true }
dk.experiment(cfg):train { out = b, steps = N // 2, quiet = true }
dk.experiment(cfg):train { out = b, quiet = true }          -- a new process-like object resumes from b/latest

local fa = dk.load(a .. "/" .. common.read(a .. "/latest"):gsub("%s+$", ""))
local fb = dk.load(b .. "/" .. common.read(b .. "/latest"):gsub("%s+$", ""))
local n, same = 0, 0
for name, t in pairs(fa) do
  if type(name) == "string" and type(t) == "userdata" then
    n = n + 1
    local u = fb[name]
    if u and t:max_abs_diff(u) == 0 then same = same + 1 else print("differs: " .. name) end
  end
end
check.ok(n > 20, "checkpoint holds model, EMA and optimizer tensors")
check.eq(same, n, "every tensor identical after resume")

-- A different config: refused with the difference listed, accepted when forced.
local cfg2 = dk.extend(cfg, { optim = { lr = 1e-3 } })
local err = check.raises(function() dk.experiment(cfg2):train { out = b, steps = N + 2, quiet = true } end,
  "holds a checkpoint of a different config")
check.ok(err and err:find("optim.lr", 1, true) ~= nil, "the difference names optim.lr")
local st = dk.experiment(cfg2):train { out = b, steps = N + 2, quiet = true, force = true }
check.eq(st.step, N + 2, "forced resume continues")
check.finish()
