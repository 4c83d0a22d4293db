// Fuzzes the checkpoint manifest reader: any input parses into a checked
// Manifest or raises CheckpointError; a parsed one survives a round trip.
#include <cstdint>
#include <string>
#include <string_view>

#include "vae/manifest.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const vae::Manifest m = vae::parse_manifest(text, "fuzz.manifest.json");
    const vae::Manifest again = vae::parse_manifest(vae::manifest_to_json(m), "round-trip");
    if (again.epoch != m.epoch || again.step != m.step || again.files.size() != m.files.size())
      __builtin_trap();
    vae::verify_against_manifest(m, "/x/" + m.files.front().name, text);
  } catch (const vae::CheckpointError&) {
  }
  return 0;
}
