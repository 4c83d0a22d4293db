#include "vae/checkpoint.hpp"

#include <unistd.h>

#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>
#include <torch/optim/adam.h>
#include <torch/optim/rmsprop.h>
#include <torch/version.h>

#include <cmath>

#include <algorithm>
#include <filesystem>
#include <limits>
#include <sstream>
#include <type_traits>

#include "checkpoint_internal.hpp"
#include "vae/io.hpp"
#include "vae/optim.hpp"

namespace vae {
namespace {

namespace fs = std::filesystem;

// Counts in range: what a resume would compute with.
void check_progress(const std::string& path, const TrainingState& s) {
  const bool ok = s.epoch >= 0 && s.batch >= 0 && s.step >= 0 && s.seen >= 0 && s.skipped >= 0 &&
                  std::isfinite(s.loss_sum) && std::isfinite(s.seconds) && s.seconds >= 0 &&
                  !std::isnan(s.best_test_loss) && static_cast<int64_t>(s.history.size()) <= s.epoch;
  if (!ok)
    checkpoint_fail(path, "its progress is out of range (epoch " + std::to_string(s.epoch) + ", batch " + std::to_string(s.batch) +
                   ", step " + std::to_string(s.step) + ", seen " + std::to_string(s.seen) +
                   "): a damaged or forged checkpoint");
}

// Every optimizer state tensor must have its parameter's exact shape, dtype
// and layout: the update reads and writes them in step with the parameter.
void check_state_tensor(const std::string& path, const std::string& what, const torch::Tensor& state,
                        const torch::Tensor& param, bool required) {
  if (!state.defined()) {
    if (required) checkpoint_fail(path, "optimizer state " + what + " is missing");
    return;
  }
  if (state.sizes() != param.sizes() || state.scalar_type() != param.scalar_type() || !state.is_contiguous())
    checkpoint_fail(path, "optimizer state " + what + " has shape " + c10::str(state.sizes()) + " (" +
                   std::string(c10::toString(state.scalar_type())) + ") but its parameter has shape " +
                   c10::str(param.sizes()) + " (" + c10::toString(param.scalar_type()) + ")");
}

void check_optimizer_state(const std::string& path, torch::optim::Optimizer& optimizer) {
  size_t index = 0;
  for (auto& group : optimizer.param_groups()) {
    for (const torch::Tensor& p : group.params()) {
      const std::string what = "of parameter " + std::to_string(index++);
      const auto it = optimizer.state().find(c10::guts::to_string(p.unsafeGetTensorImpl()));
      if (it == optimizer.state().end()) continue;  // no step taken yet
      if (auto* adam = dynamic_cast<torch::optim::AdamParamState*>(it->second.get())) {
        if (adam->step() < 0) checkpoint_fail(path, "optimizer step count " + what + " is negative");
        check_state_tensor(path, "exp_avg " + what, adam->exp_avg(), p, true);
        check_state_tensor(path, "exp_avg_sq " + what, adam->exp_avg_sq(), p, true);
        check_state_tensor(path, "max_exp_avg_sq " + what, adam->max_exp_avg_sq(), p, false);
      } else if (auto* rms = dynamic_cast<torch::optim::RMSpropParamState*>(it->second.get())) {
        if (rms->step() < 0) checkpoint_fail(path, "optimizer step count " + what + " is negative");
        check_state_tensor(path, "square_avg " + what, rms->square_avg(), p, true);
        check_state_tensor(path, "momentum_buffer " + what, rms->momentum_buffer(), p, false);
        check_state_tensor(path, "grad_avg " + what, rms->grad_avg(), p, false);
      }
    }
  }
}

// The state tensors were read on the CPU (and checked there); the optimizer
// works on the parameters' device.
void move_state(torch::optim::OptimizerParamState& state, const torch::Device& device) {
  if (device.is_cpu()) return;
  if (auto* adam = dynamic_cast<torch::optim::AdamParamState*>(&state)) {
    adam->exp_avg(adam->exp_avg().to(device));
    adam->exp_avg_sq(adam->exp_avg_sq().to(device));
    if (adam->max_exp_avg_sq().defined()) adam->max_exp_avg_sq(adam->max_exp_avg_sq().to(device));
  } else if (auto* rms = dynamic_cast<torch::optim::RMSpropParamState*>(&state)) {
    rms->square_avg(rms->square_avg().to(device));
    if (rms->momentum_buffer().defined()) rms->momentum_buffer(rms->momentum_buffer().to(device));
    if (rms->grad_avg().defined()) rms->grad_avg(rms->grad_avg().to(device));
  }
}

}  // namespace


std::string read_checkpoint_file(const std::string& path) {
  try {
    return read_regular_file(path);
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
  visit_progress(s, [&](const char* key, const auto& value) { archive.write(key, c10::IValue(value)); });
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
  const std::string data_tmp = path + ".tmp." + std::to_string(::getpid());  // unique per process
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
  auto bytes = std::make_shared<std::string>(read_checkpoint_file(path));
  verify_checkpoint(path, *bytes);
  return load_model_bytes(path, std::move(bytes), device);
}

// The model's parameters and buffers from `archive`, each checked against
// the shape and dtype the config implies (torch's Module::load silently
// adopts whatever shapes the file holds), and for finite values.
static void load_weights(const std::string& path, torch::serialize::InputArchive& archive, VAE& model) {
  struct Expected {
    std::string name;
    std::vector<int64_t> shape;
    torch::ScalarType dtype;
  };
  std::vector<Expected> expected;
  for (const auto& p : model->named_parameters())
    expected.push_back({p.key(), p.value().sizes().vec(), p.value().scalar_type()});
  for (const auto& b : model->named_buffers())  // a VQ-VAE's codebook state
    expected.push_back({b.key(), b.value().sizes().vec(), b.value().scalar_type()});
  try {
    model->load(archive);
  } catch (const c10::Error& e) {
    checkpoint_fail(path, "cannot load weights: " + short_error(e));
  }
  const auto params = model->named_parameters();
  const auto buffers = model->named_buffers();
  for (const auto& [name, shape, dtype] : expected) {
    const torch::Tensor& p = params.contains(name) ? params[name] : buffers[name];
    const auto found = p.sizes().vec();
    if (found != shape)
      checkpoint_fail(path, "parameter " + name + " has shape " + c10::str(c10::IntArrayRef(found)) +
                     " but the config needs " + c10::str(c10::IntArrayRef(shape)));
    if (p.scalar_type() != dtype)
      checkpoint_fail(path, "parameter " + name + " is not " + (dtype == torch::kFloat32 ? "float32" : "int64"));
    if (!torch::isfinite(p).all().item<bool>()) checkpoint_fail(path, "parameter " + name + " holds NaN or Inf values");
    // A VQ-VAE's codebook state: counts are positive (they start at 1 and
    // decay), step counts are not negative.
    if ((name == "ema_count" && (p <= 0).any().item<bool>()) || (name == "steps_unused" && (p < 0).any().item<bool>()))
      checkpoint_fail(path, "buffer " + name + " holds " + (name == "ema_count" ? "a count <= 0" : "a negative step count"));
  }
}

LoadedModel load_model_bytes(const std::string& path, std::shared_ptr<const std::string> bytes,
                             const torch::Device& device) {
  torch::serialize::InputArchive archive;
  open_archive(path, *bytes, archive);
  if (read_string(archive, path, "vae_format") != kCheckpointMagic)
    checkpoint_fail(path, "not a vae checkpoint (bad vae_format entry)");
  const int64_t version = read_int(archive, path, "format_version");
  if (version != kCheckpointVersion)
    checkpoint_fail(path, "checkpoint format version " + std::to_string(version) +
                   " is not supported (this build reads version " +
                   std::to_string(kCheckpointVersion) + ")");
  LoadedModel out;
  out.path = path;
  out.archive = std::move(bytes);
  TrainingState& s = out.meta.state;
  visit_progress(s, [&](const char* key, auto& value) {
    if constexpr (std::is_same_v<std::decay_t<decltype(value)>, double>)
      value = read_double(archive, path, key);
    else
      value = read_int(archive, path, key);
  });
  try {
    s.history = parse_history(read_string(archive, path, "history"), path);
  } catch (const std::invalid_argument& e) {
    checkpoint_fail(path, e.what());
  }
  torch::Tensor rng;
  if (archive.try_read("rng_cpu", rng, /*is_buffer=*/true)) s.rng_cpu = rng;
  torch::Tensor rng_cuda;
  if (archive.try_read("rng_cuda", rng_cuda, /*is_buffer=*/true)) s.rng_cuda = rng_cuda;
  try {
    out.meta.config = parse_config(read_string(archive, path, "config"), path + " (embedded config)");
    // Checkpoints made before model.conv_channels had two stages at any size;
    // later ones store the stages they were built with.
    ModelConfig& m = out.meta.config.model;
    if (m.arch == Arch::kConv && m.conv_channels.empty()) m.conv_channels = {32, 64};
    validate(out.meta.config);
  } catch (const ConfigError& e) {
    checkpoint_fail(path, std::string("embedded config is invalid: ") + e.what());
  }

  out.model = VAE(out.meta.config.model);
  load_weights(path, archive, out.model);
  check_progress(path, s);
  // The optimizer's state is checked here too, so no tool accepts a file
  // that a resume would have to refuse.
  torch::serialize::InputArchive opt_archive;
  if (archive.try_read("optimizer", opt_archive)) {
    const std::unique_ptr<torch::optim::Optimizer> optimizer = make_optimizer(out.meta.config.train, out.model);
    try {
      optimizer->load(opt_archive);
    } catch (const c10::Error& e) {
      checkpoint_fail(path, "cannot load optimizer state: " + short_error(e));
    }
    check_optimizer_state(path, *optimizer);
  }
  out.model->to(device);
  out.model->eval();
  return out;
}

void load_optimizer_state(const LoadedModel& checkpoint, torch::optim::Optimizer& optimizer,
                          const torch::Device& device) {
  const std::string& path = checkpoint.path;
  if (!checkpoint.archive) checkpoint_fail(path, "holds no optimizer state (loaded without its archive)");
  torch::serialize::InputArchive archive;
  open_archive(path, *checkpoint.archive, archive);
  torch::serialize::InputArchive opt_archive;
  if (!archive.try_read("optimizer", opt_archive)) checkpoint_fail(path, "holds no optimizer state");
  try {
    optimizer.load(opt_archive);
  } catch (const c10::Error& e) {
    checkpoint_fail(path, "cannot load optimizer state: " + short_error(e));
  }
  check_optimizer_state(path, optimizer);
  for (auto& [key, state] : optimizer.state()) move_state(*state, device);
}

}  // namespace vae
