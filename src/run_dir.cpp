#include "vae/run_dir.hpp"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>

#include "vae/errors.hpp"
#include "vae/io.hpp"

namespace vae {

namespace fs = std::filesystem;

std::string RunDir::epoch_tag(int64_t epoch) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%04lld", static_cast<long long>(epoch));
  return buf;
}

void RunDir::prepare_new(bool force) const {
  std::error_code ec;
  bool has_checkpoints = false;
  for (const auto& entry : fs::directory_iterator(checkpoints(), ec))
    has_checkpoints |= entry.path().extension() == ".pt";
  if (has_checkpoints) {
    if (!force)
      throw IoError(root_ +
                    ": already holds a run (checkpoints/); resume it with --resume, choose "
                    "another --out-dir, or pass --force to start it over");
    // A new run must not leave the old run's checkpoints for a later resume.
    for (const std::string& p : {checkpoints(), images()}) fs::remove_all(p, ec);
    for (const std::string& p : {samples(), loss_plot()}) fs::remove(p, ec);
    spdlog::warn("--force: removed the previous run's checkpoints in {}", root_);
  }
  make_dirs(checkpoints());
}

void RunDir::prepare_resumed() const { make_dirs(checkpoints()); }

std::string run_dir_of(const std::string& checkpoint_path) {
  const fs::path p = fs::absolute(checkpoint_path).lexically_normal();
  if (p.parent_path().filename() != "checkpoints")
    throw CheckpointError(checkpoint_path +
                          ": can only resume a checkpoint inside a run folder's checkpoints/ "
                          "(pass the run folder, or copy the whole run folder first)");
  return p.parent_path().parent_path().string();
}

}  // namespace vae
