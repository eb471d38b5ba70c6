-- A: global-attention diffusion hourglass (HDiT paper Table 1, row A; FID 50.76).
-- R3's blocks arranged as a two-level hourglass (paper §4.1, configs
-- hourglass_global.jsonc): global attention at both levels, GELU 4x,
-- additive positions, lerp skips, "snr" weighting.
local dk = require "diffkit"
return dk.paper.row {
  id = "A", parent = "R3", description = "Global Attention Diffusion Hourglass (Sec. 4.1)", paper_fid = 50.76, paper_gflop = 32,
  change = function(P)
    return { model = dk.model("hdit", dk.extend(P.hdit, { num_classes = P.classes, attn = { "global", "global" },
                                                         ffn = "gelu", pos = "additive", norm = "adarmsnorm", skip = "lerp" })) }
  end,
}
