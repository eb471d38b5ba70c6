#!/bin/sh
# fuzz.sh: builds one libFuzzer harness of tests/fuzz/ with clang
# (-fsanitize=fuzzer,address,undefined, in build-fuzz/) and runs it on its
# saved corpus, then merges the inputs that found new coverage back into
# tests/fuzz/corpus/NAME/ (libFuzzer -merge=1 from scratch, counting edges
# only (-use_counters=0), so the saved corpus stays a small covering set;
# hand-made seed-* and regress-* files are always kept).
#
# usage: tools/fuzz.sh NAME [SECONDS | -runs=N] [libFuzzer options...]
#   NAME     safetensors, idx, png, checkpoint, options, ... (tests/fuzz/fuzz_NAME.c)
#   SECONDS  run time (default 60); -runs=N: exactly N executions instead
# Environment: DIFFKIT_FUZZ_BUILD (default build-fuzz), JOBS (build jobs, 2).
# A crash, leak, timeout (-timeout=10 s) or out-of-memory (-rss_limit_mb=2048)
# stops the run: the input is saved as build-fuzz/fuzz-artifacts/NAME/crash-*
# (or leak-, timeout-, oom-) and the script exits non-zero without merging.
# Reproduce with build-fuzz/tests/fuzz_NAME FILE. Needs clang (Debian's clang
# package ships libFuzzer); the default build and tests do not.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
if [ $# -lt 1 ]; then
  sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
name=$1
shift
limit="-max_total_time=60"
if [ $# -ge 1 ]; then
  case $1 in
    -runs=*) limit=$1; shift ;;
    *[!0-9]*) ;;
    *) limit="-max_total_time=$1"; shift ;;
  esac
fi
harness="$root/tests/fuzz/fuzz_$name.c"
corpus="$root/tests/fuzz/corpus/$name"
[ -f "$harness" ] || { echo "fuzz.sh: no harness $harness" >&2; exit 2; }
command -v clang >/dev/null || { echo "fuzz.sh: clang is missing: apt-get install -y clang" >&2; exit 1; }
build=${DIFFKIT_FUZZ_BUILD:-$root/build-fuzz}
case $build in /*) ;; *) build="$root/$build" ;; esac

if [ ! -f "$build/CMakeCache.txt" ]; then
  CC=clang cmake -S "$root" -B "$build" -DDIFFKIT_FUZZ=ON -DDIFFKIT_CUDA=OFF -DDIFFKIT_NATIVE=OFF >/dev/null
fi
nice -n 10 cmake --build "$build" --target "fuzz_$name" -j"${JOBS:-2}"
bin="$build/tests/fuzz_$name"

work="$build/fuzz-work/$name"
artifacts="$build/fuzz-artifacts/$name"
mkdir -p "$corpus" "$work" "$artifacts"
dict=""
[ -f "$root/tests/fuzz/$name.dict" ] && dict="-dict=$root/tests/fuzz/$name.dict"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

# new inputs go to $work; the saved corpus is read only here
nice -n 10 "$bin" $limit -timeout=10 -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 \
  -artifact_prefix="$artifacts/" $dict "$@" "$work" "$corpus"

# a minimal set covering everything seen, then the hand-made files back on top
merged="$build/fuzz-merge/$name"
rm -rf "$merged"
mkdir -p "$merged"
nice -n 10 "$bin" -merge=1 -use_counters=0 -timeout=10 -rss_limit_mb=2048 "$merged" "$corpus" "$work" 2>"$build/fuzz-merge-$name.log" ||
  { tail -20 "$build/fuzz-merge-$name.log" >&2; exit 1; }
for f in "$corpus"/seed-* "$corpus"/regress-*; do
  [ -f "$f" ] && cp "$f" "$merged/"
done
# drop merged copies of the hand-made files (libFuzzer names files by SHA-1)
for f in "$merged"/seed-* "$merged"/regress-*; do
  [ -f "$f" ] || continue
  sum=$(sha1sum "$f" | cut -d' ' -f1)
  rm -f "$merged/$sum"
done
rm -rf "$corpus"
mv "$merged" "$corpus"
echo "fuzz.sh: corpus $corpus: $(ls "$corpus" | wc -l) files, $(du -sb "$corpus" | cut -f1) bytes"
