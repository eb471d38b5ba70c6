-- check_table.lua RESULTS PRESET: the table files of a paper_table.lua run
-- hold every row with numeric params, GMACs, FID and KID.
local check = dofile(arg[0]:match("(.*/)") .. "../lua/check.lua")
local dk = require "diffkit"
local dir, preset = arg[1], arg[2]
local base = dir .. "/paper_table_" .. preset
local f = assert(io.open(base .. ".csv", "rb"), "no " .. base .. ".csv")
local header = f:read("l")
check.eq(header, "row,description,params,gmacs,steps,loss,fid,kid,paper_fid,features,fid_sd,kid_sd,seeds", "csv header")
local seen = {}
for line in f:lines() do
  local row = line:match("^([^,]+),")
  local fields = {}
  -- description is quoted and may hold commas: take the numeric tail.
  local tail = line:match('^[^,]+,".-",(.*)$')
  for v in (tail or ""):gmatch("[^,]+") do fields[#fields + 1] = v end
  local params, gmacs, steps, loss, fid, kid = tonumber(fields[1]), tonumber(fields[2]), tonumber(fields[3]),
    tonumber(fields[4]), tonumber(fields[5]), tonumber(fields[6])
  check.ok(params and params > 0, row .. ": params")
  check.ok(gmacs and gmacs > 0, row .. ": gmacs")
  check.ok(steps and steps > 0, row .. ": steps")
  check.ok(loss and loss == loss, row .. ": loss is a number")
  check.ok(fid and fid == fid and fid >= 0, row .. ": FID is a number: " .. tostring(fields[5]))
  check.ok(kid and kid == kid, row .. ": KID is a number: " .. tostring(fields[6]))
  check.ok(io.open(("%s/%s.png"):format(base, row), "rb") ~= nil, row .. ": grid")
  seen[row] = true
end
f:close()
for _, id in ipairs(dk.paper.ORDER) do check.ok(seen[id], "row " .. id .. " in the table") end
check.ok(io.open(base .. ".md", "rb") ~= nil, "markdown table")
check.ok(io.open(base .. ".png", "rb") ~= nil, "chart")
check.finish()
