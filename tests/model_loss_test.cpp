#include <gtest/gtest.h>

#include <cmath>

#include "vae/loss.hpp"
#include "vae/model.hpp"

namespace vae {
namespace {

ModelConfig small(std::vector<int64_t> hidden, int64_t latent) {
  ModelConfig m;
  m.hidden = std::move(hidden);
  m.latent = latent;
  return m;
}

TEST(Model, ShapesForSeveralConfigs) {
  for (const auto& cfg : {small({512, 256}, 2), small({400}, 20), small({}, 3), small({64, 32, 16}, 5)}) {
    VAE model(cfg);
    const torch::Tensor x = torch::rand({7, 28, 28});
    const VAEOutput out = model->forward(x);
    EXPECT_EQ(out.logits.sizes(), (std::vector<int64_t>{7, 784}));
    EXPECT_EQ(out.mu.sizes(), (std::vector<int64_t>{7, cfg.latent}));
    EXPECT_EQ(out.log_var.sizes(), (std::vector<int64_t>{7, cfg.latent}));
    const torch::Tensor p = model->decode(torch::randn({3, cfg.latent}));
    EXPECT_EQ(p.sizes(), (std::vector<int64_t>{3, 784}));
    EXPECT_TRUE((p > 0).all().item<bool>() && (p < 1).all().item<bool>());
  }
}

TEST(Model, ParameterNamesFollowTheGuide) {
  VAE guide(small({512, 256}, 2));
  std::vector<std::string> names;
  for (const auto& p : guide->named_parameters()) names.push_back(p.key());
  const std::vector<std::string> expected = {
      "encoder.fc1.weight",     "encoder.fc1.bias",     "encoder.fc2.weight",
      "encoder.fc2.bias",       "encoder.fc_mean.weight", "encoder.fc_mean.bias",
      "encoder.fc_sd.weight",   "encoder.fc_sd.bias",   "decoder.fc4.weight",
      "decoder.fc4.bias",       "decoder.fc5.weight",   "decoder.fc5.bias",
      "decoder.fc6.weight",     "decoder.fc6.bias"};
  EXPECT_EQ(names, expected);
  const auto params = guide->named_parameters();
  EXPECT_EQ(params["encoder.fc1.weight"].sizes(), (std::vector<int64_t>{512, 784}));
  EXPECT_EQ(params["encoder.fc_sd.weight"].sizes(), (std::vector<int64_t>{2, 256}));
  EXPECT_EQ(params["decoder.fc4.weight"].sizes(), (std::vector<int64_t>{256, 2}));
  EXPECT_EQ(params["decoder.fc6.weight"].sizes(), (std::vector<int64_t>{784, 512}));
  // The classic example: fc1, heads, fc3, fc4.
  VAE classic(small({400}, 20));
  EXPECT_TRUE(classic->named_parameters().contains("decoder.fc3.weight"));
  EXPECT_EQ(classic->named_parameters()["decoder.fc4.weight"].sizes(), (std::vector<int64_t>{784, 400}));
}

TEST(Model, EvalSamplingReturnsMuAndTrainSamplingDoesNot) {
  VAE model(small({16}, 4));
  const torch::Tensor mu = torch::randn({5, 4});
  const torch::Tensor log_var = torch::randn({5, 4});
  model->eval();
  EXPECT_TRUE(torch::equal(model->sampling(mu, log_var), mu));
  model->train();
  const torch::Tensor z = model->sampling(mu, log_var);
  EXPECT_FALSE(torch::allclose(z, mu));
  // z = mu + exp(0.5 log_var) * eps with eps ~ N(0, 1): check eps's moments.
  const torch::Tensor big_mu = torch::full({200000, 1}, 3.0);
  const torch::Tensor big_lv = torch::full({200000, 1}, std::log(4.0));
  const torch::Tensor zs = model->sampling(big_mu, big_lv);
  EXPECT_NEAR(zs.mean().item<double>(), 3.0, 0.02);
  EXPECT_NEAR(zs.std().item<double>(), 2.0, 0.02);
}

TEST(Model, GradientsReachEveryParameterThroughSampling) {
  torch::manual_seed(0);
  VAE model(small({32, 16}, 3));
  model->train();
  const torch::Tensor x = torch::rand({8, 784});
  const VAEOutput out = model->forward(x);
  // Reconstruction term alone: the encoder gets gradients only through z,
  // so this fails if sampling cut the graph.
  torch::binary_cross_entropy_with_logits(out.logits, x, {}, {}, at::Reduction::Sum).backward();
  for (const auto& p : model->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << p.key();
  }
}

TEST(Loss, MatchesHandComputedTinyCase) {
  // One image of two pixels: logits (0, 2), targets (1, 0).
  //   BCE = log(1 + e^0) + log(1 + e^2) = 0.693147 + 2.126928 = 2.820075
  // mu = (1, 0), log_var = (0, ln 2):
  //   KL = -0.5 * ((1 + 0 - 1 - 1) + (1 + ln 2 - 0 - 2)) = 1 - 0.5 ln 2 = 0.653426
  const torch::Tensor logits = torch::tensor({{0.0, 2.0}});
  const torch::Tensor x = torch::tensor({{1.0, 0.0}});
  const torch::Tensor mu = torch::tensor({{1.0, 0.0}});
  const torch::Tensor lv = torch::tensor({{0.0, std::log(2.0)}});
  const LossTerms t = vae_loss(logits, x, mu, lv);
  EXPECT_NEAR(t.recon.item<double>(), 2.820075, 1e-5);
  EXPECT_NEAR(t.kl.item<double>(), 0.653426, 1e-5);
  EXPECT_NEAR(t.total().item<double>(), 3.473501, 1e-5);
}

TEST(Loss, SumsOverBatchAndEqualsTheGuidesSigmoidBce) {
  torch::manual_seed(3);
  const torch::Tensor logits = torch::randn({6, 784}) * 3;
  const torch::Tensor x = torch::rand({6, 784});
  const torch::Tensor mu = torch::randn({6, 4});
  const torch::Tensor lv = torch::randn({6, 4});
  const LossTerms t = vae_loss(logits, x, mu, lv);
  const torch::Tensor guide_bce =
      torch::binary_cross_entropy(torch::sigmoid(logits), x, {}, at::Reduction::Sum);
  EXPECT_NEAR(t.recon.item<double>(), guide_bce.item<double>(), 1e-3 * guide_bce.item<double>());
  const LossTerms first = vae_loss(logits.narrow(0, 0, 3), x.narrow(0, 0, 3), mu.narrow(0, 0, 3), lv.narrow(0, 0, 3));
  const LossTerms rest = vae_loss(logits.narrow(0, 3, 3), x.narrow(0, 3, 3), mu.narrow(0, 3, 3), lv.narrow(0, 3, 3));
  EXPECT_NEAR(t.kl.item<double>(), (first.kl + rest.kl).item<double>(), 1e-4);
  // KL is zero exactly at the prior.
  EXPECT_NEAR(vae_loss(logits, x, torch::zeros({6, 4}), torch::zeros({6, 4})).kl.item<double>(), 0.0, 1e-7);
}

TEST(Loss, StableForSaturatedLogits) {
  // sigmoid(100) rounds to 1 in float; the logit form still gives 100 nats.
  const LossTerms t = vae_loss(torch::tensor({{100.0f}}), torch::tensor({{0.0f}}),
                               torch::zeros({1, 1}), torch::zeros({1, 1}));
  EXPECT_NEAR(t.recon.item<double>(), 100.0, 1e-4);
}

TEST(Loss, GaussianIsSquaredErrorPlusTheStatedConstant) {
  // Logits (0, 2) -> means (0.5, 0.880797); targets (1, 0):
  //   squared error 0.25 + 0.775803 = 1.025803; constant D/2 * log(pi) = log(pi) = 1.144730
  const torch::Tensor logits = torch::tensor({{0.0, 2.0}});
  const torch::Tensor x = torch::tensor({{1.0, 0.0}});
  const LossTerms t = vae_loss(logits, x, torch::zeros({1, 1}), torch::zeros({1, 1}), Likelihood::kGaussian);
  EXPECT_NEAR(t.recon.item<double>(), 1.025803 + 1.144730, 1e-5);
  EXPECT_NEAR(-log_likelihood(logits, x, Likelihood::kGaussian).item<double>(), t.recon.item<double>(), 1e-6);
  // Bernoulli's per-row form agrees with the fused sum.
  EXPECT_NEAR(-log_likelihood(logits, x, Likelihood::kBernoulli).item<double>(), 2.820075, 1e-5);
}

TEST(Loss, GaussianLikelihoodIsANormalizedDensity) {
  // One pixel: the density over x integrates to 1 (the constant is right).
  const int64_t points = 200001;
  const torch::Tensor xs = torch::linspace(-8, 8, points, torch::kFloat64).view({points, 1});
  const torch::Tensor logits = torch::full({points, 1}, 0.7, torch::kFloat64);
  const double integral =
      (torch::exp(log_likelihood(logits, xs, Likelihood::kGaussian)).sum() * (16.0 / (points - 1))).item<double>();
  EXPECT_NEAR(integral, 1.0, 1e-6);
  EXPECT_EQ(parse_choice<Likelihood>("gaussian", "model.likelihood"), Likelihood::kGaussian);
  EXPECT_THROW(parse_choice<Likelihood>("laplace", "model.likelihood"), ConfigError);
}

TEST(Loss, KlWeightRampsOverTheWarmUpThenStaysAtBeta) {
  LossConfig plain;
  EXPECT_EQ(kl_weight(plain, 1, 0, 10), 1.0);
  LossConfig beta{4.0, 2};
  EXPECT_DOUBLE_EQ(kl_weight(beta, 1, 0, 10), 0.0);   // the first step
  EXPECT_DOUBLE_EQ(kl_weight(beta, 1, 5, 10), 1.0);   // a quarter through
  EXPECT_DOUBLE_EQ(kl_weight(beta, 2, 0, 10), 2.0);   // half
  EXPECT_DOUBLE_EQ(kl_weight(beta, 2, 10, 10), 4.0);  // the end of the warm-up
  EXPECT_DOUBLE_EQ(kl_weight(beta, 7, 3, 10), 4.0);
  LossConfig no_warmup{0.5, 0};
  EXPECT_DOUBLE_EQ(kl_weight(no_warmup, 1, 0, 10), 0.5);
}

}  // namespace
}  // namespace vae
