// Checkpoints: model weights, optimizer state, training progress and the
// effective config in one file that LibTorch (C++) and PyTorch
// (torch.jit.load) read, plus a manifest that marks it complete.
//
//   vae::save_checkpoint("run/checkpoints/last.pt", model, optimizer, meta);
//   vae::LoadedModel m = vae::load_model("run/checkpoints/last.pt", torch::kCPU);
//   m.model->eval();  // m.meta.config is the config it was trained with
//
// Archive layout: the model's parameters at the top level under their module
// names (encoder.fc1.weight, ...), "optimizer" as a nested archive, the
// generator states as the tensors "rng_cpu" (and "rng_cuda"), and the attributes vae_format
// (kCheckpointMagic), format_version, epoch, batch, step, loss_sum, seen,
// skipped, seconds, best_test_loss, history and config (TOML text).
//
// Write protocol (see docs/RELIABILITY.md): the archive is serialized in
// memory, written and fsynced as X.pt.tmp.PID, the manifest likewise as
// X.manifest.json.next, then both are renamed into place. A reader accepts
// X.pt only when a manifest (X.manifest.json, or a finished .next left by a
// crash between the two renames) matches its size and SHA-256.
#pragma once

#include <torch/optim/optimizer.h>

#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "vae/config.hpp"
#include "vae/manifest.hpp"
#include "vae/metrics.hpp"
#include "vae/model.hpp"

namespace vae {

inline constexpr const char* kCheckpointMagic = "vae-checkpoint";
inline constexpr int64_t kCheckpointVersion = 1;

// Where training stands, everything beyond weights and optimizer state that
// an exact resume needs.
struct TrainingState {
  int64_t epoch = 0;     // epochs completed
  int64_t batch = 0;     // batches done in epoch + 1 (0 at an epoch boundary)
  int64_t step = 0;      // optimizer steps completed
  double loss_sum = 0;   // summed train loss of the partial epoch, nats
  int64_t seen = 0;      // images behind loss_sum
  int64_t skipped = 0;   // non-finite batches skipped in the partial epoch
  double seconds = 0;    // training seconds of the partial epoch
  // The lowest selection loss so far: validation's, or test's without a
  // validation split (the name is older than validation splits).
  double best_test_loss = std::numeric_limits<double>::infinity();
  std::vector<EpochMetrics> history;  // the completed epochs (metrics.jsonl)
  torch::Tensor rng_cpu; // default CPU generator state (uint8); undefined: not saved
  torch::Tensor rng_cuda; // default CUDA generator state when training on CUDA
};

// The scalar progress fields of a TrainingState, named as the checkpoint
// stores them: visit(name, field) for each, the one list that saving and
// loading follow. State is TrainingState or const TrainingState.
template <class State, class Visit>
void visit_progress(State& s, Visit&& visit) {
  visit("epoch", s.epoch);
  visit("batch", s.batch);
  visit("step", s.step);
  visit("loss_sum", s.loss_sum);
  visit("seen", s.seen);
  visit("skipped", s.skipped);
  visit("seconds", s.seconds);
  visit("best_test_loss", s.best_test_loss);
}

struct CheckpointMeta {
  Config config;
  TrainingState state;
};

// Saves atomically with a manifest (see above). Throws IoError when the
// files cannot be written; the previous checkpoint at `path` stays loadable.
void save_checkpoint(const std::string& path, VAE& model, torch::optim::Optimizer& optimizer,
                     const CheckpointMeta& meta);

struct LoadedModel {
  std::string path;    // the checkpoint file
  VAE model{nullptr};  // built from meta.config.model, weights loaded, on `device`, eval mode
  CheckpointMeta meta;
  // The verified archive, kept so the optimizer state is read from memory
  // (a resume reads and hashes the file once).
  std::shared_ptr<const std::string> archive;
};

// Reads the file once, verifies it against its manifest, rebuilds the model
// from the checkpoint's config and loads the weights, checking every
// parameter's shape. Throws CheckpointError naming the file and the problem.
LoadedModel load_model(const std::string& path, const torch::Device& device);

// The same from a checkpoint's bytes, already verified against its manifest
// by whoever read them (rank 0 of a distributed run sends them to the other
// ranks); every check of the content still runs. `path` names it in errors.
LoadedModel load_model_bytes(const std::string& path, std::shared_ptr<const std::string> bytes,
                             const torch::Device& device);

// Restores optimizer state (moments, step counts) saved by save_checkpoint
// into `optimizer`, built over the loaded model's parameters, which live on
// `device`.
void load_optimizer_state(const LoadedModel& checkpoint, torch::optim::Optimizer& optimizer,
                          const torch::Device& device = torch::kCPU);

// Finishes or removes what interrupted saves left in a checkpoints/ folder
// (call it only while holding the run's lock): X.pt.tmp.PID whose .next
// manifest matches it is renamed into place with it (a kill between the
// writes and the renames), a .next that X.pt matches completes X's commit,
// and every other temporary is removed. Returns one line per file it acted on.
std::vector<std::string> finish_interrupted_saves(const std::string& checkpoints_dir);

// The checkpoint to resume from, loaded on the CPU: `what` is a checkpoint
// file, or a run folder, whose checkpoints/last.pt is taken when complete,
// else the newest complete best.pt or epoch-NNNN.pt. Throws CheckpointError
// listing why each candidate was rejected when none is usable.
LoadedModel load_resume_checkpoint(const std::string& what);

}  // namespace vae
