-- unknown_plugin.lua: a misspelled plugin name (tests/host.cmake).
local dk = require "diffkit"
dk.plugin("schedule", "cosine-exampel")
