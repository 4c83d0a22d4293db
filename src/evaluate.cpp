#include "vae/evaluate.hpp"

#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "vae/loss.hpp"
#include "vae/objective.hpp"
#include "vae/seeds.hpp"
#include "vae/transforms.hpp"

namespace vae {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Sums over the batches, as float64 on the device: read once at the end.
struct Sums {
  torch::Tensor recon, kl, code_abs, nll, code_recon, noisy_recon;
  torch::Tensor code_counts;  // vq_vae: float64 [codebook_size]; else undefined
  explicit Sums(const torch::Device& device) {
    const auto zero = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(device));
    recon = zero;
    for (torch::Tensor* t : {&kl, &code_abs, &nll, &code_recon, &noisy_recon}) *t = zero.clone();
  }
};

struct Streams {
  at::Generator elbo, noise, iw;
  explicit Streams(uint64_t seed)
      : elbo(stream_generator(seed, Stream::kEvalElbo)),
        noise(stream_generator(seed, Stream::kEvalNoise)),
        iw(stream_generator(seed, Stream::kEvalIw)) {}
};

// One batch: x float [B, D], y labels or undefined. Returns the code (mu)
// for the active-unit count.
torch::Tensor evaluate_batch(VAE& model, const Objective& objective, const torch::Tensor& x, const torch::Tensor& y,
                             const EvalOptions& opt, Streams& gen, Sums& sums, int64_t chunk_rows,
                             const std::function<void(double)>& on_iw_chunk, const RowSlice& rows) {
  const bool corrupted = objective.corrupts_input();
  torch::Tensor noisy;  // drawn only when used, so each stream's draws do not depend on the others
  if (corrupted || opt.code_errors) noisy = corrupt(x, opt.noise, opt.noise_level, &gen.noise, rows);
  auto [mu, log_var] = model->encode(corrupted ? noisy : x, y);
  sums.code_abs += mu.abs().sum().to(torch::kFloat64);
  const BatchScore s = objective.score(
      model, {x, y, mu, log_var, rows, gen.elbo, gen.iw, opt.iw_samples, chunk_rows, on_iw_chunk});
  sums.recon += s.recon;
  if (s.kl.defined()) sums.kl += s.kl;
  if (s.nll.defined()) sums.nll += s.nll;
  if (s.code_counts.defined())
    sums.code_counts = sums.code_counts.defined() ? sums.code_counts + s.code_counts : s.code_counts;
  if (opt.code_errors) {
    const torch::Tensor clean_code = corrupted ? model->encode(x, y).first : mu;
    sums.code_recon += reconstruction_error(model, clean_code, x, y);
    const torch::Tensor noisy_code = corrupted ? mu : model->encode(noisy, y).first;
    sums.noisy_recon += reconstruction_error(model, noisy_code, x, y);
  }
  return mu;
}

}  // namespace

torch::Tensor iw_log_likelihood(VAE& model, const torch::Tensor& x, int64_t k, at::Generator& gen,
                                int64_t chunk_rows, const torch::Tensor& labels,
                                const std::function<void(double)>& on_chunk) {
  c10::InferenceMode guard;
  auto [mu, log_var] = model->encode(x, labels);  // [B, Z]
  const int64_t b = x.size(0);
  // A running logsumexp of log w over chunks of samples, so K = 5000 fits in memory.
  torch::Tensor running = torch::full({b}, -std::numeric_limits<double>::infinity(),
                                      torch::TensorOptions().dtype(torch::kFloat64).device(x.device()));
  const int64_t sample_chunk = std::max<int64_t>(1, chunk_rows / std::max<int64_t>(b, 1));
  for (int64_t done = 0; done < k; done += sample_chunk) {
    const int64_t s = std::min(sample_chunk, k - done);
    const torch::Tensor eps = torch::randn({s, b, model->noise_width()}, gen, torch::kFloat32).to(x.device());
    const torch::Tensor log_w = iw_log_weights(model, x, mu, log_var, eps, labels);  // [s, B]
    running = torch::logaddexp(running, torch::logsumexp(log_w, 0));
    if (on_chunk) on_chunk(static_cast<double>(done + s) / static_cast<double>(k));
  }
  return running - std::log(static_cast<double>(k));
}

int64_t active_units(const torch::Tensor& mu, double threshold) {
  if (mu.size(0) < 2) return 0;
  return (mu.to(torch::kFloat64).var(0, /*unbiased=*/true) > threshold).sum().item<int64_t>();
}

EvalOptions eval_options_for(const Config& cfg) {
  EvalOptions opt;
  opt.seed = cfg.train.seed;
  opt.noise = cfg.data.noise;
  opt.noise_level = cfg.data.noise_level;
  opt.batch_images = std::max<int64_t>(cfg.train.batch_size, 1000);
  return opt;
}

Evaluation evaluate(VAE& model, const torch::Tensor& images, const torch::Tensor& labels,
                    const EvalOptions& opt) {
  c10::InferenceMode guard;
  const bool was_training = model->is_training();
  model->eval();
  const ModelConfig& cfg = model->config();
  const int64_t n = images.size(0);
  const int64_t chunk_rows = opt.chunk_rows > 0 ? opt.chunk_rows : images.device().is_cuda() ? 1 << 16 : 2048;
  const std::unique_ptr<Objective> objective = make_objective(cfg);
  Streams gen(opt.seed);
  Sums sums(images.device());
  std::vector<torch::Tensor> mus;
  TORCH_CHECK(opt.shards == 1 || (opt.iw_samples == 0 && !opt.code_errors && opt.sum_across),
              "evaluate: a sharded evaluation needs sum_across and no IW or code errors");
  for (int64_t start = 0; start < n; start += opt.batch_images) {
    const int64_t len = std::min(opt.batch_images, n - start);
    const RowSlice rows = rank_rows(len, opt.shard, opt.shards);  // one shard: all rows, drawn as a whole batch
    const int64_t mine = rank_row_count(len, opt.shard, opt.shards);
    const torch::Tensor x = to_unit_float(images.narrow(0, start + rows.offset, mine));
    const torch::Tensor y =
        labels.defined() && cfg.conditional ? labels.narrow(0, start + rows.offset, mine) : torch::Tensor();
    const auto progress = [&](double part) {  // of this batch
      if (opt.on_progress) opt.on_progress((static_cast<double>(start) + part * static_cast<double>(len)) / n);
    };
    mus.push_back(evaluate_batch(model, *objective, x, y, opt, gen, sums, chunk_rows, progress, rows).to(torch::kCPU));
    progress(1.0);
  }
  if (opt.sum_across) {
    torch::Tensor all = torch::stack({sums.recon, sums.kl, sums.code_abs, sums.nll, sums.code_recon, sums.noisy_recon})
                            .to(torch::kCPU)
                            .contiguous();
    opt.sum_across(all);
    all = all.to(images.device());
    sums.recon = all[0], sums.kl = all[1], sums.code_abs = all[2];
    sums.nll = all[3], sums.code_recon = all[4], sums.noisy_recon = all[5];
  }
  if (opt.sum_across && sums.code_counts.defined()) {
    torch::Tensor counts = sums.code_counts.to(torch::kCPU).contiguous();
    opt.sum_across(counts);
    sums.code_counts = counts;
  }
  model->train(was_training);
  const auto mean = [n](const torch::Tensor& sum) { return sum.item<double>() / static_cast<double>(n); };
  Evaluation e;
  e.images = n;
  e.latent = cfg.latent;
  e.recon = mean(sums.recon);
  e.kl = mean(sums.kl);
  e.loss = e.recon + e.kl;
  e.code_abs = sums.code_abs.item<double>() / static_cast<double>(n * cfg.latent);
  e.iw_samples = objective->has_elbo() ? opt.iw_samples : 0;
  e.nll_iw = e.iw_samples > 0 ? mean(sums.nll) : kNaN;
  e.code_recon = opt.code_errors ? mean(sums.code_recon) : kNaN;
  e.noisy_recon = opt.code_errors ? mean(sums.noisy_recon) : kNaN;
  e.active_units = active_units(torch::cat(mus));
  if (sums.code_counts.defined()) {
    const torch::Tensor counts = sums.code_counts.to(torch::kCPU);
    const torch::Tensor p = counts / counts.sum().clamp_min(1);
    e.perplexity = std::exp(-(p * torch::log(p.clamp_min(1e-300))).sum().item<double>());
    e.dead_codes = static_cast<double>((counts == 0).sum().item<int64_t>());
  }
  return e;
}

}  // namespace vae
