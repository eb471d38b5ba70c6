-- check.lua: a tiny assertion library for the Lua tests (run by `diffkit run`).
-- Every check counts; check.finish() raises if any failed, so the script
-- exits 1 and CTest reports the failure lines printed before.
local check = { n = 0, failed = 0 }

local function where(level)
  local info = debug.getinfo(level + 1, "Sl")
  return (info and info.short_src or "?") .. ":" .. (info and info.currentline or 0)
end

local function fail(msg, level)
  check.failed = check.failed + 1
  io.stderr:write(where(level + 1), ": ", msg, "\n")
end

-- The whole file at path (binary), or nil if it cannot be opened.
function check.slurp(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

function check.ok(cond, msg)
  check.n = check.n + 1
  if not cond then fail("check failed: " .. (msg or "condition is false"), 2) end
end

function check.eq(got, want, msg)
  check.n = check.n + 1
  if got ~= want then
    fail(string.format("%s: got %s, want %s", msg or "eq", tostring(got), tostring(want)), 2)
  end
end

function check.near(got, want, tol, msg)
  check.n = check.n + 1
  if type(got) ~= "number" or math.abs(got - want) > tol then
    fail(string.format("%s: got %s, want %.17g (tol %g)", msg or "near", tostring(got), want, tol), 2)
  end
end

-- check.raises(fn, pattern): fn must raise an error whose message contains
-- pattern (plain text, not a Lua pattern). Returns the message.
function check.raises(fn, text, msg)
  check.n = check.n + 1
  local ok, err = pcall(fn)
  if ok then
    fail((msg or "raises") .. ": no error raised (wanted '" .. text .. "')", 2)
    return nil
  end
  err = tostring(err)
  if not err:find(text, 1, true) then
    fail((msg or "raises") .. ": error '" .. err .. "' lacks '" .. text .. "'", 2)
  end
  return err
end

-- Skips the test (exit 77) when Debian's dataset-fashion-mnist is missing
-- (DIFFKIT_FASHION_MNIST may point elsewhere).
function check.need_fashion_mnist()
  local f = io.open("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", "rb")
  if not f and not os.getenv("DIFFKIT_FASHION_MNIST") then
    print("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist): skipped")
    os.exit(77)
  end
  if f then f:close() end
end

function check.finish()
  print(string.format("%d checks, %d failed", check.n, check.failed))
  if check.failed > 0 then error(check.failed .. " checks failed", 0) end
end

return check
