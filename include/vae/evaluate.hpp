// Evaluating a trained VAE the way papers do: the negative ELBO with its
// terms, the importance-weighted estimate of the negative log-likelihood
// (Burda et al., 2016), and the number of active latent units; and, for
// every model kind, how well the code reconstructs clean and noisy inputs.
//
//   vae::Evaluation e = vae::evaluate_model(model, test.images, {5000, 1, 100});
//   // e.nll_iw <= e.neg_elbo (in expectation), both nats per image
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>

#include "vae/model.hpp"

namespace vae {

struct EvalOptions {
  int64_t iw_samples = 5000;    // K; 0 skips the IW estimate
  uint64_t seed = 1;            // draws of z, independent of the global generator
  int64_t batch_images = 100;   // images encoded together
  // Decoder rows (samples x images) per chunk of the IW pass; 0 picks by
  // device. On CPU the logits of a chunk must stay in cache: 2,000 rows ran
  // about 10x faster than 50,000 here (a Python micro-benchmark of the same
  // decoder and BCE; see the README's performance notes). GPUs want large ones.
  int64_t chunk_rows = 0;
  // The corruption of the noisy reconstruction error (see vae/data.hpp's
  // corrupt), drawn from `seed`.
  std::string noise = "gaussian";
  double noise_level = 0.5;
};

// The ELBO fields and nll_iw are NaN for the kinds without a prior (ae,
// sparse_ae, denoising_ae).
struct Evaluation {
  int64_t images = 0;
  double neg_elbo = 0;  // nats per image: recon + kl, one z per image
  double recon = 0;     // -log p(x|z) under model.likelihood (BCE for Bernoulli)
  double kl = 0;
  double nll_iw = 0;    // nats per image, -log (1/K) sum_k p(x, z_k) / q(z_k | x); NaN if K = 0
  // -log p(x | decoder(code)) per image, with the code (a VAE's mean) of x
  // itself, and of x corrupted by options.noise: the denoising error.
  double code_recon = 0;
  double noisy_recon = 0;
  int64_t iw_samples = 0;
  int64_t active_units = 0;  // units whose posterior mean varies over the data by > 0.01
  int64_t latent = 0;
};

// log p(x) for each image of x ([B, D] in [0, 1]) by importance sampling with
// K draws from q(z|x), in nats -> [B] float64. The decoder sees at most
// max(chunk_rows, B) rows at a time. `labels` (int64 [B]): a conditional
// model's classes of x, which it sees in the encoder and the decoder.
torch::Tensor iw_log_likelihood(VAE& model, const torch::Tensor& x, int64_t k, at::Generator& gen,
                                int64_t chunk_rows, const torch::Tensor& labels = {});

// Number of latent units whose posterior mean has variance > threshold over
// the images, given mu [N, Z].
int64_t active_units(const torch::Tensor& mu, double threshold = 0.01);

// images: uint8 [N, H, W] on any device; labels: int64 [N] on the same
// device, needed only by a conditional model. Every kind is evaluated.
Evaluation evaluate_model(VAE& model, const torch::Tensor& images, const EvalOptions& options,
                          const torch::Tensor& labels = {});

}  // namespace vae
