// The MLP VAE's training step written out by hand, for the CPU.
//
//   if (vae::FusedStep::applies(cfg, device)) fused = std::make_unique<vae::FusedStep>(model, cfg.train.batch_size);
//   double loss = fused->run(x, kl_weight);   // fills every parameter's .grad()
//   optimizer.step();
//
// The same forward pass, loss (BCE from logits, summed, plus kl_weight times
// the analytic KL) and gradients as autograd computes through VAEImpl, and
// the same draw of eps from the default generator, but without building a
// graph: every activation and gradient lives in a buffer allocated once, the
// layers run as addmm/mm into those buffers, and the loss and its gradient
// share one sigmoid of the logits. Gradients are written, not accumulated.
// Measured in docs/BENCHMARKS.md (`vae-bench phases`): forward, loss and
// backward of a 784-400-20 epoch in 1.7 s against 2.0 s through autograd.
//
// It applies to model.kind "vae", arch "mlp", likelihood "bernoulli",
// unconditional, float32 on the CPU, with train.fused_step on; everything
// else trains through autograd.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "vae/config.hpp"
#include "vae/model.hpp"

namespace vae {

class FusedStep {
 public:
  static bool applies(const Config& cfg, const torch::Device& device);

  // Buffers for batches of up to max_batch images.
  FusedStep(VAE& model, int64_t max_batch);

  // x: float [B, D] in [0, 1], B <= max_batch; the targets and the input.
  // Returns the training objective recon + kl_weight * kl, summed over the
  // batch, and leaves its gradient in every parameter's .grad().
  double run(const torch::Tensor& x, double kl_weight);

 private:
  struct Layer {
    torch::Tensor w, b;    // the parameters, [out, in] and [out]
    torch::Tensor out;     // activation buffer [max_batch, out]
  };
  std::vector<Layer> enc_;  // encoder hidden layers (ReLU)
  Layer mean_, sd_;         // the heads
  std::vector<Layer> dec_;  // decoder layers; the last gives the logits
  torch::Tensor grad_out_, grad_in_;  // flat scratch for dL/d(activation), max_batch * widest
  int64_t max_batch_;
  int64_t log_chunk_ = 1;  // pixels per product in the loss (a divisor of D, at most 120)
};

}  // namespace vae
