// Using a trained model: generating digits and encoding data sets.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>

#include "vae/data.hpp"
#include "vae/model.hpp"

namespace vae {

// Decodes n draws of z ~ N(0, I) made from `seed` (independent of the global
// generator) -> float [n, H, W] pixel probabilities, on CPU.
torch::Tensor sample_images(VAE& model, int64_t n, uint64_t seed, const torch::Device& device);

// Posterior means of every image, in batches -> float [N, Z] on CPU.
torch::Tensor encode_means(VAE& model, const Dataset& data, int64_t batch_size,
                           const torch::Device& device);

// Writes `index,label,mu_0,...,mu_{Z-1}`, one row per image, atomically.
void write_latent_csv(const std::string& path, const torch::Tensor& mu,
                      const torch::Tensor& labels);

}  // namespace vae
