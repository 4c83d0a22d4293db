// Using a trained model: generating digits and encoding data sets.
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

// Throws DataError (naming `origin`) when a conditional model cannot take
// the data set's labels: one outside [0, model.classes).
void check_labels(const ModelConfig& cfg, const Dataset& data, const std::string& origin);
// The same for a split read from `dir`, naming its label file; does nothing
// (not even look for the file) for an unconditional model.
void check_labels(const ModelConfig& cfg, const Dataset& data, const std::string& dir, Split split);

// Posterior means of every image, in batches -> float [N, Z] on CPU. A
// conditional model sees each image's label from data.labels.
torch::Tensor encode_means(VAE& model, const Dataset& data, int64_t batch_size,
                           const torch::Device& device);

// Writes `index,label,mu_0,...,mu_{Z-1}`, one row per image, atomically.
void write_latent_csv(const std::string& path, const torch::Tensor& mu,
                      const torch::Tensor& labels);

// Writes a float32 or int64 tensor in NumPy's .npy format (version 1.0,
// little-endian, C order), atomically. numpy.load reads it back.
void write_npy(const std::string& path, const torch::Tensor& t);

// The plane a latent scatter plot shows: mu itself for Z <= 2 (z_0 against
// z_1; for Z = 1, z_0 against the label), else the first two principal
// components of mu (eigenvectors of its covariance, each signed so its
// largest entry is positive).
struct LatentPlane {
  torch::Tensor xy;  // float64 [N, 2] on CPU
  std::string xlabel, ylabel, note;  // note: "" or what the axes are, for the title
};
LatentPlane latent_plane(const torch::Tensor& mu, const torch::Tensor& labels);

// Scatter plot of the latent means coloured by label, with axes, ticks and
// a legend of the labels (see latent_plane for what the axes show).
void write_latent_plot(const std::string& path, const torch::Tensor& mu, const torch::Tensor& labels,
                       const std::string& title);

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
