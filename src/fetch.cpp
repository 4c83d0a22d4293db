#include "vae/fetch.hpp"

#include <curl/curl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "vae/digest.hpp"
#include "vae/idx.hpp"
#include "vae/io.hpp"
#include "vae/amat.hpp"
#include "vae/text.hpp"

namespace vae {
namespace {

namespace fs = std::filesystem;

std::vector<DatasetSpec> make_builtin() {
  // Checksums and mirrors as in torchvision.datasets (MNIST, FashionMNIST,
  // KMNIST); for MNIST the mirror first, since the original host is often down.
  return {
      {"mnist",
       {"https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"},
       {{"train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"},
        {"train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"},
        {"t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"},
        {"t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"}}},
      {"fashion-mnist",
       {"http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"},
       {{"train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"},
        {"train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"},
        {"t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"},
        {"t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"}}},
      {"kmnist",
       {"http://codh.rois.ac.jp/kmnist/dataset/kmnist/"},
       {{"train-images-idx3-ubyte.gz", "bdb82020997e1d708af4cf47b453dcf7"},
        {"train-labels-idx1-ubyte.gz", "e144d726b3acfaa3e44228e80efcd344"},
        {"t10k-images-idx3-ubyte.gz", "5c965bf0a639b31b8f53240b1b52f4d7"},
        {"t10k-labels-idx1-ubyte.gz", "7320c461ea6c1c855c0b718fb2a4b134"}}},
      // Larochelle's statically binarized MNIST, the VAE papers' benchmark,
      // served uncompressed; SHA-256 and sizes from TensorFlow Datasets'
      // url_checksums/binarized_mnist.txt.
      {"binarized-mnist",
       {"http://www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist/"},
       {{"binarized_mnist_train.amat", "", "ad693b29f94c14277b095f5238ddefbbdaaae0939789dd2f4f0205278cee3e4d",
         78400000},
        {"binarized_mnist_valid.amat", "", "1de3d397c40fe8eeb33dafd4099a1f665ec01e96d9be234aaeeac8a34930e2e2",
         15680000},
        {"binarized_mnist_test.amat", "", "e6687bfea3f820c174f33b7865140b2a2dd2930ef786f35d45795fc193b5ab2c",
         15680000}}},
  };
}

const std::vector<DatasetSpec>& builtin() {
  static const std::vector<DatasetSpec> specs = make_builtin();
  return specs;
}

bool is_md5_hex(const std::string& s) {
  if (s.size() != 32) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// Everything one transfer needs inside libcurl's callbacks.
struct Transfer {
  std::FILE* out = nullptr;
  const FetchOptions* options = nullptr;
  uint64_t limit = 0;  // bytes: the file's known size, else options->max_bytes
  std::string limit_name;  // for messages
  std::string file;
  uint64_t written = 0;
  std::string refused;  // why the transfer was aborted from a callback
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point next_report = start;
  bool reported_done = false;
};

std::string mib(uint64_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

size_t on_data(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  if (t->written + size * n > t->limit) {  // a stream that never stops growing
    t->refused = "more than " + t->limit_name + ": refused";
    return 0;  // libcurl aborts the transfer
  }
  t->written += size * n;
  return std::fwrite(data, size, n, t->out) * size;
}

// The overall deadline of a transfer: --timeout, else 60 s plus the announced
// size at 10 kB/s, else an hour.
double deadline_seconds(const FetchOptions& o, curl_off_t total) {
  if (o.timeout_seconds > 0) return static_cast<double>(o.timeout_seconds);
  return total > 0 ? 60.0 + static_cast<double>(total) / 10e3 : 3600.0;
}

int on_progress(void* user, curl_off_t total, curl_off_t now, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  const auto clock = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(clock - t->start).count();
  if (t->options->stop_requested && t->options->stop_requested()) {
    t->refused = "interrupted";
    return 1;
  }
  if (elapsed > deadline_seconds(*t->options, total)) {
    t->refused = "timed out after " + std::to_string(static_cast<long>(elapsed)) + " s with " +
                 std::to_string(now) + (total > 0 ? " of " + std::to_string(total) : std::string()) +
                 " bytes (--timeout)";
    return 1;
  }
  if (!t->options->on_progress) return 0;
  const bool done = total > 0 && now == total;
  if (done && t->reported_done) return 0;
  if (clock < t->next_report && !done) return 0;
  t->reported_done = done;
  t->next_report = clock + std::chrono::milliseconds(200);
  const double secs = std::chrono::duration<double>(clock - t->start).count();
  t->options->on_progress({t->file, static_cast<uint64_t>(now), static_cast<uint64_t>(total),
                           secs > 0 ? static_cast<double>(now) / secs : 0.0});
  return 0;
}

// Downloads url into path; returns "" on success, else why not.
std::string download(const std::string& url, const std::string& path, const RemoteFile& file,
                     const FetchOptions& options) {
  static const bool curl_ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  if (!curl_ready) return "libcurl failed to initialise";
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) return "libcurl failed to initialise";
  Transfer t;
  t.options = &options;
  t.file = file.name;
  t.limit = file.size > 0 ? file.size : options.max_bytes;
  t.limit_name = file.size > 0 ? std::to_string(file.size) + " bytes (the file's known size)"
                               : mib(options.max_bytes) + " (the limit, --max-mb)";
  t.out = std::fopen(path.c_str(), "wb");
  if (t.out == nullptr) return "cannot create " + path;
  char err[CURL_ERROR_SIZE] = {0};
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);  // HTTP >= 400 is an error
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 20L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, options.min_bytes_per_second);  // a stalled transfer is dropped
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, options.stall_seconds);
  // An announced size over the limit is refused before a byte is written.
  curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(t.limit));
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "vae-data");
  const CURLcode rc = curl_easy_perform(c);
  const bool write_ok = std::fflush(t.out) == 0 && ::fsync(fileno(t.out)) == 0;
  std::fclose(t.out);
  if (!t.refused.empty()) return t.refused;
  if (rc == CURLE_FILESIZE_EXCEEDED)
    return "the server announces more than " + t.limit_name + ": refused";
  if (rc == CURLE_OPERATION_TIMEDOUT)
    return std::string(err[0] ? err : "timed out") + " (slower than " + std::to_string(options.min_bytes_per_second) +
           " bytes/s for " + std::to_string(options.stall_seconds) + " s)";
  if (rc != CURLE_OK) return err[0] ? std::string(err) : curl_easy_strerror(rc);
  if (!write_ok) return "cannot write " + path;
  if (file.size > 0 && t.written != file.size)
    return std::to_string(t.written) + " bytes, expected " + std::to_string(file.size);
  return "";
}

// The checksum of a downloaded or present file, in the spec's kind.
std::string checksum_of(const std::string& path, const RemoteFile& file) {
  return file.sha256.empty() ? "md5 " + md5_file(path) : "sha256 " + sha256_file(path);
}

// Whether a file already in the folder is the good copy.
bool is_good_copy(const std::string& path, const RemoteFile& file) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return false;
  if (file.size > 0 && fs::file_size(path, ec) != file.size) return false;
  return checksum_of(path, file) == file.checksum();
}

std::string join_url(const std::string& base, const std::string& file) {
  return base.empty() || base.back() == '/' ? base + file : base + "/" + file;
}

bool looks_like_html(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return false;
  char buf[16] = {0};
  const size_t n = std::fread(buf, 1, sizeof buf, f);
  std::fclose(f);
  const std::string head(buf, n);
  return head.find('<') != std::string::npos && head.find('<') < 4;
}

// Removes NAME.part.PID files left by a fetch that died (its PID gone).
void remove_stale_parts(const std::string& target) {
  const fs::path p(target);
  const std::string prefix = p.filename().string() + ".part.";
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(p.parent_path(), ec)) {
    const std::string name = entry.path().filename().string();
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    const long pid = std::strtol(name.c_str() + prefix.size(), nullptr, 10);
    if (pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM)) continue;  // still downloading
    fs::remove(entry.path(), ec);
  }
}

}  // namespace

const DatasetSpec& find_dataset(const std::string& name) {
  for (const auto& s : builtin())
    if (s.name == name) return s;
  throw FetchError("unknown data set '" + name + "' (known: " + join(dataset_names(), ", ") + ")");
}

std::vector<std::string> dataset_names() {
  std::vector<std::string> names;
  for (const auto& s : builtin()) names.push_back(s.name);
  return names;
}

std::vector<RemoteFile> read_md5_list(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw FetchError(path + ": cannot open checksum list");
  std::vector<RemoteFile> files;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    RemoteFile f;
    ls >> f.md5 >> f.name;
    if (!f.name.empty() && f.name[0] == '*') f.name.erase(0, 1);  // md5sum's binary marker
    if (!is_md5_hex(f.md5) || f.name.empty() || f.name.find('/') != std::string::npos)
      throw FetchError(path + ":" + std::to_string(n) + ": expected '<md5>  <file name>'");
    files.push_back(f);
  }
  if (files.empty()) throw FetchError(path + ": lists no files");
  return files;
}

void fetch_dataset(const DatasetSpec& spec, const std::string& dir, const FetchOptions& options) {
  const std::vector<std::string>& mirrors = options.base_urls.empty() ? spec.mirrors : options.base_urls;
  if (mirrors.empty()) throw FetchError("no base URL to download " + spec.name + " from");
  make_dirs(dir);
  for (const RemoteFile& file : spec.files) {
    const std::string target = (fs::path(dir) / file.name).string();
    std::error_code ec;
    if (is_good_copy(target, file)) continue;  // already complete
    remove_stale_parts(target);
    const std::string part = target + ".part." + std::to_string(::getpid());
    std::string failures;
    bool done = false;
    for (const std::string& base : mirrors) {
      const std::string url = join_url(base, file.name);
      std::string why;
      try {
        why = download(url, part, file, options);
        if (why.empty()) {
          const std::string got = checksum_of(part, file);
          if (got == file.checksum()) {
            rename_durable(part, target);
            done = true;
            break;
          }
          why = "checksum mismatch: " + got + ", expected " + (file.sha256.empty() ? file.md5 : file.sha256) +
                (looks_like_html(part) ? " (the server sent an HTML page)" : "");
        }
      } catch (...) {
        fs::remove(part, ec);
        throw;
      }
      fs::remove(part, ec);
      if (options.stop_requested && options.stop_requested())
        throw FetchError(target + ": download interrupted; the partial file was removed");
      if (options.on_retry) options.on_retry(file.name + " from " + url + ": " + why);
      failures += (failures.empty() ? " " : "; ") + url + ": " + why;
    }
    if (!done)
      throw FetchError(target + ": could not download a good copy (" + file.checksum() + ") from any mirror:" +
                       failures);
  }
}

bool CheckReport::ok() const {
  for (const auto& l : lines)
    if (!l.ok) return false;
  return !lines.empty();
}

namespace {

// binarized MNIST's three .amat files: each present (raw or .gz), read to
// the end, its image count; a raw file's size and SHA-256 against the spec.
CheckReport check_amat_folder(const std::string& dir, const DatasetSpec* spec) {
  CheckReport report;
  std::error_code ec;
  for (const char* split : {"train", "valid", "test"}) {
    const std::string name = std::string("binarized_mnist_") + split + ".amat";
    const std::string path = locate_amat_file(dir, split);
    if (path.empty()) {
      report.lines.push_back({name, false, "BAD: missing (neither " + name + " nor " + name + ".gz)"});
      continue;
    }
    CheckLine line{path, true, std::to_string(fs::file_size(path, ec)) + " bytes, "};
    try {
      line.what += std::to_string(read_amat_file(path).shape[0]) + " images 28x28";
    } catch (const DataError& e) {
      line.ok = false;
      line.what += e.what();
    }
    for (const RemoteFile& f : spec != nullptr ? spec->files : std::vector<RemoteFile>{}) {
      if (f.name != name) continue;
      if (path != (fs::path(dir) / name).string()) {
        line.what += " (compressed: " + spec->name + "'s sha256 is of the plain file)";
      } else if (const std::string got = checksum_of(path, f); got == f.checksum()) {
        line.what += ", " + got + " matches " + spec->name;
      } else {
        line.ok = false;
        line.what += ", " + got + " but " + spec->name + " has " + f.checksum();
      }
    }
    line.what = (line.ok ? "ok: " : "BAD: ") + line.what;
    report.lines.push_back(line);
  }
  return report;
}

}  // namespace

CheckReport check_folder(const std::string& dir, const DatasetSpec* spec) {
  CheckReport report;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    report.lines.push_back({dir, false, "BAD: not a folder"});
    return report;
  }
  const bool amat = spec != nullptr ? !spec->files.empty() && !spec->files[0].sha256.empty()
                                    : !locate_amat_file(dir, "train").empty();
  if (amat) return check_amat_folder(dir, spec);
  std::string sizes[2];  // "HxW" of each split's images, when read
  for (size_t split = 0; split < 2; ++split) {
    const std::string pair[2] = {official_idx_stem(split == 1, false), official_idx_stem(split == 1, true)};
    int64_t counts[2] = {-1, -1};
    for (int k = 0; k < 2; ++k) {
      const std::string& stem = pair[k];
      const fs::path gz = fs::path(dir) / (stem + ".gz");
      const fs::path path = locate_idx_file(dir, stem);
      if (path.empty()) {
        report.lines.push_back({stem, false, "BAD: missing (neither " + stem + " nor " + stem + ".gz)"});
        continue;
      }
      CheckLine line{path.string(), true, std::to_string(fs::file_size(path, ec)) + " bytes, "};
      try {
        const IdxArray a = read_idx_file(path.string(), k == 0 ? kIdxImagesMagic : kIdxLabelsMagic,
                                         k == 0 ? 3 : 1);
        counts[k] = a.shape[0];
        if (k == 0) sizes[split] = shape_text(a.shape[1], a.shape[2]);
        if (k == 0 && a.shape[0] == 0) line.ok = false;
        line.what += std::to_string(a.shape[0]) + (k == 0 ? " images " + sizes[split] : " labels");
      } catch (const DataError& e) {
        line.ok = false;
        line.what += e.what();
      }
      if (spec != nullptr && path == gz) {
        for (const auto& f : spec->files) {
          if (f.name != gz.filename().string()) continue;
          const std::string got = md5_file(path.string());
          if (got == f.md5) {
            line.what += ", md5 matches " + spec->name;
          } else {
            line.ok = false;
            line.what += ", md5 " + got + " but " + spec->name + " has " + f.md5;
          }
        }
      }
      if (k == 0 && counts[0] == 0) line.what += " (training needs at least one image)";
      line.what = (line.ok ? "ok: " : "BAD: ") + line.what;
      report.lines.push_back(line);
    }
    if (counts[0] >= 0 && counts[1] >= 0 && counts[0] != counts[1])
      report.lines.push_back({pair[1], false,
                              "BAD: " + std::to_string(counts[1]) + " labels for " +
                                  std::to_string(counts[0]) + " images"});
  }
  if (!sizes[0].empty() && !sizes[1].empty() && sizes[0] != sizes[1])
    report.lines.push_back({dir, false,
                            "BAD: train images are " + sizes[0] + " but test images are " + sizes[1] +
                                " (a model trains and is tested on one image size)"});
  return report;
}

}  // namespace vae
