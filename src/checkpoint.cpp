#include "vae/checkpoint.hpp"

#include <unistd.h>

#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>
#include <torch/optim/adam.h>
#include <torch/optim/rmsprop.h>
#include <torch/version.h>
#include <caffe2/serialize/inline_container.h>

#include <regex>
#include <set>
#include <cmath>

#include <algorithm>
#include <filesystem>
#include <limits>
#include <sstream>
#include <type_traits>

#include "vae/io.hpp"
#include "vae/optim.hpp"

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
// Every tensor of an archive and its sub-archives, by dotted name.
void collect_tensors(torch::serialize::InputArchive& archive, const std::string& prefix,
                     std::vector<std::pair<std::string, torch::Tensor>>& out) {
  for (const std::string& key : archive.keys()) {
    torch::Tensor t;
    torch::serialize::InputArchive sub;
    if (archive.try_read(key, t))
      out.emplace_back(prefix + key, t);
    else if (archive.try_read(key, sub))
      collect_tensors(sub, prefix + key + ".", out);
  }
}

// A tensor LibTorch built from the file may describe more memory than its
// storage holds (a forged size, stride or offset): check, before any use,
// that the whole view lies inside the storage.
void check_view(const std::string& path, const std::string& name, const torch::Tensor& t) {
  if (t.layout() != torch::kStrided || !t.has_storage()) fail(path, "tensor " + name + " is not a dense tensor");
  if (t.numel() == 0) return;
  bool ok = t.storage_offset() >= 0;
  uint64_t last = ok ? static_cast<uint64_t>(t.storage_offset()) : 0, span = 0, need = 0;
  for (int64_t d = 0; ok && d < t.dim(); ++d)
    ok = t.stride(d) >= 0 &&
         !__builtin_mul_overflow(static_cast<uint64_t>(t.size(d) - 1), static_cast<uint64_t>(t.stride(d)), &span) &&
         !__builtin_add_overflow(last, span, &last);
  ok = ok && !__builtin_add_overflow(last, 1, &need) &&
       !__builtin_mul_overflow(need, static_cast<uint64_t>(t.element_size()), &need);
  if (!ok || need > t.storage().nbytes())
    fail(path, "tensor " + name + " of shape " + c10::str(t.sizes()) + " reaches past its storage of " +
                   std::to_string(t.storage().nbytes()) + " bytes (a damaged or forged checkpoint)");
}

// Each storage LibTorch allocated must have a data record of its size in the
// zip, one record per storage: a record cut short (its tensor declared longer
// than the bytes that exist, which LibTorch would read past) leaves a storage
// without one.
void check_records(const std::string& path, const std::vector<uint64_t>& records,
                   const std::vector<std::pair<std::string, torch::Tensor>>& tensors) {
  std::vector<uint64_t> storages;
  std::set<const void*> seen;
  for (const auto& [name, t] : tensors)
    if (seen.insert(t.storage().unsafeGetStorageImpl()).second) storages.push_back(t.storage().nbytes());
  std::multiset<uint64_t> available(records.begin(), records.end());
  for (const uint64_t size : storages) {
    const auto it = available.find(size);
    if (it == available.end())
      fail(path, "a tensor of " + std::to_string(size) + " bytes has no data record of that size (a record cut "
                 "short or forged): a damaged or forged checkpoint");
    available.erase(it);
  }
}

// One line of the TorchScript source our archives hold: class headers and
// typed attributes only. LibTorch compiles this source when it loads an
// archive, and its type parser crashes on some malformed source (found by
// tests/fuzz/checkpoint_fuzz.cpp), so nothing else reaches it.
bool allowed_code_line(const std::string& line) {
  static const std::regex kLine(
      R"(|class Module\(Module\):|  __(parameters|buffers)__ = \[("[\w./]+", )*\]|  __annotations__ = \[\])"
      R"(|  (__annotations__\["[\w./]+"\] = |\w+ : )(Tensor|int|float|str|bool|Tuple\[float, float\]|)"
      R"(__torch__\.___torch_mangle_\d+\.Module))");
  return line.size() < 256 && std::regex_match(line, kLine);
}

// Walks a protocol-2 pickle as LibTorch's unpickler will, without building
// anything: only the opcodes LibTorch writes for a module, and every
// length-prefixed argument inside the bytes that exist (a forged length
// would otherwise make the unpickler allocate gigabytes).
bool plausible_pickle(const std::string& p) {
  const auto u32 = [&p](size_t at) {
    return static_cast<uint32_t>(static_cast<unsigned char>(p[at])) |
           static_cast<uint32_t>(static_cast<unsigned char>(p[at + 1])) << 8 |
           static_cast<uint32_t>(static_cast<unsigned char>(p[at + 2])) << 16 |
           static_cast<uint32_t>(static_cast<unsigned char>(p[at + 3])) << 24;
  };
  size_t i = 0;
  while (i < p.size()) {
    const unsigned char op = static_cast<unsigned char>(p[i++]);
    size_t fixed = 0;   // bytes of argument
    size_t len_of = 0;  // bytes of a length prefix before a variable argument
    switch (op) {
      case '(': case 't': case 0x85: case 0x86: case 0x87: case ')': case '}': case 'u': case 's': case ']':
      case 'e': case 'a': case 'R': case 'b': case 0x81: case 'Q': case 0x88: case 0x89: case 'N':
        break;
      case '.': return i == p.size();  // STOP ends the pickle
      case 0x80: case 'q': case 'h': case 'K': fixed = 1; break;
      case 'M': fixed = 2; break;
      case 'r': case 'j': case 'J': fixed = 4; break;
      case 'G': fixed = 8; break;
      case 0x8a: case 'U': len_of = 1; break;
      case 'X': case 'T': case 'B': len_of = 4; break;
      case 'c': {  // GLOBAL module\nname\n
        for (int line = 0; line < 2; ++line) {
          const size_t nl = p.find('\n', i);
          if (nl == std::string::npos || nl - i > 256) return false;
          i = nl + 1;
        }
        continue;
      }
      default: return false;
    }
    if (len_of > 0) {
      if (i + len_of > p.size()) return false;
      fixed = len_of == 1 ? static_cast<unsigned char>(p[i]) : u32(i);
      i += len_of;
    }
    if (fixed > p.size() - i) return false;
    i += fixed;
  }
  return false;  // no STOP
}

// The archive rebuilt in memory from the records a checkpoint of ours can
// hold, each checked as far as we can before LibTorch parses it: source
// lines from the allow-list above, the empty constants table, a small format
// version; debug records dropped; anything else refused. data.pkl (LibTorch's
// unpickler) and the tensor data records pass as they are; their sizes are
// appended to data_sizes, for check_records.
std::string sanitized_archive(const std::string& path, const std::string& bytes, std::vector<uint64_t>& data_sizes) {
  std::istringstream in(bytes);
  caffe2::serialize::PyTorchStreamReader reader(&in);
  std::string out;
  caffe2::serialize::PyTorchStreamWriter writer([&out](const void* p, size_t n) {
    out.append(static_cast<const char*>(p), n);
    return n;
  });
  const auto is_digits = [](const std::string& s, size_t from) {
    return s.size() > from && s.find_first_not_of("0123456789", from) == std::string::npos;
  };
  for (const std::string& name : reader.getAllRecords()) {
    if (name.size() > 10 && name.compare(name.size() - 10, 10, ".debug_pkl") == 0) continue;
    auto [ptr, size] = reader.getRecord(name);
    const char* data = static_cast<const char*>(ptr.get());
    if (name.compare(0, 5, "data/") == 0 && is_digits(name, 5)) {  // tensor bytes, passed on uncopied
      data_sizes.push_back(size);
      writer.writeRecord(name, data, size);
      continue;
    }
    const std::string body(data, size);  // the small records checked below
    if (name == "version") {
      if (size == 0 || size > 4 || !is_digits(body.substr(0, body.find('\n')), 0)) fail(path, "bad format version record");
      writer.setMinVersion(std::stoull(body));
      continue;
    }
    const bool code = name.compare(0, 5, "code/") == 0 && name.size() > 8 &&
                      name.compare(name.size() - 3, 3, ".py") == 0 && name.find("..") == std::string::npos;
    if (code) {
      std::istringstream lines(body);
      for (std::string line; std::getline(lines, line);)
        if (!allowed_code_line(line)) fail(path, "record " + name + " holds source no checkpoint of ours has");
    } else if (name == "constants.pkl") {
      if (body != std::string("\x80\x02).", 4)) fail(path, "record constants.pkl is not the empty table ours hold");
    } else if (name == "data.pkl") {
      if (!plausible_pickle(body)) fail(path, "record data.pkl is not a pickle a checkpoint of ours holds");
    } else {
      fail(path, "record " + name + " is not part of a checkpoint of ours");
    }
    writer.writeRecord(name, body.data(), body.size());
  }
  writer.writeEndOfFile();
  return out;
}

// Opens a verified archive held in memory, its tensors on the CPU, and checks
// every tensor in it before anything reads one.
void open_archive(const std::string& path, const std::string& bytes, torch::serialize::InputArchive& archive) {
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  try {
    std::vector<uint64_t> data_sizes;
    const std::string clean = sanitized_archive(path, bytes, data_sizes);
    std::istringstream in(clean);
    archive.load_from(in, torch::kCPU);
    collect_tensors(archive, "", tensors);
    check_records(path, data_sizes, tensors);
  } catch (const c10::Error& e) {
    fail(path, "damaged checkpoint: " + short_error(e));
  }
  for (const auto& [name, t] : tensors) check_view(path, name, t);
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

// Counts in range: what a resume would compute with.
void check_progress(const std::string& path, const TrainingState& s) {
  const bool ok = s.epoch >= 0 && s.batch >= 0 && s.step >= 0 && s.seen >= 0 && s.skipped >= 0 &&
                  std::isfinite(s.loss_sum) && std::isfinite(s.seconds) && s.seconds >= 0 &&
                  !std::isnan(s.best_test_loss) && static_cast<int64_t>(s.history.size()) <= s.epoch;
  if (!ok)
    fail(path, "its progress is out of range (epoch " + std::to_string(s.epoch) + ", batch " + std::to_string(s.batch) +
                   ", step " + std::to_string(s.step) + ", seen " + std::to_string(s.seen) +
                   "): a damaged or forged checkpoint");
}

// Every optimizer state tensor must have its parameter's exact shape, dtype
// and layout: the update reads and writes them in step with the parameter.
void check_state_tensor(const std::string& path, const std::string& what, const torch::Tensor& state,
                        const torch::Tensor& param, bool required) {
  if (!state.defined()) {
    if (required) fail(path, "optimizer state " + what + " is missing");
    return;
  }
  if (state.sizes() != param.sizes() || state.scalar_type() != param.scalar_type() || !state.is_contiguous())
    fail(path, "optimizer state " + what + " has shape " + c10::str(state.sizes()) + " (" +
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
        if (adam->step() < 0) fail(path, "optimizer step count " + what + " is negative");
        check_state_tensor(path, "exp_avg " + what, adam->exp_avg(), p, true);
        check_state_tensor(path, "exp_avg_sq " + what, adam->exp_avg_sq(), p, true);
        check_state_tensor(path, "max_exp_avg_sq " + what, adam->max_exp_avg_sq(), p, false);
      } else if (auto* rms = dynamic_cast<torch::optim::RMSpropParamState*>(it->second.get())) {
        if (rms->step() < 0) fail(path, "optimizer step count " + what + " is negative");
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
  auto bytes = std::make_shared<std::string>(read_or_fail(path));
  verify(path, *bytes);
  return load_model_bytes(path, std::move(bytes), device);
}

LoadedModel load_model_bytes(const std::string& path, std::shared_ptr<const std::string> bytes,
                             const torch::Device& device) {
  torch::serialize::InputArchive archive;
  open_archive(path, *bytes, archive);
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
  visit_progress(s, [&](const char* key, auto& value) {
    if constexpr (std::is_same_v<std::decay_t<decltype(value)>, double>)
      value = read_double(archive, path, key);
    else
      value = read_int(archive, path, key);
  });
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
    // Checkpoints made before model.conv_channels had two stages at any size;
    // later ones store the stages they were built with.
    ModelConfig& m = out.meta.config.model;
    if (m.arch == Arch::kConv && m.conv_channels.empty()) m.conv_channels = {32, 64};
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
    const torch::Tensor& p = params[name];
    const auto found = p.sizes().vec();
    if (found != shape)
      fail(path, "parameter " + name + " has shape " + c10::str(c10::IntArrayRef(found)) +
                     " but the config needs " + c10::str(c10::IntArrayRef(shape)));
    if (p.scalar_type() != torch::kFloat32) fail(path, "parameter " + name + " is not float32");
    if (!torch::isfinite(p).all().item<bool>()) fail(path, "parameter " + name + " holds NaN or Inf values");
  }
  check_progress(path, s);
  // The optimizer's state is checked here too, so no tool accepts a file
  // that a resume would have to refuse.
  torch::serialize::InputArchive opt_archive;
  if (archive.try_read("optimizer", opt_archive)) {
    const std::unique_ptr<torch::optim::Optimizer> optimizer = make_optimizer(out.meta.config.train, out.model);
    try {
      optimizer->load(opt_archive);
    } catch (const c10::Error& e) {
      fail(path, "cannot load optimizer state: " + short_error(e));
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
  if (!checkpoint.archive) fail(path, "holds no optimizer state (loaded without its archive)");
  torch::serialize::InputArchive archive;
  open_archive(path, *checkpoint.archive, archive);
  torch::serialize::InputArchive opt_archive;
  if (!archive.try_read("optimizer", opt_archive)) fail(path, "holds no optimizer state");
  try {
    optimizer.load(opt_archive);
  } catch (const c10::Error& e) {
    fail(path, "cannot load optimizer state: " + short_error(e));
  }
  check_optimizer_state(path, optimizer);
  for (auto& [key, state] : optimizer.state()) move_state(*state, device);
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
      verify(target, read_or_fail(target));  // renames a .next that the data matches
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
