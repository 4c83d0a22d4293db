// The guide's deterministic autoencoders: plain (ae), sparse (an L1 or KL
// penalty on the code) and denoising (the encoder sees a corrupted input).
// One code layer instead of the Gaussian heads, no prior to sample from;
// the test loss is the reconstruction error -log p(x | decoder(code)).
#include "families.hpp"

namespace vae {
namespace {

class AeObjective : public CodeObjective {
 public:
  using CodeObjective::CodeObjective;
  std::string title() const override { return name(cfg_.model.kind); }
  CodeHead code_head() const override { return CodeHead::kRelu; }

  LossTerms loss(const torch::Tensor& logits, const torch::Tensor& target, const torch::Tensor& code,
                 const torch::Tensor& /*log_var*/) const override {
    LossTerms t;
    t.recon = cfg_.model.likelihood == Likelihood::kBernoulli
                  ? torch::binary_cross_entropy_with_logits(logits, target, {}, {}, at::Reduction::Sum)
                  : -log_likelihood(logits, target, cfg_.model.likelihood).sum();
    t.kl = torch::zeros({}, logits.options());
    t.penalty = penalty(logits, code);
    return t;
  }

 protected:
  // A penalty on the code [B, Z]; undefined: none.
  virtual torch::Tensor penalty(const torch::Tensor& /*logits*/, const torch::Tensor& /*code*/) const { return {}; }
};

// The penalty of model.sparsity on the code:
//   l1: loss.l1_weight * D * sum |code|   (Keras's weight, which applies to
//       the mean BCE per pixel, rescaled to our sum over the D pixels);
//   kl: B * loss.sparsity_weight * sum_j KL(rho || rho_hat_j), rho_hat_j the
//       mean activation of unit j over the batch (a sigmoid code).
class SparseAeObjective : public AeObjective {
 public:
  using AeObjective::AeObjective;
  CodeHead code_head() const override {
    return cfg_.model.sparsity == Sparsity::kKl ? CodeHead::kSigmoid : CodeHead::kRelu;
  }

 protected:
  torch::Tensor penalty(const torch::Tensor& logits, const torch::Tensor& code) const override {
    if (cfg_.model.sparsity == Sparsity::kL1)
      return cfg_.loss.l1_weight * static_cast<double>(logits.size(-1)) * code.abs().sum();
    const double rho = cfg_.loss.rho;
    const torch::Tensor rho_hat = code.mean(0).clamp(1e-6, 1 - 1e-6);
    const torch::Tensor kl = rho * torch::log(rho / rho_hat) + (1 - rho) * torch::log((1 - rho) / (1 - rho_hat));
    return static_cast<double>(code.size(0)) * cfg_.loss.sparsity_weight * kl.sum();
  }
};

// Trained and scored on reconstructing x from the code of x corrupted by
// data.noise at data.noise_level.
class DenoisingAeObjective : public AeObjective {
 public:
  using AeObjective::AeObjective;
  bool corrupts_input() const override { return true; }
};

}  // namespace

std::unique_ptr<Objective> make_ae_objective(const Config& cfg) { return std::make_unique<AeObjective>(cfg); }
std::unique_ptr<Objective> make_sparse_ae_objective(const Config& cfg) {
  return std::make_unique<SparseAeObjective>(cfg);
}
std::unique_ptr<Objective> make_denoising_ae_objective(const Config& cfg) {
  return std::make_unique<DenoisingAeObjective>(cfg);
}

}  // namespace vae
