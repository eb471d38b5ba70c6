-- E3: D + Min-SNR weighting with gamma 4 (HDiT paper Table 5; FID 35.62).
local dk = require "diffkit"
return dk.paper.row {
  id = "E3", parent = "D", description = "D + Min-SNR (gamma = 4)", paper_fid = 35.62,
  change = function(P) return { precond = { opts = { weighting = "min-snr", gamma = 4 } } } end,
}
