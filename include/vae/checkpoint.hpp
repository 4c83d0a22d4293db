// Checkpoints: model weights, optimizer state, progress and the effective
// config in one file that LibTorch (C++) and PyTorch (torch.jit.load) read.
//
//   vae::save_checkpoint("run/checkpoints/last.pt", model, optimizer, {epoch, step, cfg});
//   vae::LoadedModel m = vae::load_model("run/checkpoints/last.pt", torch::kCPU);
//   m.model->eval();  // m.config is the config it was trained with
//
// Layout (a TorchScript-style archive): the model's parameters at the top
// level under their module names (encoder.fc1.weight, ...), "optimizer" as a
// nested archive, and the attributes vae_format (kCheckpointMagic),
// format_version, epoch, step and config (TOML text).
#pragma once

#include <torch/optim/optimizer.h>

#include <string>

#include "vae/config.hpp"
#include "vae/model.hpp"

namespace vae {

inline constexpr const char* kCheckpointMagic = "vae-checkpoint";
inline constexpr int64_t kCheckpointVersion = 1;

// Thrown for a file that is missing, not a checkpoint, or inconsistent.
class CheckpointError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct CheckpointMeta {
  int64_t epoch = 0;  // epochs completed
  int64_t step = 0;   // optimizer steps completed
  Config config;
};

// Serializes in memory, then replaces `path` atomically (vae::write_file_atomic):
// a crash or full disk leaves the previous checkpoint intact.
void save_checkpoint(const std::string& path, VAE& model, torch::optim::Optimizer& optimizer,
                     const CheckpointMeta& meta);

struct LoadedModel {
  VAE model{nullptr};  // built from meta.config.model, weights loaded, on `device`
  CheckpointMeta meta;
};

// Reads a checkpoint, rebuilds the model from its config and loads the
// weights, checking every parameter's shape. Throws CheckpointError naming the
// file and the problem.
LoadedModel load_model(const std::string& path, const torch::Device& device);

// Restores optimizer state saved by save_checkpoint into `optimizer`, which
// must have been built over `model`'s parameters.
void load_optimizer_state(const std::string& path, torch::optim::Optimizer& optimizer);

}  // namespace vae
