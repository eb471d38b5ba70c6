-- dist_common.lua: helpers of the data-parallel tests (tests/dist.cmake).
package.path = arg[0]:match("(.*/)") .. "../train/?.lua;" .. package.path
local common = require "common"
local dk = require "diffkit"
local M = { common = common }

M.here = arg[0]:match("(.*/)") or "./"
M.cli = os.getenv("DK_CLI") or "diffkit"

-- Skip (exit 77) with the reason when MPI cannot run the test here.
function M.need_mpi()
  common.need_fashion_mnist()
  if not dk.dist.built() then
    print("this diffkit was built without MPI (DIFFKIT_MPI=OFF or libopenmpi-dev missing; tools/install-deps.sh installs it): skipped")
    os.exit(77)
  end
  if not os.execute("command -v mpirun >/dev/null 2>&1") then
    print("mpirun is not installed (apt-get install openmpi-bin; tools/install-deps.sh installs it): skipped")
    os.exit(77)
  end
end

local function sh(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("a")
  local _, _, code = p:close()
  return out, code
end
M.sh = sh

-- mpirun -np N of the diffkit binary with args; one OpenMP thread per rank
-- (the test machine has 2 cores). np = 0: one plain process, no mpirun.
-- env: optional { NAME = value } exported to every rank.
-- Under mpirun, LeakSanitizer (DIFFKIT_SANITIZE builds) is off in the ranks:
-- OpenMPI's own allocations at MPI_Init (libmpi, libopen-pal, hwloc and its
-- dlclosed MCA components) are reported as leaks at exit. Address and UB
-- checks stay on; the single-process runs keep leak detection.
function M.run(np, args, env)
  local pre, xs = "OMP_NUM_THREADS=1", " -x OMP_NUM_THREADS"
  if np > 0 then
    local asan = os.getenv("ASAN_OPTIONS")
    env = env or {}
    env.ASAN_OPTIONS = (asan and asan ~= "" and (asan .. ":") or "") .. "detect_leaks=0"
  end
  for k, v in pairs(env or {}) do pre, xs = pre .. (" %s='%s'"):format(k, v), xs .. " -x " .. k end
  local cmd
  if np == 0 then
    cmd = ("%s '%s' %s"):format(pre, M.cli, args)
  else
    cmd = ("%s mpirun --allow-run-as-root --oversubscribe -np %d%s '%s' %s"):format(pre, np, xs, M.cli, args)
  end
  local out, code = sh(cmd)
  if code ~= 0 then io.stderr:write(cmd, "\n", out, "\n") end
  return out, code
end

-- Trains the tiny DiT (worker.lua) in folder dir: np ranks (0: no mpirun).
function M.train(np, dir, batch, accum, steps, every, env)
  return M.run(np, ("run '%sworker.lua' '%s' %d %d %d %d"):format(M.here, dir, batch, accum, steps, every or 0), env)
end

-- Largest relative difference of the latest checkpoints of two run folders.
function M.compare(a, b)
  local out = sh(("'%s' run '%scompare.lua' '%s' '%s' 1"):format(M.cli, M.here, a, b))
  local rel = tonumber(out:match("relative difference (%S+)"))
  if not rel then io.stderr:write(out) end
  return rel or math.huge, out:gsub("%s+$", "")
end

function M.tmpdir(name) return common.tmpdir("dist-" .. name) end

return M
