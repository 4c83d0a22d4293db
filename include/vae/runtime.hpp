// Where and how computation runs: device choice, BLAS check, thread counts.
#pragma once

#include <torch/types.h>

#include <string>

#include "vae/config.hpp"

namespace vae {

// auto -> CUDA when available, else CPU; cpu; cuda (throws
// std::runtime_error when this LibTorch has no usable CUDA device).
torch::Device resolve_device(DeviceChoice choice);

struct BlasInfo {
  std::string library;  // resolved path of the shared object that provides sgemm_
  std::string detail;   // e.g. OpenBLAS's own config string; empty if unknown
  bool reference = false;  // true for Netlib's reference BLAS (far slower; see the README)
};

// Finds which BLAS LibTorch's CPU matrix products will call.
BlasInfo detect_blas();

// Sets LibTorch's intra-op threads when `threads` > 0; returns the count in use.
int64_t configure_threads(int64_t threads);

// Sets OpenBLAS's own thread pool when `threads` > 0 and the BLAS is
// OpenBLAS; returns the count in use, or 0 when the BLAS does not say.
// LibTorch's intra-op threads and OpenBLAS's run side by side: their sum
// should not exceed the cores (docs/BENCHMARKS.md has the measurements).
int64_t configure_blas_threads(int64_t threads);

// OpenBLAS's buffer per thread on x86-64 (BUFFER_SIZE in Debian's 0.3.21).
constexpr size_t kBlasBufferBytes = size_t{128} << 20;

// Under an address-space or data limit (ulimit -v or -d; a cgroup's memory
// limit becomes the latter, see memory_limit.hpp), OpenBLAS maps a
// buffer per thread (128 MB in Debian's build) at its first product and,
// when the mapping fails, retries for ever: the tool hangs before its first
// step. Call before the data and model are read (they then fail as
// allocations): when that much room is left, OpenBLAS's buffers are taken
// now (one product), so it never
// maps again; with room for one buffer only, OpenBLAS is set to one thread
// (a warning); with none, throws MemoryLimitError naming the limit.
// No limit: nothing to do. Then caps the data limit at the cgroup's room
// again, without the allowance made for the buffers.
void reserve_blas_buffers();

// Keeps freed blocks of up to 32 MiB in the process instead of returning
// them to the kernel. glibc unmaps large blocks on free by default, so a loop
// that allocates big temporaries pays page faults for each of them: vae-eval's
// IW pass and conv training several times slower (measured in the README's
// performance notes). Every tool calls it first. No-op off glibc.
void tune_allocator();

// One line describing LibTorch, BLAS and threads, for the start of a run.
std::string runtime_summary(const torch::Device& device);

}  // namespace vae
