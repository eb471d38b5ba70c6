-- G: E with AdaLN (LayerNorm with per-sample scale and shift) instead of AdaRMSNorm (Table 5; FID 27.69).
local dk = require "diffkit"
return dk.paper.row {
  id = "G", parent = "E", description = "E + AdaRMSNorm -> AdaLN", paper_fid = 27.69,
  change = function(P) return { model = { opts = { norm = "adaln" } } } end,
}
