-- syntax.lua: a deliberate syntax error (tests/host.cmake).
local x = = 1
