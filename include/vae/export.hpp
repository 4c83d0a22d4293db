// Latent codes written for other tools: CSV and NumPy's .npy.
#pragma once

#include <torch/types.h>

#include <string>
#include <vector>

namespace vae {

// Writes `index,label,mu_0,...,mu_{Z-1}`, one row per image, atomically;
// with paths (image folders), `index,path,label,mu_0,...`.
void write_latent_csv(const std::string& path, const torch::Tensor& mu, const torch::Tensor& labels,
                      const std::vector<std::string>& paths = {});

// Writes a float32 or int64 tensor in NumPy's .npy format (version 1.0,
// little-endian, C order), atomically. numpy.load reads it back.
void write_npy(const std::string& path, const torch::Tensor& t);

}  // namespace vae
