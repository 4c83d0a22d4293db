// The vector-quantized VAE (van den Oord et al. 2017, "Neural Discrete
// Representation Learning"): the encoder's output z_e is cut into positions
// of model.code_dim numbers, each replaced by the nearest of the model's
// codebook vectors (z_q), and the decoder sees z_q. The gradient skips the
// quantization (straight-through: the decoder's gradient at z_q is taken as
// z_e's). Per image:
//   recon + ||sg(z_e) - z_q||^2 + loss.vq_commitment * ||z_e - sg(z_q)||^2,
// summed over the positions, sg the stop-gradient; with
// model.codebook_ema the codebook term is replaced by moving averages of
// the codes assigned to each vector (the paper's appendix A.1); that upkeep
// is LossTerms::commit, run only for a step the trainer takes. The first
// training step sets the codebook to codes of its batch (VAEImpl::
// init_codebook), so no vector starts out of every code's reach, and a
// vector unused for loss.vq_restart_steps steps is moved onto a code of
// the batch (as Jukebox's and SoundStream's codebooks are), so the
// codebook does not collapse onto a few vectors.
// No prior is learned with it: vae-sample fits a categorical one to the
// training codes' indices (--prior categorical), as the paper fits
// PixelCNN.
#include <c10/core/InferenceMode.h>

#include <cstdio>

#include "families.hpp"

namespace vae {
namespace {

class VqVaeObjective : public CodeObjective {
 public:
  using CodeObjective::CodeObjective;
  std::string title() const override { return "VQ-VAE"; }
  CodeHead code_head() const override { return CodeHead::kQuantized; }

  // The reconstruction term only: the codebook and commitment terms need
  // z_e beside z_q (train_terms).
  LossTerms loss(const torch::Tensor& logits, const torch::Tensor& target, const torch::Tensor& /*code*/,
                 const torch::Tensor& /*log_var*/) const override {
    return {-log_likelihood(logits, target, cfg_.model.likelihood).sum(), torch::zeros({}, logits.options()), {}};
  }

  bool has_fused_step() const override { return true; }

  // The quantized code with the straight-through gradient, the codebook and
  // commitment terms, and the codebook's upkeep as the step's commit.
  CodeTerms code_terms(VAE& model, const torch::Tensor& z_e, const torch::Tensor& /*log_var*/,
                       const RowSlice& rows) const override {
    if (model->is_training() && !model->codebook_initialized()) model->init_codebook(z_e, rows);
    const Quantized q = model->quantize(z_e);
    CodeTerms c;
    c.z = z_e + (q.codes - z_e).detach();  // straight-through
    c.terms.kl = torch::zeros({}, z_e.options());
    c.terms.penalty = cfg_.loss.vq_commitment * (z_e - q.codes.detach()).pow(2).sum();
    if (!cfg_.model.codebook_ema) c.terms.penalty = c.terms.penalty + (q.codes - z_e.detach()).pow(2).sum();
    if (model->is_training() && !c10::InferenceMode::is_enabled()) {
      // The codebook's upkeep only if the trainer takes this step.
      const double decay = cfg_.model.codebook_ema ? cfg_.loss.vq_ema_decay : 0.0;
      // z_e's own copy: the fused step's z_e is a view of a buffer the next batch overwrites.
      c.terms.commit = [model, z = z_e.detach().clone(), idx = q.indices, rows, decay,
                        restart = cfg_.loss.vq_restart_steps]() mutable {
        model->update_codebook(z, idx, rows, decay, restart);
      };
    }
    return c;
  }

  LossTerms train_terms(VAE& model, const torch::Tensor& x, const torch::Tensor& y,
                        const RowSlice& rows) const override {
    return terms_through_code(model, x, y, rows);
  }

  // The code's note, then the codebook's use.
  std::string epoch_note(const EpochMetrics::Test& test, double kl_weight) const override {
    char text[96];
    std::snprintf(text, sizeof text, "  codebook perplexity %.1f, %.0f/%lld unused", test.perplexity, test.dead_codes,
                  static_cast<long long>(cfg_.model.codebook_size));
    return CodeObjective::epoch_note(test, kl_weight) + text;
  }

  // The error of reconstructing x from its quantized code, and how often
  // each codebook vector was chosen.
  BatchScore score(VAE& model, const EvalBatch& b) const override {
    const Quantized q = model->encode_quantized(b.x, b.y);
    return {reconstruction_error(model, q.codes, b.x, b.y), {}, {},
            torch::bincount(q.indices.reshape({-1}), {}, cfg_.model.codebook_size).to(torch::kFloat64)};
  }
};

}  // namespace

std::unique_ptr<Objective> make_vq_vae_objective(const Config& cfg) { return std::make_unique<VqVaeObjective>(cfg); }

}  // namespace vae
