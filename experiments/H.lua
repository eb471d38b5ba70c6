-- H: G with GELU (4x) instead of GEGLU and a DiT-style output gate (Table 5; FID 30.66).
local dk = require "diffkit"
return dk.paper.row {
  id = "H", parent = "G", description = "G + GeGLU -> GeLU, DiT-style output gate", paper_fid = 30.66,
  change = function(P) return { model = { opts = { ffn = "gelu", out_gate = true } } } end,
}
