#include "vae/memory_limit.hpp"

#include <dlfcn.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "vae/errors.hpp"

namespace vae {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;
// cgroup v1 writes "no limit" as the largest page-aligned int64.
constexpr uint64_t kNoLimit = uint64_t{1} << 60;

std::optional<std::string> read_small(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::optional<uint64_t> read_number(const std::string& path) {
  const auto text = read_small(path);
  if (!text) return std::nullopt;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(text->c_str(), &end, 10);
  if (end == text->c_str()) return std::nullopt;  // "max", or not a number
  return v;
}

// The value of `key` in a memory.stat file; 0 when absent.
uint64_t stat_value(const std::string& stat_file, const std::string& key) {
  std::istringstream in(read_small(stat_file).value_or(""));
  std::string k;
  uint64_t v = 0;
  while (in >> k >> v)
    if (k == key) return v;
  return 0;
}

// The cgroup path of a v2 line ("0::/a/b") or of the v1 memory
// controller's line ("4:memory:/a/b"); empty when absent.
std::string cgroup_path(const std::string& proc_self_cgroup, bool v2) {
  std::istringstream in(proc_self_cgroup);
  for (std::string line; std::getline(in, line);) {
    const size_t a = line.find(':');
    const size_t b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1);
    bool match = v2 ? controllers.empty() : false;
    if (!v2) {
      std::istringstream list(controllers);
      for (std::string c; std::getline(list, c, ',');) match = match || c == "memory";
    }
    if (match) return line.substr(b + 1);
  }
  return {};
}

struct Layout {
  std::string mount, limit, usage, cache;
};

// The limits on `path` and its ancestors up to the mount, in one layout.
void tightest(const Layout& l, std::string path, std::optional<CgroupMemory>& best) {
  std::ifstream probe(l.mount + path + "/" + l.limit);
  if (!probe) path = "/";  // a cgroup namespace: the mount is the process's own cgroup
  for (;;) {
    const std::string dir = l.mount + (path == "/" ? "" : path);
    const auto limit = read_number(dir + "/" + l.limit);
    if (limit && *limit < kNoLimit) {
      CgroupMemory m;
      m.file = dir + "/" + l.limit;
      m.limit = *limit;
      const uint64_t usage = read_number(dir + "/" + l.usage).value_or(*limit);
      const uint64_t cache = stat_value(dir + "/memory.stat", l.cache);
      m.used = usage > cache ? usage - cache : 0;
      if (!best || m.room() < best->room()) best = m;
    }
    if (path == "/" || path.empty()) return;
    const size_t slash = path.rfind('/');
    path = slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
  }
}

uint64_t vm_data_bytes() {
  std::istringstream in(read_small("/proc/self/status").value_or(""));
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmData:", 0) == 0) return std::strtoull(line.c_str() + 7, nullptr, 10) * 1024;
  return 0;
}

uint64_t local_processes() {
  const char* s = std::getenv("LOCAL_WORLD_SIZE");
  const unsigned long long n = s ? std::strtoull(s, nullptr, 10) : 1;
  return n >= 1 && n <= 4096 ? n : 1;
}

// What OpenBLAS will map at its first product: 128 MB (BUFFER_SIZE in
// Debian's x86-64 build) per thread. 0 without OpenBLAS in the process.
uint64_t openblas_buffers_to_come() {
  using GetFn = int (*)();
  auto get = reinterpret_cast<GetFn>(::dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  return get ? static_cast<uint64_t>(std::max(1, get())) * (uint64_t{128} << 20) : 0;
}

std::string g_note;
rlim_t g_set = RLIM_INFINITY;

}  // namespace

std::optional<CgroupMemory> cgroup_memory(const std::string& proc_self_cgroup, const std::string& root) {
  std::optional<CgroupMemory> best;
  const std::string v2 = cgroup_path(proc_self_cgroup, true);
  if (!v2.empty()) tightest({root, "memory.max", "memory.current", "inactive_file"}, v2, best);
  const std::string v1 = cgroup_path(proc_self_cgroup, false);
  if (!v1.empty())
    tightest({root + "/memory", "memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file"}, v1, best);
  return best;
}

std::optional<std::string> limit_data_to_cgroup(bool blas_mapped) {
  const uint64_t extra_bytes = blas_mapped ? 0 : openblas_buffers_to_come();
  const auto self = read_small("/proc/self/cgroup");
  const auto memory = self ? cgroup_memory(*self, "/sys/fs/cgroup") : std::nullopt;
  if (!memory) return std::nullopt;
  // Not counted by RLIMIT_DATA but charged to the cgroup: LibTorch's code,
  // paged in as each kernel first runs (a training run here ends with about
  // 110 MB of file pages, part of them resident at start), page tables and
  // the kernel's own buffers.
  constexpr uint64_t kMargin = 64 * kMiB;
  const uint64_t share = memory->room() / local_processes();
  std::string note = "the cgroup memory limit of " + std::to_string(memory->limit / kMiB) + " MiB (" + memory->file + ")";
  if (share <= kMargin)
    throw MemoryLimitError(note + " leaves " + std::to_string(share / kMiB) +
                             " MiB for this process, less than the " + std::to_string(kMargin / kMiB) +
                             " MiB LibTorch's code takes as it runs: raise the limit");
  const uint64_t cap = vm_data_bytes() + (share > kMargin ? share - kMargin : 0) + extra_bytes;
  struct rlimit lim {};
  if (::getrlimit(RLIMIT_DATA, &lim) != 0) return std::nullopt;
  const bool ours = lim.rlim_cur == g_set && g_set != RLIM_INFINITY;
  if (!ours && lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur <= cap) return std::nullopt;  // a lower limit stands
  lim.rlim_cur = lim.rlim_max == RLIM_INFINITY ? cap : std::min<rlim_t>(cap, lim.rlim_max);
  if (::setrlimit(RLIMIT_DATA, &lim) != 0) return std::nullopt;
  g_set = lim.rlim_cur;
  g_note = std::move(note);
  return g_note;
}

std::string data_limit_note() { return g_note; }

}  // namespace vae
