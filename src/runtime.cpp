#include "vae/runtime.hpp"

#include <dlfcn.h>
#include <spdlog/spdlog.h>
#if defined(__GLIBC__)
#include <malloc.h>
#include <sys/mman.h>
#include <sys/resource.h>
#endif
#include <torch/cuda.h>
#include <torch/version.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <stdexcept>

#include "vae/errors.hpp"
#include "vae/memory_limit.hpp"

namespace vae {

torch::Device resolve_device(DeviceChoice choice) {
  if (choice == DeviceChoice::kCpu) return torch::kCPU;
  const bool cuda = torch::cuda::is_available();
  if (choice == DeviceChoice::kCuda && !cuda)
    throw std::runtime_error(
        "device 'cuda' requested but this LibTorch build has no usable CUDA device "
        "(use --device cpu or auto)");
  return cuda ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
}

BlasInfo detect_blas() {
  BlasInfo info;
  void* sym = ::dlsym(RTLD_DEFAULT, "sgemm_");
  Dl_info dl{};
  if (sym == nullptr || ::dladdr(sym, &dl) == 0 || dl.dli_fname == nullptr) {
    info.library = "(sgemm_ not found: LibTorch may use MKL or its own kernels)";
    return info;
  }
  char resolved[PATH_MAX];
  info.library = ::realpath(dl.dli_fname, resolved) ? resolved : dl.dli_fname;
  using ConfigFn = char* (*)();
  if (auto fn = reinterpret_cast<ConfigFn>(::dlsym(RTLD_DEFAULT, "openblas_get_config"))) {
    info.detail = fn();
  }
  // Debian installs Netlib's reference BLAS as .../blas/libblas.so.3; it has
  // none of the optimized libraries' entry points.
  const bool optimized = !info.detail.empty() || ::dlsym(RTLD_DEFAULT, "bli_info_get_version_str") ||
                         ::dlsym(RTLD_DEFAULT, "mkl_get_version");
  info.reference = !optimized && info.library.find("/blas/") != std::string::npos;
  return info;
}

void tune_allocator() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's maximum
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
}

int64_t configure_threads(int64_t threads) {
  if (threads > 0) at::set_num_threads(static_cast<int>(threads));
  return at::get_num_threads();
}

int64_t configure_blas_threads(int64_t threads) {
  using SetFn = void (*)(int);
  using GetFn = int (*)();
  if (threads > 0)
    if (auto set = reinterpret_cast<SetFn>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
      set(static_cast<int>(threads));
  auto get = reinterpret_cast<GetFn>(::dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  return get ? get() : 0;
}

namespace {

// Whether `bytes` of address space can be mapped now (and unmaps them).
bool can_map(size_t bytes) {
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return false;
  ::munmap(p, bytes);
  return true;
}

}  // namespace

void reserve_blas_buffers() {
  // The binding limit: ulimit -v, or ulimit -d (which limit_data_to_cgroup
  // sets from a cgroup's memory limit).
  struct rlimit as {}, data {};
  if (::getrlimit(RLIMIT_AS, &as) != 0) as.rlim_cur = RLIM_INFINITY;
  if (::getrlimit(RLIMIT_DATA, &data) != 0) data.rlim_cur = RLIM_INFINITY;
  if (as.rlim_cur == RLIM_INFINITY && data.rlim_cur == RLIM_INFINITY) return;
  const std::string limit = as.rlim_cur != RLIM_INFINITY
                                ? "the address-space limit (ulimit -v " + std::to_string(as.rlim_cur >> 10) + " KiB)"
                            : !data_limit_note().empty()
                                ? data_limit_note()
                                : "the data-size limit (ulimit -d " + std::to_string(data.rlim_cur >> 10) + " KiB)";
  const int64_t threads = std::max<int64_t>(1, configure_blas_threads(0));
  if (!can_map(kBlasBufferBytes * static_cast<size_t>(threads))) {
    if (threads == 1 || !can_map(kBlasBufferBytes))
      throw MemoryLimitError(limit + " leaves less than the 128 MB that OpenBLAS maps for its first product (it would wait "
                        "for ever): raise or remove the limit");
    spdlog::warn("{} leaves room for one OpenBLAS buffer, not {}: using 1 BLAS thread", limit, threads);
    configure_blas_threads(1);
  }
  // A product large enough to run on every BLAS thread: each maps its buffer now.
  const torch::Tensor a = torch::ones({512, 512});
  [[maybe_unused]] const torch::Tensor product = torch::mm(a, a);
  // The buffers are mapped: the cgroup's room, counted again without them.
  limit_data_to_cgroup(/*blas_mapped=*/true);
}

std::string runtime_summary(const torch::Device& device) {
  const BlasInfo blas = detect_blas();
  const int64_t blas_threads = configure_blas_threads(0);
  std::string s = "LibTorch " TORCH_VERSION ", device " + device.str() + ", intra-op threads " +
                  std::to_string(at::get_num_threads()) +
                  (blas_threads > 0 ? ", BLAS threads " + std::to_string(blas_threads) : std::string()) +
                  ", BLAS " + blas.library;
  if (!blas.detail.empty()) s += " (" + blas.detail + ")";
  return s;
}

}  // namespace vae
