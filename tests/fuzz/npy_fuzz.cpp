// Fuzzes the .npy reader: any input parses into an array whose payload has
// exactly the bytes its shape and dtype need, or raises DataError.
#include <cstdint>
#include <string>
#include <string_view>

#include "vae/errors.hpp"
#include "vae/npy.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    const vae::NpyArray a = vae::parse_npy(bytes, "fuzz.npy");
    int64_t n = vae::npy_item_size(a.dtype);
    for (int64_t d : a.shape) {
      if (d < 0) __builtin_trap();
      n *= d;
    }
    if (static_cast<int64_t>(a.data.size()) != n) __builtin_trap();
  } catch (const vae::DataError&) {
  }
  return 0;
}
