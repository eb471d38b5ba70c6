#!/bin/sh
# bench/dist.sh: data-parallel throughput on this machine (docs/distributed.md):
# 1 process x 2 threads against 2 ranks x 1 thread, with the gradient sum
# overlapped with backward and not, for the DiT (width 256, depth 8, patch 4)
# and the mini HDiT E. REPS rounds (default 3), STEPS timed steps (default 6).
# Prints the RESULT / SUMBW lines of bench/dist.lua.
cd "$(dirname "$0")/.." || exit 1
B=${BUILD:-build}/diffkit
REPS=${REPS:-3}
STEPS=${STEPS:-6}
MPIRUN="mpirun -np 2 -x OMP_NUM_THREADS=1"
[ "$(id -u)" -eq 0 ] && MPIRUN="mpirun --allow-run-as-root -np 2 -x OMP_NUM_THREADS=1"
i=0
while [ $i -lt "$REPS" ]; do
  for c in dit_p4 hdit_E; do
    echo "# $c: 1 process x 2 threads"; OMP_NUM_THREADS=2 "$B" run bench/dist.lua $c "$STEPS" 1
    echo "# $c: 2 ranks x 1 thread, overlap on"; $MPIRUN "$B" run bench/dist.lua $c "$STEPS" 1
    echo "# $c: 2 ranks x 1 thread, overlap off"; $MPIRUN -x DIFFKIT_DIST_OVERLAP=0 "$B" run bench/dist.lua $c "$STEPS" 1
  done
  i=$((i + 1))
done
