#include "vae/evaluate.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "vae/data.hpp"
#include "vae/loss.hpp"

namespace vae {
namespace {

constexpr double kLog2Pi = 1.8378770664093453;  // log(2 pi)

// log N(z; mean, exp(log_var)) summed over the last dimension.
torch::Tensor log_normal(const torch::Tensor& z, const torch::Tensor& mean, const torch::Tensor& log_var) {
  return (-0.5 * (kLog2Pi + log_var + (z - mean).pow(2) * torch::exp(-log_var))).sum(-1);
}

}  // namespace

torch::Tensor iw_log_likelihood(VAE& model, const torch::Tensor& x, int64_t k, at::Generator& gen,
                                int64_t chunk_rows, const torch::Tensor& labels) {
  c10::InferenceMode guard;
  const Likelihood lik = likelihood_of(model->config());
  auto [mu, log_var] = model->encode(x, labels);  // [B, Z]
  const int64_t b = x.size(0), z_dim = mu.size(1);
  // log w_k = log p(x|z_k) + log p(z_k) - log q(z_k|x), reduced with a
  // running logsumexp over chunks of samples so K = 5000 fits in memory.
  torch::Tensor running = torch::full({b}, -std::numeric_limits<double>::infinity(),
                                      torch::TensorOptions().dtype(torch::kFloat64).device(x.device()));
  const int64_t sample_chunk = std::max<int64_t>(1, chunk_rows / std::max<int64_t>(b, 1));
  for (int64_t done = 0; done < k; done += sample_chunk) {
    const int64_t s = std::min(sample_chunk, k - done);
    const torch::Tensor eps = torch::randn({s, b, z_dim}, gen, torch::kFloat32).to(x.device());
    const torch::Tensor z = mu.unsqueeze(0) + torch::exp(0.5 * log_var).unsqueeze(0) * eps;  // [s, B, Z]
    // Rows run sample-major, so image j's label repeats every b rows.
    const torch::Tensor y = labels.defined() ? labels.repeat({s}) : labels;
    const torch::Tensor logits = model->decoder()->forward(z.reshape({s * b, z_dim}), y).reshape({s, b, -1});
    const torch::Tensor log_px_z = log_likelihood(logits, x.unsqueeze(0).expand_as(logits), lik);
    const torch::Tensor log_pz = (-0.5 * (kLog2Pi + z.pow(2))).sum(-1);
    const torch::Tensor log_qz = log_normal(z, mu.unsqueeze(0), log_var.unsqueeze(0));
    const torch::Tensor log_w = (log_px_z + log_pz - log_qz).to(torch::kFloat64);  // [s, B]
    running = torch::logaddexp(running, torch::logsumexp(log_w, 0));
  }
  return running - std::log(static_cast<double>(k));
}

int64_t active_units(const torch::Tensor& mu, double threshold) {
  if (mu.size(0) < 2) return 0;
  return (mu.to(torch::kFloat64).var(0, /*unbiased=*/true) > threshold).sum().item<int64_t>();
}

Evaluation evaluate_model(VAE& model, const torch::Tensor& images, const EvalOptions& options,
                          const torch::Tensor& labels) {
  const bool variational = is_variational(model->config());
  c10::InferenceMode guard;
  model->eval();
  const int64_t n = images.size(0);
  // Separate streams, so the ELBO's draws do not depend on K.
  auto gen = at::detail::createCPUGenerator(options.seed);
  auto gen_iw = at::detail::createCPUGenerator(options.seed ^ 0x9e3779b97f4a7c15ULL);
  auto gen_noise = at::detail::createCPUGenerator(options.seed ^ 0x6a09e667f3bcc909ULL);
  const int64_t chunk_rows =
      options.chunk_rows > 0 ? options.chunk_rows : (images.device().is_cuda() ? 1 << 16 : 2048);
  Evaluation e;
  e.images = n;
  e.iw_samples = options.iw_samples;
  e.latent = model->config().latent;
  const Likelihood lik = likelihood_of(model->config());
  double recon = 0, kl = 0, nll = 0, code_recon = 0, noisy_recon = 0;
  std::vector<torch::Tensor> mus;
  for (int64_t start = 0; start < n; start += options.batch_images) {
    const int64_t len = std::min(options.batch_images, n - start);
    const torch::Tensor x = to_unit_float(images.narrow(0, start, len));
    const torch::Tensor y = labels.defined() ? labels.narrow(0, start, len) : labels;
    auto [mu, log_var] = model->encode(x, y);
    mus.push_back(mu.to(torch::kCPU));
    code_recon -= log_likelihood(model->decoder()->forward(mu, y), x, lik).sum().item<double>();
    const torch::Tensor noisy_code = model->encode(corrupt(x, options.noise, options.noise_level, &gen_noise), y).first;
    noisy_recon -= log_likelihood(model->decoder()->forward(noisy_code, y), x, lik).sum().item<double>();
    if (!variational) continue;
    const torch::Tensor eps = torch::randn(mu.sizes(), gen, torch::kFloat32).to(mu.device());
    const LossTerms t =
        vae_loss(model->decoder()->forward(mu + torch::exp(0.5 * log_var) * eps, y), x, mu, log_var, lik);
    recon += t.recon.item<double>();
    kl += t.kl.item<double>();
    if (options.iw_samples > 0)
      nll -= iw_log_likelihood(model, x, options.iw_samples, gen_iw, chunk_rows, y).sum().item<double>();
  }
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  e.code_recon = code_recon / static_cast<double>(n);
  e.noisy_recon = noisy_recon / static_cast<double>(n);
  e.recon = variational ? recon / static_cast<double>(n) : kNaN;
  e.kl = variational ? kl / static_cast<double>(n) : kNaN;
  e.neg_elbo = e.recon + e.kl;
  e.nll_iw = variational && options.iw_samples > 0 ? nll / static_cast<double>(n) : std::numeric_limits<double>::quiet_NaN();
  e.active_units = active_units(torch::cat(mus));
  return e;
}

}  // namespace vae
