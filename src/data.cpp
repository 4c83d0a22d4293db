#include "vae/data.hpp"

#include <zlib.h>

#include <filesystem>
#include <limits>
#include <memory>
#include <sstream>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "vae/io.hpp"
#include "vae/npy.hpp"
#include "vae/seeds.hpp"
#include "vae/transforms.hpp"

namespace vae {
namespace {

namespace fs = std::filesystem;

// Serializes an IDX header and payload, gzip-compressing for ".gz" paths.
void write_idx(const std::string& path, uint32_t magic, const torch::Tensor& data) {
  const torch::Tensor bytes = data.contiguous();
  std::string buf;
  auto put32 = [&buf](uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) buf.push_back(static_cast<char>((v >> s) & 0xff));
  };
  put32(magic);
  for (int64_t d : bytes.sizes()) put32(static_cast<uint32_t>(d));
  buf.append(reinterpret_cast<const char*>(bytes.data_ptr<uint8_t>()),
             static_cast<size_t>(bytes.numel()));
  if (!ends_with(path, ".gz")) {
    write_file_atomic(path, buf);
    return;
  }
  // gzip framing (windowBits 15 + 16) so the file is a standard .gz.
  z_stream zs{};
  if (deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw DataError(path + ": cannot initialise zlib");
  std::string gz(deflateBound(&zs, buf.size()), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(buf.data());
  zs.avail_in = static_cast<uInt>(buf.size());
  zs.next_out = reinterpret_cast<Bytef*>(gz.data());
  zs.avail_out = static_cast<uInt>(gz.size());
  const int rc = deflate(&zs, Z_FINISH);
  gz.resize(zs.total_out);
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) throw DataError(path + ": gzip compression failed");
  write_file_atomic(path, gz);
}

torch::Tensor to_tensor(IdxArray&& a) {
  auto holder = std::make_shared<std::vector<uint8_t>>(std::move(a.bytes));
  // Adopt the buffer without copying; the deleter keeps it alive.
  return torch::from_blob(holder->data(), a.shape, [holder](void*) mutable { holder.reset(); },
                          torch::kUInt8);
}

torch::Tensor checked_bytes(const torch::Tensor& t, const std::string& path, int64_t dims) {
  if (t.dim() != dims)
    throw DataError(path + ": expected a " + std::to_string(dims) + "-D tensor to write");
  if (t.numel() > 0 && (t.min().item<int64_t>() < 0 || t.max().item<int64_t>() > 255))
    throw DataError(path + ": values must be in [0, 255]");
  return t.to(torch::kCPU).to(torch::kUInt8);
}

}  // namespace

Split parse_split(const std::string& name) {
  if (name == "train") return Split::kTrain;
  if (name == "test") return Split::kTest;
  if (name == "valid") return Split::kValid;
  throw DataError("unknown split '" + name + "', expected 'train', 'valid' or 'test'");
}

const char* split_name(Split split) {
  switch (split) {
    case Split::kTrain: return "train";
    case Split::kValid: return "valid";
    default: return "test";
  }
}

torch::Tensor read_idx_images(const std::string& path) {
  return to_tensor(read_idx_file(path, kIdxImagesMagic, 3));
}

torch::Tensor read_idx_labels(const std::string& path) {
  return to_tensor(read_idx_file(path, kIdxLabelsMagic, 1)).to(torch::kInt64);
}

void write_idx_images(const std::string& path, const torch::Tensor& images) {
  write_idx(path, kIdxImagesMagic, checked_bytes(images, path, 3));
}

void write_idx_labels(const std::string& path, const torch::Tensor& labels) {
  write_idx(path, kIdxLabelsMagic, checked_bytes(labels, path, 1));
}

std::string idx_file_stem(Split split, bool labels) {
  return official_idx_stem(split == Split::kTest, labels);
}

std::string find_idx_file(const std::string& dir, const std::string& stem) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw DataError(dir + ": data folder does not exist");
  if (std::string path = locate_idx_file(dir, stem); !path.empty()) return path;
  throw DataError(dir + ": missing " + stem + " (or " + stem +
                  ".gz); expected the four MNIST-format IDX files");
}

Dataset IdxSource::load(Split split) const {
  const std::string images_path = find_idx_file(dir_, idx_file_stem(split, false));
  const std::string labels_path = find_idx_file(dir_, idx_file_stem(split, true));
  Dataset ds;
  ds.images = read_idx_images(images_path);
  ds.labels = read_idx_labels(labels_path);
  ds.labels_origin = labels_path;
  if (ds.images.size(0) != ds.labels.size(0))
    throw DataError(labels_path + ": holds " + std::to_string(ds.labels.size(0)) +
                    " labels but " + images_path + " holds " +
                    std::to_string(ds.images.size(0)) + " images");
  if (ds.size() == 0) throw DataError(images_path + ": holds no images");
  return ds;
}

std::vector<int64_t> IdxSource::image_shape() const {
  const torch::Tensor images = read_idx_images(find_idx_file(dir_, idx_file_stem(Split::kTrain, false)));
  return {1, images.size(1), images.size(2)};
}

Dataset AmatSource::load(Split split) const {
  std::error_code ec;
  if (!fs::is_directory(dir_, ec)) throw DataError(dir_ + ": data folder does not exist");
  const std::string path = locate_amat_file(dir_, split_name(split));
  if (path.empty())
    throw DataError(dir_ + ": missing binarized_mnist_" + std::string(split_name(split)) +
                    ".amat (or .amat.gz); data.format amat needs the train, valid and test files "
                    "(vae-data fetch binarized-mnist)");
  Dataset ds;
  ds.images = to_tensor(read_amat_file(path));
  ds.labels = torch::zeros({ds.size()}, torch::kInt64);
  ds.labels_origin = path + " (binarized MNIST has no labels)";
  ds.has_labels = false;
  return ds;
}

namespace {

std::string npy_path(const std::string& dir, Split split, bool labels) {
  return (fs::path(dir) / (std::string(split_name(split)) + (labels ? "_labels.npy" : "_images.npy"))).string();
}

// uint8 [N, H, W] from a (N, H, W) or (N, H, W, 1) uint8 or float32 array,
// [N, 3, H, W] from (N, H, W, 3).
torch::Tensor npy_images(NpyArray&& a, const std::string& path) {
  const auto s = a.shape;
  if (!(s.size() == 3 || (s.size() == 4 && (s[3] == 1 || s[3] == 3)))) {
    std::vector<std::string> dims;
    for (int64_t d : s) dims.push_back(std::to_string(d));
    throw DataError(path + ": shape (" + join(dims, ", ") + ") is not (N, H, W), (N, H, W, 1) or (N, H, W, 3)");
  }
  if (s[0] == 0) throw DataError(path + ": holds no images");
  if (s[1] == 0 || s[2] == 0) throw DataError(path + ": images of size 0");
  const bool colour = s.size() == 4 && s[3] == 3;
  auto layout = [&](torch::Tensor t) {  // NHWC -> NCHW for colour
    return colour ? t.reshape({s[0], s[1], s[2], 3}).permute({0, 3, 1, 2}).contiguous() : t.reshape({s[0], s[1], s[2]});
  };
  if (a.dtype == NpyDtype::kUInt8) {
    auto holder = std::make_shared<std::string>(std::move(a.data));
    return layout(torch::from_blob(holder->data(), {static_cast<int64_t>(holder->size())},
                                   [holder](void*) mutable { holder.reset(); }, torch::kUInt8));
  }
  if (a.dtype != NpyDtype::kFloat32)
    throw DataError(path + ": images must be uint8 or float32 in [0, 1], not " + npy_dtype_name(a.dtype));
  const torch::Tensor v = torch::from_blob(a.data.data(), {static_cast<int64_t>(a.data.size() / 4)}, torch::kFloat32);
  const torch::Tensor bad = (v < 0) | (v > 1) | v.isnan();
  if (bad.any().item<bool>()) {
    const int64_t i = bad.flatten().nonzero()[0][0].item<int64_t>();
    throw DataError(path + ": float32 images must lie in [0, 1]; element " + std::to_string(i) + " is " +
                    std::to_string(v.flatten()[i].item<float>()));
  }
  return layout(v.mul(255.0f).round_().to(torch::kUInt8));
}

torch::Tensor npy_labels(NpyArray&& a, const std::string& path, int64_t n, const std::string& images_path) {
  if (a.shape.size() != 1) throw DataError(path + ": labels must have shape (N,)");
  if (a.shape[0] != n)
    throw DataError(path + ": holds " + std::to_string(a.shape[0]) + " labels but " + images_path + " holds " +
                    std::to_string(n) + " images");
  torch::Tensor t;
  switch (a.dtype) {
    case NpyDtype::kUInt8: t = torch::from_blob(a.data.data(), {n}, torch::kUInt8); break;
    case NpyDtype::kInt32: t = torch::from_blob(a.data.data(), {n}, torch::kInt32); break;
    case NpyDtype::kInt64: t = torch::from_blob(a.data.data(), {n}, torch::kInt64); break;
    case NpyDtype::kFloat32: throw DataError(path + ": labels must be integers (uint8, int32 or int64), not float32");
  }
  t = t.to(torch::kInt64, /*non_blocking=*/false, /*copy=*/true);  // a copy: the array's bytes go away
  if (n > 0 && (t.min().item<int64_t>() < 0 || t.max().item<int64_t>() > std::numeric_limits<int32_t>::max()))
    throw DataError(path + ": labels must lie in [0, 2^31)");
  return t;
}

}  // namespace

Dataset NpySource::load(Split split) const {
  std::error_code ec;
  if (!fs::is_directory(dir_, ec)) throw DataError(dir_ + ": data folder does not exist");
  const std::string images_path = npy_path(dir_, split, false), labels_path = npy_path(dir_, split, true);
  if (!fs::exists(images_path, ec)) throw DataError(dir_ + ": missing " + fs::path(images_path).filename().string() +
                                                    " (data.format npy: train_images.npy and test_images.npy)");
  Dataset ds;
  ds.images = npy_images(read_npy_file(images_path), images_path);
  if (fs::exists(labels_path, ec)) {
    ds.labels = npy_labels(read_npy_file(labels_path), labels_path, ds.size(), images_path);
    ds.labels_origin = labels_path;
  } else {
    ds.labels = torch::zeros({ds.size()}, torch::kInt64);
    ds.labels_origin = labels_path + " (missing)";
    ds.has_labels = false;
  }
  return ds;
}

std::vector<int64_t> NpySource::image_shape() const {
  const Dataset ds = load(Split::kTrain);
  return {ds.channels(), ds.height(), ds.width()};
}

std::vector<int64_t> stratified_test_rows(const std::vector<int32_t>& labels, double fraction, uint64_t seed) {
  int32_t top = -1;
  for (int32_t l : labels) top = std::max(top, l);
  std::vector<std::vector<int64_t>> rows(static_cast<size_t>(top) + 2);
  for (size_t i = 0; i < labels.size(); ++i) rows[static_cast<size_t>(labels[i] + 1)].push_back(static_cast<int64_t>(i));
  std::vector<int64_t> test;
  for (size_t g = 0; g < rows.size(); ++g) {
    std::vector<int64_t>& r = rows[g];
    // Fisher-Yates with splitmix64: the same split with every compiler.
    uint64_t state = seed ^ (kSplitmixGamma * (g + 1));
    for (size_t i = r.size(); i > 1; --i) std::swap(r[i - 1], r[splitmix64_next(state) % i]);
    const auto k = static_cast<size_t>(std::llround(static_cast<double>(r.size()) * fraction));
    test.insert(test.end(), r.begin(), r.begin() + static_cast<std::ptrdiff_t>(std::min(k, r.size())));
  }
  std::sort(test.begin(), test.end());
  return test;
}

const DecodedImages& ImageFolderSource::decoded() const {
  if (!decoded_) {
    decoded_ = std::make_shared<const DecodedImages>(load_image_folder(image_folder_options(cfg_)));
  }
  return *decoded_;
}

std::vector<std::string> ImageFolderSource::notes() const {
  const DecodedImages& d = decoded();
  std::vector<std::string> out;
  char secs[32];
  std::snprintf(secs, sizeof secs, "%.2f", d.seconds);
  const std::string shape = shape_text(d.channels, d.height, d.width);
  if (d.from_cache) {
    out.push_back("images: " + std::to_string(d.count) + " of " + shape + " loaded from the cache " + d.cache_path +
                  " in " + secs + " s");
  } else {
    if (!d.cache_note.empty()) out.push_back("images: " + d.cache_note);
    out.push_back("images: decoded " + std::to_string(d.count) + " files of " + cfg_.dir + " to " + shape + " in " +
                  secs + " s" + (d.cache_path.empty() ? "" : ", cached in " + d.cache_path));
  }
  if (d.converted > 0)
    out.push_back("images: " + std::to_string(d.converted) + " converted to " +
                  (d.channels == 1 ? "grey" : "colour") + " (data.channels = " + std::to_string(d.channels) + ")");
  if (!d.class_names.empty())
    out.push_back("images: " + std::to_string(d.class_names.size()) + " classes: " + join(d.class_names, ", "));
  if (!d.skipped.empty())
    out.push_back("images: skipped " + std::to_string(d.skipped.size()) + " (data.on_bad_image = skip); the first: " +
                  d.skipped.front());
  return out;
}

std::vector<std::string> ImageFolderSource::skipped() const { return decoded().skipped; }

std::vector<int64_t> ImageFolderSource::image_shape() const {
  const DecodedImages& d = decoded();
  return {d.channels, d.height, d.width};
}

Dataset ImageFolderSource::load(Split split) const {
  const DecodedImages& d = decoded();
  std::vector<int64_t> rows;
  if (d.has_test_folder) {
    for (int64_t i = 0; i < d.count; ++i)
      if ((d.in_test[static_cast<size_t>(i)] != 0) == (split == Split::kTest)) rows.push_back(i);
  } else {
    const std::vector<int64_t> test = stratified_test_rows(d.labels, cfg_.test_fraction, cfg_.split_seed);
    if (split == Split::kTest) {
      rows = test;
    } else {
      std::vector<char> is_test(static_cast<size_t>(d.count), 0);
      for (int64_t i : test) is_test[static_cast<size_t>(i)] = 1;
      for (int64_t i = 0; i < d.count; ++i)
        if (!is_test[static_cast<size_t>(i)]) rows.push_back(i);
    }
  }
  if (rows.empty())
    throw DataError(cfg_.dir + ": the " + split_name(split) + " split holds no images" +
                    (d.has_test_folder ? std::string(" (its folder has none)")
                                       : " (data.test_fraction = " + std::to_string(cfg_.test_fraction) +
                                             " of " + std::to_string(d.count) + " images)"));
  auto storage = d.storage();
  // The deleter holds the decoded buffer for as long as any view of it lives.
  const torch::Tensor all = torch::from_blob(const_cast<uint8_t*>(d.pixels()), {d.count, d.channels, d.height, d.width},
                                             [storage](void*) {}, torch::kUInt8);
  Dataset ds;
  if (rows.back() - rows.front() + 1 == static_cast<int64_t>(rows.size())) {
    ds.images = all.narrow(0, rows.front(), static_cast<int64_t>(rows.size()));  // a view: no second copy
  } else {
    ds.images = all.index_select(0, torch::tensor(rows, torch::kInt64));
  }
  if (d.channels == 1) ds.images = ds.images.reshape({ds.images.size(0), d.height, d.width});
  ds.has_labels = !d.class_names.empty();
  std::vector<int64_t> labels(rows.size(), 0);
  for (size_t i = 0; i < rows.size(); ++i) {
    ds.paths.push_back(d.paths[static_cast<size_t>(rows[i])]);
    labels[i] = std::max<int32_t>(0, d.labels[static_cast<size_t>(rows[i])]);
  }
  ds.labels = torch::tensor(labels, torch::kInt64);
  ds.labels_origin = cfg_.dir + (ds.has_labels ? " (class folders)" : " (a flat folder: no classes)");
  ds.class_names = d.class_names;
  return ds;
}

DataFormat detect_data_format(const DataConfig& cfg) {
  if (cfg.format != DataFormat::kAuto) return cfg.format;
  std::error_code ec;
  if (fs::exists(npy_path(cfg.dir, Split::kTrain, false), ec)) return DataFormat::kNpy;
  if (!locate_idx_file(cfg.dir, idx_file_stem(Split::kTrain, false)).empty()) return DataFormat::kIdx;
  if (!locate_amat_file(cfg.dir, "train").empty()) return DataFormat::kAmat;
  return looks_like_image_folder(cfg.dir) ? DataFormat::kImages : DataFormat::kIdx;
}

std::unique_ptr<DataSource> open_data_source(const DataConfig& cfg) {
  switch (detect_data_format(cfg)) {
    case DataFormat::kNpy: return std::make_unique<NpySource>(cfg.dir);
    case DataFormat::kImages: return std::make_unique<ImageFolderSource>(cfg);
    case DataFormat::kAmat: return std::make_unique<AmatSource>(cfg.dir);
    default: return std::make_unique<IdxSource>(cfg.dir);
  }
}

std::vector<int64_t> validation_rows(int64_t n, double fraction, uint64_t seed) {
  const auto m = static_cast<int64_t>(std::llround(static_cast<double>(n) * fraction));
  at::Generator gen = stream_generator(seed, Stream::kValidRows);
  torch::Tensor rows = std::get<0>(torch::randperm(n, gen, torch::kInt64).narrow(0, 0, m).sort()).contiguous();
  return {rows.data_ptr<int64_t>(), rows.data_ptr<int64_t>() + m};
}

bool has_validation(const DataSource& source, const DataConfig& cfg) {
  return source.has_validation() || cfg.valid_fraction > 0;
}

namespace {

Dataset take_rows(const Dataset& d, const std::vector<int64_t>& rows) {
  const torch::Tensor index = torch::tensor(rows, torch::kInt64);
  Dataset out = d;
  out.images = d.images.index_select(0, index);
  out.labels = d.labels.index_select(0, index);
  out.paths.clear();
  if (!d.paths.empty())
    for (int64_t r : rows) out.paths.push_back(d.paths[static_cast<size_t>(r)]);
  return out;
}

// Train without its held-out rows (keep false) or those rows alone (true).
Dataset hold_out(const Dataset& train, const ValidSplit& valid, bool keep) {
  const std::vector<int64_t> held = validation_rows(train.size(), valid.fraction, valid.seed);
  if (keep) return take_rows(train, held);
  std::vector<int64_t> rest;
  size_t h = 0;
  for (int64_t r = 0; r < train.size(); ++r) {
    if (h < held.size() && held[h] == r) {
      ++h;
      continue;
    }
    rest.push_back(r);
  }
  return take_rows(train, rest);
}

}  // namespace

Dataset load_split(const DataSource& source, Split split, Binarize mode, bool for_training, ValidSplit valid) {
  const bool held_out = !source.has_validation() && valid.fraction > 0;
  if (split == Split::kValid && !source.has_validation() && !held_out)
    throw DataError(source.describe() + ": has no validation split (set data.valid_fraction to hold one out)");
  Dataset ds;
  if (held_out && split != Split::kTest) {
    ds = hold_out(source.load(Split::kTrain), valid, /*keep=*/split == Split::kValid);
    if (ds.size() == 0)
      throw DataError(source.describe() + ": data.valid_fraction = " + std::to_string(valid.fraction) + " leaves the " +
                      split_name(split) + " split no images");
  } else {
    ds = source.load(split);
  }
  // One draw per split, independent of the run: the splits differ.
  const uint64_t salt = split == Split::kTrain ? 60000 : split == Split::kTest ? 10000 : 20000;
  ds.images = binarize_images(ds.images, mode, for_training, salt);
  return ds;
}

void check_labels(const ModelConfig& cfg, const Dataset& data) {
  if (!cfg.conditional || data.size() == 0) return;
  if (!data.has_labels)
    throw DataError(data.labels_origin + ": a conditional model (model.conditional) needs labels");
  const int64_t lo = data.labels.min().item<int64_t>(), hi = data.labels.max().item<int64_t>();
  if (lo < 0 || hi >= cfg.classes)
    throw DataError(data.labels_origin + ": label " + std::to_string(lo < 0 ? lo : hi) + " is outside [0, " +
                    std::to_string(cfg.classes) + "), the classes of this conditional model (model.classes)");
}

void check_data_fits(const ModelConfig& cfg, const Dataset& data, const std::string& what) {
  if (data.channels() != cfg.image_channels || data.height() != cfg.image_height || data.width() != cfg.image_width)
    throw DataError(what + " images are " + shape_text(data.channels(), data.height(), data.width()) +
                    " (channels x height x width) but the model's are " +
                    shape_text(cfg.image_channels, cfg.image_height, cfg.image_width));
  if (!data.class_names.empty() && !cfg.class_names.empty() && data.class_names != cfg.class_names)
    throw DataError(what + ": its classes differ from the model's (model.class_names), so labels would name other "
                    "classes");
  check_labels(cfg, data);
}

DataForModel load_data_for_model(const Config& cfg, const std::string& data_dir, const std::string& split) {
  DataConfig source_cfg = cfg.data;
  if (!data_dir.empty()) {
    source_cfg.dir = data_dir;
    source_cfg.format = DataFormat::kAuto;  // another folder: whatever it holds
  }
  const std::unique_ptr<DataSource> source = open_data_source(source_cfg);
  Dataset data;
  if (split == "all") {
    const Dataset train = load_split(*source, Split::kTrain, cfg.data.binarize, /*for_training=*/false);
    data = load_split(*source, Split::kTest, cfg.data.binarize, /*for_training=*/false);
    data.images = torch::cat({train.images, data.images});
    data.labels = torch::cat({train.labels, data.labels});
    data.paths.insert(data.paths.begin(), train.paths.begin(), train.paths.end());
  } else {
    data = load_split(*source, parse_split(split), cfg.data.binarize, /*for_training=*/false,
                      {cfg.data.valid_fraction, cfg.data.split_seed});
  }
  check_data_fits(cfg.model, data, source->describe() + ": " + split);
  return {source_cfg.dir, std::move(data)};
}

}  // namespace vae
