-- diffkit/init.lua: the `diffkit` Lua module.
--
-- `require "diffkit"` returns a table holding every function of the C binding
-- (`diffkit.core`: tensors, safetensors files, plugins) plus the pure-Lua
-- helpers below. Pure-Lua submodules live beside this file as
-- lua/diffkit/<name>.lua and load on first use: `dk.<name>` requires
-- "diffkit.<name>" when no field of that name exists. Reading a field that
-- is neither is an error, like reading an undefined global.
local core = require "diffkit.core"

local dk = {}
for k, v in pairs(core) do dk[k] = v end
dk.core = core

-- dk.extend(base, changes): a deep copy of base with changes applied.
-- Nested tables with string keys merge; arrays (and any value in changes
-- that is not a table) replace the old value, and so does a whole plugin spec
-- (a table with `plugin` and `name`, as dk.model(...) returns). Neither
-- argument is modified.
local function is_array(t)
  return type(t) == "table" and (next(t) == nil or rawget(t, 1) ~= nil) and getmetatable(t) == nil
end

local function copy(v)
  if type(v) ~= "table" or getmetatable(v) ~= nil then return v end
  local c = {}
  for k, x in pairs(v) do c[k] = copy(x) end
  return c
end

function dk.extend(base, changes)
  if type(base) ~= "table" then error("dk.extend: base must be a table, got a " .. type(base), 2) end
  local out = copy(base)
  for k, v in pairs(changes or {}) do
    -- A whole plugin spec (dk.model(...), ...) replaces the old one, so a row
    -- can swap the plugin; a plain table merges (e.g. { opts = { ffn = "geglu" } }).
    local is_spec = type(v) == "table" and rawget(v, "plugin") ~= nil and rawget(v, "name") ~= nil
    if not is_spec and type(v) == "table" and not is_array(v) and type(out[k]) == "table" and not is_array(out[k]) then
      out[k] = dk.extend(out[k], v)
    else
      out[k] = copy(v)
    end
  end
  return out
end

return setmetatable(dk, {
  __index = function(t, name)
    if type(name) == "string" and package.searchpath("diffkit." .. name, package.path) then
      local mod = require("diffkit." .. name)
      rawset(t, name, mod)
      return mod
    end
    error("diffkit has no field '" .. tostring(name) .. "'", 2)
  end,
})
