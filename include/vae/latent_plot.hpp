// The latent scatter plot of vae-encode --plot.
#pragma once

#include <torch/types.h>

#include <string>

namespace vae {

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

}  // namespace vae
