#include "vae/loss.hpp"

#include <algorithm>
#include <cmath>

namespace vae {

torch::Tensor log_likelihood(const torch::Tensor& logits, const torch::Tensor& target, Likelihood lik) {
  TORCH_CHECK(logits.sizes() == target.sizes(), "log_likelihood: logits ", logits.sizes(), " and target ",
              target.sizes(), " differ in shape");
  if (lik == Likelihood::kBernoulli)
    return -torch::binary_cross_entropy_with_logits(logits, target, /*weight=*/{}, /*pos_weight=*/{},
                                                    at::Reduction::None)
                .sum(-1);
  const double d = static_cast<double>(logits.size(-1));
  return -(target - torch::sigmoid(logits)).pow(2).sum(-1) / (2 * kGaussianVariance) -
         0.5 * d * std::log(2 * M_PI * kGaussianVariance);
}

LossTerms vae_loss(const torch::Tensor& logits, const torch::Tensor& target, const torch::Tensor& mu,
                   const torch::Tensor& log_var, Likelihood lik) {
  TORCH_CHECK(logits.sizes() == target.sizes(), "vae_loss: logits ", logits.sizes(), " and target ",
              target.sizes(), " differ in shape");
  TORCH_CHECK(mu.sizes() == log_var.sizes(), "vae_loss: mu ", mu.sizes(), " and log_var ", log_var.sizes(),
              " differ in shape");
  LossTerms t;
  if (lik == Likelihood::kBernoulli) {
    // One fused reduction: the training step's hot path.
    t.recon = torch::binary_cross_entropy_with_logits(logits, target, /*weight=*/{}, /*pos_weight=*/{},
                                                      at::Reduction::Sum);
  } else {
    t.recon = -log_likelihood(logits, target, lik).sum();
  }
  t.kl = gaussian_kl(mu, log_var);
  return t;
}

torch::Tensor gaussian_kl(const torch::Tensor& mu, const torch::Tensor& log_var) {
  return -0.5 * torch::sum(1 + log_var - mu.pow(2) - log_var.exp());
}

double kl_weight(const LossConfig& loss, int64_t epoch, int64_t batch, int64_t batches) {
  if (loss.kl_warmup_epochs <= 0) return loss.beta;
  const double progress = (static_cast<double>(epoch - 1) + static_cast<double>(batch) / std::max<int64_t>(batches, 1)) /
                          static_cast<double>(loss.kl_warmup_epochs);
  return loss.beta * std::min(1.0, progress);
}

}  // namespace vae
