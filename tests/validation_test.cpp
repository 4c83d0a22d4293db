// The validation split: rows held out of train (data.valid_fraction) or a
// source's own (binarized MNIST's valid file); best.pt and early stopping
// (train.early_stop_patience) choose on it, never on the test split.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "expect_error.hpp"
#include "test_util.hpp"
#include "vae/checkpoint.hpp"
#include "vae/data.hpp"
#include "vae/manifest.hpp"
#include "vae/io.hpp"
#include "vae/metrics.hpp"
#include "vae/trainer.hpp"

namespace vae {
namespace {

using testing::TempDir;

TEST(Validation, HeldOutRowsAreASeededSortedSubset) {
  const std::vector<int64_t> a = validation_rows(1000, 0.1, 7);
  ASSERT_EQ(a.size(), 100u);
  EXPECT_TRUE(std::is_sorted(a.begin(), a.end()));
  EXPECT_EQ(std::adjacent_find(a.begin(), a.end()), a.end()) << "a row twice";
  EXPECT_GE(a.front(), 0);
  EXPECT_LT(a.back(), 1000);
  EXPECT_EQ(validation_rows(1000, 0.1, 7), a);
  EXPECT_NE(validation_rows(1000, 0.1, 8), a);
  EXPECT_TRUE(validation_rows(1000, 0.0, 7).empty());
}

TEST(Validation, TrainAndValidPartitionTheTrainingImages) {
  TempDir dir;
  testing::write_synthetic_split(dir.path(), 40, 8, false);
  const IdxSource src(dir.path());
  const ValidSplit held{0.25, 3};
  const Dataset all = load_split(src, Split::kTrain, Binarize::kNone, true);
  const Dataset train = load_split(src, Split::kTrain, Binarize::kNone, true, held);
  const Dataset valid = load_split(src, Split::kValid, Binarize::kNone, false, held);
  ASSERT_EQ(valid.size(), 10);
  ASSERT_EQ(train.size(), 30);
  const std::vector<int64_t> rows = validation_rows(40, 0.25, 3);
  EXPECT_TRUE(torch::equal(valid.images, all.images.index_select(0, torch::tensor(rows))));
  EXPECT_TRUE(torch::equal(valid.labels, all.labels.index_select(0, torch::tensor(rows))));
  std::vector<int64_t> rest;
  for (int64_t r = 0; r < 40; ++r)
    if (!std::binary_search(rows.begin(), rows.end(), r)) rest.push_back(r);
  EXPECT_TRUE(torch::equal(train.images, all.images.index_select(0, torch::tensor(rest))));
  EXPECT_EQ(load_split(src, Split::kTest, Binarize::kNone, false, held).size(), 8) << "the test split stays whole";
}

Config small_run(const TempDir& dir) {
  Config cfg;
  cfg.data.valid_fraction = 0.25;
  cfg.model.hidden = {32};
  cfg.model.latent = 3;
  testing::small_run(cfg, dir, /*epochs=*/4, /*batch=*/24, /*train_images=*/96, /*test_images=*/32);
  return cfg;
}

TEST(Validation, BestPtIsChosenOnValidationAndBothLossesAreRecorded) {
  TempDir dir;
  const Config cfg = small_run(dir);
  const TrainResult r = train(cfg, {});
  ASSERT_EQ(r.history.size(), 4u);
  size_t best = 0;
  for (size_t i = 0; i < r.history.size(); ++i) {
    EXPECT_TRUE(r.history[i].has_valid);
    EXPECT_NE(r.history[i].valid.loss, r.history[i].test.loss);
    if (r.history[i].valid.loss < r.history[best].valid.loss) best = i;
  }
  const Manifest m = parse_manifest(read_file(dir.file("run/checkpoints/best.manifest.json")), "best");
  EXPECT_EQ(m.epoch, r.history[best].epoch);
  const std::vector<EpochMetrics> lines = parse_history(read_file(dir.file("run/metrics.jsonl")), "metrics");
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_TRUE(lines[0].has_valid);
  EXPECT_EQ(lines[3].valid.loss, r.history[3].valid.loss);
  EXPECT_NE(read_file(dir.file("run/metrics.jsonl")).find("\"valid_loss\": "), std::string::npos);
  // The training split is what is left: 72 images, 3 batches an epoch.
  EXPECT_EQ(r.history[0].step, 3);
}

TEST(Validation, EarlyStoppingEndsARunThatNoLongerImprovesAndStaysEndedOnResume) {
  TempDir dir;
  Config cfg = small_run(dir);
  // A learning rate below float resolution: the weights, and so the
  // validation loss, stay exactly the same, which is never an improvement.
  cfg.train.lr = 1e-30;
  cfg.train.epochs = 10;
  cfg.train.early_stop_patience = 2;
  const TrainResult r = train(cfg, {});
  ASSERT_EQ(r.history.size(), 3u) << "epoch 1 is the best; epochs 2 and 3 do not improve: stop";
  EXPECT_EQ(r.history[0].valid.loss, r.history[2].valid.loss);
  TrainOptions resume;
  resume.resume = dir.file("run");
  cfg.train.epochs = 12;
  EXPECT_TRUE(train(cfg, resume).history.empty());
  // Without patience the same run goes on.
  cfg.train.early_stop_patience = 0;
  EXPECT_EQ(train(cfg, resume).history.size(), 9u);
}

TEST(Validation, AFractionIsRefusedWhereTheDataHasItsOwnSplit) {
  TempDir dir;
  std::string line;
  for (int i = 0; i < 784; ++i) line += i ? " 0" : "1";
  for (const char* s : {"train", "valid", "test"})
    testing::write_bytes(dir.file(std::string("binarized_mnist_") + s + ".amat"), line + "\n" + line + "\n");
  Config cfg;
  cfg.data.dir = dir.path();
  cfg.data.valid_fraction = 0.1;
  cfg.train.device = DeviceChoice::kCpu;
  cfg.train.out_dir = dir.file("run");
  testing::expect_error<ConfigError>([&] { train(cfg, {}); }, "'data.valid_fraction' must be 0", "a fraction of amat");
}

}  // namespace
}  // namespace vae
