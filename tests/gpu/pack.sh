#!/bin/sh
# tests/gpu/pack.sh: builds diffkit for a GPU machine that lacks the Lua and
# OpenBLAS development packages (the lent H200 has nvcc, CMake and PyTorch
# only) and packs what tests/gpu/run.sh needs into .gpu/ (ignored by git):
# the build folder (portable AVX2 code, sm_90 kernels) and the shared
# libraries from outside the base system that its programs load.
# MPI is left out (DIFFKIT_MPI=OFF): the GPU machine has no OpenMPI, and
# libdiffkit would not load without libmpi; NCCL is loaded at run time
# (dlopen), so tests/dist/nccl.lua runs there when PyTorch's libnccl is found.
#   tests/gpu/pack.sh [CUDA_ARCH (90)]
set -eu
cd "$(dirname "$0")/../.."
arch="${1:-90}"
cmake -S . -B build-gpu -DDIFFKIT_WERROR=ON -DDIFFKIT_CUDA=ON -DDIFFKIT_NATIVE=OFF -DDIFFKIT_MPI=OFF \
  -DCMAKE_C_FLAGS=-march=x86-64-v3 -DCMAKE_CUDA_ARCHITECTURES="$arch" >/dev/null
cmake --build build-gpu -j"$(nproc)"
mkdir -p .gpu/lib
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
for so in liblua5.4.so.0 libopenblas.so.0 libgfortran.so.5 libquadmath.so.0; do
  p=$(ldd build-gpu/diffkit build-gpu/core/libdiffkit.so | awk -v n="$so" '$1 == n {print $3; exit}')
  [ -n "$p" ] && cp -L "$p" .gpu/lib/"$so"
done
tar -C .gpu -cJf .gpu/lib.tar.xz lib && rm -rf .gpu/lib
tar -cJf .gpu/build.tar.xz --exclude='*.o' --exclude='CMakeFiles/*.dir' build-gpu
du -sh .gpu/*
