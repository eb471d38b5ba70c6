-- diffkit/spec.lua: plugin specs, the building blocks of experiment tables.
--
-- dk.model(name, opts), dk.precond(name, opts), dk.schedule(name, opts) and
-- dk.sampler(name, opts) return plain tables
--     { plugin = "model", name = "hdit", opts = { ... } }
-- that an experiment instantiates when it runs. Because they are plain data,
-- a paper-table row is a small change of another row:
--     dk.extend(A, { model = { opts = { ffn = "geglu" } } })   -- tweak options
--     dk.extend(A, { model = dk.model("dit", { ... }) })        -- swap the plugin
-- (a spec given whole replaces the old one; see dk.extend in init.lua).
-- dk.instantiate(spec, {dtype =, seed =}) creates the plugin instance.
local core = require "diffkit.core"

local M = {}

local KINDS = { model = true, precond = true, schedule = true, sampler = true }

local function make(kind)
  return function(name, opts)
    if type(name) ~= "string" then
      error(("dk.%s: the first argument is the plugin name (see `diffkit plugins %s`), got a %s"):format(kind, kind, type(name)), 2)
    end
    if opts ~= nil and type(opts) ~= "table" then
      error(("dk.%s('%s', opts): opts must be a table, got a %s"):format(kind, name, type(opts)), 2)
    end
    -- Fail early on an unknown plugin name: the message suggests the closest.
    local ok, err = pcall(core.plugin_info, kind, name)
    if not ok then error(err, 2) end
    return { plugin = kind, name = name, opts = opts or {} }
  end
end

for kind in pairs(KINDS) do M[kind] = make(kind) end

function M.is_spec(v)
  return type(v) == "table" and KINDS[rawget(v, "plugin")] ~= nil and type(rawget(v, "name")) == "string"
end

-- Creates the instance of a spec (or returns an instance as is).
function M.instantiate(v, how, what)
  if type(v) == "userdata" then return v end
  if not M.is_spec(v) then
    error(("%s: expected a plugin spec such as dk.model('dit', {...}), got a %s"):format(what or "plugin", type(v)), 3)
  end
  return core.plugin(v.plugin, v.name, v.opts, how)
end

return M
