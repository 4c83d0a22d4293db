#include "vae/loss.hpp"

namespace vae {

LossTerms vae_loss(const torch::Tensor& logits, const torch::Tensor& target,
                   const torch::Tensor& mu, const torch::Tensor& log_var) {
  TORCH_CHECK(logits.sizes() == target.sizes(), "vae_loss: logits ", logits.sizes(),
              " and target ", target.sizes(), " differ in shape");
  TORCH_CHECK(mu.sizes() == log_var.sizes(), "vae_loss: mu ", mu.sizes(), " and log_var ",
              log_var.sizes(), " differ in shape");
  LossTerms t;
  t.bce = torch::binary_cross_entropy_with_logits(logits, target, /*weight=*/{},
                                                  /*pos_weight=*/{}, at::Reduction::Sum);
  t.kl = -0.5 * torch::sum(1 + log_var - mu.pow(2) - log_var.exp());
  return t;
}

}  // namespace vae
