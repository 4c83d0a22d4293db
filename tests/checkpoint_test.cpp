#include "vae/checkpoint.hpp"

#include <gtest/gtest.h>
#include <torch/serialize/output-archive.h>
#include <torch/version.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <sstream>

#include "expect_error.hpp"
#include "test_hooks.hpp"
#include "test_util.hpp"
#include "vae/io.hpp"
#include "vae/optim.hpp"
#include "vae/trainer.hpp"

namespace vae {
namespace {

using testing::TempDir;
namespace fs = std::filesystem;

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

CheckpointMeta meta_at(const Config& cfg, int64_t epoch, int64_t step) {
  CheckpointMeta m{cfg, {}};
  m.state.epoch = epoch;
  m.state.step = step;
  return m;
}

std::string load_error(const std::string& path) {
  try {
    load_model(path, torch::kCPU);
  } catch (const CheckpointError& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    return msg;
  }
  ADD_FAILURE() << "loaded " << path;
  return "";
}

// A saved checkpoint of a tiny model, for the damage tests.
struct Saved {
  TempDir dir;
  Config cfg = tiny_config();
  VAE model{cfg.model};
  std::unique_ptr<torch::optim::Optimizer> opt = make_optimizer(cfg.train, model);
  std::string path = dir.file("last.pt");
  Saved() { save_checkpoint(path, model, *opt, meta_at(cfg, 1, 1)); }
};

TEST(Checkpoint, RoundTripsWeightsStateAndOptimizer) {
  TempDir dir;
  const Config cfg = tiny_config();
  torch::manual_seed(1);
  VAE model(cfg.model);
  auto opt = make_optimizer(cfg.train, model);
  take_a_step(model, *opt);
  const std::string path = dir.file("last.pt");
  CheckpointMeta meta = meta_at(cfg, 3, 42);
  meta.state.batch = 5;
  meta.state.loss_sum = 1234.5;
  meta.state.seen = 640;
  meta.state.skipped = 2;
  meta.state.best_test_loss = 99.25;
  EpochMetrics m;
  m.epoch = 1;
  m.step = 8;
  m.train_loss = 201.5;
  m.test.loss = std::numeric_limits<double>::quiet_NaN();  // written as null, read back as NaN
  meta.state.history = {m};
  meta.state.rng_cpu = torch::arange(10, torch::kUInt8);
  save_checkpoint(path, model, *opt, meta);
  EXPECT_TRUE(fs::exists(dir.file("last.manifest.json")));
  for (const auto& e : fs::directory_iterator(dir.path()))  // no temporary left, whatever its suffix
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
  EXPECT_FALSE(fs::exists(dir.file("last.manifest.json.next")));

  LoadedModel back = load_model(path, torch::kCPU);
  const TrainingState& s = back.meta.state;
  EXPECT_EQ(s.epoch, 3);
  EXPECT_EQ(s.step, 42);
  EXPECT_EQ(s.batch, 5);
  EXPECT_EQ(s.loss_sum, 1234.5);
  EXPECT_EQ(s.seen, 640);
  EXPECT_EQ(s.skipped, 2);
  EXPECT_EQ(s.best_test_loss, 99.25);
  ASSERT_EQ(s.history.size(), 1u);
  EXPECT_EQ(s.history[0].step, 8);
  EXPECT_EQ(s.history[0].train_loss, 201.5);
  EXPECT_TRUE(std::isnan(s.history[0].test.loss));
  EXPECT_TRUE(torch::equal(s.rng_cpu, meta.state.rng_cpu));
  EXPECT_EQ(to_toml(back.meta.config), to_toml(cfg));
  EXPECT_FALSE(back.model->is_training());
  EXPECT_TRUE(testing::same_parameters(model, back.model));

  // Optimizer state: a fresh Adam that loads it takes the same next step.
  auto opt2 = make_optimizer(cfg.train, back.model);
  load_optimizer_state(back, *opt2);
  back.model->train();
  torch::manual_seed(9);
  take_a_step(model, *opt);
  torch::manual_seed(9);
  take_a_step(back.model, *opt2);
  EXPECT_TRUE(testing::same_parameters(model, back.model));
}

TEST(Checkpoint, ManifestRecordsSizeHashAndVersions) {
  Saved s;
  const Manifest m = parse_manifest(read_file(s.dir.file("last.manifest.json")), "m");
  EXPECT_EQ(m.epoch, 1);
  EXPECT_EQ(m.libtorch, TORCH_VERSION);
  ASSERT_EQ(m.files.size(), 1u);
  const std::string bytes = read_file(s.path);
  EXPECT_EQ(m.files[0].name, "last.pt");
  EXPECT_EQ(m.files[0].bytes, bytes.size());
  EXPECT_EQ(m.files[0].sha256, sha256_hex(bytes));
  // The SHA-256 itself, against the standard test vector.
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Checkpoint, RejectsFilesThatAreNotCheckpoints) {
  TempDir dir;
  EXPECT_NE(load_error(dir.file("missing.pt")).find("cannot open"), std::string::npos);
  testing::write_bytes(dir.file("text.pt"), "hello, not a checkpoint");
  EXPECT_NE(load_error(dir.file("text.pt")).find("not a checkpoint"), std::string::npos);
  // A LibTorch archive that is not ours has no manifest.
  torch::serialize::OutputArchive other;
  other.write("weights", torch::ones({2}));
  std::ostringstream os;
  other.save_to(os);
  testing::write_bytes(dir.file("other.pt"), os.str());
  EXPECT_NE(load_error(dir.file("other.pt")).find("incomplete checkpoint: no manifest"),
            std::string::npos);
}

TEST(Checkpoint, RejectsMissingManifest) {
  Saved s;
  fs::remove(s.dir.file("last.manifest.json"));
  EXPECT_NE(load_error(s.path).find("no manifest last.manifest.json"), std::string::npos);
}

TEST(Checkpoint, RejectsTruncatedFile) {
  Saved s;
  const std::string bytes = read_file(s.path);
  testing::write_bytes(s.path, bytes.substr(0, bytes.size() / 2));
  EXPECT_NE(load_error(s.path).find("truncated or replaced"), std::string::npos);
}

TEST(Checkpoint, DetectsAFlippedByteAnywhere) {
  Saved s;
  const std::string good = read_file(s.path);
  // LibTorch itself loads a flipped byte in a tensor record silently.
  for (size_t at : {size_t{100}, good.size() / 3, good.size() / 2, good.size() - 30}) {
    std::string bad = good;
    bad[at] ^= 0x01;
    testing::write_bytes(s.path, bad);
    EXPECT_NE(load_error(s.path).find("checksum mismatch"), std::string::npos) << "byte " << at;
  }
  testing::write_bytes(s.path, good);
  EXPECT_NO_THROW(load_model(s.path, torch::kCPU));
  // A flipped digit of the manifest's SHA-256 is a mismatch too.
  const std::string manifest_good = read_file(s.dir.file("last.manifest.json"));
  std::string flipped = manifest_good;
  const size_t digit = flipped.find("\"sha256\": \"") + 12;
  flipped[digit] = flipped[digit] == '0' ? '1' : '0';
  testing::write_bytes(s.dir.file("last.manifest.json"), flipped);
  EXPECT_NE(load_error(s.path).find("checksum mismatch"), std::string::npos);
  testing::write_bytes(s.dir.file("last.manifest.json"), manifest_good);
  // A damaged manifest is reported as such.
  std::string manifest = read_file(s.dir.file("last.manifest.json"));
  testing::write_bytes(s.dir.file("last.manifest.json"), manifest.substr(0, manifest.size() / 2));
  EXPECT_NE(load_error(s.path).find("manifest is not valid JSON"), std::string::npos);
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
  for (const char* key : {"epoch", "batch", "step", "seen", "skipped"})
    archive.write(key, c10::IValue(int64_t{1}));
  for (const char* key : {"loss_sum", "seconds", "best_test_loss"}) archive.write(key, c10::IValue(1.0));
  archive.write("history", c10::IValue(std::string()));
  archive.write("config", c10::IValue(to_toml(cfg)));
  std::ostringstream os;
  archive.save_to(os);
  const std::string bytes = os.str();
  testing::write_bytes(dir.file("bad.pt"), bytes);
  Manifest m;
  m.files.push_back({"bad.pt", bytes.size(), sha256_hex(bytes)});
  testing::write_bytes(dir.file("bad.manifest.json"), manifest_to_json(m));
  const std::string msg = load_error(dir.file("bad.pt"));
  EXPECT_NE(msg.find("encoder.fc_mean.weight has shape [3, 16] but the config needs [5, 16]"),
            std::string::npos)
      << msg;
}

TEST(Checkpoint, AFailedWriteAtAnyByteLeavesThePreviousCheckpoint) {
  Saved s;
  const std::string before = read_file(s.path);
  take_a_step(s.model, *s.opt);  // new weights: the next checkpoint differs
  const size_t total = before.size() + 2000;  // checkpoint + manifest, roughly
  for (size_t n : {size_t{0}, size_t{1}, size_t{4096}, before.size() / 2, before.size() - 1,
                   before.size(), before.size() + 10, before.size() + 300, total}) {
    test_hooks::inject_write_failure_after(static_cast<int64_t>(n));
    bool failed = false;
    try {
      save_checkpoint(s.path, s.model, *s.opt, meta_at(s.cfg, 2, 2));
    } catch (const IoError& e) {
      failed = true;
      EXPECT_NE(std::string(e.what()).find("No space left"), std::string::npos) << e.what();
    }
    test_hooks::inject_write_failure_after(-1);
    LoadedModel m = load_model(s.path, torch::kCPU);  // never damaged
    if (failed) {
      EXPECT_TRUE(read_file(s.path) == before) << "changed after a failure at byte " << n;
      EXPECT_EQ(m.meta.state.epoch, 1);
      for (const auto& f : fs::directory_iterator(s.dir.path())) {
        EXPECT_EQ(f.path().string().find(".tmp"), std::string::npos) << f.path();
        EXPECT_EQ(f.path().string().find(".next"), std::string::npos) << f.path();
      }
    } else {
      EXPECT_EQ(m.meta.state.epoch, 2);  // the budget sufficed: the new one is complete
    }
  }
}

TEST(Checkpoint, CrashBetweenTheRenamesIsRecovered) {
  // The state a crash after the data rename but before the manifest rename
  // leaves: new data, old manifest, complete .next manifest.
  Saved s;
  const std::string old_manifest = read_file(s.dir.file("last.manifest.json"));
  take_a_step(s.model, *s.opt);
  save_checkpoint(s.path, s.model, *s.opt, meta_at(s.cfg, 2, 2));
  fs::rename(s.dir.file("last.manifest.json"), s.dir.file("last.manifest.json.next"));
  testing::write_bytes(s.dir.file("last.manifest.json"), old_manifest);
  EXPECT_EQ(load_model(s.path, torch::kCPU).meta.state.epoch, 2);
  // Loading finished the commit: the .next manifest is now the manifest.
  EXPECT_FALSE(fs::exists(s.dir.file("last.manifest.json.next")));
  EXPECT_EQ(parse_manifest(read_file(s.dir.file("last.manifest.json")), "m").epoch, 2);
}

TEST(Checkpoint, ResumePicksTheNewestCompleteCheckpoint) {
  TempDir dir;
  const Config cfg = tiny_config();
  VAE model(cfg.model);
  auto opt = make_optimizer(cfg.train, model);
  fs::create_directories(dir.file("run/checkpoints"));
  save_checkpoint(dir.file("run/checkpoints/epoch-0001.pt"), model, *opt, meta_at(cfg, 1, 10));
  save_checkpoint(dir.file("run/checkpoints/best.pt"), model, *opt, meta_at(cfg, 2, 20));
  save_checkpoint(dir.file("run/checkpoints/last.pt"), model, *opt, meta_at(cfg, 3, 30));
  EXPECT_EQ(load_resume_checkpoint(dir.file("run")).path, dir.file("run/checkpoints/last.pt"));
  // A complete last.pt wins even over a later-looking leftover.
  save_checkpoint(dir.file("run/checkpoints/epoch-0009.pt"), model, *opt, meta_at(cfg, 9, 90));
  EXPECT_EQ(load_resume_checkpoint(dir.file("run")).path, dir.file("run/checkpoints/last.pt"));
  fs::remove(dir.file("run/checkpoints/epoch-0009.pt"));
  fs::remove(dir.file("run/checkpoints/epoch-0009.manifest.json"));
  // A damaged last.pt is passed over for the next newest.
  std::string bytes = read_file(dir.file("run/checkpoints/last.pt"));
  bytes[bytes.size() / 2] ^= 0x40;
  testing::write_bytes(dir.file("run/checkpoints/last.pt"), bytes);
  EXPECT_EQ(load_resume_checkpoint(dir.file("run")).path, dir.file("run/checkpoints/best.pt"));
  fs::remove(dir.file("run/checkpoints/best.manifest.json"));
  fs::remove(dir.file("run/checkpoints/epoch-0001.pt"));
  testing::expect_error<CheckpointError>([&] { load_resume_checkpoint(dir.file("run")); }, "no complete checkpoint",
                                         "resumed from nothing");
  EXPECT_THROW(load_resume_checkpoint(dir.file("nothing")), CheckpointError);
}

// What a kill between a save's writes and its renames leaves: the data and
// its .next manifest complete, nothing renamed. The run's next start rolls
// it forward (a resume then finds it, even when it was the first save), and
// removes temporaries that are not complete.
TEST(Checkpoint, InterruptedSavesAreFinishedOrRemoved) {
  TempDir dir;
  const Config cfg = tiny_config();
  VAE model(cfg.model);
  auto opt = make_optimizer(cfg.train, model);
  fs::create_directories(dir.file("scratch"));
  save_checkpoint(dir.file("scratch/last.pt"), model, *opt, meta_at(cfg, 2, 20));
  const auto interrupted = [&](const std::string& run) {
    fs::create_directories(dir.file(run + "/checkpoints"));
    fs::copy_file(dir.file("scratch/last.pt"), dir.file(run + "/checkpoints/last.pt.tmp.4242"));
    fs::copy_file(dir.file("scratch/last.manifest.json"), dir.file(run + "/checkpoints/last.manifest.json.next"));
  };
  // The first save of a run: nothing to resume until it is finished.
  interrupted("first");
  EXPECT_THROW(load_resume_checkpoint(dir.file("first")), CheckpointError);
  EXPECT_EQ(finish_interrupted_saves(dir.file("first/checkpoints")).size(), 1u);
  EXPECT_EQ(load_resume_checkpoint(dir.file("first")).meta.state.epoch, 2);
  // A later save: the new data replaces the old checkpoint.
  fs::create_directories(dir.file("later/checkpoints"));
  save_checkpoint(dir.file("later/checkpoints/last.pt"), model, *opt, meta_at(cfg, 1, 10));
  interrupted("later");
  finish_interrupted_saves(dir.file("later/checkpoints"));
  EXPECT_EQ(load_model(dir.file("later/checkpoints/last.pt"), torch::kCPU).meta.state.epoch, 2);
  // Incomplete leftovers go: data without its manifest, a manifest without its data.
  testing::write_bytes(dir.file("later/checkpoints/best.pt.tmp.77"), "PK\x03\x04 cut off");
  fs::copy_file(dir.file("scratch/last.manifest.json"), dir.file("later/checkpoints/epoch-0003.manifest.json.next"));
  EXPECT_EQ(finish_interrupted_saves(dir.file("later/checkpoints")).size(), 2u);
  for (const auto& e : fs::directory_iterator(dir.file("later/checkpoints")))
    EXPECT_TRUE(e.path().extension() == ".pt" || e.path().extension() == ".json") << e.path();
  EXPECT_EQ(load_model(dir.file("later/checkpoints/last.pt"), torch::kCPU).meta.state.epoch, 2);
}

TEST(Checkpoint, WritesToUnwritablePlacesFailCleanly) {
  Saved s;
  EXPECT_THROW(save_checkpoint(s.dir.file("no/such/dir/c.pt"), s.model, *s.opt, meta_at(s.cfg, 2, 2)),
               IoError);
  EXPECT_THROW(write_file_atomic("/dev/full/x", "abc"), IoError);
  EXPECT_NO_THROW(load_model(s.path, torch::kCPU));
}

}  // namespace
}  // namespace vae
