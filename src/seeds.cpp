#include "vae/seeds.hpp"

#include <ATen/CPUGeneratorImpl.h>

namespace vae {

at::Generator stream_generator(uint64_t seed, Stream s) {
  return at::detail::createCPUGenerator(stream_seed(seed, s));
}

at::Generator epoch_generator(uint64_t seed, int64_t epoch) {
  // splitmix64 of (seed, epoch): independent streams per epoch, and the order
  // does not depend on how many random numbers training drew before.
  return at::detail::createCPUGenerator(
      splitmix64_mix(seed * kSplitmixGamma + static_cast<uint64_t>(epoch) + 0x632BE59BD9B4E019ull));
}

}  // namespace vae
