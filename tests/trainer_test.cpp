#include "vae/trainer.hpp"

#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <cmath>
#include <regex>
#include <sstream>

#include "expect_error.hpp"
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
  c.train.device = DeviceChoice::kCpu;
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
  const Dataset test = IdxSource(cfg.data.dir).load(Split::kTest);
  const double before = evaluate(untrained, test.images, {}, testing::eval_options(5, 1000)).loss;

  const TrainResult r = train(cfg, {});
  ASSERT_EQ(r.history.size(), 3u);
  EXPECT_EQ(r.history.back().step, 3 * 8);  // 512 / 64 batches per epoch
  EXPECT_LT(r.history.back().test.loss, 0.7 * before);
  EXPECT_LT(r.history.back().test.loss, r.history.front().test.loss);
  EXPECT_NEAR(r.history.back().test.loss, r.history.back().test.recon + r.history.back().test.kl, 1e-6);
  EXPECT_GT(r.history.back().test.kl, 0.0);

  for (const char* f : {"config.toml", "metrics.jsonl", "checkpoints/last.pt", "samples.png"})
    EXPECT_TRUE(std::filesystem::exists(dir.file("run/") + f)) << f;
  EXPECT_EQ(to_toml(load_config_file(dir.file("run/config.toml"))), to_toml(cfg));
  std::ifstream metrics(dir.file("run/metrics.jsonl"));
  std::string line;
  int lines = 0;
  while (std::getline(metrics, line)) {
    ++lines;
    for (const char* key : {"\"epoch\"", "\"train_loss\"", "\"test_loss\"", "\"test_recon\"", "\"test_kl\"", "\"seconds\""})
      EXPECT_NE(line.find(key), std::string::npos) << key << " in " << line;
  }
  EXPECT_EQ(lines, 3);
  const LoadedModel m = load_model(r.checkpoint, torch::kCPU);
  EXPECT_EQ(m.meta.state.epoch, 3);
  EXPECT_EQ(m.meta.state.step, 24);
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
  testing::expect_error<IoError>([&] { train(cfg, {}); }, "already holds a run", "overwrote a run");
  EXPECT_TRUE(read_file(dir.file("run/checkpoints/last.pt")) == before) << "checkpoint changed";
}

// --force starts over: none of the old run's outputs may stay beside the new
// run's (an image folder's test_files.txt and skipped_files.txt included).
TEST(Trainer, ForceRemovesEveryOutputOfTheOldRun) {
  TempDir dir;
  testing::write_synthetic_split(dir.file("data"), 64, 16, /*gz=*/false);
  Config cfg = small_run(dir);
  cfg.train.epochs = 1;
  train(cfg, {});
  const RunDir run(cfg.train.out_dir);
  for (const std::string& p : {run.test_files(), run.skipped_files(), run.epoch_image("recon", 7)}) {
    make_dirs(std::filesystem::path(p).parent_path().string());
    write_file_atomic(p, "from the old run\n");
  }
  TrainOptions force;
  force.force = true;
  train(cfg, force);
  for (const std::string& p : {run.test_files(), run.skipped_files(), run.epoch_image("recon", 7)})
    EXPECT_FALSE(std::filesystem::exists(p)) << p << " was left from the old run";
  EXPECT_TRUE(std::filesystem::exists(run.last()));
}

// metrics.jsonl without the wall-clock fields, which differ between runs.
std::string metrics_without_times(const std::string& path) {
  return std::regex_replace(read_file(path), std::regex("\"(eval_)?seconds\": [0-9.e+-]+"), "T");
}

TEST(Resume, FourEpochsEqualTwoPlusTwoBitForBit) {
  TempDir dir;
  testing::write_synthetic_split(dir.file("data"), 256, 64, /*gz=*/false);
  Config cfg = small_run(dir);
  cfg.train.epochs = 4;
  cfg.train.out_dir = dir.file("whole");
  train(cfg, {});

  cfg.train.out_dir = dir.file("split");
  cfg.train.epochs = 2;
  train(cfg, {});
  cfg.train.epochs = 4;
  // A line of an epoch the checkpoint does not cover (a crash after writing
  // it) must be dropped on resume.
  {
    std::ofstream extra(dir.file("split/metrics.jsonl"), std::ios::app);
    extra << "{\"epoch\": 3, \"stale\": true}\n";
  }
  TrainOptions resume;
  resume.resume = dir.file("split");
  const TrainResult r = train(cfg, resume);
  ASSERT_EQ(r.history.size(), 2u);
  EXPECT_EQ(r.history.front().epoch, 3);

  LoadedModel a = load_model(dir.file("whole/checkpoints/last.pt"), torch::kCPU);
  LoadedModel b = load_model(dir.file("split/checkpoints/last.pt"), torch::kCPU);
  EXPECT_TRUE(testing::same_parameters(a.model, b.model));
  EXPECT_EQ(a.meta.state.step, b.meta.state.step);
  EXPECT_EQ(metrics_without_times(dir.file("whole/metrics.jsonl")),
            metrics_without_times(dir.file("split/metrics.jsonl")));
}

TEST(Resume, AStopMidEpochResumesAtThatStepExactly) {
  TempDir dir;
  testing::write_synthetic_split(dir.file("data"), 256, 64, /*gz=*/false);
  Config cfg = small_run(dir);
  cfg.train.out_dir = dir.file("whole");
  train(cfg, {});

  cfg.train.out_dir = dir.file("stopped");
  TrainOptions stop_at_6;
  int polls = 0;
  stop_at_6.stop_requested = [&polls] { return ++polls >= 6 ? 15 : 0; };  // SIGTERM at step 6
  const TrainResult r = train(cfg, stop_at_6);
  EXPECT_EQ(r.stopped_by, 15);
  EXPECT_TRUE(r.samples.empty());
  const LoadedModel mid = load_model(dir.file("stopped/checkpoints/last.pt"), torch::kCPU);
  EXPECT_EQ(mid.meta.state.step, 6);
  EXPECT_EQ(mid.meta.state.epoch, 1);  // 4 batches per epoch: stopped in epoch 2
  EXPECT_EQ(mid.meta.state.batch, 2);

  TrainOptions resume;
  resume.resume = dir.file("stopped");
  train(cfg, resume);
  LoadedModel a = load_model(dir.file("whole/checkpoints/last.pt"), torch::kCPU);
  LoadedModel b = load_model(dir.file("stopped/checkpoints/last.pt"), torch::kCPU);
  EXPECT_TRUE(testing::same_parameters(a.model, b.model));
  EXPECT_EQ(metrics_without_times(dir.file("whole/metrics.jsonl")),
            metrics_without_times(dir.file("stopped/metrics.jsonl")));
}

TEST(Resume, RefusesAnotherModelNamingTheField) {
  TempDir dir;
  testing::write_synthetic_split(dir.file("data"), 64, 16, /*gz=*/false);
  Config cfg = small_run(dir);
  cfg.train.epochs = 1;
  train(cfg, {});
  TrainOptions resume;
  resume.resume = dir.file("run");
  cfg.train.epochs = 2;
  cfg.model.latent = 3;
  testing::expect_error<ConfigError>([&] { train(cfg, resume); }, "model.latent (2 vs 3)",
                                     "resumed with another model");
  cfg.model.latent = 2;
  cfg.train.seed = 7;
  EXPECT_THROW(train(cfg, resume), ConfigError);
}

TEST(NonFinite, StopLeavesTheLastGoodCheckpointUntouched) {
  TempDir dir;
  testing::write_synthetic_split(dir.file("data"), 128, 16, /*gz=*/false);
  Config cfg = small_run(dir);
  cfg.train.epochs = 1;
  train(cfg, {});
  const std::string before = read_file(dir.file("run/checkpoints/last.pt"));
  const std::string metrics_before = read_file(dir.file("run/metrics.jsonl"));
  // Resume with a learning rate that blows the weights up after one step.
  cfg.train.lr = 1e9;
  cfg.train.epochs = 3;
  TrainOptions resume;
  resume.resume = dir.file("run");
  const std::string e_what = testing::expect_error<DivergedError>([&] { train(cfg, resume); }, "non-finite",
                                                                  "no divergence reported");
  EXPECT_NE(e_what.find("at step "), std::string::npos) << e_what;
  EXPECT_TRUE(read_file(dir.file("run/checkpoints/last.pt")) == before) << "checkpoint changed";
  EXPECT_EQ(read_file(dir.file("run/metrics.jsonl")), metrics_before);
}

TEST(NonFinite, SkipCountsTheBatchesAndGoesOn) {
  TempDir dir;
  testing::write_synthetic_split(dir.file("data"), 256, 32, /*gz=*/false);
  Config cfg = small_run(dir);
  cfg.train.epochs = 2;  // 4 batches an epoch
  cfg.train.nonfinite = NonFinite::kSkip;
  const testing::PoisonSteps poison([](int64_t step) { return step == 2 || step == 7; });
  const TrainResult r = train(cfg, {});
  ASSERT_EQ(r.history.size(), 2u);
  EXPECT_EQ(r.history[0].skipped, 1);
  EXPECT_EQ(r.history[1].skipped, 1);
  EXPECT_EQ(r.history[1].step, 8 - 2);  // skipped batches take no optimizer step
  EXPECT_TRUE(std::isfinite(r.history[1].test.loss));
  EXPECT_NE(read_file(dir.file("run/metrics.jsonl")).find("\"skipped\": 1"), std::string::npos);
  // In "stop" mode the same batch ends the run before any checkpoint.
  cfg.train.nonfinite = NonFinite::kStop;
  TrainOptions poison_stop;
  poison_stop.force = true;
  testing::expect_error<DivergedError>([&] { train(cfg, poison_stop); },
                                       "non-finite loss at step 2 (epoch 1, batch 2); no checkpoint was written",
                                       "a NaN did not stop the run");
}

TEST(NonFinite, AnEpochWithoutOneFiniteBatchStopsEvenWhenSkipping) {
  TempDir dir;
  testing::write_synthetic_split(dir.file("data"), 128, 32, /*gz=*/false);
  Config cfg = small_run(dir);
  cfg.train.nonfinite = NonFinite::kSkip;
  const testing::PoisonSteps poison([](int64_t) { return true; });
  EXPECT_THROW(train(cfg, {}), DivergedError);
  EXPECT_FALSE(std::filesystem::exists(dir.file("run/checkpoints/last.pt")));
}

TEST(Retention, KeepsLastBestAndEveryNth) {
  TempDir dir;
  testing::write_synthetic_split(dir.file("data"), 128, 32, /*gz=*/false);
  Config cfg = small_run(dir);
  cfg.train.epochs = 4;
  cfg.train.keep_every = 2;
  train(cfg, {});
  for (const char* f : {"last.pt", "best.pt", "epoch-0002.pt", "epoch-0004.pt"})
    EXPECT_NO_THROW(load_model(dir.file("run/checkpoints/") + f, torch::kCPU)) << f;
  EXPECT_FALSE(std::filesystem::exists(dir.file("run/checkpoints/epoch-0001.pt")));
  EXPECT_EQ(load_model(dir.file("run/checkpoints/epoch-0002.pt"), torch::kCPU).meta.state.epoch, 2);
  // best.pt is the epoch with the lowest test loss in metrics.jsonl.
  std::istringstream metrics(read_file(dir.file("run/metrics.jsonl")));
  std::string line;
  int64_t best_epoch = 0;
  double best_loss = 1e300;
  const std::regex re("\"epoch\": ([0-9]+).*\"test_loss\": ([0-9.e+-]+)");
  while (std::getline(metrics, line)) {
    std::smatch m;
    ASSERT_TRUE(std::regex_search(line, m, re)) << line;
    if (std::stod(m[2]) < best_loss) {
      best_loss = std::stod(m[2]);
      best_epoch = std::stoll(m[1]);
    }
  }
  const TrainingState best = load_model(dir.file("run/checkpoints/best.pt"), torch::kCPU).meta.state;
  EXPECT_EQ(best.epoch, best_epoch);
  EXPECT_NEAR(best.best_test_loss, best_loss, 1e-6 * best_loss);
}

TEST(Trainer, ForceStartsOverWithoutTheOldRunsCheckpoints) {
  TempDir dir;
  testing::write_synthetic_split(dir.file("data"), 64, 16, /*gz=*/false);
  Config cfg = small_run(dir);
  cfg.train.keep_every = 1;
  train(cfg, {});
  ASSERT_TRUE(std::filesystem::exists(dir.file("run/checkpoints/epoch-0003.pt")));
  cfg.train.epochs = 1;
  TrainOptions force;
  force.force = true;
  train(cfg, force);
  EXPECT_FALSE(std::filesystem::exists(dir.file("run/checkpoints/epoch-0003.pt")));
  const std::string pick = load_resume_checkpoint(dir.file("run")).path;
  EXPECT_EQ(load_model(pick, torch::kCPU).meta.state.epoch, 1);
  // A checkpoint outside a run's checkpoints/ cannot name the run to continue.
  std::filesystem::copy_file(dir.file("run/checkpoints/last.pt"), dir.file("loose.pt"));
  EXPECT_THROW(run_dir_of(dir.file("loose.pt")), CheckpointError);
  EXPECT_EQ(run_dir_of(pick), std::filesystem::absolute(dir.file("run")).lexically_normal().string());
}

// One writer per run folder: a second lock, and so a second trainer, is
// refused with the holder's PID before anything is written; the lock goes
// with its holder.
TEST(RunLock, OneWriterPerRunFolder) {
  TempDir dir;
  testing::write_synthetic_split(dir.file("data"), 64, 16, /*gz=*/false);
  const Config cfg = small_run(dir);
  {
    RunLock held(dir.file("run"));
    testing::expect_error<IoError>([&] { RunLock again(dir.file("run")); },
                                   dir.file("run") + ": in use by another vae-train (pid " +
                                       std::to_string(::getpid()) + ")",
                                   "a second lock on one run folder");
    EXPECT_THROW(train(cfg, {}), IoError);
    EXPECT_FALSE(std::filesystem::exists(dir.file("run/checkpoints")));
    EXPECT_FALSE(std::filesystem::exists(dir.file("run/config.toml")));
  }
  EXPECT_NO_THROW(train(cfg, {}));  // released with its holder
  TrainOptions force;
  force.force = true;
  RunLock again(dir.file("run"));
  EXPECT_THROW(train(cfg, force), IoError);  // --force does not clear a folder in use
  EXPECT_TRUE(std::filesystem::exists(dir.file("run/checkpoints/last.pt")));
}

// A kill after an epoch's last.pt but before its best.pt and epoch-NNNN.pt:
// the resume writes what is missing, and every NAME.tmp.PID goes.
TEST(Retention, AResumeRepairsWhatAKillBetweenSavesLeft) {
  TempDir dir;
  testing::write_synthetic_split(dir.file("data"), 256, 64, /*gz=*/false);
  Config cfg = small_run(dir);
  cfg.train.epochs = 1;
  cfg.train.keep_every = 1;
  train(cfg, {});
  std::filesystem::copy(dir.file("run"), dir.file("killed"), std::filesystem::copy_options::recursive);
  cfg.train.epochs = 2;
  TrainOptions more;
  more.resume = dir.file("run");
  const TrainResult r = train(cfg, more);
  ASSERT_LT(r.history.back().test.loss, load_model(dir.file("killed/checkpoints/best.pt"), torch::kCPU).meta.state.best_test_loss);
  // "killed": epoch 2's last.pt is in place, its best.pt and epoch-0002.pt are not.
  for (const char* f : {"last.pt", "last.manifest.json"})
    std::filesystem::copy_file(dir.file(std::string("run/checkpoints/") + f), dir.file(std::string("killed/checkpoints/") + f),
                               std::filesystem::copy_options::overwrite_existing);
  testing::write_bytes(dir.file("killed/config.toml.tmp.4242"), "[train");
  testing::write_bytes(dir.file("killed/images/recon-0002.png.tmp.4242"), "\x89PNG");
  Config again = cfg;
  again.train.out_dir = dir.file("killed");
  TrainOptions resume;
  resume.resume = dir.file("killed");
  EXPECT_TRUE(train(again, resume).history.empty());  // nothing left to train
  EXPECT_EQ(load_model(dir.file("killed/checkpoints/best.pt"), torch::kCPU).meta.state.epoch, 2);
  EXPECT_EQ(load_model(dir.file("killed/checkpoints/epoch-0002.pt"), torch::kCPU).meta.state.epoch, 2);
  EXPECT_FALSE(std::filesystem::exists(dir.file("killed/config.toml.tmp.4242")));
  EXPECT_FALSE(std::filesystem::exists(dir.file("killed/images/recon-0002.png.tmp.4242")));
}

TEST(Trainer, EvaluateIsDeterministicForASeed) {
  ModelConfig m;
  m.hidden = {16};
  VAE model(m);
  const Dataset d = testing::synthetic_digits(50, 3);
  model->train();
  const Evaluation a = evaluate(model, d.images, {}, testing::eval_options(1, 16));
  EXPECT_TRUE(model->is_training());  // mode restored
  EXPECT_EQ(a.loss, evaluate(model, d.images, {}, testing::eval_options(1, 16)).loss);
  EXPECT_NE(a.loss, evaluate(model, d.images, {}, testing::eval_options(2, 16)).loss);
}

}  // namespace
}  // namespace vae

namespace vae {
namespace {

// Dynamic binarization draws from the generator a checkpoint saves: a stop
// mid-epoch and a resume must still match the uninterrupted run exactly, and
// the draws must matter (the static run learns something else).
TEST(Binarize, DynamicRunsResumeExactlyAndDifferFromStatic) {
  testing::TempDir dir;
  testing::write_synthetic_split(dir.file("data"), 256, 64, /*gz=*/false);
  Config cfg = small_run(dir);
  cfg.data.binarize = Binarize::kDynamic;
  cfg.train.out_dir = dir.file("whole");
  train(cfg, {});

  cfg.train.out_dir = dir.file("stopped");
  TrainOptions stop_at_6;
  int polls = 0;
  stop_at_6.stop_requested = [&polls] { return ++polls >= 6 ? 15 : 0; };
  EXPECT_EQ(train(cfg, stop_at_6).stopped_by, 15);
  TrainOptions resume;
  resume.resume = dir.file("stopped");
  train(cfg, resume);
  LoadedModel a = load_model(dir.file("whole/checkpoints/last.pt"), torch::kCPU);
  LoadedModel b = load_model(dir.file("stopped/checkpoints/last.pt"), torch::kCPU);
  EXPECT_TRUE(testing::same_parameters(a.model, b.model));
  EXPECT_EQ(a.meta.config.data.binarize, Binarize::kDynamic);

  Config other = cfg;
  other.data.binarize = Binarize::kStatic;
  TrainOptions changed;
  changed.resume = resume.resume;
  testing::expect_error<ConfigError>([&] { train(other, changed); }, "data.binarize (dynamic vs static)",
                                     "a resume with another data.binarize was accepted");

  other.train.out_dir = dir.file("static");
  train(other, {});
  LoadedModel c = load_model(dir.file("static/checkpoints/last.pt"), torch::kCPU);
  EXPECT_FALSE(testing::same_parameters(a.model, c.model));
}

// Beta-VAE: a heavier KL weight buys a smaller KL on the test set; the test
// loss stays the unweighted negative ELBO. A warm-up starts the weight at 0.
TEST(Beta, LargerBetaGivesSmallerTestKl) {
  testing::TempDir dir;
  testing::write_synthetic_split(dir.file("data"), 512, 128, /*gz=*/false);
  Config cfg = small_run(dir);
  cfg.train.epochs = 3;
  double kl[2];
  for (int i = 0; i < 2; ++i) {
    cfg.loss.beta = i == 0 ? 1.0 : 4.0;
    cfg.train.out_dir = dir.file("beta" + std::to_string(i));
    const TrainResult r = train(cfg, {});
    const EpochMetrics::Test& t = r.history.back().test;
    EXPECT_NEAR(t.loss, t.recon + t.kl, 1e-6);
    kl[i] = t.kl;
  }
  EXPECT_LT(kl[1], 0.8 * kl[0]) << "beta 1: " << kl[0] << ", beta 4: " << kl[1];

  // With a warm-up the first epoch's objective weighs the KL by at most 1/3,
  // so its train loss is below that of the same epoch without one.
  cfg.loss.beta = 1.0;
  cfg.train.epochs = 1;
  cfg.train.out_dir = dir.file("plain");
  const double plain = train(cfg, {}).history[0].train_loss;
  cfg.loss.kl_warmup_epochs = 3;
  cfg.train.out_dir = dir.file("warm");
  const double warm = train(cfg, {}).history[0].train_loss;
  EXPECT_LT(warm, plain);
}

// The Gaussian likelihood trains and is saved with the model: a resume with
// the other likelihood is refused, naming the field.
TEST(Likelihood, GaussianTrainsAndCannotBeResumedAsBernoulli) {
  testing::TempDir dir;
  testing::write_synthetic_split(dir.file("data"), 256, 64, /*gz=*/false);
  Config cfg = small_run(dir);
  cfg.model.likelihood = Likelihood::kGaussian;
  cfg.train.epochs = 2;
  cfg.train.out_dir = dir.file("run");
  const TrainResult r = train(cfg, {});
  ASSERT_EQ(r.history.size(), 2u);
  EXPECT_LT(r.history[1].test.loss, r.history[0].test.loss);
  // Squared error over 784 pixels plus 392 log(pi) = 448.8: the constant is in.
  EXPECT_GT(r.history[1].test.recon, 784 / 2.0 * std::log(M_PI));
  Config other = cfg;
  other.model.likelihood = Likelihood::kBernoulli;
  other.train.epochs = 3;
  TrainOptions resume;
  resume.resume = dir.file("run");
  testing::expect_error<ConfigError>([&] { train(other, resume); }, "model.likelihood (gaussian vs bernoulli)",
                                     "a resume with another likelihood was accepted");
}

}  // namespace
}  // namespace vae
