// Fuzzes the IDX reader through a real file: the first input byte picks raw
// or .gz naming and images or labels; the rest is the file. Any input must end
// in an IdxArray of consistent size or a DataError, never a crash or leak.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "vae/idx.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const bool gz = data[0] & 1;
  const bool labels = data[0] & 2;
  const std::string path = "/tmp/vae-fuzz-idx-" + std::to_string(::getpid()) + (gz ? ".gz" : "");
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return 0;
  std::fwrite(data + 1, 1, size - 1, f);
  std::fclose(f);
  try {
    const vae::IdxArray a = labels ? vae::read_idx_file(path, vae::kIdxLabelsMagic, 1)
                                   : vae::read_idx_file(path, vae::kIdxImagesMagic, 3);
    uint64_t n = 1;
    for (int64_t d : a.shape) n *= static_cast<uint64_t>(d);
    if (n != a.bytes.size()) __builtin_trap();
  } catch (const vae::DataError&) {
  }
  std::remove(path.c_str());
  return 0;
}
