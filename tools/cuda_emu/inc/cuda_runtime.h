/* cuda_runtime.h (emulation): just enough of the CUDA runtime for the kernel
 * files of backend/cuda to compile as plain C++ on the CPU (tools/cuda_emu/run.sh):
 * kernel qualifiers vanish, one block of one thread (so every grid-stride
 * loop runs the whole range serially), __syncthreads does nothing. */
#pragma once
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <cstdint>
#include <cstddef>
#include <cstdio>
using std::isfinite; /* device code calls these unqualified, as CUDA allows */
using std::sqrt;
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(x)
#define __shared__ static
struct emu_dim { unsigned x, y, z; };
static const emu_dim blockIdx = {0,0,0}, threadIdx = {0,0,0}, gridDim = {1,1,1}, blockDim = {1,1,1};
static inline void __syncthreads() {}
typedef int cudaError_t;
enum { cudaSuccess = 0, cudaErrorInvalidValue = 1, cudaErrorMemoryAllocation = 2 };
typedef void *cudaStream_t;
static inline cudaError_t cudaGetLastError() { return 0; }

/* copies and fills: the memory is host memory, the stream does nothing */
enum cudaMemcpyKind { cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice };
static inline cudaError_t cudaMemcpyAsync(void *d, const void *s, size_t n, cudaMemcpyKind, cudaStream_t) {
    memcpy(d, s, n);
    return 0;
}
static inline cudaError_t cudaMemsetAsync(void *d, int v, size_t n, cudaStream_t) {
    memset(d, v, n);
    return 0;
}
static inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return 0; }
