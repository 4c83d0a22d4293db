// Helpers for the tests: scratch folders and small synthetic data sets.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>

#include "vae/config.hpp"
#include "vae/data.hpp"
#include "vae/evaluate.hpp"
#include "vae/model.hpp"

namespace vae::testing {

// A fresh folder under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// n images of 28x28 in 10 classes: class k is a bright 8x8 square at one of
// ten places, jittered by up to 2 pixels, with faint noise. Learnable in one
// epoch, deterministic from seed.
Dataset synthetic_digits(int64_t n, uint64_t seed);

// Writes train/test splits of synthetic_digits as IDX files into dir.
void write_synthetic_split(const std::string& dir, int64_t n_train, int64_t n_test, bool gz);

// True when every parameter of a equals b's of the same name, bit for bit.
bool same_parameters(VAE& a, VAE& b);

// Evaluation options with this seed and batch (and code_recon, noisy_recon).
EvalOptions eval_options(uint64_t seed, int64_t batch_images, bool code_errors = false);

// Makes the trainer take the loss of every step `poisoned` picks (numbered
// from 1 in each run) as NaN, while the object lives.
class PoisonSteps {
 public:
  explicit PoisonSteps(std::function<bool(int64_t)> poisoned);
  ~PoisonSteps();
};

// The final test losses of one more epoch than the finished run of `cfg`
// (in cfg.train.out_dir): {resumed from that run, trained in one go in
// `whole_dir`}. Exact resume means they are equal.
std::pair<double, double> resumed_and_whole_test_loss(const Config& cfg, const std::string& whole_dir);

// Points cfg at a short CPU run in `dir`: synthetic digits written to
// dir/data (train_images / test_images, IDX), `epochs` epochs of batches of
// `batch`, the run folder dir/run.
void small_run(Config& cfg, const TempDir& dir, int64_t epochs = 3, int64_t batch = 32, int64_t train_images = 128,
               int64_t test_images = 32);

// vae-sample's draw of 16 images from the model's prior, from `checkpoint`
// into the PNG `out`, on CPU: its one-line message.
std::string sample_16(const std::string& checkpoint, const std::string& out);

// Writes raw bytes to a file (for crafting broken inputs).
void write_bytes(const std::string& path, const std::string& bytes);

}  // namespace vae::testing
