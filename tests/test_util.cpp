#include "test_util.hpp"

#include "test_hooks.hpp"
#include "vae/sample_command.hpp"
#include "vae/trainer.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace vae::testing {

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "vae-test-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

Dataset synthetic_digits(int64_t n, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  torch::Tensor labels = torch::randint(0, 10, {n}, gen, torch::kInt64);
  torch::Tensor images = torch::rand({n, 28, 28}, gen).mul(20);  // faint noise
  torch::Tensor jitter = torch::randint(-2, 3, {n, 2}, gen, torch::kInt64);
  auto lab = labels.accessor<int64_t, 1>();
  auto jit = jitter.accessor<int64_t, 2>();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t k = lab[i];
    const int64_t y = 3 + (k / 4) * 7 + jit[i][0];
    const int64_t x = 2 + (k % 4) * 5 + jit[i][1];
    images[i].narrow(0, std::max<int64_t>(0, y), 8).narrow(1, std::max<int64_t>(0, x), 8).fill_(240);
  }
  Dataset ds;
  ds.images = images.round().clamp(0, 255).to(torch::kUInt8);
  ds.labels = labels;
  ds.labels_origin = "synthetic digits";
  return ds;
}

void write_synthetic_split(const std::string& dir, int64_t n_train, int64_t n_test, bool gz) {
  std::filesystem::create_directories(dir);
  const std::string ext = gz ? ".gz" : "";
  const Dataset train = synthetic_digits(n_train, 1);
  const Dataset test = synthetic_digits(n_test, 2);
  write_idx_images(dir + "/train-images-idx3-ubyte" + ext, train.images);
  write_idx_labels(dir + "/train-labels-idx1-ubyte" + ext, train.labels);
  write_idx_images(dir + "/t10k-images-idx3-ubyte" + ext, test.images);
  write_idx_labels(dir + "/t10k-labels-idx1-ubyte" + ext, test.labels);
}

bool same_parameters(VAE& a, VAE& b) {
  const auto pb = b->named_parameters();
  for (const auto& p : a->named_parameters())
    if (!pb.contains(p.key()) || !torch::equal(p.value(), pb[p.key()])) return false;
  return true;
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!f) throw std::runtime_error("cannot write " + path);
}

EvalOptions eval_options(uint64_t seed, int64_t batch_images, bool code_errors) {
  EvalOptions opt;
  opt.seed = seed;
  opt.batch_images = batch_images;
  opt.code_errors = code_errors;
  return opt;
}

std::pair<double, double> resumed_and_whole_test_loss(const Config& cfg, const std::string& whole_dir) {
  Config more = cfg;
  more.train.epochs = cfg.train.epochs + 1;
  more.train.out_dir = whole_dir;
  const double whole = train(more, {}).history.back().test.loss;
  more.train.out_dir = cfg.train.out_dir;
  TrainOptions resume;
  resume.resume = cfg.train.out_dir;
  return {train(more, resume).history.back().test.loss, whole};
}

void small_run(Config& cfg, const TempDir& dir, int64_t epochs, int64_t batch, int64_t train_images,
               int64_t test_images) {
  write_synthetic_split(dir.file("data"), train_images, test_images, /*gz=*/false);
  cfg.data.dir = dir.file("data");
  cfg.train.batch_size = batch;
  cfg.train.epochs = epochs;
  cfg.train.device = DeviceChoice::kCpu;
  cfg.train.out_dir = dir.file("run");
}

std::string sample_16(const std::string& checkpoint, const std::string& out) {
  SampleRequest s;
  s.checkpoint = checkpoint;
  s.out = out;
  s.num = 16;
  s.device = DeviceChoice::kCpu;
  return run_sample(s);
}

PoisonSteps::PoisonSteps(std::function<bool(int64_t)> poisoned) { test_hooks::poison_step = std::move(poisoned); }
PoisonSteps::~PoisonSteps() { test_hooks::poison_step = nullptr; }

}  // namespace vae::testing
