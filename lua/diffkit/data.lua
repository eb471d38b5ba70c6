-- diffkit/data.lua: dataset specs for experiment tables.
--   dk.data.fashion_mnist { split = "train", pad = 2 }   -- Debian dataset-fashion-mnist
--   dk.data.image_folder { path = "...", size = 64, channels = 3 }
--   dk.data.idx { images = "...", labels = "...", pad = 0 }
-- Each returns a plain table; the experiment opens the dataset when it runs
-- (dk.dataset(spec) opens one directly).
local M = {}
for _, kind in ipairs { "fashion_mnist", "image_folder", "idx" } do
  M[kind] = function(opts)
    if opts ~= nil and type(opts) ~= "table" then error("dk.data." .. kind .. ": expected a table of options", 2) end
    local t = { kind }
    for k, v in pairs(opts or {}) do t[k] = v end
    return t
  end
end
return M
