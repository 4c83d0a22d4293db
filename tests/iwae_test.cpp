// loss.iw_samples = k > 1 (src/objectives/vae.cpp): the IWAE objective. Its
// bound against a computation from the model's own layers, its draws made
// for the whole global batch, its place between the ELBO and log p(x), and
// training, evaluating and resuming through the Trainer.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "expect_error.hpp"
#include "test_util.hpp"
#include "vae/checkpoint.hpp"
#include "vae/evaluate.hpp"
#include "vae/objective.hpp"
#include "vae/trainer.hpp"

namespace vae {
namespace {

using testing::TempDir;

Config iwae_config(int64_t k) {
  Config c;
  c.model.hidden = {32};
  c.model.latent = 4;
  c.loss.iw_samples = k;
  return c;
}

// log N(v; m, exp(lv)) summed over the last dimension, written out here.
torch::Tensor log_gauss(const torch::Tensor& v, const torch::Tensor& m, const torch::Tensor& lv) {
  return (-0.5 * (std::log(2 * M_PI) + lv + (v - m).pow(2) / lv.exp())).sum(-1);
}

TEST(Iwae, TheBoundIsTheLogMeanOfTheImportanceWeights) {
  const Config cfg = iwae_config(5);
  torch::manual_seed(1);
  VAE model(cfg.model);
  const torch::Tensor x = torch::rand({3, 784}).round();
  torch::manual_seed(7);
  const LossTerms t = make_objective(cfg)->train_terms(model, x, {}, {});
  EXPECT_EQ(t.kl.item<double>(), 0.0);
  // The same draws by hand: eps [B, k, Z] from the seed, then the weights
  // p(x|z) p(z) / q(z|x) from the encoder's and decoder's layers.
  torch::manual_seed(7);
  const torch::Tensor eps = torch::randn({3, 5, 4}).transpose(0, 1);
  const auto [mu, log_var] = model->encoder()->forward(x);
  const torch::Tensor z = mu + eps * (0.5 * log_var).exp();  // [k, B, Z]
  const torch::Tensor p = torch::sigmoid(model->decoder()->forward(z.reshape({15, 4})).reshape({5, 3, 784}));
  const torch::Tensor log_px_z = (x * p.log() + (1 - x) * (1 - p).log()).sum(-1);
  const torch::Tensor log_w = log_px_z + log_gauss(z, torch::zeros_like(z), torch::zeros_like(z)) -
                              log_gauss(z, mu, log_var);
  const double expected = -(torch::logsumexp(log_w, 0) - std::log(5.0)).sum().item<double>();
  EXPECT_NEAR(t.recon.item<double>(), expected, 1e-3 * std::abs(expected));
}

TEST(Iwae, DrawsForTheWholeGlobalBatch) {
  // Two processes' halves, each with the global batch's rows, add up to one
  // process's whole batch: every image gets the same k draws either way.
  const Config cfg = iwae_config(4);
  torch::manual_seed(2);
  VAE model(cfg.model);
  const torch::Tensor x = torch::rand({6, 784});
  const auto objective = make_objective(cfg);
  torch::manual_seed(9);
  const double whole = objective->train_terms(model, x, {}, {}).recon.item<double>();
  torch::manual_seed(9);
  const double first = objective->train_terms(model, x.narrow(0, 0, 2), {}, {0, 6}).recon.item<double>();
  torch::manual_seed(9);
  const double rest = objective->train_terms(model, x.narrow(0, 2, 4), {}, {2, 6}).recon.item<double>();
  EXPECT_NEAR(first + rest, whole, 1e-4 * std::abs(whole));
}

TEST(Iwae, IsTighterThanTheElboAndLooserThanTheLikelihood) {
  torch::manual_seed(3);
  VAE model(iwae_config(1).model);
  const torch::Tensor x = torch::rand({128, 784}).round();
  const auto mean_bound = [&](int64_t k) {
    torch::manual_seed(11);
    const LossTerms t = make_objective(iwae_config(k))->train_terms(model, x, {}, {});
    return t.total().item<double>() / 128;
  };
  const double elbo = mean_bound(1), iw10 = mean_bound(10), iw200 = mean_bound(200);
  EXPECT_LT(iw10, elbo - 1.0) << "k = 10 must be tighter than the ELBO";
  EXPECT_LT(iw200, iw10) << "more samples, a tighter bound";
  EvalOptions opt = testing::eval_options(5, 128);
  opt.iw_samples = 1000;
  const Evaluation e = evaluate(model, (x * 255).to(torch::kUInt8).view({128, 28, 28}), {}, opt);
  EXPECT_GT(iw200, e.nll_iw - 1.0) << "no bound beats the evaluator's log p(x) estimate by much";
}

TEST(Iwae, NeedsAVaeWithoutKlWeights) {
  Config c = iwae_config(5);
  c.loss.beta = 2;
  testing::expect_error<ConfigError>([&] { validate(c, false); }, "'loss.beta' must be 1 with loss.iw_samples = 5",
                                     "a beta-IWAE");
  c = iwae_config(5);
  c.loss.kl_warmup_epochs = 3;
  testing::expect_error<ConfigError>([&] { validate(c, false); }, "'loss.kl_warmup_epochs' must be 0", "warm-up");
  c = iwae_config(5);
  c.model.kind = Kind::kAe;
  testing::expect_error<ConfigError>([&] { validate(c, false); }, "the importance-weighted bound needs a VAE", "an ae");
  EXPECT_FALSE(make_objective(iwae_config(5))->has_fused_step());
  EXPECT_TRUE(make_objective(iwae_config(1))->has_fused_step());
}

TEST(Iwae, TrainsEvaluatesAndResumesExactly) {
  TempDir dir;
  Config cfg = iwae_config(8);
  testing::small_run(cfg, dir, /*epochs=*/3, /*batch=*/32, /*train_images=*/192, /*test_images=*/64);
  const TrainResult r = train(cfg, {});
  ASSERT_EQ(r.history.size(), 3u);
  EXPECT_LT(r.history.back().test.loss, r.history.front().test.loss);
  EXPECT_FALSE(r.samples.empty());  // a VAE's prior: samples.png
  LoadedModel m = load_model(dir.file("run/checkpoints/last.pt"), torch::kCPU);
  EXPECT_EQ(m.meta.config.loss.iw_samples, 8);
  const auto [resumed, whole] = testing::resumed_and_whole_test_loss(cfg, dir.file("run4"));
  EXPECT_EQ(resumed, whole);
}

}  // namespace
}  // namespace vae
