#!/usr/bin/env bash
# bench/inception.sh: the FID Inception (docs/interop.md), diffkit vs
# PyTorch 1.13 (Debian, CPU) on this machine in the same run, batch 50,
# 3x32x32 images resized to 299x299. Not a test.
#   bench/inception.sh        env: BATCH (50), REPS (2), THREADS (2), BUILD (build)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BATCH="${BATCH:-50}"; REPS="${REPS:-2}"; THREADS="${THREADS:-2}"; BUILD="${BUILD:-$ROOT/build}"
export OMP_NUM_THREADS="$THREADS"
if [ -z "${OMP_WAIT_POLICY:-}" ] && [ -z "${GOMP_SPINCOUNT:-}" ]; then export GOMP_SPINCOUNT=1000; fi
cmake --build "$BUILD" -j2 --target diffkit >/dev/null
cc -O2 -march=native -o "$BUILD/inception_bench" "$ROOT/bench/inception_bench.c" -I"$ROOT/core/include" \
  -L"$BUILD/core" -Wl,-rpath,"$BUILD/core" -ldiffkit -lm
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(getconf _NPROCESSORS_ONLN) cores, $THREADS threads, batch $BATCH"
echo "load average before diffkit: $(cut -d' ' -f1-3 /proc/loadavg)"
"$BUILD/inception_bench" "$BATCH" "$REPS"
echo "load average before torch:   $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 "$ROOT/bench/inception_torch.py" "$BATCH" "$REPS" "$THREADS"
echo "load average after:          $(cut -d' ' -f1-3 /proc/loadavg)"
