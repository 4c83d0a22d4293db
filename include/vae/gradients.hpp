// One contiguous gradient block for a model: every parameter's .grad() is a
// view into one flat float tensor, so clearing, the finite check, clipping
// and (later) an all-reduce across processes are each one call on one tensor.
//
//   vae::FlatGradients grads(model->parameters());  // after the model is on its device
//   grads.zero();  loss.backward();                  // autograd adds into the views
//   if (grads.all_finite()) optimizer.step();
#pragma once

#include <torch/types.h>

#include <vector>

namespace vae {

class FlatGradients {
 public:
  // Allocates the block on the parameters' device and points every
  // parameter's gradient at its slice. The parameters must share a device
  // and a floating dtype.
  explicit FlatGradients(const std::vector<torch::Tensor>& params);

  // Sets every gradient to 0 (before a backward pass, which adds).
  void zero();
  // True when every gradient is finite. One host read.
  bool all_finite() const;
  // Scales the gradients so their joint L2 norm is at most max_norm; returns
  // the norm before scaling. One host read.
  double clip_norm(double max_norm);

  torch::Tensor& flat() { return flat_; }
  int64_t numel() const { return flat_.numel(); }

 private:
  torch::Tensor flat_;
};

}  // namespace vae
