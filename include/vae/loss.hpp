// The VAE objective: reconstruction BCE + KL(q(z|x) || N(0, I)), in nats.
#pragma once

#include <torch/types.h>

namespace vae {

struct LossTerms {
  torch::Tensor bce;  // 0-dim, summed over the batch and the D pixels
  torch::Tensor kl;   // 0-dim, summed over the batch and the Z latent units
  torch::Tensor total() const { return bce + kl; }
};

// logits: [B, D] decoder outputs before the sigmoid; target: [B, D] in [0, 1];
// mu, log_var: [B, Z]. BCE is computed from the logits
// (max(l, 0) - l * x + log(1 + exp(-|l|))), which equals the guide's
// BCE(sigmoid(l), x, reduction='sum') without its log(0) clamping.
// KL = -0.5 * sum(1 + log_var - mu^2 - exp(log_var)).
LossTerms vae_loss(const torch::Tensor& logits, const torch::Tensor& target,
                   const torch::Tensor& mu, const torch::Tensor& log_var);

}  // namespace vae
