// Larochelle's binarized MNIST (.amat): one image per line, 784
// space-separated 0/1 values (28 x 28, row-major), no labels. The benchmark
// of the VAE papers: binarized_mnist_{train,valid,test}.amat, 50,000 /
// 10,000 / 10,000 images. Torch-free, so it can be fuzzed.
//
//   vae::IdxArray a = vae::read_amat_file("binarized_mnist_test.amat.gz");
//   // a.shape == {10000, 28, 28}; a.bytes: 0 or 255 per pixel
#pragma once

#include <string>

#include "vae/idx.hpp"

namespace vae {

inline constexpr int64_t kAmatSide = 28;

// Reads an .amat file, raw or gzip (name ending in .gz, checked as the IDX
// reader checks it). Pixels become bytes 0 and 255. Strict: a line without
// exactly 784 values, a value other than 0 or 1, an empty file: DataError
// naming the file and the line number. Values may be separated by spaces or
// tabs; a line may end in \r\n; the last line's newline may be missing.
IdxArray read_amat_file(const std::string& path);

// The file of `split` ("train", "valid" or "test") in dir:
// binarized_mnist_SPLIT.amat, else .amat.gz; "" when neither exists.
std::string locate_amat_file(const std::string& dir, const std::string& split);

}  // namespace vae
