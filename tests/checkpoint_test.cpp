#include "vae/checkpoint.hpp"

#include <gtest/gtest.h>
#include <torch/optim/adam.h>
#include <torch/serialize/output-archive.h>

#include <sstream>

#include "test_util.hpp"
#include "vae/io.hpp"
#include "vae/trainer.hpp"

namespace vae {
namespace {

using testing::TempDir;

Config tiny_config() {
  Config c;
  c.model.hidden = {16};
  c.model.latent = 3;
  return c;
}

// One Adam step so the optimizer has state worth saving.
void take_a_step(VAE& model, torch::optim::Optimizer& opt) {
  opt.zero_grad();
  const torch::Tensor x = torch::rand({4, 784});
  const VAEOutput out = model->forward(x);
  torch::binary_cross_entropy_with_logits(out.logits, x, {}, {}, at::Reduction::Sum).backward();
  opt.step();
}

std::string load_error(const std::string& path) {
  try {
    load_model(path, torch::kCPU);
  } catch (const CheckpointError& e) {
    return e.what();
  }
  ADD_FAILURE() << "loaded " << path;
  return "";
}

TEST(Checkpoint, RoundTripsWeightsMetaAndOptimizer) {
  TempDir dir;
  const Config cfg = tiny_config();
  torch::manual_seed(1);
  VAE model(cfg.model);
  auto opt = make_optimizer(cfg.train, model);
  take_a_step(model, *opt);
  const std::string path = dir.file("last.pt");
  save_checkpoint(path, model, *opt, {3, 42, cfg});

  LoadedModel back = load_model(path, torch::kCPU);
  EXPECT_EQ(back.meta.epoch, 3);
  EXPECT_EQ(back.meta.step, 42);
  EXPECT_EQ(to_toml(back.meta.config), to_toml(cfg));
  EXPECT_FALSE(back.model->is_training());
  const auto a = model->named_parameters();
  const auto b = back.model->named_parameters();
  ASSERT_EQ(a.size(), b.size());
  for (const auto& p : a) EXPECT_TRUE(torch::equal(p.value(), b[p.key()])) << p.key();

  // Optimizer state: a fresh Adam that loads it takes the same next step.
  auto opt2 = make_optimizer(cfg.train, back.model);
  load_optimizer_state(path, *opt2);
  back.model->train();
  torch::manual_seed(9);
  take_a_step(model, *opt);
  torch::manual_seed(9);
  take_a_step(back.model, *opt2);
  for (const auto& p : model->named_parameters())
    EXPECT_TRUE(torch::allclose(p.value(), back.model->named_parameters()[p.key()])) << p.key();
}

TEST(Checkpoint, RejectsFilesThatAreNotCheckpoints) {
  TempDir dir;
  EXPECT_NE(load_error(dir.file("missing.pt")).find("cannot open"), std::string::npos);
  testing::write_bytes(dir.file("text.pt"), "hello, not a checkpoint");
  EXPECT_NE(load_error(dir.file("text.pt")).find("not a checkpoint"), std::string::npos);
  // A LibTorch archive that is not ours.
  torch::serialize::OutputArchive other;
  other.write("weights", torch::ones({2}));
  std::ostringstream os;
  other.save_to(os);
  testing::write_bytes(dir.file("other.pt"), os.str());
  EXPECT_NE(load_error(dir.file("other.pt")).find("not a vae checkpoint"), std::string::npos);
}

TEST(Checkpoint, RejectsTruncatedFile) {
  TempDir dir;
  const Config cfg = tiny_config();
  VAE model(cfg.model);
  auto opt = make_optimizer(cfg.train, model);
  save_checkpoint(dir.file("c.pt"), model, *opt, {1, 1, cfg});
  const std::string bytes = read_file(dir.file("c.pt"));
  testing::write_bytes(dir.file("cut.pt"), bytes.substr(0, bytes.size() / 2));
  EXPECT_NE(load_error(dir.file("cut.pt")).find("damaged or truncated"), std::string::npos);
}

TEST(Checkpoint, RefusesWeightsOfAnotherShape) {
  // Weights of a latent-3 model under a config that says latent 5: LibTorch
  // would adopt the file's shapes silently; we must name the mismatch.
  TempDir dir;
  Config cfg = tiny_config();
  VAE model(cfg.model);
  torch::serialize::OutputArchive archive;
  model->save(archive);
  cfg.model.latent = 5;
  archive.write("vae_format", c10::IValue(std::string(kCheckpointMagic)));
  archive.write("format_version", c10::IValue(kCheckpointVersion));
  archive.write("epoch", c10::IValue(int64_t{1}));
  archive.write("step", c10::IValue(int64_t{1}));
  archive.write("config", c10::IValue(to_toml(cfg)));
  std::ostringstream os;
  archive.save_to(os);
  testing::write_bytes(dir.file("bad.pt"), os.str());
  const std::string msg = load_error(dir.file("bad.pt"));
  EXPECT_NE(msg.find("encoder.fc_mean.weight has shape [3, 16] but the config needs [5, 16]"),
            std::string::npos)
      << msg;
}

TEST(Checkpoint, FailedWriteLeavesPreviousCheckpoint) {
  TempDir dir;
  const Config cfg = tiny_config();
  VAE model(cfg.model);
  auto opt = make_optimizer(cfg.train, model);
  save_checkpoint(dir.file("c.pt"), model, *opt, {1, 1, cfg});
  const std::string before = read_file(dir.file("c.pt"));
  // A path whose folder does not exist cannot be written; nothing half-done stays.
  EXPECT_THROW(save_checkpoint(dir.file("no/such/dir/c.pt"), model, *opt, {2, 2, cfg}), IoError);
  EXPECT_TRUE(read_file(dir.file("c.pt")) == before) << "previous checkpoint changed";
  EXPECT_THROW(write_file_atomic("/dev/full/x", "abc"), IoError);
}

}  // namespace
}  // namespace vae
