// model.top_latent > 0: the IWAE paper's two stochastic layers, and the
// dense-layer options that come with the papers' architectures
// (model.activation tanh / gated, model.bounded_log_var). The two-layer
// importance-weighted estimate against log p(x) integrated on a grid, its
// samples against the same marginal, the ELBO's terms against the IW
// weights, draws for the global batch, and runs that train, resume and
// sample on MLP and conv.
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
#include "train_step.hpp"
#include "vae/trainer.hpp"

namespace vae {
namespace {

using testing::TempDir;

// A model small enough to integrate: 2x2 pixels, z1 and z2 of one dimension.
ModelConfig tiny_two_layer() {
  ModelConfig m;
  m.image_height = 2;
  m.image_width = 2;
  m.hidden = {3};
  m.latent = 1;
  m.top_hidden = {3};
  m.top_latent = 1;
  m.activation = Activation::kTanh;
  return m;
}

// The tiny model's p(x) and p(z1) on a grid of z1 and z2 in [-10, 10]
// (float64): p(x) = sum p(x|z1) p(z1|z2) p(z2) dz1 dz2.
struct Grid {
  torch::Tensor z;       // [G] the grid of each axis
  torch::Tensor log_pz1; // [G] log p(z1) at the grid's z1
  double step = 0;
};

Grid integrate(VAE& model) {
  torch::NoGradGuard no_grad;
  Grid g;
  g.step = 0.02;
  g.z = torch::arange(-10.0, 10.0 + g.step / 2, g.step, torch::kFloat64);
  const torch::Tensor zf = g.z.to(torch::kFloat32).unsqueeze(1);  // [G, 1]
  const auto [mu1, log_var1] = model->top()->prior(zf);  // p(z1 | z2 = grid) [G, 1]
  // log p(z1 = i | z2 = j) [G(z1), G(z2)], + log p(z2 = j).
  const torch::Tensor m = mu1.to(torch::kFloat64).squeeze(1), lv = log_var1.to(torch::kFloat64).squeeze(1);
  const torch::Tensor zi = g.z.unsqueeze(1);
  const torch::Tensor log_cond = -0.5 * (std::log(2 * M_PI) + lv.unsqueeze(0) + (zi - m.unsqueeze(0)).pow(2) / lv.exp().unsqueeze(0));
  const torch::Tensor log_z2 = -0.5 * (std::log(2 * M_PI) + g.z.pow(2));
  g.log_pz1 = torch::logsumexp(log_cond + log_z2.unsqueeze(0), 1) + std::log(g.step);
  return g;
}

double grid_log_px(VAE& model, const Grid& g, const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  const torch::Tensor logits = model->decoder()->forward(g.z.to(torch::kFloat32).unsqueeze(1)).to(torch::kFloat64);
  const torch::Tensor log_px_z = log_likelihood(logits, x.to(torch::kFloat64).expand_as(logits), Likelihood::kBernoulli);
  return torch::logsumexp(log_px_z + g.log_pz1, 0).item<double>() + std::log(g.step);
}

TEST(TwoLayer, TheImportanceWeightedEstimateMeetsTheIntegratedLikelihood) {
  torch::manual_seed(4);
  VAE model(tiny_two_layer());
  const Grid g = integrate(model);
  EXPECT_NEAR(torch::exp(g.log_pz1).sum().item<double>() * g.step, 1.0, 1e-6) << "p(z1) integrates to 1";
  const torch::Tensor x = torch::tensor({{1.0f, 0.0f, 1.0f, 1.0f}, {0.0f, 0.0f, 1.0f, 0.0f}});
  auto gen = at::detail::createCPUGenerator(3);
  const torch::Tensor iw = iw_log_likelihood(model, x, 40000, gen, 1 << 16, {}, {});
  for (int64_t i = 0; i < 2; ++i) {
    const double exact = grid_log_px(model, g, x[i]);
    EXPECT_NEAR(iw[i].item<double>(), exact, 0.01) << "image " << i;
  }
  // With one sample, the weight's mean is the negative ELBO: below log p(x).
  torch::manual_seed(8);
  Config cfg;
  cfg.model = tiny_two_layer();
  double elbo = 0;
  for (int i = 0; i < 200; ++i) elbo -= make_objective(cfg)->train_terms(model, x, {}, {}).total().item<double>();
  EXPECT_LT(elbo / 200, grid_log_px(model, g, x[0]) + grid_log_px(model, g, x[1]));
}

TEST(TwoLayer, SamplesComeFromTheHierarchy) {
  torch::manual_seed(5);
  VAE model(tiny_two_layer());
  const Grid g = integrate(model);
  const torch::Tensor p = torch::exp(g.log_pz1) * g.step;
  const double mean = (p * g.z).sum().item<double>();
  const double sd = std::sqrt((p * (g.z - mean).pow(2)).sum().item<double>());
  auto gen = at::detail::createCPUGenerator(6);
  torch::NoGradGuard no_grad;
  const torch::Tensor z = model->sample_prior(40000, gen).to(torch::kFloat64);
  ASSERT_EQ(z.sizes(), (std::vector<int64_t>{40000, 1}));
  EXPECT_NEAR(z.mean().item<double>(), mean, 4 * sd / 200 + 1e-3);
  EXPECT_NEAR(z.std().item<double>(), sd, 0.02 * sd);
}

Config small_two_layer(int64_t k) {
  Config c;
  c.model.hidden = {32};
  c.model.latent = 4;
  c.model.top_hidden = {16};
  c.model.top_latent = 2;
  c.model.activation = Activation::kTanh;
  c.loss.iw_samples = k;
  return c;
}

TEST(TwoLayer, TheElboIsTheOneSampleWeight) {
  const Config cfg = small_two_layer(1);
  torch::manual_seed(1);
  VAE model(cfg.model);
  ASSERT_EQ(model->noise_width(), 6);
  const torch::Tensor x = torch::rand({5, 784}).round();
  torch::manual_seed(7);
  const LossTerms t = make_objective(cfg)->train_terms(model, x, {}, {});
  EXPECT_GT(t.kl.item<double>(), 0.0);
  torch::manual_seed(7);
  const torch::Tensor eps = torch::randn({1, 5, 6});
  const auto [mu, log_var] = model->encoder()->forward(x);
  const double weight = iw_log_weights(model, x, mu, log_var, eps, {}).sum().item<double>();
  EXPECT_NEAR(t.total().item<double>(), -weight, 1e-4 * std::abs(weight));
}

TEST(TwoLayer, DrawsForTheWholeGlobalBatch) {
  for (const int64_t k : {1, 3}) {
    const Config cfg = small_two_layer(k);
    torch::manual_seed(2);
    VAE model(cfg.model);
    const torch::Tensor x = torch::rand({6, 784});
    const auto objective = make_objective(cfg);
    torch::manual_seed(9);
    const double whole = objective->train_terms(model, x, {}, {}).total().item<double>();
    torch::manual_seed(9);
    const double first = objective->train_terms(model, x.narrow(0, 0, 2), {}, {0, 6}).total().item<double>();
    torch::manual_seed(9);
    const double rest = objective->train_terms(model, x.narrow(0, 2, 4), {}, {2, 6}).total().item<double>();
    EXPECT_NEAR(first + rest, whole, 1e-4 * std::abs(whole)) << "k = " << k;
  }
}

TEST(TwoLayer, NeedsAnUnconditionalVaeWithTheStandardPrior) {
  Config c = small_two_layer(1);
  c.model.kind = Kind::kAe;
  testing::expect_error<ConfigError>([&] { validate(c, false); }, "(a second stochastic layer needs a VAE)", "an ae");
  c = small_two_layer(1);
  c.model.prior = Prior::kVamp;
  testing::expect_error<ConfigError>([&] { validate(c, false); }, "'model.top_latent' must be 0 with model.prior",
                                     "vamp");
  c = small_two_layer(1);
  c.model.conditional = true;
  testing::expect_error<ConfigError>([&] { validate(c, false); }, "0 for a conditional VAE", "conditional");
  EXPECT_FALSE(make_objective(small_two_layer(1))->has_fused_step());
  EXPECT_EQ(describe_layers(small_two_layer(1).model), "784-32-4 / 16-2 tanh");
  // The IWAE paper's model, as its text spells it.
  Config paper = small_two_layer(50);
  paper.model.hidden = {200, 200};
  paper.model.latent = 100;
  paper.model.top_hidden = {100, 100};
  paper.model.top_latent = 50;
  EXPECT_EQ(describe_layers(paper.model), "784-200-200-100 / 100-100-50 tanh");
}

TEST(DenseLayers, GatedLayersAndBoundedLogVariances) {
  ModelConfig m;
  m.hidden = {8};
  m.latent = 3;
  m.activation = Activation::kGated;
  m.bounded_log_var = true;
  torch::manual_seed(3);
  VAE model(m);
  const auto params = model->named_parameters();
  for (const char* name : {"encoder.fc1_gate.weight", "decoder.fc3_gate.bias"})
    EXPECT_TRUE(params.contains(name)) << name;
  EXPECT_FALSE(params.contains("decoder.fc4_gate.weight")) << "the output layer has no gate";
  const torch::Tensor x = torch::rand({4, 784});
  torch::NoGradGuard no_grad;
  const torch::Tensor h = (x.matmul(params["encoder.fc1.weight"].t()) + params["encoder.fc1.bias"]) *
                          torch::sigmoid(x.matmul(params["encoder.fc1_gate.weight"].t()) + params["encoder.fc1_gate.bias"]);
  const auto [mu, log_var] = model->encoder()->forward(x);
  EXPECT_TRUE(torch::allclose(mu, h.matmul(params["encoder.fc_mean.weight"].t()) + params["encoder.fc_mean.bias"],
                              1e-5, 1e-5));
  params["encoder.fc_sd.bias"].copy_(torch::tensor({50.0f, -50.0f, 0.0f}));
  params["encoder.fc_sd.weight"].zero_();
  const torch::Tensor bounded = model->encoder()->forward(x).second;
  EXPECT_TRUE(torch::equal(bounded[0], torch::tensor({2.0f, -6.0f, 0.0f}))) << bounded[0];
  Config cfg;
  cfg.model = m;
  EXPECT_FALSE(fused_step_applies(cfg, torch::kCPU)) << "the fused step knows ReLU layers only";
  EXPECT_EQ(describe_layers(m), "784-8-3 gated, bounded log-variance");
}

TEST(TwoLayer, TrainsResumesExactlyAndSamplesOnMlpAndConv) {
  for (const Arch arch : {Arch::kMlp, Arch::kConv}) {
    SCOPED_TRACE(name(arch));
    TempDir dir;
    Config cfg = small_two_layer(arch == Arch::kMlp ? 1 : 3);
    cfg.model.arch = arch;
    cfg.model.conv_channels = {4, 8};
    cfg.model.activation = arch == Arch::kMlp ? Activation::kTanh : Activation::kGated;
    testing::small_run(cfg, dir);
    const TrainResult r = train(cfg, {});
    ASSERT_EQ(r.history.size(), 3u);
    EXPECT_LT(r.history.back().test.loss, r.history.front().test.loss);
    EXPECT_GT(r.history.back().test.kl, 0.0);
    EXPECT_FALSE(r.samples.empty());
    LoadedModel m = load_model(dir.file("run/checkpoints/last.pt"), torch::kCPU);
    EXPECT_EQ(m.meta.config.model.top_latent, 2);
    EXPECT_TRUE(m.model->named_parameters().contains("top.p_mean.weight"));
    const auto [resumed, whole] = testing::resumed_and_whole_test_loss(cfg, dir.file("run4"));
    EXPECT_EQ(resumed, whole);
    EXPECT_NE(testing::sample_16(dir.file("run/checkpoints/last.pt"), dir.file("s.png")).find("wrote 16 samples"),
              std::string::npos);
  }
}

}  // namespace
}  // namespace vae
