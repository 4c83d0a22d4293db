// The IDX file format of MNIST, without LibTorch: the strict reader that
// vae::read_idx_images/labels wrap, kept torch-free so it can be fuzzed.
#pragma once

#include <cstdint>
#include <stdexcept>

#include "vae/errors.hpp"
#include <string>
#include <vector>

namespace vae {

// IDX magic numbers: 0x00000803 (unsigned byte, 3 dims) and 0x00000801 (1 dim).
inline constexpr uint32_t kIdxImagesMagic = 2051;
inline constexpr uint32_t kIdxLabelsMagic = 2049;

struct IdxArray {
  std::vector<int64_t> shape;  // e.g. {N, 28, 28}
  std::vector<uint8_t> bytes;  // row-major payload, product(shape) bytes
};

// Reads an IDX file of unsigned bytes with `ndims` dimensions, raw or gzip
// (name ending in .gz). Checks the magic, the header, the payload length
// (before allocating), trailing bytes, and the gzip stream and CRC.
IdxArray read_idx_file(const std::string& path, uint32_t magic, size_t ndims);

// The official file stem of a split's images or labels (MNIST's names):
// "train-images-idx3-ubyte", "t10k-labels-idx1-ubyte".
std::string official_idx_stem(bool test, bool labels);

// The file `stem` in dir, raw (dir/stem) preferred, else gzip (dir/stem.gz);
// "" when neither exists.
std::string locate_idx_file(const std::string& dir, const std::string& stem);

}  // namespace vae
