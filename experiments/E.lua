-- E: D + Soft-Min-SNR loss weighting: the full HDiT (FID 27.74).
local dk = require "diffkit"
return dk.paper.row {
  id = "E", parent = "D", description = "D + Soft-Min-SNR (Sec. C)", paper_fid = 27.74, paper_gflop = 31,
  change = function(P) return { precond = { opts = { weighting = "soft-min-snr" } } } end,
}
