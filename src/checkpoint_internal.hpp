// Private to the checkpoint files: what checkpoint.cpp (the fields and
// the save), checkpoint_archive.cpp (the archive as untrusted input) and
// checkpoint_recovery.cpp (the manifest, interrupted saves, resume lookup)
// share.
#pragma once

#include <torch/serialize/input-archive.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "vae/checkpoint.hpp"
#include "vae/manifest.hpp"

namespace vae {

// Throws CheckpointError "PATH: WHAT".
[[noreturn]] void checkpoint_fail(const std::string& path, const std::string& what);

// The first line of a LibTorch error, without its C++ backtrace.
std::string short_error(const c10::Error& e);

// read_file, its IoError as a CheckpointError.
std::string read_checkpoint_file(const std::string& path);

// Checks `bytes` (the content of checkpoint `path`) against its manifest; a
// crash between save_checkpoint's two renames leaves a complete ".next"
// manifest, which is accepted (and renamed) too.
Manifest verify_checkpoint(const std::string& path, std::string_view bytes);

// Opens verified bytes as an archive, its tensors on the CPU: the archive
// rebuilt from checked records, every tensor checked before anything reads
// one. Throws CheckpointError naming path.
void open_archive(const std::string& path, const std::string& bytes, torch::serialize::InputArchive& archive);

// A named entry of the archive, of its type, or CheckpointError.
int64_t read_int(torch::serialize::InputArchive& a, const std::string& path, const std::string& key);
double read_double(torch::serialize::InputArchive& a, const std::string& path, const std::string& key);
std::string read_string(torch::serialize::InputArchive& a, const std::string& path, const std::string& key);

}  // namespace vae
