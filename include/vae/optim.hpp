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
#include <vector>

#include "vae/config.hpp"
#include "vae/metrics.hpp"
#include "vae/model.hpp"

namespace vae {

class FusedAdam : public torch::optim::Adam {
 public:
  using torch::optim::Adam::Adam;
  torch::Tensor step(LossClosure closure = nullptr) override;
};

// The configured optimizer over `model`'s parameters: FusedAdam for adam,
// torch::optim::RMSprop for rmsprop; train.weight_decay as their weight_decay.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const TrainConfig& cfg, VAE& model);

// The learning rate of `epoch` (1-based) under train.lr_schedule, given the
// completed epochs before it (`history`, for plateau): a pure function, so a
// resumed run and every process set the same rate.
double scheduled_lr(const TrainConfig& cfg, int64_t epoch, const std::vector<EpochMetrics>& history);

// Sets every parameter group's learning rate (Adam or RMSprop).
void set_lr(torch::optim::Optimizer& optimizer, double lr);

}  // namespace vae
