// The VAE objective: reconstruction -log p(x|z) + KL(q(z|x) || N(0, I)), in nats.
#pragma once

#include <functional>

#include <torch/types.h>

#include <string>

#include "vae/config.hpp"

namespace vae {

// The Gaussian likelihood's fixed variance per pixel: with 1/2,
// -log N(x; m, 1/2) = (x - m)^2 + log(pi) / 2, so the reconstruction term is
// the summed squared error plus a constant.
constexpr double kGaussianVariance = 0.5;

struct LossTerms {
  torch::Tensor recon;    // 0-dim, -log p(x|z) summed over the batch and the D pixels
  torch::Tensor kl;       // 0-dim, summed over the batch and the Z latent units (0 for autoencoders)
  torch::Tensor penalty;  // 0-dim, sparse_ae's sparsity penalty over the batch; undefined otherwise
  // Work that belongs to the step only if it is taken (a VQ-VAE's codebook
  // upkeep): the trainer runs it after a finite step, on every process at
  // the same point, and drops it for a skipped one. May be empty.
  std::function<void()> commit{};
  torch::Tensor total() const { return recon + kl; }  // the negative ELBO (a VAE's)
};

// log p(x|z) per row: logits [..., D] decoder outputs, target [..., D] in
// [0, 1] -> [...], in nats, normalized (a true log density / probability).
//   bernoulli: -sum(max(l, 0) - l * x + log(1 + exp(-|l|))), which is the
//              guide's -BCE(sigmoid(l), x, reduction='sum') without its clamp;
//   gaussian:  -sum((x - sigmoid(l))^2) - D / 2 * log(pi)  (variance 1/2).
torch::Tensor log_likelihood(const torch::Tensor& logits, const torch::Tensor& target, Likelihood lik);

// logits: [B, D]; target: [B, D] in [0, 1]; mu, log_var: [B, Z].
// recon = -sum of log_likelihood; KL = -0.5 * sum(1 + log_var - mu^2 - exp(log_var)).
LossTerms vae_loss(const torch::Tensor& logits, const torch::Tensor& target, const torch::Tensor& mu,
                   const torch::Tensor& log_var, Likelihood lik = Likelihood::kBernoulli);

// The KL weight of the training objective at a step: beta, ramped linearly
// from 0 over the first `warmup_epochs` epochs. epoch is 1-based; batch is
// the 0-based batch within it, of `batches`.
// KL(N(mu, exp(log_var)) || N(0, I)) summed over the batch and the Z units,
// 0-dim: -1/2 sum(1 + log_var - mu^2 - exp(log_var)).
torch::Tensor gaussian_kl(const torch::Tensor& mu, const torch::Tensor& log_var);

double kl_weight(const LossConfig& loss, int64_t epoch, int64_t batch, int64_t batches);

}  // namespace vae
