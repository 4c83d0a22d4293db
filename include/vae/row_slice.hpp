// Noise that does not depend on the number of processes. When several
// processes train on one global batch, each computes a contiguous slice of
// its rows; every random draw for the batch (reparameterization noise,
// denoising corruption, dynamic binarization) is made for all the global
// batch's rows, from the same generator state on every process, and the
// slice's rows are kept. So image i of a global batch gets the same draw
// whatever the number of processes, and the generators stay equal on all
// of them (one checkpoint describes the run).
//
//   vae::RowSlice rows{begin, global_batch};      // this process: rows [begin, begin + B)
//   torch::Tensor eps = vae::normal_rows(mu, rows);   // mu: [B, Z]
#pragma once

#include <ATen/core/Generator.h>
#include <torch/types.h>

#include <cstdint>
#include <functional>

namespace vae {

struct RowSlice {
  int64_t offset = 0;  // the first row's place in the global batch
  int64_t global = 0;  // rows in the global batch; 0: the tensor's own rows are the whole batch
  // Sums a tensor over the processes that share the global batch, in place:
  // a collective, called by every process at the same point of the step
  // (a statistic of the whole batch, such as the MMD of its codes). Empty
  // on one process.
  std::function<void(torch::Tensor&)> sum_across{};
};

// Rows [rows * rank / world, rows * (rank + 1) / world) of a global batch of
// `rows`: contiguous, in rank order, sizes differing by at most one (a
// process may get none).
inline RowSlice rank_rows(int64_t rows, int64_t rank, int64_t world) { return {rows * rank / world, rows}; }
inline int64_t rank_row_count(int64_t rows, int64_t rank, int64_t world) {
  return rows * (rank + 1) / world - rows * rank / world;
}

// randn_like(like) and rand_like(like) for a slice `like` [b, ...] of a
// global batch: drawn from `gen` (a CPU generator, then moved to like's
// device) when given, else from the default generator of like's device.
torch::Tensor normal_rows(const torch::Tensor& like, const RowSlice& rows = {}, at::Generator* gen = nullptr);
torch::Tensor uniform_rows(const torch::Tensor& like, const RowSlice& rows = {}, at::Generator* gen = nullptr);
// torch::bernoulli(p) for a slice p [b, ...] of a global batch.
torch::Tensor bernoulli_rows(const torch::Tensor& p, const RowSlice& rows = {});

}  // namespace vae
