-- E2: D + Min-SNR weighting with gamma 5 (HDiT paper Table 5; FID 36.65).
local dk = require "diffkit"
return dk.paper.row {
  id = "E2", parent = "D", description = "D + Min-SNR (gamma = 5)", paper_fid = 36.65,
  change = function(P) return { precond = { opts = { weighting = "min-snr", gamma = 5 } } } end,
}
