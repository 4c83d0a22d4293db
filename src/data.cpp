#include "vae/data.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <zlib.h>

#include <filesystem>
#include <limits>
#include <memory>
#include <sstream>

#include "vae/io.hpp"

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
  throw DataError("unknown split '" + name + "', expected 'train' or 'test'");
}

const char* split_name(Split split) { return split == Split::kTrain ? "train" : "test"; }

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
  const std::string prefix = split == Split::kTrain ? "train" : "t10k";
  return prefix + (labels ? "-labels-idx1-ubyte" : "-images-idx3-ubyte");
}

std::string find_idx_file(const std::string& dir, const std::string& stem) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw DataError(dir + ": data folder does not exist");
  const fs::path raw = fs::path(dir) / stem;
  if (fs::exists(raw, ec)) return raw.string();
  const fs::path gz = fs::path(dir) / (stem + ".gz");
  if (fs::exists(gz, ec)) return gz.string();
  throw DataError(dir + ": missing " + stem + " (or " + stem +
                  ".gz); expected the four MNIST-format IDX files");
}

Dataset load_split(const std::string& dir, Split split) {
  const std::string images_path = find_idx_file(dir, idx_file_stem(split, false));
  const std::string labels_path = find_idx_file(dir, idx_file_stem(split, true));
  Dataset ds{read_idx_images(images_path), read_idx_labels(labels_path)};
  if (ds.images.size(0) != ds.labels.size(0))
    throw DataError(labels_path + ": holds " + std::to_string(ds.labels.size(0)) +
                    " labels but " + images_path + " holds " +
                    std::to_string(ds.images.size(0)) + " images");
  if (ds.size() == 0) throw DataError(images_path + ": holds no images");
  return ds;
}

Binarize parse_binarize(const std::string& name) {
  if (name == "none") return Binarize::kNone;
  if (name == "static") return Binarize::kStatic;
  if (name == "dynamic") return Binarize::kDynamic;
  throw DataError("data.binarize must be \"none\", \"static\" or \"dynamic\", not \"" + name + "\"");
}

torch::Tensor binarize_images(const torch::Tensor& images, Binarize mode, bool for_training, uint64_t seed) {
  if (mode == Binarize::kNone || (mode == Binarize::kDynamic && for_training)) return images;
  if (mode == Binarize::kStatic) return (images >= 128).to(torch::kUInt8) * 255;
  auto gen = at::detail::createCPUGenerator(seed ^ 0x5bd1e9955bd1e995ull);
  const torch::Tensor p = images.to(torch::kCPU, torch::kFloat32) / 255.0f;
  return (torch::bernoulli(p, gen) * 255).to(torch::kUInt8).to(images.device());
}

Dataset load_split(const std::string& dir, Split split, Binarize mode, bool for_training) {
  Dataset ds = load_split(dir, split);
  // One draw per split, independent of the run: train and test differ.
  ds.images = binarize_images(ds.images, mode, for_training, split == Split::kTrain ? 60000 : 10000);
  return ds;
}

torch::Tensor binarize_batch(const torch::Tensor& x, Binarize mode) {
  return mode == Binarize::kDynamic ? torch::bernoulli(x) : x;
}

torch::Tensor corrupt(const torch::Tensor& x, const std::string& noise, double level, at::Generator* gen) {
  const auto draw = [&](bool normal) {
    if (!gen) return normal ? torch::randn_like(x) : torch::rand_like(x);
    const auto opts = torch::TensorOptions().dtype(x.scalar_type());
    return (normal ? torch::randn(x.sizes(), *gen, opts) : torch::rand(x.sizes(), *gen, opts)).to(x.device());
  };
  if (noise == "gaussian") return (x + level * draw(true)).clamp(0, 1);
  if (noise == "mask") return x * (draw(false) >= level).to(x.scalar_type());
  if (noise == "salt_pepper") {
    const torch::Tensor hit = draw(false) < level;
    const torch::Tensor salt = (draw(false) < 0.5).to(x.scalar_type());
    return torch::where(hit, salt, x);
  }
  throw DataError("data.noise must be \"gaussian\", \"mask\" or \"salt_pepper\", not \"" + noise + "\"");
}

torch::Tensor epoch_permutation(int64_t n, uint64_t seed, int64_t epoch) {
  // splitmix64 of (seed, epoch): independent streams per epoch, and the order
  // does not depend on how many random numbers training drew before.
  uint64_t z = seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(epoch) + 0x632BE59BD9B4E019ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  auto gen = at::detail::createCPUGenerator(z);
  return torch::randperm(n, gen, torch::TensorOptions().dtype(torch::kInt64));
}

torch::Tensor to_unit_float(const torch::Tensor& pixels) {
  return pixels.reshape({pixels.size(0), -1}).to(torch::kFloat32).div_(255.0f);
}

}  // namespace vae
