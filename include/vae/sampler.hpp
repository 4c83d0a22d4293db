// Which images each training step sees: one permutation per epoch that
// depends only on (seed, epoch), cut into batches of train.batch_size (the
// last may be short). This is where a process's slice of each global batch
// will be chosen when training runs across processes.
#pragma once

#include <torch/types.h>

#include <cstdint>

namespace vae {

// A permutation of [0, n) that depends only on (seed, epoch): int64 [n], on CPU.
torch::Tensor epoch_permutation(int64_t n, uint64_t seed, int64_t epoch);

struct BatchPlan {
  int64_t images = 0;      // N
  int64_t batch_size = 1;  // B
  int64_t batches() const { return (images + batch_size - 1) / batch_size; }
  int64_t start(int64_t batch) const { return batch * batch_size; }
  int64_t length(int64_t batch) const { return std::min(batch_size, images - start(batch)); }
};

}  // namespace vae
