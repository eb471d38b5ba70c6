-- diffkit/diff_cmd.lua: `diffkit diff A.lua B.lua [--preset P]` (lua/cli/diff.c
-- holds the help): the resolved leaves that differ between two experiments,
-- one line each with both values.
--
-- An experiment is a script (what `diffkit run` runs: a paper row, a rung of
-- a study, any script that calls dk.experiment) or an id of a paper row or
-- study rung ("R1", "r2.eps_t"). The script is run as `diffkit info` runs it,
-- with --preset passed on, until it builds its experiment: the table given to
-- dk.experiment is taken and the script stops there (nothing trains).
-- Leaves are the lines of Experiment.config_text (the run's identity) plus
-- the step target; compared with Experiment.config_diff.
local E = require "diffkit.experiment"

local M = {}

local STOP = setmetatable({}, { __tostring = function() return "diffkit diff: experiment captured" end })

-- The experiment table a script builds with `preset` (nil: the script's default).
function M.script_config(script, preset)
  local f = io.open(script, "rb")
  if not f then error(("cannot open '%s'"):format(script), 0) end
  f:close()
  local mt = getmetatable(E)
  local saved_call, saved_info, saved_arg, saved_path = mt.__call, rawget(_G, "DIFFKIT_INFO"), rawget(_G, "arg"),
    package.path
  local captured
  mt.__call = function(_, cfg)
    captured = cfg
    error(STOP, 0)
  end
  rawset(_G, "DIFFKIT_INFO", { preset = preset })
  local a = { [0] = script }
  if preset then a[1], a[2] = "--preset", preset end
  rawset(_G, "arg", a)
  local dir = script:match("^(.*)/[^/]*$") or "."
  package.path = dir .. "/?.lua;" .. package.path
  local chunk, err = loadfile(script)
  local ok, e = true, nil
  if chunk then ok, e = pcall(chunk, table.unpack(a)) end
  mt.__call, package.path = saved_call, saved_path
  rawset(_G, "DIFFKIT_INFO", saved_info)
  rawset(_G, "arg", saved_arg)
  if not chunk then error(err, 0) end
  if not ok and e ~= STOP then error(("%s: %s"):format(script, tostring(e)), 0) end
  if not captured then error(("%s builds no experiment (no dk.experiment call)"):format(script), 0) end
  return captured
end

-- The experiment table of `what`: a script path, else a paper row or study rung id.
function M.config(what, preset)
  if what:match("%.lua$") then return M.script_config(what, preset) end
  local paper = require "diffkit.paper"
  return paper.config(what, preset)
end

-- The leaves of an experiment table: config_text lines plus the step target.
function M.leaves(cfg)
  local text = E.config_text(cfg)
  if cfg.steps then text = text .. ("steps = %s\n"):format(tostring(cfg.steps)) end
  return text
end

-- { { key =, a =, b = }, ... } for every leaf that differs (a or b nil: unset), in key order.
function M.diff(ca, cb)
  local d = E.config_diff(M.leaves(ca), M.leaves(cb))
  local rows, byk = {}, {}
  for _, l in ipairs(d) do
    local sign, k, v = l:match("^([-+]) (.-) = (.*)$")
    if k then
      local r = byk[k]
      if not r then
        r = { key = k }
        byk[k] = r
        rows[#rows + 1] = r
      end
      if sign == "-" then r.a = v else r.b = v end
    end
  end
  table.sort(rows, function(x, y) return x.key < y.key end)
  return rows
end

-- The lines `diffkit diff` prints.
function M.format(rows, na, nb)
  local w = 3
  for _, r in ipairs(rows) do w = math.max(w, #r.key) end
  local out = {}
  for _, r in ipairs(rows) do
    out[#out + 1] = ("%-" .. w .. "s  %s  ->  %s"):format(r.key, r.a or "(unset)", r.b or "(unset)")
  end
  return out
end

local function usage(msg)
  io.stderr:write("diffkit: ", msg, " (run 'diffkit diff --help' for usage)\n")
  return 2
end

function M.main(...)
  local argv = { ... }
  local files, preset = {}, nil
  local i = 1
  while i <= #argv do
    local a = argv[i]
    if a == "--preset" then
      i = i + 1
      preset = argv[i]
      if not preset then return usage("--preset needs a value") end
    elseif a:sub(1, 1) == "-" then return usage("unknown option '" .. a .. "'")
    else files[#files + 1] = a end
    i = i + 1
  end
  if #files ~= 2 then return usage("give two experiments (scripts or row ids)") end
  local ca = M.config(files[1], preset)
  local cb = M.config(files[2], preset)
  local rows = M.diff(ca, cb)
  print(("%s (%s) vs %s (%s)%s: %d leaves differ"):format(tostring(ca.name or "?"), files[1], tostring(cb.name or "?"),
    files[2], preset and (", preset " .. preset) or "", #rows))
  for _, l in ipairs(M.format(rows)) do print(l) end
  return 0
end

return M
