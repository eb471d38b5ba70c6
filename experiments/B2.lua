-- B2: A + neighborhood attention (kernel 7) at the high-resolution level (FID 51.07).
local dk = require "diffkit"
return dk.paper.row {
  id = "B2", parent = "A", description = "A + Neighborhood Attn.", paper_fid = 51.07, paper_gflop = 29,
  change = function(P) return { model = { opts = { attn = { "neighborhood", "global" } } } } end,
}
