// The optimizers of train.optimizer, and a faster Adam for the training step.
//
//   std::unique_ptr<torch::optim::Optimizer> opt = vae::make_optimizer(cfg.train, model);
//   opt->step();   // after the gradients are in place
//
// FusedAdam is torch::optim::Adam (same options, same per-parameter state,
// same checkpoint format: a run saved by one resumes with the other), with a
// step that updates each float32 CPU parameter in one pass over the
// parameter, its gradient and both moments, instead of six tensor
// operations with a temporary. The arithmetic is Adam's (Kingma and Ba,
// as in torch::optim::Adam: bias corrections from the step count, eps added
// after the square root); results agree with torch::optim::Adam to float
// rounding. Weight decay, AMSGrad, and tensors that are not float32,
// contiguous and on the CPU take torch::optim::Adam's own step.
#pragma once

#include <torch/optim/adam.h>

#include <memory>

#include "vae/config.hpp"
#include "vae/model.hpp"

namespace vae {

class FusedAdam : public torch::optim::Adam {
 public:
  using torch::optim::Adam::Adam;
  torch::Tensor step(LossClosure closure = nullptr) override;
};

// The configured optimizer over `model`'s parameters: FusedAdam for adam,
// torch::optim::RMSprop for rmsprop.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const TrainConfig& cfg, VAE& model);

}  // namespace vae
