// Fuzzes the .amat reader through a real file: the first input byte picks raw
// or .gz naming; the rest is the file. Any input must end in whole 28 x 28
// images of bytes 0 and 255, or a DataError; never a crash or a leak.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "vae/amat.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const bool gz = data[0] & 1;
  const std::string path = "/tmp/vae-fuzz-amat-" + std::to_string(::getpid()) + (gz ? ".amat.gz" : ".amat");
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return 0;
  std::fwrite(data + 1, 1, size - 1, f);
  std::fclose(f);
  try {
    const vae::IdxArray a = vae::read_amat_file(path);
    if (a.shape.size() != 3 || a.shape[0] < 1 || a.shape[1] != 28 || a.shape[2] != 28) __builtin_trap();
    if (a.bytes.size() != static_cast<size_t>(a.shape[0]) * 784) __builtin_trap();
    for (uint8_t b : a.bytes)
      if (b != 0 && b != 255) __builtin_trap();
  } catch (const vae::DataError&) {
  }
  std::remove(path.c_str());
  return 0;
}
