// The named random streams. Every random number that does not come from the
// default generator (weights, the training noise, dynamic binarization of a
// batch) comes from a generator of its own, seeded by train.seed (or a
// tool's --seed) mixed with the stream's salt, so that adding draws to one
// stream never shifts another. The salts are arbitrary distinct 64-bit
// constants; changing one changes the numbers of that stream's runs.
//
//   at::Generator gen = vae::stream_generator(cfg.train.seed, vae::Stream::kEvalElbo);
#pragma once

#include <ATen/core/Generator.h>

#include <cstdint>

namespace vae {

enum class Stream : uint64_t {
  kEvalElbo = 0x5EEDE7A1ull,              // z of the evaluation's ELBO (one per image)
  kEvalNoise = 0x6a09e667f3bcc909ull,     // the evaluation's input corruption
  kEvalIw = 0x9e3779b97f4a7c15ull,        // the K draws of the importance-weighted bound
  kBinarizeSplit = 0x5bd1e9955bd1e995ull, // the fixed Bernoulli draw of an evaluation split
  kValidRows = 0x243f6a8885a308d3ull,     // the training rows data.valid_fraction holds out (data.split_seed)
};

inline uint64_t stream_seed(uint64_t seed, Stream s) { return seed ^ static_cast<uint64_t>(s); }

// A CPU generator of stream `s` for `seed`.
at::Generator stream_generator(uint64_t seed, Stream s);

// splitmix64 (Steele, Lea and Flood 2014): its output function of a state,
// and one step of the generator (the state advanced, its output).
constexpr uint64_t kSplitmixGamma = 0x9E3779B97F4A7C15ull;
inline uint64_t splitmix64_mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
inline uint64_t splitmix64_next(uint64_t& state) { return splitmix64_mix(state += kSplitmixGamma); }

// The generator of epoch `epoch`'s data order: splitmix64 of (seed, epoch),
// so the order of each epoch depends on nothing else.
at::Generator epoch_generator(uint64_t seed, int64_t epoch);

}  // namespace vae
