// A faster Adam for the training step, and gradients cleared to "none".
//
//   vae::FusedAdam opt(model->parameters(), torch::optim::AdamOptions(1e-3));
//   vae::clear_gradients(opt);   // instead of opt.zero_grad()
//   loss.backward();
//   opt.step();
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

namespace vae {

class FusedAdam : public torch::optim::Adam {
 public:
  using torch::optim::Adam::Adam;
  torch::Tensor step(LossClosure closure = nullptr) override;
};

// Sets every parameter's gradient to an undefined tensor (PyTorch's
// zero_grad(set_to_none=True)): backward then stores the new gradients
// instead of adding them to zeros, one pass fewer per parameter and no
// zeroing pass.
void clear_gradients(torch::optim::Optimizer& optimizer);

}  // namespace vae
