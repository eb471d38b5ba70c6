-- rows.lua: each row of the paper table differs from its parent only in what
-- the paper says (HDiT paper Table 1/5), for every preset.
local check = dofile(arg[0]:match("(.*/)") .. "../lua/check.lua")
local dk = require "diffkit"
local paper = dk.paper
local E = dk.experiment

-- Leaves (config_text paths, as Lua patterns) each row may change.
local ALLOWED = {
  R2 = { "^model%.opts%.learn_sigma$", "^precond%.", "^train_sigma%.", "^ema%.", "^hflip$", "^clip_norm$",
         "^stratified$", "^sample%." },
  R3 = { "^model%.", "^precond%.", "^optim%." },
  R4 = { "^precond%.opts%.weighting$" },
  A  = { "^model%.opts%.widths", "^model%.opts%.depths", "^model%.opts%.d_head", "^model%.opts%.kernel",
         "^model%.opts%.window", "^model%.opts%.attn%.%[2%]$", "^model%.opts%.d_ffs" },
  B1 = { "^model%.opts%.attn%.%[1%]$" },
  B2 = { "^model%.opts%.attn%.%[1%]$" },
  C  = { "^model%.opts%.ffn$" },
  D  = { "^model%.opts%.pos$" },
  E  = { "^precond%.opts%.weighting$" },
  E2 = { "^precond%.opts%.weighting$", "^precond%.opts%.gamma$" },
  E3 = { "^precond%.opts%.weighting$", "^precond%.opts%.gamma$" },
  F1 = { "^model%.opts%.skip$" },
  F2 = { "^model%.opts%.skip$" },
  G  = { "^model%.opts%.norm$" },
  H  = { "^model%.opts%.ffn$", "^model%.opts%.out_gate$" },
}
-- What each row MUST change (the paper's step), as exact "path = value" lines.
local MUST = {
  R4 = { 'precond.opts.weighting = "soft-min-snr"' },
  B1 = { 'model.opts.attn.[1] = "shifted-window"' },
  B2 = { 'model.opts.attn.[1] = "neighborhood"' },
  C  = { 'model.opts.ffn = "geglu"' },
  D  = { 'model.opts.pos = "rope"' },
  E  = { 'precond.opts.weighting = "soft-min-snr"' },
  E2 = { 'precond.opts.gamma = 5' },
  E3 = { 'precond.opts.gamma = 4' },
  F1 = { 'model.opts.skip = "concat"' },
  F2 = { 'model.opts.skip = "add"' },
  G  = { 'model.opts.norm = "adaln"' },
  H  = { 'model.opts.ffn = "gelu"', 'model.opts.out_gate = true' },
  R2 = { 'precond.name = "ddpm_eps"', 'model.opts.learn_sigma = false' },
  R3 = { 'model.name = "hdit"', 'precond.name = "edm"', 'precond.opts.weighting = "snr"' },
  A  = { 'model.opts.attn.[1] = "global"', 'model.opts.attn.[2] = "global"' },
}

paper._dir = arg[0]:match("(.*/)") .. "../../experiments"
for _, preset in ipairs { "paper", "mini", "study", "tiny" } do
  for _, id in ipairs(paper.ORDER) do
    local d = paper.def(id)
    local cfg = paper.config(id, preset)
    check.eq(cfg.name, id, "row name")
    if d.parent then
      local pt = E.config_text(paper.config(d.parent, preset))
      local rt = E.config_text(cfg)
      local changed = 0
      for _, line in ipairs(E.config_diff(pt, rt)) do
        local path = line:match("^[-+] (.-) = ")
        if path ~= "name" then
          local ok = false
          for _, pat in ipairs(ALLOWED[id]) do ok = ok or path:find(pat) ~= nil end
          check.ok(ok, ("%s/%s: %s changes '%s', which the paper's step does not"):format(preset, id, d.parent, path))
          changed = changed + 1
        end
      end
      check.ok(changed > 0, ("%s/%s differs from its parent %s"):format(preset, id, d.parent))
      for _, want in ipairs(MUST[id] or {}) do
        check.ok(("\n" .. rt):find("\n" .. want .. "\n", 1, true) ~= nil, ("%s/%s must have: %s"):format(preset, id, want))
      end
    end
  end
end
-- The lineage of E is the paper's chain.
check.eq(table.concat(paper.lineage("E"), ">"), "R1>R2>R3>A>B2>C>D>E", "E's lineage")
check.eq(table.concat(paper.lineage("H"), ">"), "R1>R2>R3>A>B2>C>D>E>G>H", "H's lineage")
-- Every experiment table is valid (keys checked by dk.experiment).
for _, id in ipairs(paper.ORDER) do dk.experiment(paper.config(id, "mini")) end
check.finish()
