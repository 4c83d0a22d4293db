// Training: the loop of the guide (forward, BCE + KL, backward, step), with
// per-epoch evaluation, metrics and checkpoints in a run folder.
//
//   vae::TrainResult r = vae::train(cfg, {});
//   // cfg.train.out_dir now holds config.toml, metrics.jsonl,
//   // checkpoints/last.pt and samples.png
#pragma once

#include <torch/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "vae/config.hpp"
#include "vae/data.hpp"
#include "vae/model.hpp"

namespace torch::optim {
class Optimizer;
}

namespace vae {

// Mean per image, in nats.
struct EvalResult {
  double loss = 0;   // negative ELBO estimate: recon + kl (beta does not apply)
  double recon = 0;  // -log p(x|z): BCE for the Bernoulli likelihood
  double kl = 0;
  double code_abs = 0;  // mean |code| over images and units (|mu| for the VAE)
};

struct EpochMetrics {
  int64_t epoch = 0;  // 1-based
  int64_t step = 0;   // optimizer steps so far
  double train_loss = 0;  // mean training objective per image (recon + KL weight * kl), nats
  int64_t skipped = 0;    // batches skipped for a non-finite loss or gradient
  EvalResult test;
  double seconds = 0;       // training time of the epoch (no evaluation)
  double eval_seconds = 0;  // test-set evaluation time
};

struct Progress {
  int64_t epoch;       // 1-based
  int64_t epochs;
  int64_t batch;       // batches done in this epoch
  int64_t batches;     // batches per epoch
  double mean_loss;    // running mean train loss per image this epoch
  double seconds;      // since the epoch started
};

struct TrainOptions {
  // Overwrite a run folder that already holds a run.
  bool force = false;
  // Continue from this checkpoint file (see resume_checkpoint_path) instead
  // of starting afresh. cfg must then describe the same model, batch size and
  // seed as the checkpoint's config; other changes are logged and applied.
  std::string resume;
  // Called a few times a second during an epoch; may be empty.
  std::function<void(const Progress&)> on_progress;
  // Polled after every step (after the epoch's checkpoint for an epoch's
  // last step); a non-zero value (a signal number) makes the trainer write
  // checkpoints/last.pt at that step and return.
  std::function<int()> stop_requested;
  // Test seam: when it returns true for a batch (numbered from 1 over the
  // whole run), that batch's loss is taken as NaN.
  std::function<bool(int64_t batch)> poison_batch;
};

struct TrainResult {
  std::vector<EpochMetrics> history;  // this invocation's epochs
  std::string checkpoint;  // path of the last checkpoint
  std::string samples;     // path of the final sample grid (empty if stopped, or not a VAE)
  int stopped_by = 0;      // the stop_requested value that ended the run early
};

// Thrown when a loss or gradient is NaN or Inf and train.nonfinite is "stop".
class DivergedError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Trains cfg (validated here) on cfg.data.dir. Throws ConfigError, DataError,
// IoError, CheckpointError, DivergedError or std::runtime_error with a
// one-line message.
TrainResult train(const Config& cfg, const TrainOptions& options);

// `what` is a run folder (its newest complete checkpoint) or a checkpoint file.
std::string resume_checkpoint_path(const std::string& what);

// The run folder a checkpoint file belongs to (RUN/checkpoints/x.pt -> RUN).
std::string run_dir_of(const std::string& checkpoint_path);

// Builds the configured optimizer over `model`'s parameters.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const TrainConfig& cfg, VAE& model);

// Negative ELBO per image on `images` (uint8 [N, H, W], any device), with one
// z ~ q(z|x) per image drawn from a generator seeded by `seed`, so the same
// seed gives the same estimate. Leaves the model in the mode it found it.
// For the autoencoder kinds: the reconstruction term alone; denoising_ae
// reconstructs inputs corrupted by data.noise (drawn from `seed`) and is
// scored against the clean images. labels (int64 [N], same device): needed
// only by a conditional model.
EvalResult evaluate(VAE& model, const torch::Tensor& images, int64_t batch_size, uint64_t seed,
                    const DataConfig& data = DataConfig(), const torch::Tensor& labels = {});

}  // namespace vae
