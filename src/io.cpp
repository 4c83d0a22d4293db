#include "vae/io.hpp"

#include "test_hooks.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstdint>
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
