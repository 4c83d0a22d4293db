// Image grids and PNG files (written with libpng).
#pragma once

#include <torch/types.h>

#include <string>

namespace vae {

// images: float [N, H, W] (or [N, H*W] with height/width given) in [0, 1]
// -> uint8 [rows*(H+pad)+pad, cols*(W+pad)+pad], cols = min(N, columns),
// rows = ceil(N / cols). Padding pixels are 0 (black), like torchvision's grid.
// Colour images [N, C, H, W] give uint8 [rows.., cols.., C] (C last, as PNG).
torch::Tensor make_grid(const torch::Tensor& images, int64_t columns, int64_t pad = 2);

// Writes a uint8 [H, W] greyscale or [H, W, 3] RGB image as PNG, atomically.
// Throws IoError.
void write_png(const std::string& path, const torch::Tensor& image);

// Reads a greyscale or RGB PNG back as uint8 [H, W] (RGB averaged). For tests
// and tools; throws IoError naming the file on anything that is not a PNG.
torch::Tensor read_png_gray(const std::string& path);

}  // namespace vae
