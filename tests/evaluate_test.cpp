#include "vae/evaluate.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>
#include <string>

#include "test_util.hpp"
#include "vae/checkpoint.hpp"
#include "vae/data.hpp"
#include "vae/loss.hpp"
#include "vae/trainer.hpp"

namespace vae {
namespace {

// A model small enough that log p(x) = log \int p(x|z) N(z; 0, 1) dz can be
// computed by quadrature: two pixels, a 1-D latent.
VAE tiny_model(const std::string& likelihood = "bernoulli") {
  ModelConfig cfg;
  cfg.likelihood = parse_choice<Likelihood>(likelihood, "model.likelihood");
  cfg.image_height = 1;
  cfg.image_width = 2;
  cfg.hidden = {8};
  cfg.latent = 1;
  torch::manual_seed(3);
  VAE model(cfg);
  model->eval();
  return model;
}

double exact_log_likelihood(VAE& model, const torch::Tensor& x) {
  torch::NoGradGuard ng;
  const int64_t points = 48001;
  const torch::Tensor z = torch::linspace(-12, 12, points, torch::kFloat64).view({points, 1});
  const torch::Tensor logits = model->decoder()->forward(z.to(torch::kFloat32)).to(torch::kFloat64);
  const torch::Tensor target = x.to(torch::kFloat64).expand_as(logits);
  // Written out here, not with vae::log_likelihood, which the IW pass uses.
  const torch::Tensor log_px_z =
      model->config().likelihood == Likelihood::kGaussian
          ? (-0.5 * std::log(2 * M_PI * 0.5) - (target - torch::sigmoid(logits)).pow(2) / (2 * 0.5)).sum(1)
          : -torch::binary_cross_entropy_with_logits(logits, target, {}, {}, at::Reduction::None).sum(1);
  const torch::Tensor log_pz = -0.5 * (std::log(2 * M_PI) + z.view({points}).pow(2));
  const double dz = 24.0 / (points - 1);
  return (torch::logsumexp(log_px_z + log_pz, 0) + std::log(dz)).item<double>();
}

TEST(ImportanceWeighted, MatchesQuadratureOnATinyModel) {
  for (const char* likelihood : {"bernoulli", "gaussian"}) {
    VAE model = tiny_model(likelihood);
    auto gen = at::detail::createCPUGenerator(7);
    for (const auto& pixels : {std::vector<float>{1, 0}, std::vector<float>{0.2f, 0.9f}}) {
      const torch::Tensor x = torch::tensor(pixels).view({1, 2});
      const double exact = exact_log_likelihood(model, x);
      const double iw = iw_log_likelihood(model, x, 20000, gen, 5000).item<double>();
      EXPECT_NEAR(iw, exact, 0.01) << likelihood << ", pixels " << pixels[0] << ", " << pixels[1];
    }
  }
}

TEST(ImportanceWeighted, OneSampleIsTheElboInExpectation) {
  VAE model = tiny_model();
  auto gen = at::detail::createCPUGenerator(11);
  const int64_t n = 200000;
  const torch::Tensor x = torch::tensor({0.2f, 0.9f}).view({1, 2}).expand({n, 2}).contiguous();
  // K = 1 for n copies of the same image: the mean is a Monte Carlo ELBO.
  const torch::Tensor k1 = iw_log_likelihood(model, x, 1, gen, 1);
  // The ELBO with the analytic KL and many samples of the reconstruction term.
  torch::NoGradGuard ng;
  auto [mu, log_var] = model->encode(x);
  const torch::Tensor z = reparameterize(mu, log_var, torch::randn(mu.sizes(), gen, torch::kFloat32));
  const LossTerms t = vae_loss(model->decoder()->forward(z), x, mu, log_var);
  const double elbo = -t.total().item<double>() / n;
  const double se = k1.std().item<double>() / std::sqrt(static_cast<double>(n));
  EXPECT_NEAR(k1.mean().item<double>(), elbo, 4 * se + 1e-3);
  // And more samples tighten the bound: K = 1000 is above the ELBO.
  const double k1000 = iw_log_likelihood(model, x.narrow(0, 0, 1), 1000, gen, 500).item<double>();
  EXPECT_GT(k1000, elbo);
}

TEST(ImportanceWeighted, NllIsBelowTheNegativeElboOnData) {
  testing::TempDir dir;
  testing::write_synthetic_split(dir.file("data"), 256, 64, /*gz=*/false);
  Config cfg;
  cfg.data.dir = dir.file("data");
  cfg.model.hidden = {64};
  cfg.train.epochs = 2;
  cfg.train.batch_size = 64;
  cfg.train.device = DeviceChoice::kCpu;
  cfg.train.image_every = 0;
  cfg.train.out_dir = dir.file("run");
  const TrainResult r = train(cfg, {});
  LoadedModel m = load_model(dir.file("run/checkpoints/last.pt"), torch::kCPU);
  const Dataset test = IdxSource(cfg.data.dir).load(Split::kTest);
  EvalOptions opt = testing::eval_options(1, 32);
  opt.iw_samples = 200;
  opt.chunk_rows = 100;
  const Evaluation e = evaluate(m.model, test.images, {}, opt);
  EXPECT_EQ(e.images, 64);
  EXPECT_LT(e.nll_iw, e.loss);
  EXPECT_GT(e.nll_iw, 0.0);
  EXPECT_NEAR(e.loss, e.recon + e.kl, 1e-9);
  EXPECT_LE(e.active_units, 2);  // counted on constructed codes in ActiveUnits.*
  // The ELBO's draws are a stream of their own: asking for a different K
  // must not change it. The chunk size does not change the IW estimate here
  // because every chunk's B * Z draws (a multiple of 16) continue the same
  // stream of normals; with other sizes the draws, and the estimate, differ
  // by Monte Carlo noise.
  EvalOptions no_iw_opt = opt;
  no_iw_opt.iw_samples = 0;
  const Evaluation no_iw = evaluate(m.model, test.images, {}, no_iw_opt);
  EXPECT_EQ(no_iw.loss, e.loss);
  EXPECT_TRUE(std::isnan(no_iw.nll_iw));
  EvalOptions big = opt;
  big.chunk_rows = 1 << 14;
  EXPECT_NEAR(evaluate(m.model, test.images, {}, big).nll_iw, e.nll_iw, 1e-3);

  // A long IW pass reports its progress chunk by chunk, not only per batch.
  std::vector<double> seen;
  EvalOptions watched = opt;
  watched.on_progress = [&seen](double f) { seen.push_back(f); };
  EXPECT_EQ(evaluate(m.model, test.images, {}, watched).nll_iw, e.nll_iw);  // watching changes nothing
  ASSERT_GT(seen.size(), 10u);  // 2 batches of 32 images, 200 samples in chunks of 3
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  EXPECT_GT(seen.front(), 0.0);
  EXPECT_LT(seen.front(), 0.1);
  EXPECT_EQ(seen.back(), 1.0);

  // One evaluator: with the run's own options it gives the run's last test
  // loss exactly, whatever else it is asked for (IW bound, code errors).
  EvalOptions run_opt = eval_options_for(m.meta.config);
  run_opt.iw_samples = 100;
  run_opt.code_errors = true;
  const Evaluation again = evaluate(m.model, test.images, {}, run_opt);
  EXPECT_EQ(again.loss, r.history.back().test.loss);
  EXPECT_EQ(again.recon, r.history.back().test.recon);
  EXPECT_EQ(again.kl, r.history.back().test.kl);
  EXPECT_EQ(again.code_abs, r.history.back().test.code_abs);
}

TEST(ActiveUnits, CountsUnitsWhoseMeansVary) {
  torch::manual_seed(0);
  const int64_t n = 10000;
  const torch::Tensor mu = torch::stack({torch::randn({n}),               // variance 1: active
                                         torch::full({n}, 3.0),           // constant: inactive
                                         torch::randn({n}) * 0.07,        // variance 0.0049: inactive
                                         torch::randn({n}) * 0.2},        // variance 0.04: active
                                        1);
  EXPECT_EQ(active_units(mu), 2);
  EXPECT_EQ(active_units(mu, 0.001), 3);
}

}  // namespace
}  // namespace vae
