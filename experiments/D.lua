-- D: C + axial RoPE instead of additive positions (FID 41.41).
local dk = require "diffkit"
return dk.paper.row {
  id = "D", parent = "C", description = "C + Axial RoPE", paper_fid = 41.41, paper_gflop = 31,
  change = function(P) return { model = { opts = { pos = "rope" } } } end,
}
