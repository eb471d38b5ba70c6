-- unknown_option.lua: a misspelled option (tests/host.cmake).
local dk = require "diffkit"
dk.plugin("schedule", "cosine-example", { sigmamin = 0.1 })
