-- disk_full.lua: a run folder on a small tmpfs that fills up
-- (docs/reliability.md, "Atomic writes"). Needs mount (root); skips (77)
-- where it is not permitted. The tmpfs is unmounted in all cases.
--  1. full disk: dk.write_atomic fails with a clear message and leaves the
--     file as it was; a sample grid fails and leaves no truncated PNG; a resume fails with a clear message (no traceback) and
--     leaves config.txt, latest, the checkpoint and log.csv byte-identical.
--  2. room for a few log rows but not a checkpoint: the save fails, `latest`
--     and the last checkpoint stay intact, no temp file is left.
--  3. a log append that fails stops training with a clear message.
--  4. with space freed, resuming ends with a log of steps 1..N once each.
package.path = arg[0]:match("(.*/)") .. "?.lua;" .. package.path
local check = dofile(arg[0]:match("(.*/)") .. "../lua/check.lua")
local common = require "common"
local dk = require "diffkit"
common.need_fashion_mnist()

local mnt = (os.getenv("DK_TEST_TMP") or "/tmp") .. "/diffkit-diskfull-mnt"
local function sh(cmd) return os.execute(cmd) == true end
sh(("mountpoint -q '%s' && umount '%s'"):format(mnt, mnt)) -- left over by an interrupted earlier run
sh(("mkdir -p '%s'"):format(mnt))
if not sh(("mount -t tmpfs -o size=8m tmpfs '%s' 2>/dev/null"):format(mnt)) then
  print("cannot mount a tmpfs here (needs root, or CAP_SYS_ADMIN): skipped")
  os.exit(77)
end

local run = mnt .. "/run"
local FILES = { "config.txt", "latest", "ckpt_00000010.safetensors", "log.csv" }
local function snapshot()
  local s = {}
  for _, f in ipairs(FILES) do s[f] = check.slurp(run .. "/" .. f) end
  return s
end
local function same_files(before, what)
  for _, f in ipairs(FILES) do
    check.ok(before[f] ~= nil and check.slurp(run .. "/" .. f) == before[f], what .. ": " .. f .. " is byte-identical")
  end
  local tmp = io.popen(("ls -a '%s' | grep -c '\\.tmp'"):format(run)):read("a")
  check.eq(tonumber(tmp), 0, what .. ": no temporary file is left")
  check.ok(check.slurp(run .. "/lock") == nil, what .. ": no lock is left")
end
local function fill(keep_bytes)
  os.remove(mnt .. "/fill")
  sh(("dd if=/dev/zero of='%s/fill' bs=4096 2>/dev/null"):format(mnt)) -- until the disk is full
  if keep_bytes > 0 then sh(("truncate -s -%d '%s/fill'"):format(keep_bytes, mnt)) end
end
local function exp() return dk.experiment(common.base { steps = 10 }) end

local ok, err = pcall(function()
  exp():train { out = run, log_every = 1, checkpoint_every = 5, quiet = true }
  local before = snapshot()
  check.ok(before["ckpt_00000010.safetensors"] and #before["ckpt_00000010.safetensors"] > 500000, "a checkpoint of ~0.9 MB")

  -- 1. the disk is full
  fill(0)
  local w, msg = dk.write_atomic(run .. "/config.txt", "something else\n")
  check.eq(w, nil, "write_atomic fails on a full disk")
  check.eq(msg, ("writing %s/config.txt: No space left on device (writing the temporary file): the previous file is "
    .. "unchanged; free disk space and resume"):format(run), "write_atomic's message")
  local g = check.raises(function() exp():sample { n = 2, steps = 2, out = run .. "/grid.png" } end,
    ("writing %s/grid.png: No space left on device"):format(run), "a sample grid on a full disk")
  print(g)
  check.ok(check.slurp(run .. "/grid.png") == nil, "no truncated grid is left")
  local e = check.raises(function() exp():train { out = run, steps = 20, log_every = 1, checkpoint_every = 5, quiet = true } end,
    "No space left on device", "resume on a full disk")
  print(e)
  check.ok(e and e:find("free disk space and resume", 1, true) ~= nil, "says what to do")
  same_files(before, "full disk")

  -- 2. room for the lock and a few log rows, not for a checkpoint
  fill(3 * 4096)
  e = check.raises(function() exp():train { out = run, steps = 20, log_every = 1, checkpoint_every = 5, quiet = true } end,
    "saving the checkpoint of step 15 failed", "a checkpoint that does not fit")
  print(e)
  check.ok(e and e:find("No space left on device", 1, true) ~= nil, "names the cause")
  check.ok(e and e:find(("the last good checkpoint is still %s/ckpt_00000010.safetensors, unchanged"):format(run), 1, true) ~= nil,
    "names the intact checkpoint")
  before.log = nil
  local saved_log = before["log.csv"]
  before["log.csv"] = check.slurp(run .. "/log.csv") -- rows 11..15 were appended
  same_files(before, "failed checkpoint")
  before["log.csv"] = saved_log

  -- 3. space freed: the resume drops rows 11..15 and reaches step 20 once
  os.remove(mnt .. "/fill")
  local st = exp():train { out = run, steps = 20, log_every = 1, checkpoint_every = 5, quiet = true }
  check.eq(st and st.step, 20, "resumed to step 20")
  local good, why = common.log_is_1_to(common.read(run .. "/log.csv"), 20)
  check.ok(good, "log.csv holds steps 1..20 once each: " .. tostring(why))

  -- 4. one free page: the lock takes it, then a log append fails at the log's next page
  fill(4096)
  e = check.raises(function() exp():train { out = run, steps = 400, log_every = 1, checkpoint_every = 1000, quiet = true } end,
    ("writing %s/log.csv: No space left on device: training stopped at step "):format(run), "a failed log append")
  print(e)
  check.ok(e and e:find(("the last good checkpoint is %s/ckpt_00000020.safetensors, unchanged"):format(run), 1, true) ~= nil,
    "names the intact checkpoint")
  check.eq(common.read(run .. "/latest"):gsub("%s+$", ""), "ckpt_00000020.safetensors", "latest unchanged")
  os.remove(mnt .. "/fill")
  st = exp():train { out = run, steps = 25, log_every = 1, checkpoint_every = 5, quiet = true }
  good, why = common.log_is_1_to(common.read(run .. "/log.csv"), 25)
  check.ok(good, "after the failed append, log.csv holds steps 1..25 once each: " .. tostring(why))
end)
collectgarbage() -- close any file the failed runs left open before unmounting
if not sh(("umount '%s'"):format(mnt)) then sh(("umount -l '%s'"):format(mnt)) end
if not ok then error(err, 0) end
check.finish()
