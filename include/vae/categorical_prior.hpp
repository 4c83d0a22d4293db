// A prior over a VQ-VAE's grid of codebook indices, fitted to the indices of
// the training images: a mixture of C components, each a product of
// independent categoricals, one per position (C = 1: each position's
// frequencies alone). The mixture's components carry what the positions
// share (a digit's class and slant); EM fits it from a seeded start, as
// fit_gmm fits the continuous codes' mixture. The VQ-VAE paper fits an
// autoregressive PixelCNN instead; this one fits in a small file.
// vae-sample --prior categorical keeps it beside the checkpoint.
//
//   vae::CategoricalPrior p = vae::fit_categorical(indices, 512, 10, 1);  // indices int64 [N, h, w]
//   torch::Tensor idx = vae::sample_categorical(p, 64, gen);              // int64 [64, h, w]
#pragma once

#include <ATen/core/Generator.h>
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace vae {

struct CategoricalPrior {
  std::vector<int64_t> grid;   // the positions' shape: {h, w} or {positions}
  torch::Tensor weights;       // float64 [C], summing to 1
  torch::Tensor probs;         // float64 [C, positions, codebook_size], each [c, p, :] summing to 1
  int64_t images = 0;          // the codes it was fitted to
  double mean_log_likelihood = 0;  // per code, at the end of the fit
  int64_t iterations = 0;      // EM iterations run (0 for C = 1: the frequencies are the fit)
  bool converged = true;
};

// indices: int64 [N, grid...] with values in [0, codebook_size), N >=
// components >= 1. EM from the hard assignment of every code to the
// nearest (most positions equal) of `components` codes drawn by `seed`,
// k-means++-style (Hamming distance); at
// most max_iter iterations, stopping when the mean log-likelihood gains
// less than tol. Maximum likelihood: a vector never seen at a position in a
// component's codes is never drawn there. Throws std::invalid_argument for
// bad indices or sizes.
CategoricalPrior fit_categorical(const torch::Tensor& indices, int64_t codebook_size, int64_t components = 1,
                                 uint64_t seed = 1, int64_t max_iter = 100, double tol = 1e-4);
// n draws of the whole grid -> int64 [n, grid...]: a component by its
// weight, then each position from its categorical, from `gen` (a CPU
// generator).
torch::Tensor sample_categorical(const CategoricalPrior& p, int64_t n, at::Generator& gen);
// log p(indices) under the prior for indices [N, grid...] -> float64 [N]
// (-inf for a code it cannot draw).
torch::Tensor categorical_log_density(const CategoricalPrior& p, const torch::Tensor& indices);
// As JSON (every number exactly) with `provenance` (a JSON object's text)
// beside it, and back; categorical_from_json throws std::runtime_error
// naming the problem.
std::string categorical_to_json(const CategoricalPrior& p, const std::string& provenance);
CategoricalPrior categorical_from_json(const std::string& text, std::string* provenance);

}  // namespace vae
