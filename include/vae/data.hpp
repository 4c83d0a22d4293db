// MNIST-format data: strict IDX readers and writers, and the in-memory data set.
//
//   vae::Dataset train = vae::load_split("data/mnist", vae::Split::kTrain);
//   // train.images: uint8 [N, H, W], train.labels: int64 [N]
//   torch::Tensor order = vae::epoch_permutation(train.size(), /*seed=*/1, /*epoch=*/0);
//
// Files may be raw or gzip-compressed (name ending in .gz); any number of
// images is accepted. Every malformed file raises vae::DataError with one line
// naming the file and what is wrong.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "vae/idx.hpp"

namespace vae {

enum class Split { kTrain, kTest };

// "train" or "test"; anything else throws DataError.
Split parse_split(const std::string& name);
const char* split_name(Split split);

// Reads an IDX3 image file. Returns uint8 [N, H, W].
torch::Tensor read_idx_images(const std::string& path);

// Reads an IDX1 label file. Returns int64 [N].
torch::Tensor read_idx_labels(const std::string& path);

// Writes uint8 [N, H, W] images / integer [N] labels in [0, 255] as IDX;
// gzip-compressed when the path ends in ".gz". The file is replaced atomically.
void write_idx_images(const std::string& path, const torch::Tensor& images);
void write_idx_labels(const std::string& path, const torch::Tensor& labels);

// The official file stem of a split: "train-images-idx3-ubyte", "t10k-labels-idx1-ubyte".
std::string idx_file_stem(Split split, bool labels);

// Finds `stem` or `stem.gz` in dir (raw preferred); throws DataError naming
// the folder and both names when neither exists.
std::string find_idx_file(const std::string& dir, const std::string& stem);

struct Dataset {
  torch::Tensor images;  // uint8 [N, H, W], pixel bytes as stored
  torch::Tensor labels;  // int64 [N]
  int64_t size() const { return images.size(0); }
  int64_t height() const { return images.size(1); }
  int64_t width() const { return images.size(2); }
};

// Loads a split's images and labels from dir; checks that their counts match.
Dataset load_split(const std::string& dir, Split split);

// data.binarize: "none" (grey levels in [0, 1] as targets), "static" (each
// pixel thresholded once: byte >= 128 -> 1, else 0) or "dynamic" (training
// images redrawn as Bernoulli(byte / 255) each time they are used; the
// evaluation images drawn once from a fixed seed per split, the same for
// every run, so every epoch, tool and run scores the same binary test set). Binarized MNIST papers use the last two.
enum class Binarize { kNone, kStatic, kDynamic };
// "none", "static" or "dynamic"; anything else throws DataError.
Binarize parse_binarize(const std::string& name);

// The images a split is trained or evaluated on, uint8: as stored (kNone),
// thresholded to 0/255 (kStatic), or for kDynamic left as stored when
// `for_training` (batches are drawn with binarize_batch) and otherwise one
// Bernoulli draw to 0/255 from `seed`, independent of the global generator.
torch::Tensor binarize_images(const torch::Tensor& images, Binarize mode, bool for_training, uint64_t seed);

// Loads a split and applies binarize_images with the run's settings
// (for_training: the train split when training) and the split's fixed seed.
Dataset load_split(const std::string& dir, Split split, Binarize mode, bool for_training);

// A training batch x (float [B, D] in [0, 1]): for kDynamic a fresh
// Bernoulli draw from the default generator of x's device (saved in
// checkpoints, so a resumed run draws the same), else x itself.
torch::Tensor binarize_batch(const torch::Tensor& x, Binarize mode);

// denoising_ae's corruption of a batch x (float [B, D] in [0, 1]) by
// data.noise at data.noise_level: "gaussian" x + level * N(0, 1) clipped to
// [0, 1], "mask" a fraction `level` of pixels set to 0, "salt_pepper" a
// fraction `level` set to 0 or 1 (half each). Draws from `gen` (a CPU
// generator) when given, else from the default generator of x's device.
torch::Tensor corrupt(const torch::Tensor& x, const std::string& noise, double level,
                      at::Generator* gen = nullptr);

// A permutation of [0, n) that depends only on (seed, epoch): int64 [n], on CPU.
torch::Tensor epoch_permutation(int64_t n, uint64_t seed, int64_t epoch);

// uint8 pixels [B, ...] -> float [B, D] in [0, 1] on the tensor's device.
torch::Tensor to_unit_float(const torch::Tensor& pixels);

}  // namespace vae
