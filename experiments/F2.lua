-- F2: E with additive skips (original Hourglass) instead of the learnable lerp (Table 2/5; FID 28.37).
local dk = require "diffkit"
return dk.paper.row {
  id = "F2", parent = "E", description = "E + Additive skip", paper_fid = 28.37,
  change = function(P) return { model = { opts = { skip = "add" } } } end,
}
