// model.kind = "rae" (src/objectives/rae.cpp), the regularized autoencoder
// RAE-L2: its loss against hand computations, its linear code, training and
// resuming through the Trainer, and what the tools do with a model without
// a prior.
#include <gtest/gtest.h>

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

Config rae_config() {
  Config c;
  c.model.kind = Kind::kRae;
  c.model.hidden = {16};
  c.model.latent = 3;
  c.model.likelihood = Likelihood::kGaussian;
  c.loss.rae_code_weight = 0.5;
  c.loss.rae_decoder_decay = 0.0;
  return c;
}

// recon: sum (x - sigmoid(l))^2 / (2 * 1/2) + D/2 log(pi) per image; the
// code penalty 0.5 * 0.5 * ||z||^2 over the batch.
TEST(Rae, LossMatchesAHandComputation) {
  const Config cfg = rae_config();
  const torch::Tensor logits = torch::zeros({2, 2});  // sigmoid 0.5
  const torch::Tensor x = torch::tensor({{1.0f, 0.0f}, {0.5f, 0.5f}});
  const torch::Tensor code = torch::tensor({{1.0f, -2.0f, 0.0f}, {0.0f, 0.0f, 3.0f}});
  const LossTerms t = model_loss(cfg, logits, x, code, {});
  EXPECT_NEAR(t.recon.item<double>(), 0.5 + 2 * std::log(M_PI), 1e-5);
  EXPECT_NEAR(t.penalty.item<double>(), 0.25 * (1 + 4 + 9), 1e-5);
  EXPECT_EQ(t.kl.item<double>(), 0.0);
}

TEST(Rae, TheCodeIsLinearAndTheDecoderDecays) {
  Config cfg = rae_config();
  VAE model(cfg.model);
  EXPECT_TRUE(model->named_parameters().contains("encoder.fc_code.weight"));
  EXPECT_FALSE(model->named_parameters().contains("encoder.fc_sd.weight"));
  torch::manual_seed(3);
  const torch::Tensor code = model->encode(torch::rand({200, 784})).first;
  EXPECT_LT(code.min().item<float>(), 0.0f) << "a ReLU or sigmoid code cannot be negative";
  // The decoder's weight decay: B * gamma / 2 * ||theta_dec||^2 is added to the penalty.
  const torch::Tensor x = torch::rand({4, 784});
  const auto objective = [&](double decay) {
    cfg.loss.rae_decoder_decay = decay;
    torch::manual_seed(5);
    return make_objective(cfg)->train_terms(model, x, {}, {}).penalty.item<double>();
  };
  double norm = 0;
  for (const torch::Tensor& p : model->decoder()->parameters()) norm += p.pow(2).sum().item<double>();
  EXPECT_NEAR(objective(1e-3) - objective(0.0), 4 * 1e-3 / 2 * norm, 1e-4 * norm);
}

TEST(Rae, TrainsResumesAndHasNoPriorToSample) {
  TempDir dir;
  testing::write_synthetic_split(dir.file("data"), 256, 64, /*gz=*/false);
  Config cfg = rae_config();
  cfg.model.likelihood = Likelihood::kBernoulli;
  cfg.model.hidden = {64};
  cfg.model.latent = 4;
  cfg.loss.rae_code_weight = 1e-3;
  cfg.loss.rae_decoder_decay = 1e-4;
  cfg.data.dir = dir.file("data");
  cfg.train.batch_size = 32;
  cfg.train.epochs = 3;
  cfg.train.device = DeviceChoice::kCpu;
  cfg.train.image_every = 1;
  cfg.train.out_dir = dir.file("run");
  const TrainResult r = train(cfg, {});
  ASSERT_EQ(r.history.size(), 3u);
  EXPECT_LT(r.history.back().test.loss, r.history.front().test.loss);
  EXPECT_EQ(r.history.back().test.kl, 0.0);
  EXPECT_TRUE(r.samples.empty());  // no prior: no samples.png
  LoadedModel m = load_model(dir.file("run/checkpoints/last.pt"), torch::kCPU);
  EXPECT_EQ(m.meta.config.model.kind, Kind::kRae);
  EXPECT_EQ(m.meta.config.loss.rae_decoder_decay, 1e-4);
  // The epoch's test loss is the reconstruction error vae-eval reports.
  const Evaluation e = evaluate(m.model, IdxSource(cfg.data.dir).load(Split::kTest).images, {},
                                eval_options_for(m.meta.config));
  EXPECT_EQ(e.loss, r.history.back().test.loss);
  // Four epochs in one go equal three plus one resumed.
  const auto [resumed, whole] = testing::resumed_and_whole_test_loss(cfg, dir.file("run4"));
  EXPECT_EQ(resumed, whole);
  // vae-sample: no prior to sample from, said in one line.
  SampleRequest s;
  s.checkpoint = dir.file("run/checkpoints/last.pt");
  s.out = dir.file("s.png");
  s.device = DeviceChoice::kCpu;
  testing::expect_error<std::invalid_argument>([&] { run_sample(s); }, "has no prior to sample from", "sampled an RAE");
}

}  // namespace
}  // namespace vae

namespace vae {
namespace {

// RAE-GP: the penalty against the gradient of the summed decoded pixels
// taken by finite differences, and a run that trains and resumes exactly.
TEST(RaeGp, ThePenaltyIsTheSquaredGradientOfTheDecodedSum) {
  Config cfg = rae_config();
  cfg.loss.rae_regularizer = RaeRegularizer::kGp;
  cfg.loss.rae_gp_weight = 0.3;
  cfg.loss.rae_code_weight = 0.0;
  torch::manual_seed(4);
  VAE model(cfg.model);
  const torch::Tensor x = torch::rand({3, 784});
  const LossTerms t = make_objective(cfg)->train_terms(model, x, {}, {});
  torch::NoGradGuard no_grad;
  const torch::Tensor z = model->encoder()->forward(x).first.to(torch::kFloat64);
  const auto decoded_sum = [&](const torch::Tensor& zz) {
    return torch::sigmoid(model->decoder()->forward(zz.to(torch::kFloat32))).to(torch::kFloat64).sum(1);
  };
  double expected = 0;
  const double h = 1e-2;
  for (int64_t j = 0; j < 3; ++j) {
    torch::Tensor step = torch::zeros_like(z);
    step.select(1, j).fill_(h);
    const torch::Tensor g = (decoded_sum(z + step) - decoded_sum(z - step)) / (2 * h);  // [B]
    expected += g.pow(2).sum().item<double>();
  }
  EXPECT_NEAR(t.penalty.item<double>(), 0.3 * expected, 2e-3 * 0.3 * expected);
  EXPECT_GT(expected, 0.0);
}

TEST(RaeGp, TrainsAndResumesExactly) {
  TempDir dir;
  Config cfg = rae_config();
  cfg.loss.rae_regularizer = RaeRegularizer::kGp;
  cfg.loss.rae_gp_weight = 1e-2;
  testing::small_run(cfg, dir, /*epochs=*/2);
  const TrainResult r = train(cfg, {});
  ASSERT_EQ(r.history.size(), 2u);
  EXPECT_LT(r.history.back().test.loss, r.history.front().test.loss);
  const auto [resumed, whole] = testing::resumed_and_whole_test_loss(cfg, dir.file("run3"));
  EXPECT_EQ(resumed, whole);
}

}  // namespace
}  // namespace vae
