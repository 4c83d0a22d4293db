// Using a trained model: generating digits, encoding data sets, the
// reconstruction grid, the latent manifold and interpolations.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>

#include "vae/data.hpp"
#include "vae/model.hpp"

namespace vae {

// Decodes n draws of z ~ N(0, I) made from `seed` (independent of the global
// generator) -> float [n, H, W] pixel probabilities, on CPU. A conditional
// model decodes them as class `label`, or with label < 0 as classes 0, 1,
// ..., classes - 1, 0, 1, ... in turn; other models refuse label >= 0
// (std::invalid_argument).
torch::Tensor sample_images(VAE& model, int64_t n, uint64_t seed, const torch::Device& device,
                            int64_t label = -1);

// Decodes codes z [n, Z] (an unconditional model) -> float [n, H, W] (or
// [n, C, H, W]) pixel probabilities, on CPU.
torch::Tensor decode_codes(VAE& model, const torch::Tensor& z, const torch::Device& device);

// The sample grid of a run (samples.png, images/samples-NNNN.png): 8 x 8
// draws, or for a conditional model one column per class, 8 rows.
struct SampleGrid {
  int64_t count;
  int64_t columns;
};
SampleGrid sample_grid_for(const ModelConfig& cfg);

// Posterior means of every image, in batches -> float [N, Z] on CPU. A
// conditional model sees each image's label from data.labels.
torch::Tensor encode_means(VAE& model, const Dataset& data, int64_t batch_size,
                           const torch::Device& device);

// vq_vae: the codebook index of every position of every image's code, in
// batches -> int64 [N, h, w] (conv) or [N, positions] (mlp) on CPU.
torch::Tensor encode_indices(VAE& model, const Dataset& data, int64_t batch_size, const torch::Device& device);

// images: uint8 [N, H, W] -> uint8 grid image: rows of `columns` inputs, each
// followed by a row of their reconstructions (decode(mu), deterministic).
// labels (int64 [N]): needed only by a conditional model.
torch::Tensor reconstruction_grid(VAE& model, const torch::Tensor& images, int64_t columns,
                                  const torch::Device& device, const torch::Tensor& labels = {});

// For a 2-D latent space: decodes an n x n grid of z over the standard normal
// quantiles of 0.05..0.95 on each axis (z_0 left to right, z_1 bottom to
// top), like the Keras post's manifold figure -> float [n*n, H, W].
// Throws std::invalid_argument for another latent size. A conditional model
// draws the manifold of class `label`, which it requires (>= 0).
torch::Tensor manifold_images(VAE& model, int64_t n, const torch::Device& device, int64_t label = -1);

// a, b: uint8 [H, W] images -> float [steps + 2, H, W]: a, then the decoded
// points of the line between their latent means (steps of them, ends
// included), then b. A conditional model encodes a and b with their labels
// label_a and label_b and decodes each point with the one-hot labels mixed
// in the same proportion as the latent means.
torch::Tensor interpolation_images(VAE& model, const torch::Tensor& a, const torch::Tensor& b,
                                   int64_t steps, const torch::Device& device, int64_t label_a = -1,
                                   int64_t label_b = -1);

}  // namespace vae
