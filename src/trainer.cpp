#include "vae/trainer.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>
#include <spdlog/spdlog.h>
#include <torch/optim/adam.h>
#include <torch/optim/rmsprop.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "vae/checkpoint.hpp"
#include "vae/image.hpp"
#include "vae/inference.hpp"
#include "vae/io.hpp"
#include "vae/loss.hpp"
#include "vae/runtime.hpp"

namespace vae {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Evaluation noise comes from its own generator so that evaluating never
// shifts the training noise stream.
constexpr uint64_t kEvalSeedSalt = 0x5EEDE7A1ull;
constexpr int64_t kSampleGridCount = 64;

std::string metrics_json(const EpochMetrics& m) {
  std::ostringstream os;
  os.precision(10);
  os << "{\"epoch\": " << m.epoch << ", \"step\": " << m.step
     << ", \"train_loss\": " << m.train_loss << ", \"test_loss\": " << m.test.loss
     << ", \"test_bce\": " << m.test.bce << ", \"test_kl\": " << m.test.kl
     << ", \"seconds\": " << m.seconds << ", \"eval_seconds\": " << m.eval_seconds << "}";
  return os.str();
}

void log_config_table(const Config& cfg, const Dataset& train_set, const Dataset& test_set) {
  spdlog::info("{:<22} {}", "data.dir", cfg.data.dir);
  spdlog::info("{:<22} {} train / {} test, {}x{}", "data.images", train_set.size(),
               test_set.size(), train_set.height(), train_set.width());
  spdlog::info("{:<22} {}", "model.layers", describe_layers(cfg.model));
  spdlog::info("{:<22} {}", "train.optimizer", cfg.train.optimizer);
  spdlog::info("{:<22} {}", "train.lr", cfg.train.lr);
  spdlog::info("{:<22} {}", "train.batch_size", cfg.train.batch_size);
  spdlog::info("{:<22} {}", "train.epochs", cfg.train.epochs);
  spdlog::info("{:<22} {}", "train.seed", cfg.train.seed);
  spdlog::info("{:<22} {}", "train.device", cfg.train.device);
  spdlog::info("{:<22} {}", "train.threads", cfg.train.threads);
  spdlog::info("{:<22} {}", "train.out_dir", cfg.train.out_dir);
}

void check_image_size(const Config& cfg, const Dataset& ds, const std::string& what) {
  if (ds.height() != cfg.model.image_height || ds.width() != cfg.model.image_width)
    throw DataError(cfg.data.dir + ": " + what + " images are " + std::to_string(ds.height()) +
                    "x" + std::to_string(ds.width()) +
                    " but model.image_height x model.image_width is " +
                    std::to_string(cfg.model.image_height) + "x" +
                    std::to_string(cfg.model.image_width));
}

}  // namespace

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const TrainConfig& cfg, VAE& model) {
  if (cfg.optimizer == "adam")
    return std::make_unique<torch::optim::Adam>(model->parameters(),
                                                torch::optim::AdamOptions(cfg.lr));
  if (cfg.optimizer == "rmsprop")
    return std::make_unique<torch::optim::RMSprop>(model->parameters(),
                                                   torch::optim::RMSpropOptions(cfg.lr));
  throw ConfigError("config key 'train.optimizer' must be \"adam\" or \"rmsprop\", got \"" +
                    cfg.optimizer + "\"");
}

EvalResult evaluate(VAE& model, const torch::Tensor& images, int64_t batch_size, uint64_t seed) {
  c10::InferenceMode guard;
  const bool was_training = model->is_training();
  model->eval();
  auto gen = at::detail::createCPUGenerator(seed);
  const int64_t n = images.size(0);
  torch::Tensor bce = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(images.device()));
  torch::Tensor kl = bce.clone();
  for (int64_t start = 0; start < n; start += batch_size) {
    const int64_t len = std::min(batch_size, n - start);
    const torch::Tensor x = to_unit_float(images.narrow(0, start, len));
    auto [mu, log_var] = model->encode(x);
    // Sample z explicitly: eval-mode `sampling` returns mu, which would not
    // be an estimate of the ELBO.
    const torch::Tensor eps = torch::randn(mu.sizes(), gen, torch::kFloat32).to(mu.device());
    const torch::Tensor z = mu + torch::exp(0.5 * log_var) * eps;
    const LossTerms t = vae_loss(model->decoder()->forward(z), x, mu, log_var);
    bce += t.bce.to(torch::kFloat64);
    kl += t.kl.to(torch::kFloat64);
  }
  model->train(was_training);
  EvalResult r;
  r.bce = bce.item<double>() / static_cast<double>(n);
  r.kl = kl.item<double>() / static_cast<double>(n);
  r.loss = r.bce + r.kl;
  return r;
}

TrainResult train(const Config& cfg, const TrainOptions& options) {
  validate(cfg);
  const torch::Device device = resolve_device(cfg.train.device);
  configure_threads(cfg.train.threads);
  const BlasInfo blas = detect_blas();
  if (blas.reference)
    spdlog::warn(
        "BLAS is the slow reference implementation ({}): training runs 30-70x slower. "
        "Install libopenblas0-pthread (scripts/setup.sh does).",
        blas.library);

  const Dataset train_set = load_split(cfg.data.dir, Split::kTrain);
  const Dataset test_set = load_split(cfg.data.dir, Split::kTest);
  check_image_size(cfg, train_set, "train");
  check_image_size(cfg, test_set, "test");

  const fs::path run_dir(cfg.train.out_dir);
  const fs::path ckpt_dir = run_dir / "checkpoints";
  const fs::path last = ckpt_dir / "last.pt";
  const fs::path metrics_path = run_dir / "metrics.jsonl";
  std::error_code ec;
  if (!options.force && (fs::exists(last, ec) || fs::exists(metrics_path, ec)))
    throw IoError(run_dir.string() +
                  ": already holds a run (metrics.jsonl or checkpoints/last.pt); choose another "
                  "--out-dir or pass --force to overwrite it");
  make_dirs(ckpt_dir.string());
  write_file_atomic((run_dir / "config.toml").string(), to_toml(cfg));

  spdlog::info("{}", runtime_summary(device));
  log_config_table(cfg, train_set, test_set);

  torch::manual_seed(cfg.train.seed);
  VAE model(cfg.model);
  model->to(device);
  auto optimizer = make_optimizer(cfg.train, model);

  // The whole data set lives on the device as bytes; batches are gathered
  // with index_select and converted to float per batch.
  const torch::Tensor train_images = train_set.images.to(device);
  const torch::Tensor test_images = test_set.images.to(device);
  const int64_t n = train_set.size();
  const int64_t batches = (n + cfg.train.batch_size - 1) / cfg.train.batch_size;

  std::ofstream metrics(metrics_path, std::ios::trunc);
  if (!metrics) throw IoError(metrics_path.string() + ": cannot create metrics file");

  TrainResult result;
  int64_t step = 0;
  for (int64_t epoch = 1; epoch <= cfg.train.epochs; ++epoch) {
    model->train();
    const auto t0 = Clock::now();
    auto next_report = t0;
    const torch::Tensor order = epoch_permutation(n, cfg.train.seed, epoch - 1).to(device);
    // Summed on the device; read on report ticks only, not every step.
    torch::Tensor loss_sum = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(device));
    int64_t seen = 0;
    for (int64_t b = 0; b < batches; ++b) {
      const int64_t start = b * cfg.train.batch_size;
      const int64_t len = std::min(cfg.train.batch_size, n - start);
      const torch::Tensor x = to_unit_float(train_images.index_select(0, order.narrow(0, start, len)));
      optimizer->zero_grad();
      const VAEOutput out = model->forward(x);
      const LossTerms terms = vae_loss(out.logits, x, out.mu, out.log_var);
      const torch::Tensor loss = terms.total();
      loss.backward();
      optimizer->step();
      ++step;
      seen += len;
      loss_sum += loss.detach().to(torch::kFloat64);
      if (options.on_progress && (Clock::now() >= next_report || b + 1 == batches)) {
        next_report = Clock::now() + std::chrono::milliseconds(250);
        const double mean = loss_sum.item<double>() / static_cast<double>(seen);
        options.on_progress({epoch, cfg.train.epochs, b + 1, batches, mean, seconds_since(t0)});
      }
    }
    EpochMetrics m;
    m.epoch = epoch;
    m.step = step;
    m.train_loss = loss_sum.item<double>() / static_cast<double>(n);
    m.seconds = seconds_since(t0);
    // A diverged model must not overwrite the last good checkpoint.
    if (!std::isfinite(m.train_loss))
      throw std::runtime_error("training diverged: non-finite loss in epoch " +
                               std::to_string(epoch) + " (by step " + std::to_string(step) +
                               "); try a smaller train.lr. The last checkpoint is from epoch " +
                               std::to_string(epoch - 1));
    const auto te = Clock::now();
    m.test = evaluate(model, test_images, std::max<int64_t>(cfg.train.batch_size, 1000),
                      cfg.train.seed ^ kEvalSeedSalt);
    m.eval_seconds = seconds_since(te);

    save_checkpoint(last.string(), model, *optimizer, {epoch, step, cfg});
    metrics << metrics_json(m) << '\n' << std::flush;
    if (!metrics) throw IoError(metrics_path.string() + ": cannot write metrics");
    spdlog::info("epoch {:>3}/{}  train {:8.3f}  test {:8.3f} (bce {:8.3f} + kl {:7.3f})  {:6.2f} s",
                 epoch, cfg.train.epochs, m.train_loss, m.test.loss, m.test.bce, m.test.kl,
                 m.seconds);
    result.history.push_back(m);
  }

  if (cfg.train.epochs == 0) save_checkpoint(last.string(), model, *optimizer, {0, 0, cfg});
  result.checkpoint = last.string();
  result.samples = (run_dir / "samples.png").string();
  const torch::Tensor samples = sample_images(model, kSampleGridCount, cfg.train.seed, device);
  write_png_gray(result.samples, make_grid(samples, /*columns=*/8));
  spdlog::info("checkpoint {}", result.checkpoint);
  spdlog::info("samples    {}", result.samples);
  spdlog::info("metrics    {}", metrics_path.string());
  return result;
}

}  // namespace vae
