// train.lr_schedule (multistep, cosine, plateau) and train.weight_decay:
// each epoch's rate as PyTorch's schedulers give it, applied by the
// Trainer, and the same after a resume.
#include <gtest/gtest.h>

#include <torch/optim/adam.h>
#include <torch/optim/rmsprop.h>

#include <cmath>
#include <vector>

#include "expect_error.hpp"
#include "test_util.hpp"
#include "vae/optim.hpp"
#include "vae/trainer.hpp"

namespace vae {
namespace {

using testing::TempDir;

std::vector<EpochMetrics> history_of(const std::vector<double>& losses, bool valid) {
  std::vector<EpochMetrics> h;
  for (size_t i = 0; i < losses.size(); ++i) {
    EpochMetrics m;
    m.epoch = static_cast<int64_t>(i) + 1;
    m.has_valid = valid;
    (valid ? m.valid : m.test).loss = losses[i];
    m.test.loss = valid ? 1000.0 - static_cast<double>(i) : losses[i];  // the test loss must not matter
    h.push_back(m);
  }
  return h;
}

TEST(Schedule, MultistepMultipliesAfterEachMilestone) {
  TrainConfig c;
  c.lr = 0.8;
  c.lr_schedule = LrSchedule::kMultistep;
  c.lr_milestones = {2, 4};
  c.lr_gamma = 0.5;
  const std::vector<double> want = {0.8, 0.8, 0.4, 0.4, 0.2, 0.2};
  for (int64_t e = 1; e <= 6; ++e) EXPECT_DOUBLE_EQ(scheduled_lr(c, e, {}), want[e - 1]) << "epoch " << e;
}

TEST(Schedule, CosineFallsFromLrToLrMinOverTheEpochs) {
  TrainConfig c;
  c.lr = 1.0;
  c.lr_min = 0.2;
  c.epochs = 10;
  c.lr_schedule = LrSchedule::kCosine;
  EXPECT_DOUBLE_EQ(scheduled_lr(c, 1, {}), 1.0);
  EXPECT_NEAR(scheduled_lr(c, 6, {}), 0.6, 1e-12);  // half way: the mean
  for (int64_t e = 2; e <= 10; ++e) EXPECT_LT(scheduled_lr(c, e, {}), scheduled_lr(c, e - 1, {}));
  EXPECT_GT(scheduled_lr(c, 10, {}), 0.2);
}

TEST(Schedule, PlateauCutsAfterMoreThanPatienceEpochsWithoutANewBestOnValidation) {
  TrainConfig c;
  c.lr = 1.0;
  c.lr_schedule = LrSchedule::kPlateau;
  c.lr_patience = 2;
  c.lr_gamma = 0.1;
  c.lr_min = 0.005;
  // Validation: 5, 4 (best), 4, 4, 4 -> the third epoch without a new best cuts.
  const std::vector<EpochMetrics> h = history_of({5, 4, 4, 4, 4, 3, 3, 3, 3, 3, 3, 3}, true);
  EXPECT_DOUBLE_EQ(scheduled_lr(c, 5, h), 1.0);
  EXPECT_DOUBLE_EQ(scheduled_lr(c, 6, h), 0.1);
  EXPECT_DOUBLE_EQ(scheduled_lr(c, 7, h), 0.1);   // epoch 6 was a new best
  EXPECT_DOUBLE_EQ(scheduled_lr(c, 10, h), 0.01);  // 7, 8, 9 without one
  EXPECT_DOUBLE_EQ(scheduled_lr(c, 13, h), 0.005);  // not below lr_min
  // The test loss decides only without a validation split.
  EXPECT_DOUBLE_EQ(scheduled_lr(c, 6, history_of({5, 4, 4, 4, 4}, false)), 0.1);
}

TEST(Schedule, SetLrReachesAdamAndRmspropAndWeightDecayTheirOptions) {
  TrainConfig c;
  c.weight_decay = 0.01;
  VAE model(ModelConfig{});
  for (OptimizerKind k : {OptimizerKind::kAdam, OptimizerKind::kRmsprop}) {
    c.optimizer = k;
    auto opt = make_optimizer(c, model);
    set_lr(*opt, 0.125);
    auto& o = opt->param_groups()[0].options();
    if (k == OptimizerKind::kAdam) {
      EXPECT_EQ(static_cast<torch::optim::AdamOptions&>(o).lr(), 0.125);
      EXPECT_EQ(static_cast<torch::optim::AdamOptions&>(o).weight_decay(), 0.01);
    } else {
      EXPECT_EQ(static_cast<torch::optim::RMSpropOptions&>(o).lr(), 0.125);
      EXPECT_EQ(static_cast<torch::optim::RMSpropOptions&>(o).weight_decay(), 0.01);
    }
  }
  Config bad;
  bad.train.lr_schedule = LrSchedule::kMultistep;
  testing::expect_error<ConfigError>([&] { validate(bad, false); }, "'train.lr_milestones' must be a list of epochs",
                                     "multistep without milestones");
}

Config run_config(const TempDir& dir) {
  Config cfg;
  cfg.model.hidden = {32};
  cfg.model.latent = 3;
  testing::small_run(cfg, dir, /*epochs=*/3, /*batch=*/32, /*train_images=*/96, /*test_images=*/32);
  return cfg;
}

TEST(Schedule, TheTrainerAppliesItAndAResumeAgrees) {
  TempDir dir;
  Config cfg = run_config(dir);
  // After epoch 1 the rate falls below float resolution: the weights, and
  // so the test loss, stop moving.
  cfg.train.lr_schedule = LrSchedule::kMultistep;
  cfg.train.lr_milestones = {1};
  cfg.train.lr_gamma = 1e-30;
  const TrainResult frozen = train(cfg, {});
  ASSERT_EQ(frozen.history.size(), 3u);
  EXPECT_EQ(frozen.history[1].test.loss, frozen.history[2].test.loss);
  // A plateau schedule over four epochs equals three plus one resumed.
  cfg = run_config(dir);
  cfg.train.lr_schedule = LrSchedule::kPlateau;
  cfg.train.lr_patience = 0;
  cfg.train.lr_gamma = 0.3;
  cfg.train.out_dir = dir.file("p3");
  train(cfg, {});
  const auto [resumed, whole] = testing::resumed_and_whole_test_loss(cfg, dir.file("p4"));
  EXPECT_EQ(resumed, whole);
}

}  // namespace
}  // namespace vae
