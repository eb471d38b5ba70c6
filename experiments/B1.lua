-- B1: A + Swin (shifted-window) attention at the high-resolution level (FID 55.93).
local dk = require "diffkit"
return dk.paper.row {
  id = "B1", parent = "A", description = "A + Swin Attn.", paper_fid = 55.93, paper_gflop = 29,
  change = function(P) return { model = { opts = { attn = { "shifted-window", "global" } } } } end,
}
