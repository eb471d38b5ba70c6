-- out_of_range.lua: an option value out of its range (tests/host.cmake).
local dk = require "diffkit"
dk.plugin("schedule", "cosine-example", { sigma_min = -1 })
