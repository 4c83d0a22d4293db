// Checksums as lowercase hex (OpenSSL): SHA-256 for checkpoint manifests,
// MD5 for the official data set files, SHA-256 for binarized MNIST's.
#pragma once

#include <string>
#include <string_view>

namespace vae {

// SHA-256 of bytes: 64 hex digits.
std::string sha256_hex(std::string_view bytes);

// MD5 of a file's content: 32 hex digits. Throws IoError naming the file.
std::string md5_file(const std::string& path);

// SHA-256 of a file's content: 64 hex digits. Throws IoError naming the file.
std::string sha256_file(const std::string& path);

}  // namespace vae
