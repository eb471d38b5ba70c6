-- test_torch.lua: dk.torch_load and dk.torch_state_dict on the torch.save
-- files of tests/data/torch/ (gen_torch_files.py), against the expected
-- safetensors the same script wrote, and the refusal of a hostile file.
-- arg[1]: tests/data.
local dk = require "diffkit"
local check = require "check"
local dir = assert(arg[1], "data folder") .. "/torch/"

-- the tree of a k-diffusion checkpoint
local ck = dk.torch_load(dir .. "kdiff_ckpt.pth")
check.eq(ck.epoch, 3)
check.eq(ck.step, 1000)
check.eq(ck.elapsed, 123.5)
check.eq(ck.gns_stats, dk.torch_none, "None is dk.torch_none")
check.eq(tostring(dk.torch_none), "None")
check.eq(ck.config.model.type, "image_v1")
check.eq(ck.config.model.input_size[2], 32, "lists are 1-based arrays")
check.eq(ck.config.model.mapping_cond_dim, dk.torch_none)
check.eq(ck.config.model.augment_wrapper, true)
check.eq(ck.opt.param_groups[1].lr, 1e-4)
check.eq(ck.opt.param_groups[1].betas[1], 0.95, "tuples are arrays")
check.ok(ck.opt.state[0] ~= nil, "int keys stay integers")
check.eq(ck.model_ema["0.weight"]:dtype(), "F32")
check.eq(ck.demo_gen:dtype(), "I64", "a ByteTensor becomes I64")

-- DiT: args is an argparse.Namespace, a table of its attributes
local dit = dk.torch_load(dir .. "dit_ckpt.pt")
check.eq(dit.args.model, "DiT-XL/2")
check.eq(dit.args.image_size, 256)

-- nested values
local n = dk.torch_load(dir .. "nested.pt")
check.eq(n.bytes, "\0ab\xff")
check.eq(n.intkeys[7].x, 1)
check.eq(n.list[4][1], dk.torch_none, "None inside an array keeps its place")
check.eq(#n.list, 4)

-- every tensor of a state dict against the expected file (F16/BF16 as F32)
local expected = dk.load(dir .. "dtypes.expected.safetensors")
local sd = dk.torch_state_dict(dir .. "dtypes.pt")
local count = 0
for name, t in pairs(sd) do
  count = count + 1
  local e = assert(expected[name], name)
  check.ok(t:dtype() == "F32" or t:dtype() == "F64" or t:dtype() == "I64", name .. " dtype " .. t:dtype())
  local want = e:to(t:dtype())
  check.eq(t:max_abs_diff(want), 0, name .. " matches")
end
check.eq(count, 12)
local ema = dk.torch_state_dict(dir .. "kdiff_ckpt.pth", "model_ema")
check.eq(ema["2.bias"]:shape()[1], 4)
local v = dk.torch_state_dict(dir .. "legacy.pth", "views")
check.eq(v.transpose:shape()[1], 5)

-- refusals
check.raises(function() dk.torch_load(dir .. "hostile_os_system.pt") end, "pickle global 'os.system' is not allowed")
check.raises(function() dk.torch_load(dir .. "missing.pt") end, "missing.pt: cannot open")
check.raises(function() dk.torch_state_dict(dir .. "kdiff_ckpt.pth", "nope") end, "no entry 'nope'")
print("ok")
