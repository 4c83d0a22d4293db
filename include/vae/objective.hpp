// A model family: what the training step, the evaluator, the trainer's
// pictures and the tools ask of a model.kind. Each family is one file in
// src/objectives/ behind this interface; make_objective (src/objective.cpp)
// is the one place that branches on model.kind.
//
//   std::unique_ptr<vae::Objective> obj = vae::make_objective(cfg);
//   vae::LossTerms t = obj->train_terms(model, x, y, rows);  // then t.recon + w * t.kl (+ t.penalty)
//   if (obj->has_prior()) ...                               // vae-sample, samples.png
//
// Shapes: B = batch, D = pixels (C x H x W), Z = latent. Losses in nats,
// summed over the batch.
#pragma once

#include <ATen/core/Generator.h>
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "vae/config.hpp"
#include "vae/loss.hpp"
#include "vae/metrics.hpp"
#include "vae/model.hpp"
#include "vae/row_slice.hpp"

namespace vae {

// The encoder's output layer: two Gaussian heads fc_mean / fc_sd giving
// (mu, log_var), one code layer fc_code with an activation (ReLU, sigmoid,
// or none), or a code quantized to the model's codebook (vq_vae: fc_code,
// or for conv the 1x1 convolution code_conv, then the nearest vectors).
enum class CodeHead { kGaussian, kRelu, kSigmoid, kLinear, kQuantized };

// What the evaluator hands an objective for one batch of test images.
struct EvalBatch {
  const torch::Tensor& x;     // float [B, D] in [0, 1], the clean images (the target)
  const torch::Tensor& y;     // int64 labels [B] (a conditional model), else undefined
  const torch::Tensor& mu;    // the encoder's output on the input it sees: [B, Z]
  const torch::Tensor& log_var;  // [B, Z], or undefined (a code head)
  const RowSlice& rows;       // x is this slice of the whole evaluation batch
  at::Generator& elbo_gen;    // the stream of the ELBO's z (Stream::kEvalElbo)
  at::Generator& iw_gen;      // the stream of the IW bound's draws (Stream::kEvalIw)
  int64_t iw_samples;         // K of the IW bound; 0: skip it
  int64_t chunk_rows;         // decoder rows per chunk of the IW pass
  const std::function<void(double)>& on_iw_chunk;  // progress of the IW pass, may be empty
};

// What one batch adds to the test loss: 0-dim float64 sums on the device.
struct BatchScore {
  torch::Tensor recon;  // -log p(x|z) (or the reconstruction error)
  torch::Tensor kl;     // the KL term of the negative ELBO; 0 without a prior
  torch::Tensor nll;    // -log p(x) by importance sampling (iw_samples > 0), else undefined
  torch::Tensor code_counts;  // vq_vae: float64 [codebook_size], each vector's uses; else undefined
};

// The code's part of a training step, between the encoder and the decoder.
struct CodeTerms {
  torch::Tensor z;  // [B, Z], what the decoder sees; gradients flow to mu (and log_var)
  LossTerms terms;  // the terms of the code alone: kl, penalty, commit (recon undefined)
};

class Objective {
 public:
  explicit Objective(Config cfg) : cfg_(std::move(cfg)) {}
  virtual ~Objective() = default;

  // For titles and messages: "VAE", "ae", ...
  virtual std::string title() const = 0;
  virtual CodeHead code_head() const = 0;
  // Whether the encoder sees a corrupted input (data.noise) in training and
  // evaluation while the loss scores the clean one (denoising).
  virtual bool corrupts_input() const { return false; }
  // Whether decoding z ~ p(z) gives samples (vae-sample, samples.png, the
  // manifold).
  virtual bool has_prior() const = 0;
  // Whether the test loss is a negative ELBO with an importance-weighted
  // bound beside it (a VAE's; a WAE has a prior but no likelihood bound).
  virtual bool has_elbo() const { return has_prior(); }
  // Whether FusedMlpStep (the hand-written MLP step, src/train_step.hpp)
  // computes this objective: its encoder and decoder by hand, code_terms by
  // autograd.
  virtual bool has_fused_step() const { return false; }

  // The loss terms of a batch from the model's outputs: logits [B, D],
  // target [B, D] in [0, 1], mu [B, Z], log_var [B, Z] or undefined.
  virtual LossTerms loss(const torch::Tensor& logits, const torch::Tensor& target, const torch::Tensor& mu,
                         const torch::Tensor& log_var) const = 0;

  // Training: the terms of a batch x (float [B, D] in [0, 1]) with labels y
  // (or undefined), gradients flowing. By default the forward pass (the
  // input corrupted first where corrupts_input(); every draw from the
  // default generator, for the whole global batch: rows) and loss().
  virtual LossTerms train_terms(VAE& model, const torch::Tensor& x, const torch::Tensor& y,
                                const RowSlice& rows) const;

  // RAE-GP's penalty weight: lambda of lambda sum_b ||d(sum_d sigmoid(
  // logits_bd))/dz_b||^2, which FusedMlpStep computes by hand (a second
  // derivative through the decoder, beyond code_terms); 0 for the others.
  virtual double decoder_gradient_penalty() const { return 0.0; }

  // The code's part of train_terms, for the objectives with has_fused_step():
  // from the encoder's mu [B, Z] and log_var [B, Z] (undefined for a code
  // head), the code the decoder sees and the code's terms, with the draws
  // train_terms makes at that point (default generator, global batch: rows).
  virtual CodeTerms code_terms(VAE& model, const torch::Tensor& mu, const torch::Tensor& log_var,
                               const RowSlice& rows) const;

  // Evaluation (under InferenceMode): the test loss terms of one batch.
  virtual BatchScore score(VAE& model, const EvalBatch& batch) const = 0;

  // The per-epoch log line's tail from the epoch's test metrics: "  mean
  // |code| 0.1234", "  kl weight 0.5", a codebook's use.
  virtual std::string epoch_note(const EpochMetrics::Test& test, double kl_weight) const = 0;

  const Config& config() const { return cfg_; }

 protected:
  // train_terms through code_terms: the encoder on x, the code's terms, and
  // the decoder's reconstruction error of x as recon.
  LossTerms terms_through_code(VAE& model, const torch::Tensor& x, const torch::Tensor& y,
                               const RowSlice& rows) const;

  Config cfg_;
};

// The deterministic autoencoders' common ground (ae, sparse_ae,
// denoising_ae, rae): no prior; the test loss is the error of
// reconstructing x from its code; the log line shows the mean |code|.
class CodeObjective : public Objective {
 public:
  using Objective::Objective;
  bool has_prior() const override { return false; }
  BatchScore score(VAE& model, const EvalBatch& batch) const override;
  std::string epoch_note(const EpochMetrics::Test& test, double kl_weight) const override;
};

// MMD^2(codes, N(0, I)) of a global batch, for the objectives that pull
// their codes toward the prior by it (wae, info_vae; src/objectives/wae.cpp):
// the unbiased estimate over the batch's B codes and B draws from N(0, I)
// (drawn from the default generator for the whole global batch),
// with loss.mmd_kernel. codes: this process's rows [b, Z] of the global
// batch `rows` (other processes' rows come through rows.sum_across).
// Returns B * loss.mmd_weight * MMD^2 as this process's share: the shares
// sum to it over the processes, and their gradients to its gradient.
torch::Tensor mmd_penalty(const LossConfig& loss, const torch::Tensor& codes, const RowSlice& rows);

// The objective of cfg.model.kind (the one branch on it).
std::unique_ptr<Objective> make_objective(const Config& cfg);
// The same where only the model is known (its loss keys at their defaults):
// the module's heads, evaluation, sampling.
std::unique_ptr<Objective> make_objective(const ModelConfig& model);

// make_objective(cfg)->loss(...): the loss terms of any model.kind.
LossTerms model_loss(const Config& cfg, const torch::Tensor& logits, const torch::Tensor& target,
                     const torch::Tensor& mu, const torch::Tensor& log_var);

// -log p(x | decoder(code)) summed over the batch, float64 0-dim.
torch::Tensor reconstruction_error(VAE& model, const torch::Tensor& code, const torch::Tensor& x,
                                   const torch::Tensor& y);

// log N(z; mean, exp(log_var)) summed over the last dimension (nats).
torch::Tensor log_gaussian(const torch::Tensor& z, const torch::Tensor& mean, const torch::Tensor& log_var);

// The importance weights of the IW bound, shared by evaluation (and the
// IWAE objective): for z = reparameterize(mu, log_var, eps) with eps
// [S, B, Z], log w = log p(x|z) + log p(z) - log q(z|x) -> float64 [S, B],
// p(z) the model's prior (VAEImpl::prior_log_weight). A two-layer model
// takes eps [S, B, Z + Z2] and adds log p(z1|z2) + log p(z2) - log q(z2|z1)
// for log p(z), z2 drawn from eps's tail.
// x: [B, D]; mu, log_var: [B, Z]; labels: int64 [B] or undefined. Gradients
// flow unless the caller is in InferenceMode.
torch::Tensor iw_log_weights(VAE& model, const torch::Tensor& x, const torch::Tensor& mu,
                             const torch::Tensor& log_var, const torch::Tensor& eps, const torch::Tensor& labels);

}  // namespace vae
