-- diffkit/interop.lua: experiments from other people's checkpoints
-- (docs/interop.md).
--
--   local exp, about = interop.open(path, { key =, device =, dtype =, use_ema =, num_heads = })
--
-- path is one of
--   * a diffkit training checkpoint (ckpt_*.safetensors, or a run folder: its
--     `latest`): Experiment.from_checkpoint; EMA weights unless use_ema = false;
--   * a k-diffusion checkpoint: the .pth of train.py (config, model,
--     model_ema, ...) or the .safetensors of convert_for_inference.py (EMA
--     weights, config JSON in the metadata key "config"), for the HDiT model
--     (config model.type = image_transformer_v2);
--   * a facebookresearch/DiT checkpoint: the .pt of train.py (model, ema,
--     opt, args) or a bare state dict (DiT's released form), in pixel space
--     (the HDiT paper's R1).
-- The returned experiment samples with the source's own procedure (k-diffusion:
-- sample.py's LMS with 50 Karras steps; DiT: sample.py's 250 respaced DDPM
-- steps with learned variance) unless the caller overrides it.
local core = require "diffkit.core"
local spec = require "diffkit.spec"
local E = require "diffkit.experiment"

local M = {}

local function fail(fmt, ...) core.fail(fmt:format(...)) end

local function read_head(path, n)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read(n) or ""
  f:close()
  return s
end

local function is_dir(path)
  local f = io.open(path .. "/.", "rb")
  if f then f:close() return true end
  return false
end

-- "safetensors", "torch-zip", "torch-legacy" or nil, from the first bytes.
function M.file_kind(path)
  local h = read_head(path, 16)
  if not h then return nil end
  if h:sub(1, 4) == "PK\3\4" then return "torch-zip" end
  if h:sub(1, 1) == "\128" then return "torch-legacy" end -- a pickle (PROTO opcode)
  if #h >= 9 and h:sub(9, 9) == "{" then return "safetensors" end
  return nil
end

local function torch_load(path)
  if not core.torch_load then
    fail("%s: reading PyTorch checkpoints needs diffkit's torch reader (core.torch_load), which this build lacks", path)
  end
  return core.torch_load(path)
end

-- A strict JSON reader (RFC 8259) for the config of k-diffusion's
-- inference .safetensors: objects -> tables, arrays -> sequences, null -> nil
-- (kept as M.null inside arrays so positions hold). Errors name the byte.
M.null = setmetatable({}, { __tostring = function() return "null" end })

function M.json_decode(text, what)
  local pos = 1
  local function err(msg) fail("%s: invalid JSON at byte %d: %s", what, pos, msg) end
  local function ws() pos = text:find("[^ \t\r\n]", pos) or #text + 1 end
  local value
  local function str()
    local out, i = {}, pos + 1
    while true do
      local c = text:sub(i, i)
      if c == "" then pos = i err("unterminated string") end
      if c == '"' then pos = i + 1 return table.concat(out) end
      if c == "\\" then
        local e = text:sub(i + 1, i + 1)
        local map = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }
        if map[e] then out[#out + 1] = map[e]; i = i + 2
        elseif e == "u" then
          local h = text:sub(i + 2, i + 5)
          if not h:match("^%x%x%x%x$") then pos = i err("bad \\u escape") end
          out[#out + 1] = utf8.char(tonumber(h, 16)); i = i + 6
        else pos = i err("bad escape") end
      elseif c:byte() < 32 then pos = i err("control character in a string")
      else out[#out + 1] = c; i = i + 1 end
    end
  end
  function value(depth)
    if depth > 200 then err("nested too deeply") end
    ws()
    local c = text:sub(pos, pos)
    if c == "{" then
      local t = {}
      pos = pos + 1; ws()
      if text:sub(pos, pos) == "}" then pos = pos + 1 return t end
      while true do
        ws()
        if text:sub(pos, pos) ~= '"' then err("expected a key string") end
        local k = str(); ws()
        if text:sub(pos, pos) ~= ":" then err("expected ':'") end
        pos = pos + 1
        local v = value(depth + 1)
        if v ~= M.null then t[k] = v end
        ws()
        local d = text:sub(pos, pos); pos = pos + 1
        if d == "}" then return t end
        if d ~= "," then pos = pos - 1 err("expected ',' or '}'") end
      end
    elseif c == "[" then
      local t = {}
      pos = pos + 1; ws()
      if text:sub(pos, pos) == "]" then pos = pos + 1 return t end
      while true do
        t[#t + 1] = value(depth + 1); ws()
        local d = text:sub(pos, pos); pos = pos + 1
        if d == "]" then return t end
        if d ~= "," then pos = pos - 1 err("expected ',' or ']'") end
      end
    elseif c == '"' then return str()
    else
      local lit = text:match("^[%w%.%+%-]+", pos)
      if not lit then err("unexpected character '" .. c .. "'") end
      pos = pos + #lit
      if lit == "true" then return true elseif lit == "false" then return false elseif lit == "null" then return M.null end
      if not lit:match("^%-?%d+%.?%d*[eE]?[%+%-]?%d*$") then pos = pos - #lit err("bad literal '" .. lit .. "'") end
      return math.tointeger(tonumber(lit)) or tonumber(lit)
    end
  end
  local v = value(0)
  ws()
  if pos <= #text then err("trailing characters") end
  return v
end

-- ---- k-diffusion (image_transformer_v2 = HDiT) ------------------------------------

local function kd_list(v, n, what)
  if type(v) ~= "table" then return nil end
  if n and #v ~= n then fail("k-diffusion config: %s has %d entries for %d levels", what, #v, n) end
  return v
end

-- The diffkit experiment table of a k-diffusion config (k_diffusion.config
-- load_config defaults applied; make_model / make_denoiser_wrapper /
-- make_sample_density followed for image_transformer_v2).
function M.kdiffusion_config(config, class_rows, source)
  local m = config.model
  if type(m) ~= "table" then fail("%s: the k-diffusion config has no 'model' table", source) end
  if m.type ~= "image_transformer_v2" then
    fail("%s: k-diffusion model type '%s' is not supported: diffkit reads HDiT checkpoints (model.type = image_transformer_v2)",
      source, tostring(m.type))
  end
  local depths, widths = kd_list(m.depths, nil, "depths"), kd_list(m.widths, nil, "widths")
  if not depths or not widths or #depths ~= #widths or #depths == 0 then
    fail("%s: k-diffusion config: model.depths and model.widths must be lists of the same length", source)
  end
  local L = #depths
  local d_ffs = kd_list(m.d_ffs, L, "d_ffs") or {}
  if #d_ffs == 0 then for i = 1, L do d_ffs[i] = 3 * widths[i] end end
  local attns = kd_list(m.self_attns, L, "self_attns")
  if not attns then
    attns = {}
    for i = 1, L do attns[i] = i < L and { type = "neighborhood", d_head = 64, kernel_size = 7 } or { type = "global", d_head = 64 } end
  end
  local attn, d_head, kernel, window = {}, {}, {}, {}
  for i, a in ipairs(attns) do
    local t = a.type
    if t ~= "global" and t ~= "neighborhood" and t ~= "shifted-window" and t ~= "none" then
      fail("%s: k-diffusion self_attns[%d].type = '%s' is not supported (global, neighborhood, shifted-window, none)", source, i - 1, tostring(t))
    end
    attn[i], d_head[i] = t, a.d_head or 64
    kernel[i], window[i] = a.kernel_size or 7, a.window_size or 8
  end
  if (m.mapping_cond_dim or 0) ~= 0 then
    fail("%s: mapping_cond_dim = %s: extra mapping conditioning is not supported", source, tostring(m.mapping_cond_dim))
  end
  local size = m.input_size
  if type(size) ~= "table" then size = { size, size } end
  local patch = m.patch_size
  if type(patch) ~= "table" then patch = { patch, patch } end
  local ds = config.dataset or {}
  local classes = ds.num_classes or 0
  local mw = m.mapping_width or 256
  local opts = {
    image_size = { size[1], size[2] }, in_channels = m.input_channels or 3, patch = { patch[1], patch[2] },
    widths = widths, depths = depths, d_ffs = d_ffs, attn = attn, d_head = d_head, kernel = kernel, window = window,
    mapping_width = mw, mapping_depth = m.mapping_depth or 2, mapping_d_ff = m.mapping_d_ff or 3 * mw,
    num_classes = classes,
  }
  -- k-diffusion's make_model gives class_emb num_classes + 1 rows (the
  -- null class of classifier-free guidance); the weights tell which
  if classes > 0 and class_rows then opts.null_class = class_rows == classes + 1 end
  local sigma_data = m.sigma_data or 1
  local smin, smax = m.sigma_min or 1e-2, m.sigma_max or 80
  local weighting = m.loss_weighting or "karras"
  local wmap = { karras = "karras", ["soft-min-snr"] = "soft-min-snr", snr = "snr", ["min-snr"] = "min-snr" }
  if not wmap[weighting] then fail("%s: loss_weighting '%s' is not supported", source, tostring(weighting)) end
  local sd = m.sigma_sample_density or { type = "cosine-interpolated" }
  local image_d = (size[1] + size[2]) / 2
  local density
  if sd.type == "cosine-interpolated" then
    density = spec.schedule("cosine-interpolated", {
      image_d = image_d, noise_d_low = sd.noise_d_low or 32, noise_d_high = sd.noise_d_high or image_d,
      sigma_data = sigma_data, min_value = sd.min_value or math.min(smin, 1e-3), max_value = sd.max_value or math.max(smax, 1e3) })
  elseif sd.type == "lognormal" then
    density = spec.schedule("lognormal", { loc = sd.mean or sd.loc or -1.2, scale = sd.std or sd.scale or 1.2 })
  else
    fail("%s: sigma_sample_density '%s' is not supported (cosine-interpolated, lognormal)", source, tostring(sd.type))
  end
  local opt = config.optimizer or {}
  local ema = config.ema_sched or {}
  return {
    name = "k-diffusion", description = "k-diffusion image_transformer_v2 checkpoint (" .. source .. ")",
    seed = 0,
    data = { "k-diffusion dataset", type = ds.type, location = ds.location, num_classes = classes },
    model = spec.model("hdit", opts),
    precond = spec.precond("edm", { sigma_data = sigma_data, weighting = wmap[weighting] }),
    train_sigma = density,
    optim = { "adamw", lr = opt.lr or 5e-4, betas = opt.betas or { 0.9, 0.99 }, eps = opt.eps or 1e-8,
              weight_decay = opt.weight_decay or 1e-4 },
    ema = { power = ema.power or 0.6667, max = ema.max_value or 0.9999 },
    class_dropout = ds.cond_dropout_rate or 0.1, clip_norm = 1,
    -- k-diffusion's sample.py: sample_lms, 50 Karras steps (rho 7) from sigma_max to sigma_min
    sample = { sampler = spec.sampler("lms", {}), steps = 50,
               schedule = spec.schedule("karras", { sigma_min = smin, sigma_max = smax, rho = 7 }) },
  }
end

-- ---- facebookresearch/DiT (pixel space) -------------------------------------------

local DIT_HEADS = { [384] = 6, [768] = 12, [1024] = 16, [1152] = 16 } -- DiT-S, B, L, XL (models.py)

-- The diffkit experiment of a DiT state dict (names -> tensors), from the
-- shapes: x_embedder.proj.weight [D, C, p, p], pos_embed [1, T, D],
-- y_embedder.embedding_table.weight [K + 1, D], final_layer.linear.weight
-- [p*p*C_out, D], blocks.N.*; heads from args.model ("DiT-B/4") or D.
function M.dit_config(sd, args, o, source)
  local function shape(name)
    local t = sd[name]
    if not t then fail("%s: not a DiT state dict: it has no tensor '%s'", source, name) end
    return t:shape()
  end
  local xe, pe, fl = shape("x_embedder.proj.weight"), shape("pos_embed"), shape("final_layer.linear.weight")
  local D, C, p = xe[1], xe[2], xe[3]
  local grid = math.floor(math.sqrt(pe[2]) + 0.5)
  if grid * grid ~= pe[2] then fail("%s: pos_embed has %d tokens, not a square grid", source, pe[2]) end
  local depth = 0
  while sd["blocks." .. depth .. ".attn.qkv.weight"] do depth = depth + 1 end
  local c_out = fl[1] // (p * p)
  local learn_sigma = c_out == 2 * C
  if not learn_sigma and c_out ~= C then fail("%s: final_layer outputs %d channels for %d in", source, c_out, C) end
  local classes, dropout = 0, 0
  local ye = sd["y_embedder.embedding_table.weight"]
  if ye then
    local rows = ye:shape()[1]
    classes = (args and args.num_classes) or rows - 1
    dropout = rows == classes + 1 and 0.1 or 0
  end
  -- heads: --heads, else DiT's model table (models.py DiT_models) when the
  -- hidden size is one of its sizes (args.model names it in train.py checkpoints)
  local heads = o.num_heads or DIT_HEADS[D]
  if not heads then
    fail("%s: cannot tell DiT's number of attention heads for hidden size %d (not S/B/L/XL): give --heads N", source, D)
  end
  if C == 4 then
    fail("%s: a latent DiT (4 channels): its samples need the Stable Diffusion VAE decoder, which diffkit does not have; "
      .. "diffkit samples pixel-space DiT checkpoints (the HDiT paper's R1)", source)
  end
  return {
    name = "DiT", description = "facebookresearch/DiT checkpoint (" .. source .. ")", seed = 0,
    data = { "DiT dataset", num_classes = classes },
    model = spec.model("dit", { input_size = grid * p, patch_size = p, in_channels = C, hidden_size = D, depth = depth,
                                num_heads = heads, num_classes = classes, class_dropout_prob = dropout, learn_sigma = learn_sigma }),
    precond = learn_sigma and spec.precond("ddpm_learned_var", { betas = "linear", timesteps = 1000 })
      or spec.precond("ddpm_eps", { betas = "linear", timesteps = 1000 }),
    train_sigma = spec.schedule("ddpm-uniform-t", { betas = "linear", timesteps = 1000 }),
    optim = { "adamw", lr = 1e-4, betas = { 0.9, 0.999 }, eps = 1e-8, weight_decay = 0 },
    ema = { decay = 0.9999 }, class_dropout = dropout, hflip = true, clip_norm = 0, stratified = false,
    -- DiT's sample.py: 250 respaced steps of the 1000-step linear schedule, cfg 4
    sample = { sampler = spec.sampler("ddpm_ancestral", {}),
               schedule = spec.schedule("ddpm", { betas = "linear", timesteps = 1000, respacing = "250" }),
               steps = 250, cfg = classes > 0 and 4 or 1 },
  }
end

-- ---- loading weights ----------------------------------------------------------------

-- Copies the tensors of sd (name -> Tensor) into the model's parameters:
-- every parameter must be there with its shape; extra tensors are an error
-- too (a checkpoint of another configuration), listed by name.
local function load_state_dict(model, sd, source)
  local ok, e = pcall(core.load_state_dict, model, sd, source)
  if not ok then core.fail(tostring(e):gsub("^[^:]*:%d+: ", "")) end
  return e
end

local function pick_key(tree, key, keys, source)
  if key then
    if type(tree[key]) ~= "table" then
      local have = {}
      for k, v in pairs(tree) do if type(v) == "table" then have[#have + 1] = tostring(k) end end
      table.sort(have)
      fail("%s: no state dict under the key '%s' (it has: %s)", source, key, table.concat(have, ", "))
    end
    return tree[key], key
  end
  for _, k in ipairs(keys) do if type(tree[k]) == "table" then return tree[k], k end end
  return tree, nil
end

-- The data spec of `--data D` (diffkit eval): "fashion_mnist" (32x32, pad 2,
-- as the paper-table presets) or a folder of images at the model's size.
function M.data_spec(d, exp)
  local data = require "diffkit.data"
  if d == "fashion_mnist" or d == "fashion-mnist" then return data.fashion_mnist { split = "train", pad = 2 } end
  local fh = io.open(d .. "/.", "rb")
  if not fh then fail("--data '%s': neither fashion_mnist nor a folder of images", d) end
  fh:close()
  local info = core.model_info(exp:model())
  return data.image_folder { path = d, size = info.image_size, channels = info.in_channels }
end

-- A checkpoint from elsewhere names no dataset diffkit can read.
function M.check_data(exp, path)
  local d = exp.cfg.data
  if type(d) == "table" and type(d[1]) == "string" and d[1]:match(" dataset$") then
    fail("%s: the checkpoint does not name a dataset diffkit reads (it was trained on %s): give --data fashion_mnist or --data DIR",
      path, tostring(d.location or d.type or "an unknown dataset"))
  end
end

function M.open(path, o)
  o = o or {}
  local f = io.open(path, "rb")
  if not f and not is_dir(path) then fail("%s: no such file or folder", path) end
  if f then f:close() end
  if is_dir(path) then
    local l = read_head(path .. "/latest", 4096)
    if not l then fail("%s: a folder without a 'latest' file is not a run folder (give a checkpoint file)", path) end
    l = l:gsub("%s+$", "")
    path = l:sub(1, 1) == "/" and l or (path .. "/" .. l)
  end
  local kind = M.file_kind(path)
  local function finish(exp)
    if o.device then exp.cfg.device = o.device end
    if o.dtype then exp.cfg.dtype = o.dtype end
    return exp
  end
  if kind == "safetensors" then
    local meta = core.st_meta(path)
    if meta.config and meta.config:match("^%s*{") and meta.config:match('"model"') then
      -- k-diffusion convert_for_inference.py: EMA weights, config JSON in the metadata
      local config = M.json_decode(meta.config, path .. ": metadata 'config'")
      local sd = core.load(path)
      local ce = sd["class_emb.weight"]
      local exp = E(M.kdiffusion_config(config, ce and ce:shape()[1], path))
      finish(exp)
      load_state_dict(exp:model(), sd, path)
      return exp, ("k-diffusion inference checkpoint %s (EMA weights)"):format(path)
    end
    local exp = E.Experiment.from_checkpoint(path)
    finish(exp)
    return exp, ("diffkit checkpoint %s (step %s, %s weights)"):format(path, tostring(exp.checkpoint_step),
      o.use_ema == false and "raw" or "EMA")
  elseif kind == "torch-zip" or kind == "torch-legacy" then
    local tree = torch_load(path)
    if type(tree) ~= "table" then fail("%s: the file holds a %s, not a checkpoint dict", path, type(tree)) end
    if type(tree.config) == "table" and type(tree.config.model) == "table" then
      local sd, key = pick_key(tree, o.key, o.use_ema == false and { "model" } or { "model_ema", "model" }, path)
      local ce = sd["class_emb.weight"]
      local exp = E(M.kdiffusion_config(tree.config, ce and ce:shape()[1], path))
      finish(exp)
      load_state_dict(exp:model(), sd, path .. ":" .. tostring(key))
      return exp, ("k-diffusion checkpoint %s ('%s' weights, step %s)"):format(path, tostring(key), tostring(tree.step))
    end
    local sd, key = pick_key(tree, o.key, o.use_ema == false and { "model" } or { "ema", "model" }, path)
    local args = type(tree.args) == "table" and tree.args or nil
    local exp = E(M.dit_config(sd, args, o, path))
    finish(exp)
    load_state_dict(exp:model(), sd, key and (path .. ":" .. key) or path)
    return exp, ("DiT checkpoint %s (%s)"):format(path, key and ("'" .. key .. "' weights") or "state dict")
  end
  fail("%s: not a checkpoint diffkit reads: expected a diffkit or k-diffusion .safetensors, or a PyTorch .pt/.pth file", path)
end

return M
