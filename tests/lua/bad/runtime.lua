-- runtime.lua: a deliberate runtime error on line 4 (tests/host.cmake).
local function inner() error("boom") end
local function outer() inner() end
outer()
