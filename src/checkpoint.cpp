#include "vae/checkpoint.hpp"

#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>
#include <torch/version.h>

#include <algorithm>
#include <filesystem>
#include <limits>
#include <sstream>

#include "vae/io.hpp"

namespace vae {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw CheckpointError(path + ": " + what);
}

// First line of a LibTorch error, without its C++ backtrace.
std::string short_error(const c10::Error& e) {
  std::string msg = e.what_without_backtrace();
  const auto nl = msg.find('\n');
  return nl == std::string::npos ? msg : msg.substr(0, nl);
}

std::string read_or_fail(const std::string& path) {
  try {
    return read_file(path);
  } catch (const IoError& e) {
    throw CheckpointError(e.what());
  }
}

// Checks `bytes` (the content of checkpoint `path`) against its manifest.
// A crash between the two renames of save_checkpoint leaves the new data with
// the old manifest and a complete ".next" manifest; that one is accepted too.
Manifest verify(const std::string& path, std::string_view bytes) {
  if (bytes.size() < 4 || bytes.substr(0, 4) != std::string_view("PK\x03\x04", 4))
    fail(path, "not a checkpoint (not a LibTorch archive)");
  const std::string mpath = manifest_path_for(path);
  std::error_code ec;
  const bool has_manifest = fs::exists(mpath, ec);
  const bool has_next = fs::exists(mpath + ".next", ec);
  if (!has_manifest && !has_next)
    fail(path, "incomplete checkpoint: no manifest " + fs::path(mpath).filename().string() +
                   " beside it (the write did not finish, or the file was copied alone)");
  std::string first_error;
  for (const std::string& candidate : {mpath, mpath + ".next"}) {
    if (!fs::exists(candidate, ec)) continue;
    try {
      Manifest m = parse_manifest(read_or_fail(candidate), candidate);
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

// Opens a verified archive held in memory, its tensors on `device` (a
// checkpoint written on a GPU machine opens on a CPU-only one).
void open_archive(const std::string& path, const std::string& bytes, torch::serialize::InputArchive& archive,
                  const torch::Device& device) {
  std::istringstream in(bytes);
  try {
    archive.load_from(in, device);
  } catch (const c10::Error& e) {
    fail(path, "damaged checkpoint: " + short_error(e));
  }
}

c10::IValue read_attr(torch::serialize::InputArchive& archive, const std::string& path,
                      const std::string& key) {
  c10::IValue v;
  if (!archive.try_read(key, v)) fail(path, "not a vae checkpoint (no '" + key + "' entry)");
  return v;
}

int64_t read_int(torch::serialize::InputArchive& a, const std::string& path, const std::string& key) {
  const c10::IValue v = read_attr(a, path, key);
  if (!v.isInt()) fail(path, "entry '" + key + "' is not an integer");
  return v.toInt();
}

double read_double(torch::serialize::InputArchive& a, const std::string& path, const std::string& key) {
  const c10::IValue v = read_attr(a, path, key);
  if (!v.isDouble()) fail(path, "entry '" + key + "' is not a number");
  return v.toDouble();
}

std::string read_string(torch::serialize::InputArchive& a, const std::string& path,
                        const std::string& key) {
  const c10::IValue v = read_attr(a, path, key);
  if (!v.isString()) fail(path, "entry '" + key + "' is not a string");
  return v.toStringRef();
}

}  // namespace

void save_checkpoint(const std::string& path, VAE& model, torch::optim::Optimizer& optimizer,
                     const CheckpointMeta& meta) {
  const TrainingState& s = meta.state;
  torch::serialize::OutputArchive archive;
  model->save(archive);
  torch::serialize::OutputArchive opt_archive;
  optimizer.save(opt_archive);
  archive.write("optimizer", opt_archive);
  if (s.rng_cpu.defined()) archive.write("rng_cpu", s.rng_cpu, /*is_buffer=*/true);
  if (s.rng_cuda.defined()) archive.write("rng_cuda", s.rng_cuda, /*is_buffer=*/true);
  archive.write("vae_format", c10::IValue(std::string(kCheckpointMagic)));
  archive.write("format_version", c10::IValue(kCheckpointVersion));
  archive.write("epoch", c10::IValue(s.epoch));
  archive.write("batch", c10::IValue(s.batch));
  archive.write("step", c10::IValue(s.step));
  archive.write("loss_sum", c10::IValue(s.loss_sum));
  archive.write("seen", c10::IValue(s.seen));
  archive.write("skipped", c10::IValue(s.skipped));
  archive.write("seconds", c10::IValue(s.seconds));
  archive.write("best_test_loss", c10::IValue(s.best_test_loss));
  archive.write("history", c10::IValue(to_jsonl(s.history)));
  archive.write("config", c10::IValue(to_toml(meta.config)));
  // Into memory first: torch::save to a failing stream ends in std::terminate.
  std::ostringstream out;
  archive.save_to(out);
  const std::string bytes = out.str();

  Manifest m;
  m.epoch = s.epoch;
  m.step = s.step;
  m.libtorch = TORCH_VERSION;
  m.config = to_toml(meta.config);
  m.files.push_back({fs::path(path).filename().string(), bytes.size(), sha256_hex(bytes)});
  const std::string mpath = manifest_path_for(path);
  const std::string data_tmp = path + ".tmp";
  const std::string manifest_next = mpath + ".next";
  try {
    write_file_durable(data_tmp, bytes, path);
    write_file_durable(manifest_next, manifest_to_json(m), mpath);
    rename_durable(data_tmp, path);
  } catch (...) {
    std::error_code ec;
    fs::remove(data_tmp, ec);
    fs::remove(manifest_next, ec);
    throw;
  }
  // From here the new checkpoint is complete: a reader accepts it through
  // the .next manifest until this rename lands.
  rename_durable(manifest_next, mpath);
}

LoadedModel load_model(const std::string& path, const torch::Device& device) {
  auto bytes = std::make_shared<std::string>(read_or_fail(path));
  verify(path, *bytes);
  torch::serialize::InputArchive archive;
  open_archive(path, *bytes, archive, torch::kCPU);
  if (read_string(archive, path, "vae_format") != kCheckpointMagic)
    fail(path, "not a vae checkpoint (bad vae_format entry)");
  const int64_t version = read_int(archive, path, "format_version");
  if (version != kCheckpointVersion)
    fail(path, "checkpoint format version " + std::to_string(version) +
                   " is not supported (this build reads version " +
                   std::to_string(kCheckpointVersion) + ")");
  LoadedModel out;
  out.path = path;
  out.archive = std::move(bytes);
  TrainingState& s = out.meta.state;
  s.epoch = read_int(archive, path, "epoch");
  s.batch = read_int(archive, path, "batch");
  s.step = read_int(archive, path, "step");
  s.loss_sum = read_double(archive, path, "loss_sum");
  s.seen = read_int(archive, path, "seen");
  s.skipped = read_int(archive, path, "skipped");
  s.seconds = read_double(archive, path, "seconds");
  s.best_test_loss = read_double(archive, path, "best_test_loss");
  try {
    s.history = parse_history(read_string(archive, path, "history"), path);
  } catch (const std::invalid_argument& e) {
    fail(path, e.what());
  }
  torch::Tensor rng;
  if (archive.try_read("rng_cpu", rng, /*is_buffer=*/true)) s.rng_cpu = rng;
  torch::Tensor rng_cuda;
  if (archive.try_read("rng_cuda", rng_cuda, /*is_buffer=*/true)) s.rng_cuda = rng_cuda;
  try {
    out.meta.config = parse_config(read_string(archive, path, "config"), path + " (embedded config)");
    validate(out.meta.config);
  } catch (const ConfigError& e) {
    fail(path, std::string("embedded config is invalid: ") + e.what());
  }

  out.model = VAE(out.meta.config.model);
  // torch's Module::load silently adopts whatever shapes the file holds, so
  // compare against the shapes the config implies.
  std::vector<std::pair<std::string, std::vector<int64_t>>> expected;
  for (const auto& p : out.model->named_parameters())
    expected.emplace_back(p.key(), p.value().sizes().vec());
  try {
    out.model->load(archive);
  } catch (const c10::Error& e) {
    fail(path, "cannot load weights: " + short_error(e));
  }
  const auto params = out.model->named_parameters();
  for (const auto& [name, shape] : expected) {
    const auto found = params[name].sizes().vec();
    if (found != shape)
      fail(path, "parameter " + name + " has shape " + c10::str(c10::IntArrayRef(found)) +
                     " but the config needs " + c10::str(c10::IntArrayRef(shape)));
  }
  out.model->to(device);
  out.model->eval();
  return out;
}

void load_optimizer_state(const LoadedModel& checkpoint, torch::optim::Optimizer& optimizer,
                          const torch::Device& device) {
  const std::string& path = checkpoint.path;
  if (!checkpoint.archive) fail(path, "holds no optimizer state (loaded without its archive)");
  torch::serialize::InputArchive archive;
  open_archive(path, *checkpoint.archive, archive, device);
  torch::serialize::InputArchive opt_archive;
  if (!archive.try_read("optimizer", opt_archive)) fail(path, "holds no optimizer state");
  try {
    optimizer.load(opt_archive);
  } catch (const c10::Error& e) {
    fail(path, "cannot load optimizer state: " + short_error(e));
  }
}

LoadedModel load_resume_checkpoint(const std::string& what) {
  std::error_code ec;
  if (!fs::is_directory(what, ec)) {
    if (!fs::exists(what, ec)) fail(what, "no such run folder or checkpoint");
    return load_model(what, torch::kCPU);
  }
  const fs::path dir = fs::path(what) / "checkpoints";
  if (!fs::is_directory(dir, ec)) fail(what, "not a run folder (no checkpoints/ inside)");
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
  fail(what, "no complete checkpoint to resume from" + (rejected.empty() ? std::string() : " (" + rejected + ")"));
}

}  // namespace vae
