-- make_unknown_section.lua: writes arg[1], a safetensors file whose section no
-- verify checker knows (tests/host.cmake).
local dk = require "diffkit"
dk.save(arg[1], { x = dk.tensor({1, 2}) }, { section = "nonsense" })
