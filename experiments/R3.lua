-- R3: R2 + our basic blocks & mapping network (HDiT paper Table 1, row R3; FID 42.49).
-- HDiT's transformer blocks and mapping network in DiT-B's exact shape: one
-- level of global attention (d_head 64), GELU feed-forward (4x), fixed additive
-- sin-cos positions, AdaRMSNorm, cosine-similarity attention, no biases; the
-- EDM preconditioner (sigma_data 0.5) with "snr" weighting and the HDiT
-- trainer's AdamW (lr 5e-4, betas 0.9/0.95, wd 1e-2). HDiT, Table 1 (R3).
local dk = require "diffkit"
return dk.paper.row {
  id = "R3", parent = "R2", description = "R2 + Our Basic Blocks & Mapping Network", paper_fid = 42.49, paper_gflop = 106,
  change = function(P)
    return {
      model = dk.model("hdit", dk.extend(P.single, { num_classes = P.classes, attn = { "global" }, ffn = "gelu",
                                                     pos = "additive", norm = "adarmsnorm", skip = "lerp" })),
      precond = dk.precond("edm", { sigma_data = 0.5, weighting = "snr" }),
      optim = { "adamw", lr = 5e-4, betas = { 0.9, 0.95 }, eps = 1e-8, weight_decay = 1e-2 },
    }
  end,
}
