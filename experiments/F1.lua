-- F1: E with concatenation skips (U-Net style) instead of the learnable lerp (Table 2/5; FID 33.75).
local dk = require "diffkit"
return dk.paper.row {
  id = "F1", parent = "E", description = "E + Concatenation skip", paper_fid = 33.75,
  change = function(P) return { model = { opts = { skip = "concat" } } } end,
}
