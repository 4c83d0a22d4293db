#include "vae/checkpoint.hpp"

#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <sstream>

#include "vae/io.hpp"

namespace vae {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw CheckpointError(path + ": " + what);
}

// First line of a LibTorch error, without its C++ backtrace.
std::string short_error(const c10::Error& e) {
  std::string msg = e.what_without_backtrace();
  const auto nl = msg.find('\n');
  return nl == std::string::npos ? msg : msg.substr(0, nl);
}

// Opens the archive after checking it is a zip file (every LibTorch archive is).
void open_archive(const std::string& path, torch::serialize::InputArchive& archive) {
  std::string bytes;
  try {
    bytes = read_file(path);
  } catch (const IoError& e) {
    throw CheckpointError(e.what());
  }
  if (bytes.size() < 4 || bytes.compare(0, 4, "PK\x03\x04") != 0)
    fail(path, "not a checkpoint (not a LibTorch archive)");
  std::istringstream in(std::move(bytes));
  try {
    archive.load_from(in);
  } catch (const c10::Error& e) {
    fail(path, "damaged or truncated checkpoint: " + short_error(e));
  }
}

c10::IValue read_attr(torch::serialize::InputArchive& archive, const std::string& path,
                      const std::string& key) {
  c10::IValue v;
  if (!archive.try_read(key, v)) fail(path, "not a vae checkpoint (no '" + key + "' entry)");
  return v;
}

}  // namespace

void save_checkpoint(const std::string& path, VAE& model, torch::optim::Optimizer& optimizer,
                     const CheckpointMeta& meta) {
  torch::serialize::OutputArchive archive;
  model->save(archive);
  torch::serialize::OutputArchive opt_archive;
  optimizer.save(opt_archive);
  archive.write("optimizer", opt_archive);
  archive.write("vae_format", c10::IValue(std::string(kCheckpointMagic)));
  archive.write("format_version", c10::IValue(kCheckpointVersion));
  archive.write("epoch", c10::IValue(meta.epoch));
  archive.write("step", c10::IValue(meta.step));
  archive.write("config", c10::IValue(to_toml(meta.config)));
  // Into memory first: torch::save to a failing stream ends in std::terminate.
  std::ostringstream out;
  archive.save_to(out);
  write_file_atomic(path, out.str());
}

LoadedModel load_model(const std::string& path, const torch::Device& device) {
  torch::serialize::InputArchive archive;
  open_archive(path, archive);
  const c10::IValue magic = read_attr(archive, path, "vae_format");
  if (!magic.isString() || magic.toStringRef() != kCheckpointMagic)
    fail(path, "not a vae checkpoint (bad vae_format entry)");
  const int64_t version = read_attr(archive, path, "format_version").toInt();
  if (version != kCheckpointVersion)
    fail(path, "checkpoint format version " + std::to_string(version) +
                   " is not supported (this build reads version " +
                   std::to_string(kCheckpointVersion) + ")");
  LoadedModel out;
  out.meta.epoch = read_attr(archive, path, "epoch").toInt();
  out.meta.step = read_attr(archive, path, "step").toInt();
  try {
    out.meta.config = parse_config(read_attr(archive, path, "config").toStringRef(),
                                   path + " (embedded config)");
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

void load_optimizer_state(const std::string& path, torch::optim::Optimizer& optimizer) {
  torch::serialize::InputArchive archive;
  open_archive(path, archive);
  torch::serialize::InputArchive opt_archive;
  if (!archive.try_read("optimizer", opt_archive)) fail(path, "holds no optimizer state");
  try {
    optimizer.load(opt_archive);
  } catch (const c10::Error& e) {
    fail(path, "cannot load optimizer state: " + short_error(e));
  }
}

}  // namespace vae
