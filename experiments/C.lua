-- C: B2 + GEGLU feed-forward (d_ff 3 x width instead of GELU 4 x width) (FID 44.36).
local dk = require "diffkit"
return dk.paper.row {
  id = "C", parent = "B2", description = "B2 + GeGLU", paper_fid = 44.36, paper_gflop = 31,
  change = function(P) return { model = { opts = { ffn = "geglu" } } } end,
}
