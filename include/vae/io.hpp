// File helpers shared by data, checkpoints and images.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace vae {

// Thrown when a file cannot be read or written; what() names the path and the
// system's reason.
class IoError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Replaces `path` with `bytes` so that a reader sees either the old file or the
// whole new one: writes `path.tmp.<pid>` in the same folder, fsyncs it, renames
// it over `path`, and fsyncs the folder. On failure the temporary is removed,
// the old file is untouched, and IoError is thrown.
void write_file_atomic(const std::string& path, std::string_view bytes);

// Reads a whole file; throws IoError when it cannot.
std::string read_file(const std::string& path);

// Creates a folder and its parents; throws IoError when it cannot.
void make_dirs(const std::string& path);

bool ends_with(std::string_view s, std::string_view suffix);

}  // namespace vae
