#!/bin/sh
# tiny_table.sh DIFFKIT TMPDIR: runs the whole paper table with the tiny preset
# (train, sample, evaluate every row) and checks that every row has numeric
# metrics, a grid and a chart. The CI smoke test of issue 6.
set -eu
dk="$1"; tmp="$2"; src="$(cd "$(dirname "$0")/../.." && pwd)"
rm -rf "$tmp" && mkdir -p "$tmp"
"$dk" run "$src/experiments/paper_table.lua" --preset tiny --out "$tmp/runs" --results "$tmp/results"
"$dk" run "$src/tests/paper/check_table.lua" "$tmp/results" tiny
