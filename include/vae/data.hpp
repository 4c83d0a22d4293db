// Data sets: the DataSource seam the trainer and the tools read through, and
// its implementations: MNIST-format IDX files and NumPy .npy arrays.
//
//   std::unique_ptr<vae::DataSource> src = vae::open_data_source(cfg.data);
//   vae::Dataset train = vae::load_split(*src, vae::Split::kTrain, cfg.data.binarize, /*for_training=*/true);
//   // train.images: uint8 [N, H, W], train.labels: int64 [N]
//
// IDX files may be raw or gzip-compressed (name ending in .gz); any number of
// images is accepted. Every malformed file raises vae::DataError with one
// line naming the file and what is wrong.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "vae/config.hpp"
#include "vae/idx.hpp"

namespace vae {

enum class Split { kTrain, kTest };

// "train" or "test"; anything else throws DataError.
Split parse_split(const std::string& name);
const char* split_name(Split split);

struct Dataset {
  torch::Tensor images;  // uint8 [N, H, W], pixel bytes
  torch::Tensor labels;  // int64 [N]
  std::string labels_origin;  // the file the labels came from, for messages
  bool has_labels = true;     // false: no label file (labels are all 0)
  int64_t size() const { return images.size(0); }
  int64_t height() const { return images.size(1); }
  int64_t width() const { return images.size(2); }
};

// Where images come from. Implementations check what they read and name
// the file in every error.
class DataSource {
 public:
  virtual ~DataSource() = default;
  // The folder or file set it reads, for logs and messages.
  virtual std::string describe() const = 0;
  // A split's images as stored and its labels, with matching counts.
  virtual Dataset load(Split split) const = 0;
  // The shape of one image tensor, {H, W}.
  virtual std::vector<int64_t> image_shape() const = 0;
};

// The four IDX files of the MNIST format in one folder, under their
// official names (train-images-idx3-ubyte[.gz], ...).
class IdxSource : public DataSource {
 public:
  explicit IdxSource(std::string dir) : dir_(std::move(dir)) {}
  std::string describe() const override { return dir_; }
  Dataset load(Split split) const override;
  std::vector<int64_t> image_shape() const override;

 private:
  std::string dir_;
};

// NumPy arrays in one folder: train_images.npy and test_images.npy of shape
// (N, H, W) or (N, H, W, 1), uint8 or float32 in [0, 1] (stored as the
// nearest byte, round(v * 255)), and optional train_labels.npy and
// test_labels.npy of shape (N,), integers in [0, 2^31).
class NpySource : public DataSource {
 public:
  explicit NpySource(std::string dir) : dir_(std::move(dir)) {}
  std::string describe() const override { return dir_ + " (NumPy arrays)"; }
  Dataset load(Split split) const override;
  std::vector<int64_t> image_shape() const override;

 private:
  std::string dir_;
};

// The format data.format names; "auto" looks in data.dir: NumPy arrays when
// it holds train_images.npy, else IDX files.
DataFormat detect_data_format(const DataConfig& cfg);

// The source of data.dir in data.format.
std::unique_ptr<DataSource> open_data_source(const DataConfig& cfg);

// A split as a model trains or is evaluated on it: the images binarized
// under `mode` (vae/transforms.hpp; for kDynamic, the evaluation splits
// are one fixed draw per split).
Dataset load_split(const DataSource& source, Split split, Binarize mode, bool for_training);

// Throws DataError naming data.labels_origin when a conditional model
// cannot take the labels (none, or one outside [0, classes)); does nothing
// for an unconditional model.
void check_labels(const ModelConfig& cfg, const Dataset& data);

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

}  // namespace vae
