#!/bin/sh
# r2_study_tiny.sh DIFFKIT SRC TMP: `diffkit run experiments/r2_study.lua
# --preset tiny --seeds 1,2` end to end (CI): every row of the study trained
# per seed with learning curves, the results written into a copy of
# docs/r2.md; a second run reuses every finished row and trains nothing.
set -eu
dk="$1"; src="$2"; tmp="$3"
rm -rf "$tmp" && mkdir -p "$tmp/docs"
cp "$src/docs/r2.md" "$tmp/docs/r2.md"
"$dk" run "$src/experiments/r2_study.lua" --preset tiny --seeds 1,2 --out "$tmp/runs" --results "$tmp/results" --doc "$tmp/docs/r2.md"
"$dk" run "$src/tests/paper/check_r2_study.lua" "$tmp"
# resumed: every row reused
out=$("$dk" run "$src/experiments/r2_study.lua" --preset tiny --seeds 1,2 --out "$tmp/runs" --results "$tmp/results" --doc "$tmp/docs/r2.md" 2>&1)
n=$(printf '%s\n' "$out" | grep -c "finished earlier" || true)
printf '%s\n' "$out" | tail -3
[ "$n" -eq 24 ] || { echo "FAIL: the second run reused $n of 24 runs"; exit 1; }
echo ok
