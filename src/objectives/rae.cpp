// The regularized autoencoder (Ghosh et al. 2020, "From Variational to
// Deterministic Autoencoders"): a deterministic autoencoder whose code is
// kept small by an L2 penalty, and whose decoder is kept smooth, in place of
// the VAE's noise and KL. Per image:
//   recon + loss.rae_code_weight * ||z||^2 / 2,
// plus, for RAE-L2, per batch of B images B * loss.rae_decoder_decay *
// ||theta_dec||^2 / 2 (on the summed loss this is weight decay
// loss.rae_decoder_decay on the mean loss, as pythae's RAE_L2 sets it on the
// decoder's optimizer); or for RAE-GP, per image loss.rae_gp_weight *
// ||g||^2 with g = d(sum_d xhat_d)/dz, xhat the decoded pixels at z = the
// code (the gradient of the summed output, as the paper's code takes it).
// No prior: the codes follow no fixed distribution until one is fitted.
#include <torch/autograd.h>

#include "families.hpp"

namespace vae {
namespace {

class RaeObjective : public CodeObjective {
 public:
  using CodeObjective::CodeObjective;
  std::string title() const override { return "RAE"; }
  CodeHead code_head() const override { return CodeHead::kLinear; }

  LossTerms loss(const torch::Tensor& logits, const torch::Tensor& target, const torch::Tensor& code,
                 const torch::Tensor& /*log_var*/) const override {
    LossTerms t;
    t.recon = -log_likelihood(logits, target, cfg_.model.likelihood).sum();
    t.kl = torch::zeros({}, logits.options());
    t.penalty = (0.5 * cfg_.loss.rae_code_weight) * code.pow(2).sum();
    return t;
  }

  bool has_fused_step() const override { return true; }
  double decoder_gradient_penalty() const override {
    return cfg_.loss.rae_regularizer == RaeRegularizer::kGp ? cfg_.loss.rae_gp_weight : 0.0;
  }

  // The code as it is, its L2 penalty, and for RAE-L2 the decoder's decay
  // (B * rae_decoder_decay * ||theta_dec||^2 / 2, B this process's rows:
  // each process adds its share).
  CodeTerms code_terms(VAE& model, const torch::Tensor& code, const torch::Tensor& /*log_var*/,
                       const RowSlice& /*rows*/) const override {
    CodeTerms c;
    c.z = code;
    c.terms.kl = torch::zeros({}, code.options());
    c.terms.penalty = (0.5 * cfg_.loss.rae_code_weight) * code.pow(2).sum();
    if (cfg_.loss.rae_regularizer != RaeRegularizer::kGp && cfg_.loss.rae_decoder_decay > 0) {
      torch::Tensor decay = torch::zeros({}, code.options());
      for (const torch::Tensor& p : model->decoder()->parameters()) decay = decay + p.pow(2).sum();
      const double rows_here = static_cast<double>(code.size(0));
      c.terms.penalty = c.terms.penalty + (0.5 * cfg_.loss.rae_decoder_decay * rows_here) * decay;
    }
    return c;
  }

  LossTerms train_terms(VAE& model, const torch::Tensor& x, const torch::Tensor& y,
                        const RowSlice& rows) const override {
    if (cfg_.loss.rae_regularizer != RaeRegularizer::kGp) return terms_through_code(model, x, y, rows);
    const torch::Tensor code = model->encoder()->forward(x.reshape({x.size(0), input_dim(cfg_.model)}), y).first;
    CodeTerms c = code_terms(model, code, {}, rows);
    const torch::Tensor logits = model->decoder()->forward(c.z, y);
    c.terms.recon = -log_likelihood(logits, x, cfg_.model.likelihood).sum();
    // create_graph: the penalty's own gradient flows through g.
    const torch::Tensor g = torch::autograd::grad({torch::sigmoid(logits).sum()}, {c.z}, {},
                                                  /*retain_graph=*/true, /*create_graph=*/true)[0];
    c.terms.penalty = c.terms.penalty + cfg_.loss.rae_gp_weight * g.pow(2).sum();
    return c.terms;
  }
};

}  // namespace

std::unique_ptr<Objective> make_rae_objective(const Config& cfg) { return std::make_unique<RaeObjective>(cfg); }

}  // namespace vae
