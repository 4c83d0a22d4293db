// What happens to pixels between the data set and the model: conversion to
// [0, 1], binarization (data.binarize) and denoising_ae's corruption
// (data.noise).
#pragma once

#include <ATen/core/Generator.h>
#include <torch/types.h>

#include <cstdint>

#include "vae/config.hpp"
#include "vae/row_slice.hpp"

namespace vae {

// uint8 pixels [B, ...] -> float [B, D] in [0, 1] on the tensor's device.
torch::Tensor to_unit_float(const torch::Tensor& pixels);

// The images a split is trained or evaluated on, uint8: as stored (kNone),
// thresholded to 0/255 (kStatic: byte >= 128 -> 255), or for kDynamic left
// as stored when `for_training` (batches are drawn with binarize_batch) and
// otherwise one Bernoulli(byte / 255) draw to 0/255 from `split_seed`
// (Stream::kBinarizeSplit), independent of the run, so every epoch, tool
// and run scores the same binary test set.
torch::Tensor binarize_images(const torch::Tensor& images, Binarize mode, bool for_training, uint64_t split_seed);

// A training batch x (float [B, D] in [0, 1]): for kDynamic a fresh
// Bernoulli draw from the default generator of x's device (saved in
// checkpoints, so a resumed run draws the same), else x itself. x may be a
// process's slice `rows` of a global batch.
torch::Tensor binarize_batch(const torch::Tensor& x, Binarize mode, const RowSlice& rows = {});

// denoising_ae's corruption of a batch x (float [B, D] in [0, 1]) at `level`:
// gaussian x + level * N(0, 1) clipped to [0, 1], mask a fraction `level`
// of pixels set to 0, salt_pepper a fraction `level` set to 0 or 1 (half
// each). Draws from `gen` (a CPU generator) when given, else from the
// default generator of x's device; x may be a slice `rows` of a global batch.
torch::Tensor corrupt(const torch::Tensor& x, Noise noise, double level, at::Generator* gen = nullptr,
                      const RowSlice& rows = {});

}  // namespace vae
