#include "vae/seeds.hpp"

#include <ATen/CPUGeneratorImpl.h>

namespace vae {

at::Generator stream_generator(uint64_t seed, Stream s) {
  return at::detail::createCPUGenerator(stream_seed(seed, s));
}

at::Generator epoch_generator(uint64_t seed, int64_t epoch) {
  // splitmix64 of (seed, epoch): independent streams per epoch, and the order
  // does not depend on how many random numbers training drew before.
  uint64_t z = seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(epoch) + 0x632BE59BD9B4E019ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return at::detail::createCPUGenerator(z);
}

}  // namespace vae
