// Data sets: the DataSource seam the trainer and the tools read through, and
// its implementations: MNIST-format IDX files, NumPy .npy arrays and image
// folders (vae/image_folder.hpp).
//
//   std::unique_ptr<vae::DataSource> src = vae::open_data_source(cfg.data);
//   vae::Dataset train = vae::load_split(*src, vae::Split::kTrain, cfg.data.binarize, /*for_training=*/true);
//   // train.images: uint8 [N, H, W] (grey) or [N, C, H, W] (colour), train.labels: int64 [N]
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

#include "vae/amat.hpp"
#include "vae/config.hpp"
#include "vae/idx.hpp"
#include "vae/image_folder.hpp"

namespace vae {

// kValid: a validation split, held apart from both (binarized MNIST's
// valid file); sources without one say so (DataSource::has_validation).
enum class Split { kTrain, kTest, kValid };

// "train", "test" or "valid"; anything else throws DataError.
Split parse_split(const std::string& name);
const char* split_name(Split split);

struct Dataset {
  torch::Tensor images;  // uint8 [N, H, W] for grey, [N, C, H, W] for colour (RGB)
  torch::Tensor labels;  // int64 [N]
  std::string labels_origin;  // the file the labels came from, for messages
  bool has_labels = true;     // false: no label file (labels are all 0)
  std::vector<std::string> paths;        // image folders: each image's file, relative to data.dir
  std::vector<std::string> class_names;  // image folders: label i is class_names[i]
  int64_t size() const { return images.size(0); }
  int64_t channels() const { return images.dim() == 4 ? images.size(1) : 1; }
  int64_t height() const { return images.size(-2); }
  int64_t width() const { return images.size(-1); }
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
  // The shape of one image, {C, H, W}.
  virtual std::vector<int64_t> image_shape() const = 0;
  // Lines for the log about what loading found (image folders: decoded or
  // cached, conversions, skipped files); empty for the others.
  virtual std::vector<std::string> notes() const { return {}; }
  // Image folders: "path: why" of each file left out (data.on_bad_image = skip).
  virtual std::vector<std::string> skipped() const { return {}; }
  // Whether load(Split::kValid) has a split of its own to give.
  virtual bool has_validation() const { return false; }
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

// Larochelle's binarized MNIST (vae/amat.hpp): binarized_mnist_train.amat,
// _valid.amat and _test.amat in one folder, raw or .gz; pixels 0 or 255, no
// labels (all 0, has_labels false).
class AmatSource : public DataSource {
 public:
  explicit AmatSource(std::string dir) : dir_(std::move(dir)) {}
  std::string describe() const override { return dir_ + " (binarized MNIST, .amat)"; }
  Dataset load(Split split) const override;
  std::vector<int64_t> image_shape() const override { return {1, kAmatSide, kAmatSide}; }
  bool has_validation() const override { return true; }

 private:
  std::string dir_;
};

// Image folders (vae/image_folder.hpp): decoded once and cached; a folder
// without test/ is split per class by data.test_fraction and
// data.split_seed. Labels are indices into the sorted class folder names.
class ImageFolderSource : public DataSource {
 public:
  explicit ImageFolderSource(DataConfig cfg) : cfg_(std::move(cfg)) {}
  std::string describe() const override { return cfg_.dir + " (image folder)"; }
  Dataset load(Split split) const override;
  std::vector<int64_t> image_shape() const override;
  std::vector<std::string> notes() const override;
  std::vector<std::string> skipped() const override;

 private:
  const DecodedImages& decoded() const;
  DataConfig cfg_;
  mutable std::shared_ptr<const DecodedImages> decoded_;
};

// The test rows of a folder without test/: in each label's rows (labels
// -1..K-1), round(n * fraction) drawn with `seed`. Sorted ascending.
std::vector<int64_t> stratified_test_rows(const std::vector<int32_t>& labels, double fraction, uint64_t seed);

// The format data.format names; "auto" looks in data.dir: NumPy arrays when
// it holds train_images.npy, IDX files when it holds them, amat when it holds
// binarized_mnist_train.amat[.gz], else images.
DataFormat detect_data_format(const DataConfig& cfg);

// The source of data.dir in data.format.
std::unique_ptr<DataSource> open_data_source(const DataConfig& cfg);

// A split as a model trains or is evaluated on it: the images binarized
// under `mode` (vae/transforms.hpp; for kDynamic, the evaluation splits
// are one fixed draw per split). `valid` (data.valid_fraction and
// split_seed) holds out part of the train split as kValid where the source
// has no validation split of its own: kTrain is then the rest.
struct ValidSplit {
  double fraction = 0.0;
  uint64_t seed = 1;
};
Dataset load_split(const DataSource& source, Split split, Binarize mode, bool for_training, ValidSplit valid = {});

// Whether the data of `cfg` has a validation split: the source's own
// (amat) or data.valid_fraction > 0.
bool has_validation(const DataSource& source, const DataConfig& cfg);

// The rows of n held out as validation: round(n * fraction), drawn with
// `seed`, sorted ascending.
std::vector<int64_t> validation_rows(int64_t n, double fraction, uint64_t seed);

// Throws DataError naming data.labels_origin when a conditional model
// cannot take the labels (none, or one outside [0, classes)); does nothing
// for an unconditional model.
void check_labels(const ModelConfig& cfg, const Dataset& data);

// Throws DataError "WHAT images are CxHxW (channels x height x width) but
// the model's are ..." when the images do not have the model's shape, or
// when their class names are not the model's (labels would name other
// classes); then check_labels.
void check_data_fits(const ModelConfig& cfg, const Dataset& data, const std::string& what);

// The data a checkpoint's model runs over (vae-encode, vae-eval, vae-sample
// --interpolate): `split` (train, test, or all: train then test) of the
// config's data.dir, or of `data_dir` (format auto) when given; valid: the
// source's validation split, or the rows data.valid_fraction held out), binarized as
// in training (data.binarize), checked to fit the model.
struct DataForModel {
  std::string dir;
  Dataset data;
};
DataForModel load_data_for_model(const Config& cfg, const std::string& data_dir, const std::string& split);

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
