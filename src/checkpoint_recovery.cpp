// What an interrupted save left behind, and the lookup of the checkpoint a
// resume continues from (with a warning for what it passed over).
#include <algorithm>
#include <filesystem>
#include <limits>

#include <spdlog/spdlog.h>

#include "checkpoint_internal.hpp"
#include "vae/io.hpp"

namespace vae {

namespace fs = std::filesystem;

std::vector<std::string> finish_interrupted_saves(const std::string& checkpoints_dir) {
  std::vector<std::string> done;
  std::error_code ec;
  std::vector<fs::path> entries;
  for (const auto& e : fs::directory_iterator(checkpoints_dir, ec)) entries.push_back(e.path());
  for (const fs::path& p : entries) {  // data written, renames not done
    const std::string name = p.filename().string();
    const auto pos = name.find(".pt.tmp.");
    if (pos == std::string::npos) continue;
    const std::string target = (p.parent_path() / name.substr(0, pos + 3)).string();
    const std::string next = manifest_path_for(target) + ".next";
    try {
      verify_against_manifest(parse_manifest(read_file(next), next), target, read_file(p.string()));
      rename_durable(p.string(), target);
      rename_durable(next, manifest_path_for(target));
      done.push_back("finished the interrupted save of " + target);
    } catch (const std::exception&) {
      fs::remove(p, ec);
      done.push_back("removed " + p.string() + ", an unfinished save");
    }
  }
  for (const fs::path& p : entries) {  // a manifest written, its rename not done
    const std::string name = p.filename().string();
    const std::string suffix = ".manifest.json.next";
    if (name.size() <= suffix.size() || !ends_with(name, suffix) ||
        !fs::exists(p, ec))
      continue;
    const std::string target = (p.parent_path() / (name.substr(0, name.size() - suffix.size()) + ".pt")).string();
    try {
      verify_checkpoint(target, read_checkpoint_file(target));  // renames a .next that the data matches
    } catch (const CheckpointError&) {
    }
    if (fs::exists(p, ec)) {
      fs::remove(p, ec);
      done.push_back("removed " + p.string() + ", a manifest whose checkpoint was never written");
    } else {
      done.push_back("finished the interrupted commit of " + target);
    }
  }
  return done;
}

namespace {

// A resume that passed over newer checkpoints says so: which were refused
// and why, and how many steps the one it takes is behind last.pt (by
// last.pt's manifest, when that can still be read).
void warn_fallback(const std::vector<std::string>& refused, const LoadedModel& taken, const std::string& last) {
  for (const std::string& why : refused) spdlog::warn("resume: refused {}", why);
  std::string lost = "how many steps behind last.pt is unknown (its manifest cannot be read)";
  try {
    const int64_t last_step = parse_manifest(read_file(manifest_path_for(last)), last).step;
    lost = std::to_string(std::max<int64_t>(0, last_step - taken.meta.state.step)) + " steps behind last.pt (step " +
           std::to_string(last_step) + ")";
  } catch (const std::exception&) {
  }
  spdlog::warn("resume: falling back to {} at step {}: {}", taken.path, taken.meta.state.step, lost);
}

}  // namespace

LoadedModel load_resume_checkpoint(const std::string& what) {
  std::error_code ec;
  if (!fs::is_directory(what, ec)) {
    if (!fs::exists(what, ec)) checkpoint_fail(what, "no such run folder or checkpoint");
    return load_model(what, torch::kCPU);
  }
  const fs::path dir = fs::path(what) / "checkpoints";
  if (!fs::is_directory(dir, ec)) checkpoint_fail(what, "not a run folder (no checkpoints/ inside)");
  // A complete last.pt is the run's newest state; the others (best.pt,
  // epoch-NNNN.pt) stand in only when it is missing or damaged, newest
  // first by their manifests' step. Each candidate is read once.
  std::vector<std::pair<int64_t, fs::path>> candidates;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().extension() != ".pt") continue;
    int64_t step = -1;
    if (entry.path().filename() == "last.pt") {
      step = std::numeric_limits<int64_t>::max();
    } else {
      try {
        step = parse_manifest(read_file(manifest_path_for(entry.path().string())), "").step;
      } catch (const std::exception&) {  // no readable manifest: tried last, and rejected with a reason
      }
    }
    candidates.emplace_back(step, entry.path());
  }
  std::sort(candidates.begin(), candidates.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::string rejected;
  std::vector<std::string> refused;  // the files passed over, each with its reason
  for (const auto& [step, p] : candidates) {
    try {
      LoadedModel loaded = load_model(p.string(), torch::kCPU);
      if (!refused.empty()) warn_fallback(refused, loaded, (dir / "last.pt").string());
      return loaded;
    } catch (const CheckpointError& e) {
      rejected += std::string(rejected.empty() ? "" : "; ") + e.what();
      refused.push_back(e.what());
    }
  }
  checkpoint_fail(what, "no complete checkpoint to resume from" + (rejected.empty() ? std::string() : " (" + rejected + ")"));
}

}  // namespace vae
