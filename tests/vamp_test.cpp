// model.prior = "vamp": the VampPrior (Tomczak & Welling 2018). Its log
// density against the mixture written out, its samples, its Monte Carlo KL
// against the importance-weighted bound, and a run that trains, resumes,
// samples and learns its pseudo-inputs.
#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <string>

#include "expect_error.hpp"
#include "test_util.hpp"
#include "vae/checkpoint.hpp"
#include "vae/evaluate.hpp"
#include "vae/objective.hpp"
#include "vae/sample_command.hpp"
#include "vae/trainer.hpp"

namespace vae {
namespace {

using testing::TempDir;

ModelConfig vamp_model(int64_t k) {
  ModelConfig m;
  m.hidden = {16};
  m.latent = 2;
  m.prior = Prior::kVamp;
  m.pseudo_inputs = k;
  return m;
}

TEST(Vamp, TheDensityIsTheMixtureOfThePosteriorsAtThePseudoInputs) {
  torch::manual_seed(1);
  VAE model(vamp_model(3));
  const torch::Tensor u = model->pseudo_inputs();
  ASSERT_EQ(u.sizes(), (std::vector<int64_t>{3, 784}));
  EXPECT_GE(u.min().item<float>(), 0.0f);
  const auto [mu, log_var] = model->encoder()->forward(u);
  const torch::Tensor z = torch::randn({5, 4, 2});
  torch::Tensor mix = torch::zeros({5, 4});
  for (int64_t k = 0; k < 3; ++k) mix += torch::exp(log_gaussian(z, mu[k], log_var[k]));
  const torch::Tensor want = torch::log(mix / 3);
  EXPECT_TRUE(torch::allclose(model->prior_log_density(z), want, 1e-4, 1e-4));
  // The standard prior is N(0, I).
  VAE plain(ModelConfig{});
  const torch::Tensor z2 = torch::randn({7, 2});
  EXPECT_TRUE(torch::allclose(plain->prior_log_density(z2),
                              log_gaussian(z2, torch::zeros({2}), torch::zeros({2})), 1e-5, 1e-5));
}

TEST(Vamp, SamplesComeFromTheComponents) {
  torch::manual_seed(2);
  VAE model(vamp_model(1));
  const auto [mu, log_var] = model->encoder()->forward(model->pseudo_inputs());
  auto gen = at::detail::createCPUGenerator(5);
  const torch::Tensor z = model->sample_prior(20000, gen).detach();
  EXPECT_TRUE(torch::allclose(z.mean(0), mu[0].detach(), 0.03, 0.03)) << z.mean(0) << mu[0];
  EXPECT_TRUE(torch::allclose(z.std(0), torch::exp(0.5 * log_var[0]).detach(), 0.03, 0.03));
  // The standard prior's draws are N(0, I) from the same generator as before.
  VAE plain(ModelConfig{});
  auto g1 = at::detail::createCPUGenerator(9), g2 = at::detail::createCPUGenerator(9);
  EXPECT_TRUE(torch::equal(plain->sample_prior(4, g1), torch::randn({4, 2}, g2)));
}

TEST(Vamp, TheMonteCarloElboBoundsTheImportanceWeightedEstimate) {
  torch::manual_seed(3);
  VAE model(vamp_model(5));
  const torch::Tensor x = (torch::rand({64, 28, 28}) * 255).to(torch::kUInt8);
  EvalOptions opt = testing::eval_options(4, 64);
  opt.iw_samples = 500;
  const Evaluation e = evaluate(model, x, {}, opt);
  EXPECT_GT(e.kl, 0.0);
  EXPECT_GT(e.loss, e.nll_iw) << "the negative ELBO bounds -log p(x) from above";
  EXPECT_LT(e.loss - e.nll_iw, 0.05 * e.loss) << "and by a margin an untrained model's bound allows";
  Config cfg;
  cfg.model = vamp_model(5);
  EXPECT_FALSE(make_objective(cfg)->has_fused_step());
}

TEST(Vamp, NeedsAnUnconditionalVae) {
  Config c;
  c.model = vamp_model(5);
  c.model.kind = Kind::kAe;
  testing::expect_error<ConfigError>([&] { validate(c, false); }, "(a prior needs a VAE)", "an ae with a prior");
  c.model.kind = Kind::kVae;
  c.model.conditional = true;
  testing::expect_error<ConfigError>([&] { validate(c, false); }, "for a conditional VAE", "a conditional vamp");
}

TEST(Vamp, TrainsItsPseudoInputsResumesExactlyAndSamples) {
  TempDir dir;
  Config cfg;
  cfg.model = vamp_model(8);
  cfg.model.hidden = {32};
  testing::small_run(cfg, dir);
  cfg.train.keep_every = 1;
  const TrainResult r = train(cfg, {});
  ASSERT_EQ(r.history.size(), 3u);
  EXPECT_LT(r.history.back().test.loss, r.history.front().test.loss);
  EXPECT_FALSE(r.samples.empty());
  LoadedModel m = load_model(dir.file("run/checkpoints/last.pt"), torch::kCPU);
  EXPECT_EQ(m.meta.config.model.prior, Prior::kVamp);
  ASSERT_TRUE(m.model->named_parameters().contains("pseudo_inputs"));
  LoadedModel first = load_model(dir.file("run/checkpoints/epoch-0001.pt"), torch::kCPU);
  EXPECT_FALSE(torch::allclose(m.model->pseudo_inputs(), first.model->pseudo_inputs())) << "the pseudo-inputs are learned";
  const auto [resumed, whole] = testing::resumed_and_whole_test_loss(cfg, dir.file("run4"));
  EXPECT_EQ(resumed, whole);
  EXPECT_NE(testing::sample_16(dir.file("run/checkpoints/last.pt"), dir.file("s.png")).find("wrote 16 samples"),
            std::string::npos);
}

}  // namespace
}  // namespace vae
