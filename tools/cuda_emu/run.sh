#!/bin/sh
# run.sh: runs tests/unit/test_cuda_ops_core.c WITHOUT a GPU, with the CUDA
# kernel files of the core ops compiled as plain C++ (a check of their index
# arithmetic, the row-major-to-cuBLAS transcription of k_linear.cu, and the
# test itself; not of parallel execution, the block reductions, real cuBLAS,
# the allocator or the stream: run `ctest -L cuda` on a GPU for those).
#
# How: the kernel sources are copied with every `<<<...>>>` launch removed and
# NORM_THREADS set to 1, so each kernel is a function run by one thread of one
# block (grid-stride loops cover everything serially); inc/ stands in for
# cuda_runtime.h and cublas_v2.h (naive GEMM); emu_rt.cpp provides the stream,
# scratch and error functions and a backend whose tables hold the emulated
# kernels. ASan and UBSan are on, and every buffer is allocated to its exact
# size, so an out-of-bounds index fails.
#
# Usage: tools/cuda_emu/run.sh [build-dir]   (a configured, built tree: it
# links build-dir/core/libdiffkit.so and build-dir/tests/libdktest.a)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/src"
for f in "$root"/core/src/backend/cuda/cuda_common.cuh "$root"/core/src/backend/cuda/cuda_kutil.cuh \
         "$root"/core/src/backend/cuda/k_linear.cu "$root"/core/src/backend/cuda/k_elementwise.cu \
         "$root"/core/src/backend/cuda/k_reduce.cu "$root"/core/src/backend/cuda/k_norm.cu \
         "$root"/core/src/backend/cuda/k_embed.cu "$root"/core/src/backend/cuda/k_layout.cu \
         "$root"/core/src/backend/cuda/k_train.cu; do
    sed -e 's/<<<[^>]*>>>//g' -e 's/#define NORM_THREADS 256/#define NORM_THREADS 1/' "$f" > "$work/src/$(basename "$f")"
done
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
inc="-I$here/inc -I$work/src -I$root/core/src -I$root/core/include"
objs=""
for f in "$work"/src/k_*.cu "$here/emu_rt.cpp"; do
    o="$work/$(basename "$f").o"
    g++ -std=c++17 -O1 -g $san -x c++ $inc -w -c "$f" -o "$o"
    objs="$objs $o"
done
ren="-Ddk_backend_get=emu_backend_get -Ddk_cuda_describe=emu_describe -Ddk_cuda_set_tf32=emu_tf32"
ren="$ren -Ddk_cuda_memory_stats=emu_stats"
gcc -std=c11 -O1 -g $san $ren $inc -I"$root/tests/support" -c "$root/tests/unit/test_cuda_ops_core.c" -o "$work/test.o"
g++ $san -o "$work/emu_test" "$work/test.o" $objs "$build/tests/libdktest.a" -L"$build/core" -ldiffkit \
    -Wl,-rpath,"$build/core" -lm
"$work/emu_test"
