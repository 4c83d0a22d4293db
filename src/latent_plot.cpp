#include "vae/latent_plot.hpp"

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "vae/plot.hpp"

namespace vae {

LatentPlane latent_plane(const torch::Tensor& mu, const torch::Tensor& labels) {
  const torch::Tensor m = mu.to(torch::kCPU, torch::kFloat64);
  const int64_t n = m.size(0), z = m.size(1);
  if (!torch::isfinite(m).all().item<bool>())
    throw std::invalid_argument("the latent means contain NaN or Inf values (a diverged model?)");
  if (z == 1)
    return {torch::stack({m.select(1, 0), labels.to(torch::kCPU, torch::kFloat64)}, 1), "z_0 (mean)", "label", ""};
  if (z == 2) return {m, "z_0 (mean)", "z_1 (mean)", ""};
  const torch::Tensor centred = m - m.mean(0, /*keepdim=*/true);
  const torch::Tensor cov = centred.t().matmul(centred) / static_cast<double>(std::max<int64_t>(n - 1, 1));
  const auto [values, vectors] = torch::linalg_eigh(cov, "L");  // ascending
  const torch::Tensor top = vectors.narrow(1, z - 2, 2).flip({1});  // [Z, 2], largest first
  const torch::Tensor peak = top.abs().argmax(0);
  const torch::Tensor sign = top.gather(0, peak.unsqueeze(0)).sign();
  const torch::Tensor xy = centred.matmul(top * sign);
  const double total = values.sum().item<double>();
  const auto share = [&](int64_t i) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "PC %lld (%.0f%% of variance)", static_cast<long long>(i + 1),
                  total > 0 ? 100.0 * values[z - 1 - i].item<double>() / total : 0.0);
    return std::string(buf);
  };
  return {xy, share(0), share(1), "first two principal components of the " + std::to_string(z) + "-D means"};
}

void write_latent_plot(const std::string& path, const torch::Tensor& mu, const torch::Tensor& labels,
                       const std::string& title) {
  const LatentPlane plane = latent_plane(mu, labels);
  const torch::Tensor xy = plane.xy.contiguous();
  const torch::Tensor lab = labels.to(torch::kCPU, torch::kLong).contiguous();
  const int64_t n = xy.size(0);
  std::vector<double> x(n), y(n);
  std::vector<int64_t> cls(lab.data_ptr<int64_t>(), lab.data_ptr<int64_t>() + n);
  const auto a = xy.accessor<double, 2>();
  for (int64_t i = 0; i < n; ++i) {
    x[i] = a[i][0];
    y[i] = a[i][1];
  }
  const int64_t classes = n > 0 ? lab.max().item<int64_t>() + 1 : 0;
  if (n > 0 && lab.min().item<int64_t>() < 0) throw std::invalid_argument(path + ": negative labels");
  std::vector<std::string> names;
  for (int64_t c = 0; c < classes; ++c) names.push_back(std::to_string(c));
  plot::Axes axes{plane.note.empty() ? title : title + " (" + plane.note + ")", plane.xlabel, plane.ylabel};
  axes.width = 840;
  axes.height = 680;
  plot::scatter_plot(path, axes, x, y, cls, names);
}

}  // namespace vae
