#include "vae/sampler.hpp"

#include "vae/seeds.hpp"

namespace vae {

torch::Tensor epoch_permutation(int64_t n, uint64_t seed, int64_t epoch) {
  auto gen = epoch_generator(seed, epoch);
  return torch::randperm(n, gen, torch::TensorOptions().dtype(torch::kInt64));
}

}  // namespace vae
