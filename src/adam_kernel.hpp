// The arithmetic of FusedAdam (vae/optim.hpp), torch-free so it can be
// compiled for vector units: see src/adam_kernel.cpp.
#pragma once

#include <cstdint>

namespace vae::detail {

// One Adam update of n floats in place, element by element:
//   m = beta1 m + c1 g;  v = beta2 v + c2 g^2;  p += neg_step_size * m / (sqrt(v) * inv_sqrt_bc2 + eps)
// with c1 = 1 - beta1 and c2 = 1 - beta2 rounded from double, as
// torch::optim::Adam's scalars are. torch::optim::Adam divides by
// sqrt(bias_correction2) where this multiplies by its inverse: one vector
// division per element instead of two, and results equal to float rounding.
void adam_update(float* p, const float* g, float* m, float* v, int64_t n, float beta1, float beta2, float c1,
                 float c2, float inv_sqrt_bc2, float eps, float neg_step_size);

}  // namespace vae::detail
