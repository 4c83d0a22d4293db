// A categorical prior over a VQ-VAE's code grid, fitted to the codebook
// indices of the training images: each position independently, with the
// frequencies of the vectors chosen there. The VQ-VAE paper fits an
// autoregressive PixelCNN instead; this is the simplest prior that lets the
// model generate, and what vae-sample --prior categorical keeps beside the
// checkpoint.
//
//   vae::CategoricalPrior p = vae::fit_categorical(indices, 512);  // indices int64 [N, h, w]
//   torch::Tensor idx = vae::sample_categorical(p, 64, gen);      // int64 [64, h, w]
#pragma once

#include <ATen/core/Generator.h>
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace vae {

struct CategoricalPrior {
  std::vector<int64_t> grid;  // the positions' shape: {h, w} or {positions}
  torch::Tensor counts;       // int64 [positions, codebook_size]: how often each vector was chosen there
  int64_t images = 0;         // the codes counted
};

// indices: int64 [N, grid...] with values in [0, codebook_size), N >= 1.
// Throws std::invalid_argument otherwise.
CategoricalPrior fit_categorical(const torch::Tensor& indices, int64_t codebook_size);
// n draws of the whole grid -> int64 [n, grid...], each position its own
// categorical, from `gen` (a CPU generator).
torch::Tensor sample_categorical(const CategoricalPrior& p, int64_t n, at::Generator& gen);
// Mean -log p(indices) per code under the prior, in nats (its fit: the
// entropy summed over positions when scored on its own training codes).
double categorical_nll(const CategoricalPrior& p, const torch::Tensor& indices);
// As JSON with `provenance` (a JSON object's text) beside it, and back;
// categorical_from_json throws std::runtime_error naming the problem.
std::string categorical_to_json(const CategoricalPrior& p, const std::string& provenance);
CategoricalPrior categorical_from_json(const std::string& text, std::string* provenance);

}  // namespace vae
