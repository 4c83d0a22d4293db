// Every exception type of the library. Each what() is one line naming the
// file or key and the problem; the tools print it and exit 1.
#pragma once

#include <stdexcept>

namespace vae {

// A config that cannot be used; names the key (and the file and line).
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A memory limit (ulimit -v or -d, a cgroup's) too tight to run at all;
// names the limit. The tools leave at once (std::_Exit): OpenBLAS's worker
// threads may already be stuck allocating, and its exit handler joins them.
class MemoryLimitError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A malformed or unreadable data file; names the file.
class DataError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A file that cannot be read or written; names the path and the system's reason.
class IoError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A checkpoint that is missing, incomplete, damaged or not ours.
class CheckpointError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A download that failed on every mirror, or a bad fetch request.
class FetchError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A NaN or Inf loss or gradient with train.nonfinite = "stop".
class DivergedError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A process of a distributed run was lost, could not be reached within
// train.dist_timeout, or disagrees with rank 0 (another config or binary).
class DistError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace vae
