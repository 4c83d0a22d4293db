// Compiled with -fno-math-errno (CMakeLists.txt): sqrtf that never sets errno
// lets the loop use the vector square root; with errno it stays scalar.
// One thread: a second OpenMP thread here competes with OpenBLAS's own for
// the cores (measured in the README's performance notes).
#include "adam_kernel.hpp"

#include <cmath>

namespace vae::detail {

// Compiled for AVX-512, AVX2 and plain x86-64, picked at load time.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)  // clang < 18: see sparse_kernels.cpp
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
void adam_update(float* __restrict p, const float* __restrict g, float* __restrict m, float* __restrict v,
                 int64_t n, float beta1, float beta2, float c1, float c2, float inv_sqrt_bc2, float eps,
                 float neg_step_size) {
  for (int64_t i = 0; i < n; ++i) {
    const float gi = g[i];
    const float mi = m[i] * beta1 + c1 * gi;
    const float vi = v[i] * beta2 + c2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] += neg_step_size * (mi / (std::sqrt(vi) * inv_sqrt_bc2 + eps));
  }
}

}  // namespace vae::detail
