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
  double loss = 0;  // negative ELBO estimate: bce + kl
  double bce = 0;
  double kl = 0;
};

struct EpochMetrics {
  int64_t epoch = 0;  // 1-based
  int64_t step = 0;   // optimizer steps so far
  double train_loss = 0;  // mean per image over the epoch's batches, nats
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
  // Called a few times a second during an epoch; may be empty.
  std::function<void(const Progress&)> on_progress;
};

struct TrainResult {
  std::vector<EpochMetrics> history;
  std::string checkpoint;  // path of the last checkpoint
  std::string samples;     // path of the final sample grid
};

// Trains cfg (validated here) on cfg.data.dir. Throws ConfigError, DataError,
// IoError or std::runtime_error with a one-line message.
TrainResult train(const Config& cfg, const TrainOptions& options);

// Builds the configured optimizer over `model`'s parameters.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const TrainConfig& cfg, VAE& model);

// Negative ELBO per image on `images` (uint8 [N, H, W], any device), with one
// z ~ q(z|x) per image drawn from a generator seeded by `seed`, so the same
// seed gives the same estimate. Leaves the model in the mode it found it.
EvalResult evaluate(VAE& model, const torch::Tensor& images, int64_t batch_size, uint64_t seed);

}  // namespace vae
