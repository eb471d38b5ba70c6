-- wrong_type.lua: an option of the wrong type (tests/host.cmake).
local dk = require "diffkit"
dk.plugin("schedule", "cosine-example", { sigma_max = "abc" })
