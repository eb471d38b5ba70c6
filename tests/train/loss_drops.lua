-- loss_drops.lua: 200 steps of a tiny DiT on Fashion-MNIST lower the loss.
-- Asserts that the mean loss of the last 20 steps is below 0.8x that of the
-- first 20, and that a sample grid is written.
package.path = arg[0]:match("(.*/)") .. "?.lua;" .. package.path
local check = dofile(arg[0]:match("(.*/)") .. "../lua/check.lua")
local common = require "common"
local dk = require "diffkit"
common.need_fashion_mnist()

local out = common.tmpdir("loss")
local exp = dk.experiment(common.base { steps = 200 })
local losses = {}
exp:train { out = out, log_every = 1, quiet = true, on_log = function(st) losses[#losses + 1] = st.loss end }
check.eq(#losses, 200, "one log line per step")
local function mean(a, b) local s = 0 for i = a, b do s = s + losses[i] end return s / (b - a + 1) end
local first, last = mean(1, 20), mean(181, 200)
print(("mean loss: first 20 steps %.4f, last 20 steps %.4f"):format(first, last))
check.ok(last < 0.8 * first, ("loss fell: %.4f -> %.4f"):format(first, last))
-- The CSV log has the documented header and 200 rows.
local csv = common.read(out .. "/log.csv")
check.ok(csv:find("^step,loss,lr,grad_norm,ema_decay,sigma_min,sigma_max,samples_per_s,elapsed_s\n") ~= nil, "csv header")
local rows = 0
for _ in csv:gmatch("\n%d+,") do rows = rows + 1 end
check.eq(rows, 200, "csv rows")
-- Sampling from the EMA model writes a grid.
local x, calls = exp:sample { n = 10, steps = 8, out = out .. "/grid.png" }
check.eq(x:shape()[1], 10, "samples")
check.ok(calls >= 8, "model calls")
check.ok(io.open(out .. "/grid.png", "rb") ~= nil, "grid written")
check.finish()
