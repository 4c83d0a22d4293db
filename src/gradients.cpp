#include "vae/gradients.hpp"

#include <cmath>
#include <stdexcept>

namespace vae {

FlatGradients::FlatGradients(const std::vector<torch::Tensor>& params) {
  if (params.empty()) throw std::invalid_argument("FlatGradients: no parameters");
  int64_t total = 0;
  for (const auto& p : params) total += p.numel();
  flat_ = torch::zeros({total}, params.front().options());
  int64_t offset = 0;
  for (const auto& p : params) {
    if (p.device() != flat_.device() || p.scalar_type() != flat_.scalar_type())
      throw std::invalid_argument("FlatGradients: parameters on different devices or of different dtypes");
    p.mutable_grad() = flat_.narrow(0, offset, p.numel()).view(p.sizes());
    offset += p.numel();
  }
}

void FlatGradients::zero() { flat_.zero_(); }

bool FlatGradients::all_finite() const {
  // A float32 sum: any NaN or Inf makes it non-finite; finite gradients
  // could only overflow it past 3e38, which is a diverged step anyway.
  return std::isfinite(flat_.sum().item<double>());
}

double FlatGradients::clip_norm(double max_norm) {
  const double norm = flat_.norm().item<double>();
  if (norm > max_norm) flat_.mul_(max_norm / (norm + 1e-6));
  return norm;
}

}  // namespace vae
