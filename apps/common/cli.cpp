#include "cli.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <exception>
#include <new>
#include <filesystem>
#include <stdexcept>

#include "vae/errors.hpp"
#include "vae/io.hpp"
#include "vae/manifest.hpp"
#include "vae/memory_limit.hpp"
#include "vae/text.hpp"
#include "vae/version.hpp"

namespace vae::cli {

void setup_logging() {
  // A file-size limit (ulimit -f) then fails the write with EFBIG, which
  // the writers report as "cannot write: File too large", instead of
  // killing the process with SIGXFSZ (exit 153, no message, no clean-up).
  std::signal(SIGXFSZ, SIG_IGN);
  auto logger = spdlog::stderr_color_mt("vae");
  logger->set_pattern("[%H:%M:%S] %^%l%$ %v");
  spdlog::set_default_logger(logger);
  if (const char* level = std::getenv("VAE_LOG_LEVEL")) {
    const std::string name(level);
    const auto parsed = spdlog::level::from_str(name);
    // from_str turns any unknown name into "off", which would hide every error.
    if (parsed == spdlog::level::off && name != "off") {
      std::fprintf(stderr, "VAE_LOG_LEVEL=%s: unknown log level (use trace, debug, info, warn, error, critical or off)\n",
                   level);
      std::exit(2);
    }
    spdlog::set_level(parsed);
  }
  // Past a cgroup's memory limit the kernel would kill the tool silently
  // (SIGKILL, exit 137): an allocation fails first, and ends in one line.
  try {
    if (const auto limit = limit_data_to_cgroup(/*blas_mapped=*/false))
      spdlog::debug("allocations stop at {}", *limit);
  } catch (const MemoryLimitError& e) {
    spdlog::critical("{}", e.what());
    spdlog::shutdown();
    std::_Exit(1);  // see MemoryLimitError
  }
}

void log_as_rank(int64_t rank) {
  spdlog::default_logger()->set_pattern("[%H:%M:%S] [rank " + std::to_string(rank) + "] %^%l%$ %v");
  if (spdlog::get_level() < spdlog::level::warn) spdlog::set_level(spdlog::level::warn);
}

void add_version_flag(CLI::App& app) {
  app.set_version_flag("--version", app.get_name() + " " + kVersion);
}

void refuse_to_overwrite(const std::string& out, const std::string& checkpoint, const std::string& data_dir,
                         const std::string& flag) {
  if (ends_with(out, ".pt") || ends_with(out, ".manifest.json") || ends_with(out, ".pt.tmp"))
    throw std::invalid_argument(flag + " " + out + ": refusing to write over a checkpoint file");
  refuse_output_over_input(out, {checkpoint, manifest_path_for(checkpoint)}, {data_dir}, flag);
}

void require_extension(const std::string& out, const std::vector<std::string>& extensions, const std::string& flag) {
  for (const std::string& e : extensions)
    if (out.size() > e.size() && ends_with(out, e)) return;  // more than the extension alone
  throw std::invalid_argument(flag + " " + out + ": must end in " + join_or(extensions));
}

int run_guarded(const std::function<int()>& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    std::string msg = e.what();
    // LibTorch errors carry a C++ backtrace after the first line.
    if (const auto nl = msg.find('\n'); nl != std::string::npos) msg.resize(nl);
    const bool limit = dynamic_cast<const MemoryLimitError*>(&e) != nullptr;
    const bool out_of_memory = dynamic_cast<const std::bad_alloc*>(&e) != nullptr ||
                               msg.find("can't allocate memory") != std::string::npos;
    const std::string cgroup = data_limit_note();
    spdlog::critical("{}{}", msg,
                     !out_of_memory    ? ""
                     : cgroup.empty() ? " (out of memory: a memory limit, ulimit -v or -d?)"
                                      : " (out of memory under " + cgroup + ")");
    if (out_of_memory || limit) {
      // Leave at once: the libraries' exit handlers (OpenBLAS's shutdown
      // joins its threads) can wait for ever on a thread stuck allocating.
      spdlog::shutdown();
      std::fflush(nullptr);
      std::_Exit(1);
    }
    return 1;
  }
}

}  // namespace vae::cli
