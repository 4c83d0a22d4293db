// Checkpoint manifests: the small JSON file written after a checkpoint's data
// that marks it complete. Torch-free, so the reader can be fuzzed.
//
//   checkpoints/last.pt             the LibTorch archive (weights, optimizer, ...)
//   checkpoints/last.manifest.json  {"format": "vae-checkpoint-manifest", "format_version": 1,
//                                    "epoch": 4, "step": 284, "libtorch": "1.13.0",
//                                    "config": "<TOML>", "files": [{"name": "last.pt",
//                                    "bytes": 2951234, "sha256": "ab12..."}]}
#pragma once

#include <cstdint>
#include <stdexcept>

#include "vae/errors.hpp"
#include <string>
#include <string_view>
#include <vector>

#include "vae/digest.hpp"

namespace vae {

inline constexpr int64_t kManifestVersion = 1;

struct ManifestFile {
  std::string name;  // file name, relative to the manifest's folder
  uint64_t bytes = 0;
  std::string sha256;  // 64 lowercase hex digits
};

struct Manifest {
  int64_t epoch = 0;  // epochs completed
  int64_t step = 0;   // optimizer steps completed
  std::string libtorch;
  std::string config;  // TOML text
  std::vector<ManifestFile> files;
};

std::string manifest_to_json(const Manifest& m);

// Parses and checks a manifest's structure; `origin` names it in errors.
// Throws CheckpointError on anything malformed.
Manifest parse_manifest(std::string_view json, const std::string& origin);

// Throws CheckpointError unless `bytes` (the content of file `path`) matches
// the manifest's entry for its file name.
void verify_against_manifest(const Manifest& m, const std::string& path, std::string_view bytes);

// "run/checkpoints/last.pt" -> "run/checkpoints/last.manifest.json".
std::string manifest_path_for(const std::string& checkpoint_path);

}  // namespace vae
