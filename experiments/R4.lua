-- R4: R3 + Soft-Min-SNR loss weighting (HDiT paper Table 1, row R4; FID 30.71).
local dk = require "diffkit"
return dk.paper.row {
  id = "R4", parent = "R3", description = "R3 + Soft-Min-SNR", paper_fid = 30.71, paper_gflop = 106,
  change = function(P) return { precond = { opts = { weighting = "soft-min-snr" } } } end,
}
