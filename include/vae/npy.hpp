// The NumPy .npy format (versions 1.0, 2.0 and 3.0), without LibTorch: a
// strict reader kept torch-free so it can be fuzzed. Only what an image or
// label array needs: C order, little-endian (or single-byte) integers and
// float32.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vae {

enum class NpyDtype { kUInt8, kInt32, kInt64, kFloat32 };

struct NpyArray {
  NpyDtype dtype = NpyDtype::kUInt8;
  std::vector<int64_t> shape;
  std::string data;  // product(shape) * item size bytes, C order, little-endian
};

// The item size in bytes and the NumPy spelling ("uint8", "float32", ...).
int64_t npy_item_size(NpyDtype dtype);
const char* npy_dtype_name(NpyDtype dtype);

// Parses the bytes of a .npy file. Checks the magic and version, that the
// header is one Python dict literal holding exactly 'descr', 'fortran_order'
// and 'shape', the dtype, C order, every dimension, and that the payload has
// exactly the bytes the shape needs. Throws DataError naming `name`.
NpyArray parse_npy(std::string_view bytes, const std::string& name);

// Reads and parses a .npy file.
NpyArray read_npy_file(const std::string& path);

}  // namespace vae
