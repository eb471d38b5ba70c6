-- check_seeds.lua RESULTS OUT: a `paper_table.lua --preset tiny --rows R2,R4
-- --seeds 1,2 --noise 2` run: every row trained once per seed (different
-- seeds, different runs and FIDs), mean ± standard deviation in the table,
-- the FID's sampling noise printed beside it.
local check = dofile(arg[0]:match("(.*/)") .. "../lua/check.lua")
local dk = require "diffkit"
local dir, out = arg[1], arg[2]
local function slurp(p) local f = io.open(p, "rb"); if not f then return nil end local s = f:read("a"); f:close(); return s end
local md = slurp(dir .. "/paper_table_tiny.md") or ""
check.ok(md:find("Seeds 1,2: FID and KID are mean ± standard deviation", 1, true) ~= nil, "seeds line in the table")
check.ok(md:find("FID sampling noise at n = 64: ± [%d.]+ %(standard deviation of 2 evaluations of one checkpoint, R2") ~= nil,
  "sampling-noise line in the table")
local csv = slurp(dir .. "/paper_table_tiny.csv") or ""
for _, id in ipairs { "R2", "R4" } do
  local line = csv:match("\n(" .. id .. ",[^\n]*)")
  check.ok(line ~= nil, id .. " in the csv")
  if line then
    local sd, seeds = line:match(",([^,]+),[^,]+,([^,]+)$")
    check.ok(tonumber(sd) and tonumber(sd) > 0, id .. ": FID standard deviation over 2 seeds is > 0: " .. tostring(sd))
    check.eq(seeds, "1;2", id .. ": seeds")
  end
  local m1 = dk.parse_literal(slurp(("%s/tiny/%s.seed1/metrics.lua"):format(out, id)) or "{}", "m1")
  local m2 = dk.parse_literal(slurp(("%s/tiny/%s.seed2/metrics.lua"):format(out, id)) or "{}", "m2")
  check.eq(m1.seed, 1, id .. " seed 1 run")
  check.eq(m2.seed, 2, id .. " seed 2 run")
  check.ok(m1.fid and m2.fid and m1.fid ~= m2.fid, id .. ": the two seeds give different runs")
  check.ok(md:find("| " .. id .. " |[^\n]*%d ± %d") ~= nil, id .. ": mean ± sd in the markdown row")
end
local noise = dk.parse_literal(slurp(out .. "/tiny/R2.seed1/fid_noise.lua") or "{}", "noise")
check.ok(noise.fid1 and noise.fid2 and noise.fid1 ~= noise.fid2, "sample seeds give different FIDs of one checkpoint")
check.finish()
