// The training step's forward, loss and backward, behind one small
// interface with two implementations (private to the library; tests and
// bench/ include it from src/):
//
//   AutogradStep  the objective's train_terms (vae/objective.hpp),
//                 loss.backward(): every model kind, every device;
//   FusedMlpStep  the MLP (ReLU, bernoulli, unconditional) on the CPU
//                 for the objectives with has_fused_step() (vae, wae,
//                 info_vae, vq_vae, rae): the encoder and decoder (and
//                 RAE-GP's penalty) written out by hand, the objective's
//                 code_terms by autograd on the heads' outputs; the same
//                 loss and gradients,
//                 every activation in a buffer allocated once, the layers
//                 as addmm/mm into those buffers (the first from the
//                 input's nonzeros, src/sparse_input.hpp, where it is
//                 mostly zeros), one sigmoid shared by the loss and its
//                 gradient (timings in docs/BENCHMARKS.md).
//
// Both leave the gradient of the batch's objective in the FlatGradients
// block (overwritten, not accumulated) and draw the training noise (eps,
// denoising corruption) from the default generator in the same order.
#pragma once

#include <torch/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "sparse_input.hpp"
#include "vae/config.hpp"
#include "vae/gradients.hpp"
#include "vae/model.hpp"
#include "vae/objective.hpp"

namespace vae {

class TrainStep {
 public:
  virtual ~TrainStep() = default;
  // x: float [B, D] in [0, 1], the target (and the input, corrupted first
  // for denoising_ae); y: int64 labels [B] for a conditional model, else
  // undefined. Returns the objective recon + kl_weight * kl (+ a sparsity
  // penalty) summed over the batch, and leaves its gradient in the block.
  // `rows`: x is that slice of a global batch (the noise is drawn for the
  // global batch, see row_slice.hpp); x may then have no rows.
  virtual double run(const torch::Tensor& x, const torch::Tensor& y, double kl_weight, const RowSlice& rows = {}) = 0;
  // After a finite step, before the optimizer's: the objective's deferred
  // work for this step (LossTerms::commit), if any.
  void commit() {
    if (pending_) pending_();
    pending_ = nullptr;
  }
  virtual const char* describe() const = 0;

 protected:
  std::function<void()> pending_;  // the last run's LossTerms::commit
};

// Whether FusedMlpStep computes this config's step on `device`.
bool fused_step_applies(const Config& cfg, const torch::Device& device);

// The fused step where it applies (and train.fused_step is on), else autograd.
// `grads` must be the model's gradient block; batches hold at most max_batch rows.
std::unique_ptr<TrainStep> make_train_step(const Config& cfg, VAE& model, FlatGradients& grads,
                                           const torch::Device& device, int64_t max_batch);

class AutogradStep : public TrainStep {
 public:
  AutogradStep(const Config& cfg, VAE& model, FlatGradients& grads)
      : objective_(make_objective(cfg)), model_(model), grads_(grads) {}
  double run(const torch::Tensor& x, const torch::Tensor& y, double kl_weight, const RowSlice& rows = {}) override;
  const char* describe() const override { return "autograd"; }

 private:
  std::unique_ptr<Objective> objective_;
  VAE model_;
  FlatGradients& grads_;
};

class FusedMlpStep : public TrainStep {
 public:
  FusedMlpStep(const Config& cfg, VAE& model, int64_t max_batch);
  double run(const torch::Tensor& x, const torch::Tensor& y, double kl_weight, const RowSlice& rows = {}) override;
  const char* describe() const override { return "fused (hand-written forward and backward)"; }

 private:
  struct Layer {
    torch::Tensor w, b;  // the parameters, [out, in] and [out]; their .grad() are written
    torch::Tensor out;   // activation buffer [max_batch, out]
  };
  void encode(const torch::Tensor& x);     // fills the encoder's buffers, mu_ and log_var_
  void decode(const torch::Tensor& z);     // -> logits in the last layer's buffer
  double loss_and_output_gradient(const torch::Tensor& x);  // the BCE; leaves dL/dlogits in g_
  double gradient_penalty();  // RAE-GP's, into g_; returns its value
  void backward_decoder();                                 // leaves dL/dz in g_
  void backward_encoder(const torch::Tensor& x, const torch::Tensor& g_mu, const torch::Tensor& g_lv);

  std::unique_ptr<Objective> objective_;  // its code_terms, between encoder and decoder
  VAE model_;
  std::vector<Layer> enc_;  // encoder hidden layers (ReLU)
  Layer mean_, sd_;         // the heads (sd_: none for a code head)
  std::vector<Layer> dec_;  // decoder layers; the last gives the logits
  std::vector<torch::Tensor> others_;  // parameters outside the layers (a codebook): autograd's
  torch::Tensor grad_out_, grad_in_;  // flat scratch for dL/d(activation), max_batch * widest
  torch::Tensor mu_, log_var_, z_, g_;  // this step's, views of the buffers
  int64_t max_batch_;
  bool sparse_input_;                   // the encoder's first layer from x's nonzeros, where x allows
  std::optional<SparseInput> sparse_;   // this step's x's nonzeros, or none: dense
  int64_t log_chunk_ = 1;  // pixels per product in the loss (a divisor of D, at most 120)
  double gp_weight_;                          // Objective::decoder_gradient_penalty()
  std::vector<torch::Tensor> gp_u_, gp_dv_;   // the penalty's weight gradient u_j^T dv_j, per decoder layer
};

}  // namespace vae
