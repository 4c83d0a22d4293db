// Fuzzes the image cache parser as a forger would attack it: the input is
// everything before the digest, and the harness appends its true SHA-256,
// so every input reaches the header parser. Whatever it accepts must be
// self-consistent: counts that agree, labels inside the classes, pixels
// inside the buffer.
#include <cstdint>
#include <memory>
#include <string>

#include "vae/digest.hpp"
#include "vae/image_folder.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto bytes = std::make_shared<std::string>(reinterpret_cast<const char*>(data), size);
  bytes->append(vae::sha256_hex(*bytes));
  vae::DecodedImages d;
  std::string why;
  if (!vae::parse_image_cache(bytes, "k", d, why)) {
    if (why.empty()) __builtin_trap();
    return 0;
  }
  const auto n = static_cast<size_t>(d.count);
  if (d.count < 1 || d.paths.size() != n || d.labels.size() != n || d.in_test.size() != n) __builtin_trap();
  for (int32_t l : d.labels)
    if (l < -1 || l >= static_cast<int64_t>(d.class_names.size())) __builtin_trap();
  const size_t pixels = n * static_cast<size_t>(d.channels * d.height * d.width);
  if (d.offset_ + pixels > bytes->size()) __builtin_trap();
  volatile uint8_t sink = pixels ? d.pixels()[pixels - 1] : 0;  // ASan checks the last pixel is inside
  (void)sink;
  return 0;
}
