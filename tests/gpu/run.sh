#!/bin/sh
# tests/gpu/run.sh: every GPU check and the GPU benchmark in one run, for a
# machine with an NVIDIA GPU (docs/cuda.md). Logs go to $OUT (default
# gpu-out/): ctest.log, bench.txt, nvidia-smi.txt.
#  - With .gpu/build.tar.xz (made by tests/gpu/pack.sh on a machine with the
#    Debian packages), unpacks it and its libraries; else builds in build-gpu.
#  - ctest -L cuda: unit.cuda_device, unit.cuda_ops_core, unit.cuda_ops_attn
#    (every CUDA kernel against the CPU kernel, F32 and F64) and
#    unit.cuda_models (dit and hdit forward + backward, GPU against CPU).
#  - bench/gpu/run: diffkit against PyTorch on the same GPU.
set -u
cd "$(dirname "$0")/../.."
root=$(pwd)
OUT="${OUT:-$root/gpu-out}"
mkdir -p "$OUT"
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || true
if [ -f .gpu/build.tar.xz ]; then
  tar -xJf .gpu/build.tar.xz && tar -C .gpu -xJf .gpu/lib.tar.xz || exit 1
  export LD_LIBRARY_PATH="$root/.gpu/lib:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  # CTest files name the source folder they were configured in: make it exist here
  src=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' build-gpu/CMakeCache.txt)
  if [ -n "$src" ] && [ "$src" != "$root" ] && [ ! -e "$src" ]; then
    mkdir -p "$(dirname "$src")" && ln -s "$root" "$src"
  fi
else
  cmake -S . -B build-gpu -DDIFFKIT_WERROR=ON -DDIFFKIT_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=native >/dev/null &&
    cmake --build build-gpu -j"$(nproc)" > "$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log"; exit 1; }
fi
rc=0
(cd build-gpu && ctest -L cuda --output-on-failure --timeout 300) > "$OUT/ctest.log" 2>&1 || rc=1
tail -60 "$OUT/ctest.log"
if [ "${SKIP_BENCH:-0}" != 1 ]; then
  BUILD="$root/build-gpu" sh bench/gpu/run > "$OUT/bench.txt" 2>&1 || rc=1
  cat "$OUT/bench.txt"
fi
exit $rc
