#include "vae/io.hpp"

#include "test_hooks.hpp"
#include "vae/idx.hpp"
#include "vae/run_dir.hpp"  // the run folder layout, header-only

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace vae {
namespace {

std::string sys_error(const std::string& path, const std::string& action, int err) {
  return path + ": cannot " + action + ": " + std::strerror(err);
}

// Bytes left before injected writes fail; negative: no injection.
int64_t g_write_budget = -1;

std::string parent_dir(const std::string& path) {
  const auto parent = std::filesystem::path(path).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

}  // namespace

namespace {

// The path with every link resolved, for a file that may not exist yet.
std::filesystem::path resolved(const std::string& path) {
  std::error_code ec;
  std::filesystem::path p = std::filesystem::weakly_canonical(std::filesystem::absolute(path, ec), ec);
  return ec ? std::filesystem::path(path).lexically_normal() : p;
}

bool inside(const std::filesystem::path& p, const std::filesystem::path& dir) {
  const auto rel = p.lexically_relative(dir);
  return !rel.empty() && *rel.begin() != ".." && rel != ".";
}

// Why `p` (resolved) is a run folder's own file (RunDir::outputs(), inside
// its checkpoints/ or images/ folder too), or "".
std::string run_folder_file(const std::filesystem::path& p) {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (const fs::path& dir : {p.parent_path(), p.parent_path().parent_path()}) {
    if (!fs::is_directory(dir / "checkpoints", ec)) continue;
    const RunDir run(dir.string());
    std::vector<std::string> owned = run.outputs();
    owned.push_back(run.lock_file());
    for (const std::string& o : owned) {
      const fs::path owned_path(o);
      if (p == owned_path) return "the run folder's " + owned_path.filename().string() + " (" + dir.string() + ")";
      if (fs::is_directory(owned_path, ec) && p.parent_path() == owned_path)
        return "a file of the run folder " + dir.string();
    }
  }
  return "";
}

// What data an existing file holds, by its name or its first bytes, or "".
std::string data_file_kind(const std::filesystem::path& p) {
  const std::string name = p.filename().string();
  for (const bool test : {false, true})
    for (const bool labels : {false, true})
      if (const std::string stem = official_idx_stem(test, labels); name == stem || name == stem + ".gz")
        return "an IDX data file";
  for (const char* npy : {"train_images.npy", "train_labels.npy", "test_images.npy", "test_labels.npy"})
    if (name == npy) return "a data set's NumPy array";
  if (ends_with(name, ".amat") || ends_with(name, ".amat.gz")) return "a data file (amat)";
  std::FILE* f = std::fopen(p.c_str(), "rb");
  if (f == nullptr) return "";
  unsigned char b[4] = {0, 0, 0, 0};
  const size_t n = std::fread(b, 1, 4, f);
  std::fclose(f);
  if (n >= 2 && b[0] == 0x1f && b[1] == 0x8b) return "gzip data";
  if (n == 4 && b[0] == 'P' && b[1] == 'K' && b[2] == 3 && b[3] == 4) return "a zip archive (a checkpoint?)";
  if (n == 4 && b[0] == 0 && b[1] == 0 && b[2] == 8 && (b[3] == 1 || b[3] == 3)) return "IDX data";
  return "";
}

}  // namespace

void refuse_output_over_input(const std::string& out, const std::vector<std::string>& inputs,
                              const std::vector<std::string>& data_dirs, const std::string& flag) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path p = resolved(out);
  const bool exists = fs::exists(p, ec);
  const auto refuse = [&](const std::string& what) {
    throw std::invalid_argument(flag + " " + out + ": refusing to write over " + what);
  };
  if (exists && fs::is_directory(p, ec)) refuse("a folder");
  for (const std::string& in : inputs)
    if (!in.empty() && (p == resolved(in) || (exists && fs::equivalent(p, in, ec)))) refuse("the input " + in);
  if (const std::string why = run_folder_file(p); !why.empty()) refuse(why);
  if (!exists) return;
  for (const std::string& dir : data_dirs)
    if (!dir.empty() && inside(p, resolved(dir))) refuse("a file of the data folder " + dir + ", which it reads");
  if (const std::string kind = data_file_kind(p); !kind.empty()) refuse(kind);
}

void write_file_durable(const std::string& path, std::string_view bytes,
                        const std::string& name_for_errors) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw IoError(sys_error(name_for_errors, "write (creating " + path + ")", errno));
  const char* p = bytes.data();
  size_t left = bytes.size();
  int err = 0;
  while (left > 0) {
    size_t chunk = left;
    if (g_write_budget >= 0) {
      if (g_write_budget == 0) {
        err = ENOSPC;
        break;
      }
      chunk = std::min<size_t>(chunk, static_cast<size_t>(g_write_budget));
    }
    const ssize_t n = ::write(fd, p, chunk);
    if (n < 0) {
      if (errno == EINTR) continue;
      err = errno;
      break;
    }
    if (g_write_budget >= 0) g_write_budget -= n;
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err != 0) {
    ::unlink(path.c_str());
    throw IoError(sys_error(name_for_errors, "write", err));
  }
}

void rename_durable(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    const int err = errno;
    throw IoError(sys_error(to, "write (renaming " + from + ")", err));
  }
  const int dfd = ::open(parent_dir(to).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

void write_file_atomic(const std::string& path, std::string_view bytes) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  write_file_durable(tmp, bytes, path);
  try {
    rename_durable(tmp, path);
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw IoError(sys_error(path, "open", errno));
  std::ostringstream out;
  out << f.rdbuf();
  if (f.bad()) throw IoError(sys_error(path, "read", errno));
  return out.str();
}

std::string read_regular_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw IoError(sys_error(path, "open", errno));
  if (!S_ISREG(st.st_mode))
    throw IoError(path + ": not a regular file (" +
                  (S_ISDIR(st.st_mode)    ? "a folder"
                   : S_ISFIFO(st.st_mode) ? "a FIFO"
                   : S_ISSOCK(st.st_mode) ? "a socket"
                                          : "a device") +
                  "): refusing to read it");
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw IoError(sys_error(path, "open", errno));
  std::string out(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::read(fd, out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : 0;
      ::close(fd);
      if (err != 0) throw IoError(sys_error(path, "read", err));
      throw IoError(path + ": shrank while being read (" + std::to_string(done) + " of " +
                    std::to_string(out.size()) + " bytes)");
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return out;
}

void make_dirs(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) throw IoError(path + ": cannot create folder: " + ec.message());
}

}  // namespace vae

namespace vae::test_hooks {

std::function<bool(int64_t)> poison_step;

void inject_write_failure_after(int64_t bytes) { g_write_budget = bytes; }

}  // namespace vae::test_hooks
