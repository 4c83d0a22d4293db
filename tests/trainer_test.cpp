#include "vae/trainer.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "test_util.hpp"
#include "vae/checkpoint.hpp"
#include "vae/io.hpp"

namespace vae {
namespace {

using testing::TempDir;

Config small_run(const TempDir& dir) {
  Config c;
  c.data.dir = dir.file("data");
  c.model.hidden = {64};
  c.model.latent = 2;
  c.train.batch_size = 64;
  c.train.epochs = 3;
  c.train.device = "cpu";
  c.train.out_dir = dir.file("run");
  return c;
}

TEST(Trainer, LearnsAndWritesTheRunFolder) {
  TempDir dir;
  testing::write_synthetic_split(dir.file("data"), 512, 128, /*gz=*/false);
  const Config cfg = small_run(dir);

  // The untrained model's test loss, for comparison.
  torch::manual_seed(cfg.train.seed);
  VAE untrained(cfg.model);
  const Dataset test = load_split(cfg.data.dir, Split::kTest);
  const double before = evaluate(untrained, test.images, 1000, 5).loss;

  const TrainResult r = train(cfg, {});
  ASSERT_EQ(r.history.size(), 3u);
  EXPECT_EQ(r.history.back().step, 3 * 8);  // 512 / 64 batches per epoch
  EXPECT_LT(r.history.back().test.loss, 0.7 * before);
  EXPECT_LT(r.history.back().test.loss, r.history.front().test.loss);
  EXPECT_NEAR(r.history.back().test.loss, r.history.back().test.bce + r.history.back().test.kl, 1e-6);
  EXPECT_GT(r.history.back().test.kl, 0.0);

  for (const char* f : {"config.toml", "metrics.jsonl", "checkpoints/last.pt", "samples.png"})
    EXPECT_TRUE(std::filesystem::exists(dir.file("run/") + f)) << f;
  EXPECT_EQ(to_toml(load_config_file(dir.file("run/config.toml"))), to_toml(cfg));
  std::ifstream metrics(dir.file("run/metrics.jsonl"));
  std::string line;
  int lines = 0;
  while (std::getline(metrics, line)) {
    ++lines;
    for (const char* key : {"\"epoch\"", "\"train_loss\"", "\"test_loss\"", "\"test_bce\"", "\"test_kl\"", "\"seconds\""})
      EXPECT_NE(line.find(key), std::string::npos) << key << " in " << line;
  }
  EXPECT_EQ(lines, 3);
  const LoadedModel m = load_model(r.checkpoint, torch::kCPU);
  EXPECT_EQ(m.meta.epoch, 3);
  EXPECT_EQ(m.meta.step, 24);
}

TEST(Trainer, SameSeedSameRunDifferentSeedDifferentRun) {
  TempDir dir;
  testing::write_synthetic_split(dir.file("data"), 256, 64, /*gz=*/true);
  Config cfg = small_run(dir);
  cfg.train.epochs = 2;
  const TrainResult a = train(cfg, {});
  TrainOptions force;
  force.force = true;
  const TrainResult b = train(cfg, force);
  EXPECT_EQ(a.history.back().train_loss, b.history.back().train_loss);
  EXPECT_EQ(a.history.back().test.loss, b.history.back().test.loss);
  cfg.train.seed = 2;
  const TrainResult c = train(cfg, force);
  EXPECT_NE(a.history.back().train_loss, c.history.back().train_loss);
}

TEST(Trainer, RefusesToOverwriteARunWithoutForce) {
  TempDir dir;
  testing::write_synthetic_split(dir.file("data"), 64, 16, /*gz=*/false);
  Config cfg = small_run(dir);
  cfg.train.epochs = 1;
  train(cfg, {});
  const std::string before = read_file(dir.file("run/checkpoints/last.pt"));
  try {
    train(cfg, {});
    FAIL() << "overwrote a run";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("already holds a run"), std::string::npos);
  }
  EXPECT_TRUE(read_file(dir.file("run/checkpoints/last.pt")) == before) << "checkpoint changed";
}

TEST(Trainer, DivergenceStopsAndKeepsTheLastGoodCheckpoint) {
  TempDir dir;
  testing::write_synthetic_split(dir.file("data"), 128, 16, /*gz=*/false);
  Config cfg = small_run(dir);
  cfg.train.lr = 10;  // the largest allowed: Adam blows this model up within a few epochs
  cfg.train.epochs = 20;
  std::string msg;
  try {
    train(cfg, {});
  } catch (const std::runtime_error& e) {
    msg = e.what();
  }
  const auto at = msg.find("non-finite loss in epoch ");
  ASSERT_NE(at, std::string::npos) << "no divergence reported: " << msg;
  const int64_t bad_epoch = std::stoll(msg.substr(at + 25));
  ASSERT_GE(bad_epoch, 2) << "diverged before any checkpoint; raise the test's data size";
  // The checkpoint is the epoch before the divergence, and it is sound.
  const LoadedModel m = load_model(dir.file("run/checkpoints/last.pt"), torch::kCPU);
  EXPECT_EQ(m.meta.epoch, bad_epoch - 1);
  for (const auto& p : m.model->parameters()) EXPECT_TRUE(torch::isfinite(p).all().item<bool>());
}

TEST(Trainer, EvaluateIsDeterministicForASeed) {
  ModelConfig m;
  m.hidden = {16};
  VAE model(m);
  const Dataset d = testing::synthetic_digits(50, 3);
  model->train();
  const EvalResult a = evaluate(model, d.images, 16, 1);
  EXPECT_TRUE(model->is_training());  // mode restored
  EXPECT_EQ(a.loss, evaluate(model, d.images, 16, 1).loss);
  EXPECT_NE(a.loss, evaluate(model, d.images, 16, 2).loss);
}

}  // namespace
}  // namespace vae
