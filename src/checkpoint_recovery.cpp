// A checkpoint's commit as the reader checks it (the data against its
// manifest), what an interrupted save left behind, and the lookup of the
// checkpoint a resume continues from.
#include <algorithm>
#include <filesystem>
#include <limits>

#include "checkpoint_internal.hpp"
#include "vae/io.hpp"

namespace vae {

namespace fs = std::filesystem;

std::string read_checkpoint_file(const std::string& path) {
  try {
    return read_file(path);
  } catch (const IoError& e) {
    throw CheckpointError(e.what());
  }
}

// Checks `bytes` (the content of checkpoint `path`) against its manifest.
// A crash between the two renames of save_checkpoint leaves the new data with
// the old manifest and a complete ".next" manifest; that one is accepted too.
Manifest verify_checkpoint(const std::string& path, std::string_view bytes) {
  if (bytes.size() < 4 || bytes.substr(0, 4) != std::string_view("PK\x03\x04", 4))
    checkpoint_fail(path, "not a checkpoint (not a LibTorch archive)");
  const std::string mpath = manifest_path_for(path);
  std::error_code ec;
  const bool has_manifest = fs::exists(mpath, ec);
  const bool has_next = fs::exists(mpath + ".next", ec);
  if (!has_manifest && !has_next)
    checkpoint_fail(path, "incomplete checkpoint: no manifest " + fs::path(mpath).filename().string() +
                   " beside it (the write did not finish, or the file was copied alone)");
  std::string first_error;
  for (const std::string& candidate : {mpath, mpath + ".next"}) {
    if (!fs::exists(candidate, ec)) continue;
    try {
      Manifest m = parse_manifest(read_checkpoint_file(candidate), candidate);
      verify_against_manifest(m, path, bytes);
      // Finish the interrupted commit, so the next save cannot clobber the
      // only manifest that matches. Best effort: the folder may be read-only.
      if (candidate != mpath) fs::rename(candidate, mpath, ec);
      return m;
    } catch (const CheckpointError& e) {
      if (first_error.empty()) first_error = e.what();
    }
  }
  throw CheckpointError(first_error);
}

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
  for (const auto& [step, p] : candidates) {
    try {
      return load_model(p.string(), torch::kCPU);
    } catch (const CheckpointError& e) {
      rejected += std::string(rejected.empty() ? "" : "; ") + e.what();
    }
  }
  checkpoint_fail(what, "no complete checkpoint to resume from" + (rejected.empty() ? std::string() : " (" + rejected + ")"));
}

}  // namespace vae
