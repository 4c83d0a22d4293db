// Where and how computation runs: device choice, BLAS check, thread counts.
#pragma once

#include <torch/types.h>

#include <string>

namespace vae {

// "auto" -> CUDA when available, else CPU; "cpu"; "cuda" (throws
// std::runtime_error when this LibTorch has no usable CUDA device).
torch::Device resolve_device(const std::string& name);

struct BlasInfo {
  std::string library;  // resolved path of the shared object that provides sgemm_
  std::string detail;   // e.g. OpenBLAS's own config string; empty if unknown
  bool reference = false;  // true for Netlib's reference BLAS (30-70x slower)
};

// Finds which BLAS LibTorch's CPU matrix products will call.
BlasInfo detect_blas();

// Sets LibTorch's intra-op threads when `threads` > 0; returns the count in use.
int64_t configure_threads(int64_t threads);

// One line describing LibTorch, BLAS and threads, for the start of a run.
std::string runtime_summary(const torch::Device& device);

}  // namespace vae
