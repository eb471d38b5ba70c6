-- global.lua: a typo'd global read must fail loudly (tests/host.cmake).
local dk = require "diffkit"
local model = dk.tensor({1})
print(modle)
