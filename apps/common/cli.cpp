#include "cli.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <exception>

#include "vae/version.hpp"

namespace vae::cli {

void setup_logging() {
  auto logger = spdlog::stderr_color_mt("vae");
  logger->set_pattern("[%H:%M:%S] %^%l%$ %v");
  spdlog::set_default_logger(logger);
  if (const char* level = std::getenv("VAE_LOG_LEVEL"))
    spdlog::set_level(spdlog::level::from_str(level));
}

void add_version_flag(CLI::App& app) {
  app.set_version_flag("--version", app.get_name() + " " + kVersion);
}

int run_guarded(const std::function<int()>& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    std::string msg = e.what();
    // LibTorch errors carry a C++ backtrace after the first line.
    if (const auto nl = msg.find('\n'); nl != std::string::npos) msg.resize(nl);
    spdlog::critical("{}", msg);
    return 1;
  }
}

}  // namespace vae::cli
