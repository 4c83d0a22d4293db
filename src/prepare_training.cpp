// What happens before a Trainer exists: the request becomes a config (the
// file, the flags, --auto-resume), a resume takes the run folder's lock and
// reads its checkpoint once, and under several processes every rank agrees
// on the request while rank 0 alone reads the run folder for all.
#include <spdlog/spdlog.h>
#include <torch/version.h>

#include <algorithm>
#include <filesystem>
#include <sstream>

#include "vae/distributed.hpp"
#include "vae/trainer.hpp"
#include "vae/version.hpp"

namespace vae {
namespace {

// The run folder's config.toml is what the run was started with; a resume
// without --config continues with the checkpoint's own config, so edits to
// the file would be ignored without a word.
void warn_if_edited(const std::string& path, const Config& checkpoint_config) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return;
  try {
    Config file = load_config_file(path);
    file.train.out_dir = checkpoint_config.train.out_dir;
    const std::string d = first_difference(file, checkpoint_config);
    if (!d.empty())
      spdlog::warn("{} was edited ({}, file vs checkpoint) and is not read on --resume: the run continues with its "
                   "checkpoint's config. Change what may change with flags (e.g. --lr, --epochs), or pass "
                   "--config {}",
                   path, d, path);
  } catch (const ConfigError& e) {
    spdlog::warn("{} is not read on --resume (the checkpoint's config is): {}", path, e.what());
  }
}

}  // namespace

std::pair<std::shared_ptr<RunLock>, std::shared_ptr<const LoadedModel>> lock_and_load_resume(const std::string& what) {
  std::error_code ec;
  if (!std::filesystem::exists(what, ec)) throw CheckpointError(what + ": no such run folder or checkpoint");
  const std::string dir = resume_run_dir(what);
  auto lock = std::make_shared<RunLock>(dir);
  for (const std::string& line : RunDir(dir).clean_up_after_crash()) spdlog::warn("{}", line);
  return {lock, std::make_shared<const LoadedModel>(load_resume_checkpoint(what))};
}

namespace {

void apply_overrides(Config& cfg, const TrainRequest& request, bool resuming) {
  for (const TrainRequest::Override& o : request.overrides) {
    if (resuming && o.key == "train.out_dir")
      throw ConfigError(o.flag + " cannot be combined with --resume (a run continues in its own folder)");
    try {
      set_key(cfg, o.key, o.text);
    } catch (const ConfigError& e) {
      throw ConfigError(o.flag + ": " + e.what());
    }
  }
}

}  // namespace

Config requested_config(const TrainRequest& request, bool resuming) {
  Config cfg = request.config_path.empty() ? Config() : load_config_file(request.config_path);
  apply_overrides(cfg, request, resuming);
  return cfg;
}

namespace {

// --auto-resume: the run folder's checkpoint when it has one.
TrainRequest resolve_auto_resume(const TrainRequest& request) {
  if (!request.auto_resume || !request.resume.empty()) return request;
  TrainRequest r = request;
  const Config asked = requested_config(request, false);
  validate(asked, /*shape_known=*/false);
  if (!RunDir(asked.train.out_dir).has_checkpoints()) {
    spdlog::info("--auto-resume: {} holds no checkpoint: a new run", asked.train.out_dir);
    return r;
  }
  spdlog::info("--auto-resume: continuing the run in {}", asked.train.out_dir);
  r.resume = asked.train.out_dir;
  r.overrides.erase(std::remove_if(r.overrides.begin(), r.overrides.end(),
                                   [](const TrainRequest::Override& o) { return o.key == "train.out_dir"; }),
                    r.overrides.end());
  return r;
}

}  // namespace

std::pair<Config, TrainOptions> prepare_training(const TrainRequest& original) {
  const TrainRequest request = resolve_auto_resume(original);
  Config cfg;
  TrainOptions options;
  options.force = request.force;
  if (!request.resume.empty()) {
    // The checkpoint's config is the base; --config and flags may change
    // training settings (the Trainer refuses model changes, naming the key).
    auto [lock, checkpoint] = lock_and_load_resume(request.resume);
    options.lock = lock;
    cfg = request.config_path.empty() ? checkpoint->meta.config : load_config_file(request.config_path);
    cfg.train.out_dir = run_dir_of(checkpoint->path);
    if (request.config_path.empty()) warn_if_edited(RunDir(cfg.train.out_dir).config(), checkpoint->meta.config);
    options.resume_from = std::move(checkpoint);
    apply_overrides(cfg, request, /*resuming=*/true);
  } else {
    cfg = requested_config(request, false);
  }
  validate(cfg, /*shape_known=*/false);
  return {cfg, options};
}

namespace {

// Rank 0's answer to the other ranks: the effective config, and the
// checkpoint to resume (its name and bytes), or the error that stopped it.
struct StartMessage {
  std::string error;
  std::string config;
  std::string checkpoint_path;
  std::string checkpoint;

  std::string encode() const {
    std::string out;
    for (const std::string* f : {&error, &config, &checkpoint_path, &checkpoint})
      out += std::to_string(f->size()) + ":" + *f;
    return out;
  }
  static StartMessage decode(const std::string& text) {
    StartMessage m;
    size_t at = 0;
    for (std::string* f : {&m.error, &m.config, &m.checkpoint_path, &m.checkpoint}) {
      const size_t colon = text.find(':', at);
      if (colon == std::string::npos) throw DistError("rank 0 sent a malformed start message");
      const size_t n = std::stoull(text.substr(at, colon - at));
      if (colon + 1 + n > text.size()) throw DistError("rank 0 sent a truncated start message");
      *f = text.substr(colon + 1, n);
      at = colon + 1 + n;
    }
    return m;
  }
};

// What every rank must agree on: the versions, the flags, the config asked for.
std::string request_identity(const TrainRequest& request, std::string& error) {
  std::string config;
  try {
    Config cfg = requested_config(request, !request.resume.empty());
    validate(cfg, /*shape_known=*/false);
    config = to_toml(cfg);
  } catch (const std::exception& e) {
    error = e.what();
  }
  return std::string("vae ") + kVersion + ", LibTorch " + TORCH_VERSION + "\n--resume " + request.resume +
         (request.auto_resume ? " --auto-resume" : "") + (request.force ? " --force" : "") + "\n" + config;
}

// The first line where two identities differ, for the message.
std::string identity_difference(const std::string& a, const std::string& b) {
  std::istringstream sa(a), sb(b);
  std::string la, lb, section;
  while (true) {
    const bool ga = static_cast<bool>(std::getline(sa, la)), gb = static_cast<bool>(std::getline(sb, lb));
    if (!ga && !gb) return "";
    if (!ga || !gb || la != lb) {
      const std::string where = section.empty() ? "" : section + " ";
      return where + "'" + (ga ? la : "(nothing)") + "' vs '" + (gb ? lb : "(nothing)") + "'";
    }
    if (!la.empty() && la[0] == '[') section = la;
  }
}

}  // namespace

std::pair<Config, TrainOptions> prepare_training(const TrainRequest& request, std::shared_ptr<ProcessGroup> group) {
  std::string error;
  const std::string identity = request_identity(request, error);
  if (!error.empty()) {
    agree_failed(*group, "request", error);
    throw ConfigError(error);
  }
  agree(*group, "request", identity, "could not start", [](int64_t r, const std::string& theirs, const std::string& ours) {
    throw DistError("rank " + std::to_string(r) + " was started differently from rank 0: " +
                    identity_difference(theirs, ours) + " (rank " + std::to_string(r) +
                    " vs rank 0); every process needs the same binary, config and flags");
  });

  StartMessage m;
  std::pair<Config, TrainOptions> out;
  if (group->rank() == 0) {
    try {
      out = prepare_training(request);
      m.config = to_toml(out.first);
      if (out.second.resume_from) {
        m.checkpoint_path = out.second.resume_from->path;
        m.checkpoint = *out.second.resume_from->archive;
      }
    } catch (const std::exception& e) {
      m.error = e.what();
      group->broadcast("start", m.encode());
      throw;
    }
    group->broadcast("start", m.encode());
  } else {
    m = StartMessage::decode(group->broadcast("start", ""));
    if (!m.error.empty()) throw DistError("rank 0 could not start: " + m.error);
    out.first = parse_config(m.config, "rank 0's config");
    if (!m.checkpoint.empty())
      out.second.resume_from = std::make_shared<const LoadedModel>(load_model_bytes(
          m.checkpoint_path + " (from rank 0)", std::make_shared<const std::string>(std::move(m.checkpoint)),
          torch::kCPU));
  }
  out.second.group = std::move(group);
  return out;
}

}  // namespace vae
