// Getting MNIST-format data sets: downloads with checksums and mirrors, and
// checks of a data folder. Torch-free; HTTP through libcurl.
//
//   vae::FetchOptions opt;                       // mirrors of the named set
//   vae::fetch_dataset(vae::find_dataset("mnist"), "data/mnist-official", opt);
//   vae::CheckReport r = vae::check_folder("data/mnist-official", &vae::find_dataset("mnist"));
#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "vae/digest.hpp"
#include "vae/errors.hpp"

namespace vae {

struct RemoteFile {
  std::string name;  // e.g. "train-images-idx3-ubyte.gz"
  std::string md5;   // 32 lowercase hex digits of the file as downloaded, or
  std::string sha256 = {};  // 64 of them (where the source publishes SHA-256)
  uint64_t size = 0;  // its exact size in bytes when known: a larger transfer is refused
  // "md5 HEX" or "sha256 HEX": the checksum a good copy has.
  std::string checksum() const { return sha256.empty() ? "md5 " + md5 : "sha256 " + sha256; }
};

struct DatasetSpec {
  std::string name;                  // "mnist", "fashion-mnist", "kmnist", or "custom"
  std::vector<std::string> mirrors;  // base URLs ending in '/', tried in order
  std::vector<RemoteFile> files;
};

// The built-in sets: mnist, fashion-mnist, kmnist, with the checksums and
// mirrors torchvision uses, and binarized-mnist (Larochelle's .amat files,
// SHA-256 and sizes as TensorFlow Datasets records them). Throws FetchError
// for another name.
const DatasetSpec& find_dataset(const std::string& name);
std::vector<std::string> dataset_names();

// Reads an md5sum-style list ("<md5>  <file name>" per line), for a data set
// served from one's own mirror. Throws FetchError naming the line.
std::vector<RemoteFile> read_md5_list(const std::string& path);

struct FetchProgress {
  std::string file;
  uint64_t bytes = 0;
  uint64_t total = 0;  // 0 when the server sends no length
  double bytes_per_second = 0;
};

struct FetchOptions {
  // Replaces the spec's mirrors when not empty (a proxy, a local mirror).
  std::vector<std::string> base_urls;
  // A transfer slower than min_bytes_per_second for stall_seconds counts as
  // dropped (a server trickling bytes never ends otherwise).
  long stall_seconds = 30;
  long min_bytes_per_second = 1024;
  // A file larger than this is refused: announced (Content-Length) at once,
  // and a stream without a length as soon as it passes it. The largest file
  // of the built-in sets (Fashion-MNIST's training images) is 26 MB.
  uint64_t max_bytes = uint64_t{64} << 20;
  // Overall deadline of one file's download in seconds; 0: 60 s plus the
  // announced size at 10 kB/s (one hour when no size is announced).
  long timeout_seconds = 0;
  // Polled during transfers; true aborts the fetch (FetchError, the partial
  // file removed): a signal handler's flag.
  std::function<bool()> stop_requested;
  std::function<void(const FetchProgress&)> on_progress;
  // One line per attempt that failed and why, for the log.
  std::function<void(const std::string&)> on_retry;
};

// Downloads every file of `spec` into dir (created if needed). A file already
// present with the right checksum (MD5, or SHA-256 and size) is kept. Each download goes to a temporary name,
// is checked against its MD5, and only then renamed into place; on failure
// the next mirror is tried. Throws FetchError naming the file and each
// mirror's failure (for a checksum: both checksums).
void fetch_dataset(const DatasetSpec& spec, const std::string& dir, const FetchOptions& options);

struct CheckLine {
  std::string file;  // the file looked at (or the missing name)
  bool ok = false;
  std::string what;  // "ok: 60000 images 28x28, md5 matches", "missing", ...
};

struct CheckReport {
  std::vector<CheckLine> lines;
  bool ok() const;
};

// Verifies a data folder: the four files present (raw or .gz), each a valid
// IDX file read to the end, image and label counts equal, and the MD5 of each
// .gz compared with `spec` when one is given. For binarized MNIST (its spec,
// or a folder holding binarized_mnist_train.amat[.gz]): the three .amat
// files read to the end, and a plain file's SHA-256 compared with the spec.
CheckReport check_folder(const std::string& dir, const DatasetSpec* spec);

}  // namespace vae
