-- run_lock.lua: two processes on one run folder, then kill -9 and resume
-- (docs/reliability.md, "Run-folder lock" and "Resume after a crash").
--  1. A training process runs in the background; a second one on the same
--     folder (same config) is refused, naming the holder's pid and host, and
--     writes nothing there (in this process and through `diffkit run`: exit 1,
--     no traceback).
--  2. kill -9 of the first, mid-run: the resume takes over its stale lock,
--     removes the temporary files of dead processes (and keeps those of live
--     ones), drops the log rows written after the last checkpoint, and ends
--     with a log of steps 1..N once each.
package.path = arg[0]:match("(.*/)") .. "?.lua;" .. package.path
local check = dofile(arg[0]:match("(.*/)") .. "../lua/check.lua")
local common = require "common"
local dk = require "diffkit"
common.need_fashion_mnist()

local out = common.tmpdir("lock")
local pidfile = out .. ".pid"
local EVERY = 10
os.remove(pidfile)
-- the subshell waits for the child, so a killed child is reaped (no zombie)
os.execute(("( '%s' run '%schild.lua' '%s' 1000000 %d > '%s.log' 2>&1 & echo $! > '%s'; wait ) >/dev/null 2>&1 &")
  :format(os.getenv("DK_CLI"), common.here, out, EVERY, out, pidfile))

local function sleep(s) os.execute("sleep " .. s) end
local function alive(pid) return os.execute("kill -0 " .. pid .. " 2>/dev/null") == true end
local function latest_step()
  local l = check.slurp(out .. "/latest")
  return l and tonumber(l:match("(%d+)")) or nil
end
local function last_row()
  local s = common.log_steps(check.slurp(out .. "/log.csv") or "")
  return s[#s] or 0
end

local pid
local ok, err = pcall(function()
  -- wait for the child (up to 2 minutes on a loaded machine): its pid, a
  -- checkpoint, and rows logged after it, mid-way to the next checkpoint
  local function wait_midway()
    local t0 = os.time()
    while os.time() - t0 < 120 do
      pid = pid or tonumber((check.slurp(pidfile) or ""):match("%d+"))
      local r = last_row()
      if pid and latest_step() and r % EVERY >= 3 and r % EVERY <= 7 then return end
      sleep(0.02)
    end
  end
  wait_midway()
  check.ok(pid and alive(pid), "the first process runs")
  check.ok(latest_step() ~= nil, "it has written a checkpoint")
  local held = check.slurp(out .. "/lock") or ""
  print("lock: " .. held)
  check.ok(held:find("pid " .. tostring(pid) .. " host " .. dk.hostname(), 1, true) == 1, "the lock names the holder")

  -- 1. a second trainer on the same folder with the same config (train's
  -- steps = 1: were it not refused, it would do nothing rather than interleave)
  local e = check.raises(function()
    dk.experiment(common.base { steps = 1000000 }):train { out = out, steps = 1, quiet = true }
  end, ("run folder %s is in use by pid %d on host %s (started "):format(out, pid, dk.hostname()))
  check.ok(e and e:find("; wait for it or use another folder", 1, true) ~= nil, "says what to do: " .. tostring(e))
  local msg, code = common.cli(("run '%schild.lua' '%s' 1"):format(common.here, out))
  print(msg)
  check.eq(code, 1, "the second process exits 1")
  check.ok(msg:find("is in use by pid " .. pid .. " on host ", 1, true) ~= nil, "names the holder")
  check.ok(msg:find("traceback", 1, true) == nil, "no traceback")
  check.ok(alive(pid), "the first process still runs")

  -- 2. kill -9 mid-run
  wait_midway()
  os.execute("kill -9 " .. pid)
  for _ = 1, 600 do if not alive(pid) then break end sleep(0.05) end
  check.ok(not alive(pid), "the first process is gone")
  local L, M = latest_step(), last_row()
  print(("killed pid %d at log step %d, checkpoint step %d"):format(pid, M, L))
  -- (almost always: the kill came mid-way between checkpoints, unless the
  -- machine stalled the test between its last look and the kill)
  if M <= L then print("note: killed right after a checkpoint; no rows to drop this time") end
  -- leftovers: a temp file of the dead process (as kill -9 mid-save leaves) and one of a live process (pid 1)
  local f = assert(io.open(("%s/ckpt_%08d.safetensors.tmp.%d"):format(out, L + EVERY, pid), "wb"))
  f:write(string.rep("x", 100000)) f:close()
  f = assert(io.open(out .. "/other.tmp.1", "wb")) f:write("live") f:close()
  msg, code = common.cli(("run '%schild.lua' '%s' %d %d"):format(common.here, out, L + 10, EVERY))
  print(msg)
  check.eq(code, 0, "the resume runs")
  check.ok(msg:find(("took over the lock of pid %d on host %s"):format(pid, dk.hostname()), 1, true) ~= nil,
    "warns that it took over the stale lock")
  check.ok(msg:find("removed %d+ temporary files? of processes that are gone") ~= nil, "reports the removed temp files")
  if M > L then
    check.ok(msg:find(("dropped %d rows? logged after step %d"):format(M - L, L)) ~= nil, "reports the dropped rows")
  end
  local left = io.popen(("ls '%s' | grep -c '\\.tmp\\.%d$'"):format(out, pid)):read("a")
  check.eq(tonumber(left), 0, "no temp file of the dead process is left")
  check.ok(check.slurp(out .. "/other.tmp.1") == "live", "a live process's temp file is kept")
  local good, why = common.log_is_1_to(common.read(out .. "/log.csv"), L + 10)
  check.ok(good, ("log.csv holds steps 1..%d once each: %s"):format(L + 10, tostring(why)))
  check.ok(check.slurp(out .. "/lock") == nil, "the lock is released at the end")
end)
if pid and alive(pid) then os.execute("kill -9 " .. pid) end
if not ok then error(err, 0) end
check.finish()
