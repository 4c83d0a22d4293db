// The one evaluator: the per-epoch test loss of vae-train and everything
// vae-eval reports come from evaluate(), so the last test_loss of a run's
// metrics.jsonl equals vae-eval's negative ELBO of its checkpoint.
//
//   vae::EvalOptions opt;  opt.seed = cfg.train.seed;  opt.iw_samples = 5000;
//   vae::Evaluation e = vae::evaluate(model, test.images, test.labels, opt);
//   // e.loss (= e.recon + e.kl), e.nll_iw <= e.loss in expectation; nats per image
//
// Its draws come from the named streams of vae/seeds.hpp, seeded by
// opt.seed: one z per image for the ELBO (kEvalElbo), the input corruption
// (kEvalNoise), the K draws of the IW bound (kEvalIw). Images are taken in
// batches of opt.batch_images, and the draws depend on that batching.
#pragma once

#include <ATen/core/Generator.h>
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <limits>

#include "vae/config.hpp"
#include "vae/model.hpp"

namespace vae {

struct EvalOptions {
  uint64_t seed = 1;          // a run evaluates with its train.seed; vae-eval defaults to it
  int64_t iw_samples = 0;     // K of the importance-weighted NLL; 0 skips it
  bool code_errors = false;   // also code_recon and noisy_recon (every kind)
  // The corruption of denoising_ae's test input and of noisy_recon.
  Noise noise = Noise::kGaussian;
  double noise_level = 0.5;
  int64_t batch_images = 1000;  // images encoded together
  // Decoder rows (samples x images) per chunk of the IW pass; 0 picks by
  // device: on CPU a chunk's logits must stay in cache (2,048 rows), GPUs
  // want large chunks (65,536).
  int64_t chunk_rows = 0;
  // Called after every batch and every chunk of the IW pass with the
  // fraction of the work done, in [0, 1]; may be empty.
  std::function<void(double fraction)> on_progress;
  // Across processes: this one evaluates its slice rank_rows(len, shard,
  // shards) of every batch (the noise drawn for the whole batch, so the
  // numbers do not depend on `shards`), and `sum_across` adds up the sums
  // of all processes in place (a float64 tensor). Not with iw_samples or
  // code_errors; active_units then counts this process's codes only.
  int64_t shard = 0;
  int64_t shards = 1;
  std::function<void(torch::Tensor&)> sum_across;
};

// The options a run evaluates its test set with every epoch: its
// train.seed, its data.noise, batches of max(train.batch_size, 1000) images.
// vae-eval starts from these, so its numbers match the run's by default.
EvalOptions eval_options_for(const Config& cfg);

// Nats per image; NaN where a quantity does not apply or was not asked for.
struct Evaluation {
  int64_t images = 0;
  int64_t latent = 0;
  // The test loss: the negative ELBO with one z per image (VAE); the error
  // of reconstructing x from its code (ae, sparse_ae) or from the code of x
  // corrupted by opt.noise (denoising_ae). loss = recon + kl.
  double loss = 0;
  double recon = 0;  // -log p(x|z) under model.likelihood
  double kl = 0;     // 0 for the autoencoders
  double code_abs = 0;  // mean |code| over images and units (|mu| for the VAE)
  double nll_iw = 0;    // -log (1/K) sum_k p(x, z_k) / q(z_k | x), K = iw_samples
  int64_t iw_samples = 0;
  // -log p(x | decoder(code)) with the code (a VAE's mean) of x itself, and
  // of x corrupted by opt.noise: the denoising error. Both against clean x.
  double code_recon = 0;
  double noisy_recon = 0;
  int64_t active_units = 0;  // units whose posterior mean varies over the data by > 0.01
  // vq_vae: how the codebook is used over the images' code positions:
  // exp of the entropy of the vectors' frequencies (codebook_size when all
  // are used equally, 1 when one vector takes every position), and the
  // vectors never chosen. NaN for the other kinds.
  double perplexity = std::numeric_limits<double>::quiet_NaN();
  double dead_codes = std::numeric_limits<double>::quiet_NaN();
};

// images: uint8 [N, H, W] on the model's device; labels: int64 [N] on the
// same device, needed only by a conditional model. Leaves the model in the
// mode it found it.
Evaluation evaluate(VAE& model, const torch::Tensor& images, const torch::Tensor& labels,
                    const EvalOptions& options);

// log p(x) for each image of x ([B, D] in [0, 1]) by importance sampling with
// K draws from q(z|x), in nats -> [B] float64. The decoder sees at most
// max(chunk_rows, B) rows at a time. `labels` (int64 [B]): a conditional
// model's classes of x.
// on_chunk (may be empty) gets the fraction of the K samples done.
torch::Tensor iw_log_likelihood(VAE& model, const torch::Tensor& x, int64_t k, at::Generator& gen,
                                int64_t chunk_rows, const torch::Tensor& labels = {},
                                const std::function<void(double)>& on_chunk = {});

// Number of latent units whose posterior mean has variance > threshold over
// the images, given mu [N, Z].
int64_t active_units(const torch::Tensor& mu, double threshold = 0.01);

}  // namespace vae
