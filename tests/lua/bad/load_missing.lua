-- load_missing.lua: loading a file that does not exist (tests/host.cmake).
local dk = require "diffkit"
dk.load("no/such/file.safetensors")
