#include "vae/trainer.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>
#include <spdlog/spdlog.h>
#include <torch/optim/adam.h>
#include <torch/optim/rmsprop.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <cstdio>
#include <limits>
#include <mutex>
#include <sstream>

#include "vae/checkpoint.hpp"
#include "vae/fused_step.hpp"
#include "vae/image.hpp"
#include "vae/inference.hpp"
#include "vae/io.hpp"
#include "vae/loss.hpp"
#include "vae/optim.hpp"
#include "vae/plot.hpp"
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
constexpr int64_t kReconCount = 32;  // test images in each reconstruction grid

// A JSON number, or null for NaN and Inf (which JSON cannot express).
std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  std::ostringstream os;
  os.precision(10);
  os << v;
  return os.str();
}

std::string metrics_json(const EpochMetrics& m) {
  return "{\"epoch\": " + std::to_string(m.epoch) + ", \"step\": " + std::to_string(m.step) +
         ", \"train_loss\": " + json_number(m.train_loss) +
         ", \"skipped\": " + std::to_string(m.skipped) +
         ", \"test_loss\": " + json_number(m.test.loss) + ", \"test_recon\": " + json_number(m.test.recon) +
         ", \"test_kl\": " + json_number(m.test.kl) + ", \"test_code_abs\": " + json_number(m.test.code_abs) + ", \"seconds\": " + json_number(m.seconds) +
         ", \"eval_seconds\": " + json_number(m.eval_seconds) + "}";
}

void log_config_table(const Config& cfg, const Dataset& train_set, const Dataset& test_set) {
  spdlog::info("{:<22} {}", "data.dir", cfg.data.dir);
  spdlog::info("{:<22} {}", "data.binarize", cfg.data.binarize);
  spdlog::info("{:<22} {}", "model.kind", cfg.model.kind);
  if (cfg.model.conditional)
    spdlog::info("{:<22} true (one-hot labels of {} classes into encoder and decoder)", "model.conditional",
                 cfg.model.classes);
  spdlog::info("{:<22} {}", "model.likelihood", cfg.model.likelihood);
  spdlog::info("{:<22} {} (KL warm-up over {} epochs)", "loss.beta", cfg.loss.beta, cfg.loss.kl_warmup_epochs);
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
  spdlog::info("{:<22} {}", "train.blas_threads", cfg.train.blas_threads);
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
  if (cfg.optimizer == "adam")  // torch::optim::Adam with a one-pass update (vae/optim.hpp)
    return std::make_unique<FusedAdam>(model->parameters(), torch::optim::AdamOptions(cfg.lr));
  if (cfg.optimizer == "rmsprop")
    return std::make_unique<torch::optim::RMSprop>(model->parameters(),
                                                   torch::optim::RMSpropOptions(cfg.lr));
  throw ConfigError("config key 'train.optimizer' must be \"adam\" or \"rmsprop\", got \"" +
                    cfg.optimizer + "\"");
}

EvalResult evaluate(VAE& model, const torch::Tensor& images, int64_t batch_size, uint64_t seed,
                    const DataConfig& data, const torch::Tensor& labels) {
  c10::InferenceMode guard;
  const bool was_training = model->is_training();
  model->eval();
  const Likelihood lik = likelihood_of(model->config());
  const bool variational = is_variational(model->config());
  const bool denoising = model->config().kind == "denoising_ae";
  auto gen = at::detail::createCPUGenerator(seed);
  const int64_t n = images.size(0);
  torch::Tensor recon = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(images.device()));
  torch::Tensor kl = recon.clone();
  torch::Tensor code_abs = recon.clone();
  for (int64_t start = 0; start < n; start += batch_size) {
    const int64_t len = std::min(batch_size, n - start);
    const torch::Tensor x = to_unit_float(images.narrow(0, start, len));
    const torch::Tensor x_in = denoising ? corrupt(x, data.noise, data.noise_level, &gen) : x;
    const torch::Tensor y = labels.defined() ? labels.narrow(0, start, len) : labels;
    auto [mu, log_var] = model->encode(x_in, y);
    code_abs += mu.abs().sum().to(torch::kFloat64);
    if (!variational) {
      recon -= log_likelihood(model->decoder()->forward(mu, y), x, lik).sum().to(torch::kFloat64);
      continue;
    }
    // Sample z explicitly: eval-mode `sampling` returns mu, which would not
    // be an estimate of the ELBO.
    const torch::Tensor eps = torch::randn(mu.sizes(), gen, torch::kFloat32).to(mu.device());
    const torch::Tensor z = mu + torch::exp(0.5 * log_var) * eps;
    const LossTerms t = vae_loss(model->decoder()->forward(z, y), x, mu, log_var, lik);
    recon += t.recon.to(torch::kFloat64);
    kl += t.kl.to(torch::kFloat64);
  }
  model->train(was_training);
  EvalResult r;
  r.recon = recon.item<double>() / static_cast<double>(n);
  r.kl = kl.item<double>() / static_cast<double>(n);
  r.loss = r.recon + r.kl;
  r.code_abs = code_abs.item<double>() / static_cast<double>(n * model->config().latent);
  return r;
}

std::string resume_checkpoint_path(const std::string& what) {
  std::error_code ec;
  if (fs::is_directory(what, ec)) return find_resume_checkpoint(what);
  if (!fs::exists(what, ec)) throw CheckpointError(what + ": no such run folder or checkpoint");
  return what;
}

std::string run_dir_of(const std::string& checkpoint_path) {
  const fs::path p = fs::absolute(checkpoint_path).lexically_normal();
  if (p.parent_path().filename() != "checkpoints")
    throw CheckpointError(checkpoint_path +
                          ": can only resume a checkpoint inside a run folder's checkpoints/ "
                          "(pass the run folder, or copy the whole run folder first)");
  return p.parent_path().parent_path().string();
}

namespace {

// Refuses a resume that would change the model or the data order; logs the
// training settings that change.
void check_resume_config(const Config& saved, const Config& now, const std::string& path) {
  if (const std::string d = model_difference(saved.model, now.model); !d.empty())
    throw ConfigError(path + ": cannot resume with a different model: " + d +
                      " (checkpoint vs config)");
  if (saved.train.batch_size != now.train.batch_size)
    throw ConfigError(path + ": cannot resume with a different train.batch_size (" +
                      std::to_string(saved.train.batch_size) + " vs " +
                      std::to_string(now.train.batch_size) + "): it changes the data order");
  if (saved.data.binarize != now.data.binarize)
    throw ConfigError(path + ": cannot resume with a different data.binarize (" + saved.data.binarize + " vs " +
                      now.data.binarize + "): it changes the data the model learns");
  if (saved.train.seed != now.train.seed)
    throw ConfigError(path + ": cannot resume with a different train.seed (" +
                      std::to_string(saved.train.seed) + " vs " +
                      std::to_string(now.train.seed) + "): it changes the data order");
  auto note = [](const char* key, const auto& a, const auto& b) {
    if (a != b) spdlog::info("resume: {} changes from {} to {}", key, a, b);
  };
  note("train.epochs", saved.train.epochs, now.train.epochs);
  note("train.lr", saved.train.lr, now.train.lr);
  note("loss.beta", saved.loss.beta, now.loss.beta);
  note("loss.kl_warmup_epochs", saved.loss.kl_warmup_epochs, now.loss.kl_warmup_epochs);
  note("train.optimizer", saved.train.optimizer, now.train.optimizer);
  note("train.device", saved.train.device, now.train.device);
  note("train.threads", saved.train.threads, now.train.threads);
  note("train.blas_threads", saved.train.blas_threads, now.train.blas_threads);
  note("train.fused_step", saved.train.fused_step, now.train.fused_step);
  note("train.nonfinite", saved.train.nonfinite, now.train.nonfinite);
  note("data.dir", saved.data.dir, now.data.dir);
  if (saved.train.optimizer != now.train.optimizer)
    throw ConfigError(path + ": cannot resume with a different train.optimizer (" +
                      saved.train.optimizer + " vs " + now.train.optimizer + ")");
}

// The default generator of a device type: the CPU one draws the model's
// initial weights, the training device's one draws the sampling noise.
torch::Tensor generator_state(c10::DeviceType type) {
  auto gen = at::globalContext().defaultGenerator(c10::Device(type));
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

void set_generator_state(c10::DeviceType type, const torch::Tensor& state) {
  auto gen = at::globalContext().defaultGenerator(c10::Device(type));
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

// True when every gradient is finite. One host read per call. The sums are
// float32 (3.5x faster than float64 here: 0.07 s an epoch): a NaN or Inf
// anywhere makes them non-finite; finite gradients could only overflow
// them past 3e38, which is a diverged step anyway.
bool gradients_finite(VAE& model) {
  torch::Tensor acc;
  for (const auto& p : model->parameters()) {
    if (!p.grad().defined()) continue;
    const torch::Tensor g = torch::sum(p.grad());
    acc = acc.defined() ? acc + g : g;
  }
  return !acc.defined() || std::isfinite(acc.item<double>());
}

// "0004": epoch numbers in file names sort in order.
std::string epoch_tag(int64_t epoch) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%04lld", static_cast<long long>(epoch));
  return buf;
}

}  // namespace

TrainResult train(const Config& cfg, const TrainOptions& options) {
  validate(cfg);
  const torch::Device device = resolve_device(cfg.train.device);
  configure_threads(cfg.train.threads);
  configure_blas_threads(cfg.train.blas_threads);
  const BlasInfo blas = detect_blas();
  if (blas.reference)
    spdlog::warn(
        "BLAS is the slow reference implementation ({}): training runs 30-70x slower. "
        "Install libopenblas0-pthread (scripts/setup.sh does).",
        blas.library);

  // A resume is checked before the data is read: a wrong model is named first.
  LoadedModel loaded;
  if (!options.resume.empty()) {
    loaded = load_model(options.resume, device);
    check_resume_config(loaded.meta.config, cfg, options.resume);
  }
  const Binarize binarize = parse_binarize(cfg.data.binarize);
  const bool denoising = cfg.model.kind == "denoising_ae";
  const bool variational = is_variational(cfg.model);
  const Dataset train_set = load_split(cfg.data.dir, Split::kTrain, binarize, /*for_training=*/true);
  const Dataset test_set = load_split(cfg.data.dir, Split::kTest, binarize, /*for_training=*/false);
  check_image_size(cfg, train_set, "train");
  check_image_size(cfg, test_set, "test");
  check_labels(cfg.model, train_set, cfg.data.dir, Split::kTrain);
  check_labels(cfg.model, test_set, cfg.data.dir, Split::kTest);

  const fs::path run_dir(cfg.train.out_dir);
  const fs::path ckpt_dir = run_dir / "checkpoints";
  const fs::path last = ckpt_dir / "last.pt";
  const fs::path metrics_path = run_dir / "metrics.jsonl";
  // Train and test loss per epoch, redrawn with the epoch images.
  const std::string loss_plot_path = (run_dir / "loss.png").string();
  const std::string loss_title = (is_variational(cfg.model) ? std::string("VAE") : cfg.model.kind) + " " +
                                 describe_layers(cfg.model) + ": loss per epoch";
  const bool resuming = !options.resume.empty();
  std::error_code ec;
  bool has_checkpoints = false;
  for (const auto& entry : fs::directory_iterator(ckpt_dir, ec))
    has_checkpoints |= entry.path().extension() == ".pt";
  if (!resuming && has_checkpoints) {
    if (!options.force)
      throw IoError(run_dir.string() +
                    ": already holds a run (checkpoints/); resume it with --resume, choose "
                    "another --out-dir, or pass --force to start it over");
    // A new run must not leave the old run's checkpoints for a later resume.
    for (const char* sub : {"checkpoints", "images"}) fs::remove_all(run_dir / sub, ec);
    fs::remove(run_dir / "samples.png", ec);
    fs::remove(run_dir / "loss.png", ec);
    spdlog::warn("--force: removed the previous run's checkpoints in {}", run_dir.string());
  }

  VAE model{nullptr};
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  TrainingState st;
  if (resuming) {
    model = loaded.model;
    model->train();
    // Options (the learning rate) come from cfg; the moments from the file.
    optimizer = make_optimizer(cfg.train, model);
    load_optimizer_state(options.resume, *optimizer, device);
    st = loaded.meta.state;
    if (st.rng_cpu.defined()) set_generator_state(c10::DeviceType::CPU, st.rng_cpu);
    if (device.is_cuda() && st.rng_cuda.defined()) set_generator_state(c10::DeviceType::CUDA, st.rng_cuda);
    spdlog::info("resuming {} at epoch {} batch {} (step {})", options.resume, st.epoch + 1,
                 st.batch, st.step);
  } else {
    torch::manual_seed(cfg.train.seed);
    model = VAE(cfg.model);
    model->to(device);
    optimizer = make_optimizer(cfg.train, model);
  }
  make_dirs(ckpt_dir.string());
  write_file_atomic((run_dir / "config.toml").string(), to_toml(cfg));
  // metrics.jsonl restarts from the checkpoint's history, so lines of epochs
  // the checkpoint does not cover (a crash after them) are dropped.
  write_file_atomic(metrics_path.string(), st.history);

  spdlog::info("{}", runtime_summary(device));
  log_config_table(cfg, train_set, test_set);

  // The whole data set lives on the device as bytes; batches are gathered
  // with index_select and converted to float per batch.
  const torch::Tensor train_images = train_set.images.to(device);
  const torch::Tensor test_images = test_set.images.to(device);
  // A conditional model's labels, on the device; undefined otherwise.
  const torch::Tensor train_labels = cfg.model.conditional ? train_set.labels.to(device) : torch::Tensor();
  const torch::Tensor test_labels = cfg.model.conditional ? test_set.labels.to(device) : torch::Tensor();
  const int64_t n = train_set.size();
  const int64_t batches = (n + cfg.train.batch_size - 1) / cfg.train.batch_size;

  // Sample grids: 8 x 8 draws of z; a conditional model's have one column
  // per class (column c shows label c), 8 rows.
  const int64_t sample_columns = cfg.model.conditional ? cfg.model.classes : 8;
  const int64_t sample_count = cfg.model.conditional ? 8 * cfg.model.classes : kSampleGridCount;

  TrainResult result;
  result.checkpoint = last.string();
  // The step of the newest checkpoint on disk, for messages; -1: none yet.
  int64_t saved_step = resuming ? st.step : -1;
  auto save = [&](const fs::path& path) {
    saved_step = st.step;
    st.rng_cpu = generator_state(c10::DeviceType::CPU);
    if (device.is_cuda()) st.rng_cuda = generator_state(c10::DeviceType::CUDA);
    save_checkpoint(path.string(), model, *optimizer, {cfg, st});
  };

  // The hand-written step where it applies (vae/fused_step.hpp), else autograd.
  std::unique_ptr<FusedStep> fused;
  if (FusedStep::applies(cfg, device)) fused = std::make_unique<FusedStep>(model, cfg.train.batch_size);
  spdlog::info("{:<22} {}", "training step",
               fused ? "fused (hand-written forward and backward)" : "autograd");

  int64_t batches_run = 0;  // this invocation's batches, for options.poison_batch
  auto last_checkpoint_note = [&] {
    return saved_step < 0 ? std::string("no checkpoint was written")
                          : "the last checkpoint (step " + std::to_string(saved_step) +
                                ") was left as it was";
  };

  auto stopped = [&](int sig, int64_t epoch, int64_t batch) {
    spdlog::warn("stopped by signal {} at epoch {} batch {}/{} (step {}); checkpoint {}; "
                 "continue with: vae-train --resume {}",
                 sig, epoch, batch, batches, st.step, last.string(), run_dir.string());
    result.stopped_by = sig;
    return result;
  };

  for (int64_t epoch = st.epoch + 1; epoch <= cfg.train.epochs; ++epoch) {
    model->train();
    const auto t0 = Clock::now();
    auto next_report = t0;
    const torch::Tensor order = epoch_permutation(n, cfg.train.seed, epoch - 1).to(device);
    const int64_t first_batch = st.batch;  // > 0 only when resuming mid-epoch
    for (int64_t b = first_batch; b < batches; ++b) {
      const int64_t start = b * cfg.train.batch_size;
      const int64_t len = std::min(cfg.train.batch_size, n - start);
      const torch::Tensor idx = order.narrow(0, start, len);
      const torch::Tensor x = binarize_batch(to_unit_float(train_images.index_select(0, idx)), binarize);
      const torch::Tensor y = train_labels.defined() ? train_labels.index_select(0, idx) : train_labels;
      const double w = kl_weight(cfg.loss, epoch, b, batches);
      torch::Tensor loss;
      double loss_value = 0;
      if (fused) {  // writes the gradients itself
        loss_value = fused->run(x, w);
      } else {
        clear_gradients(*optimizer);
        // denoising_ae sees a corrupted input and is scored against x itself.
        const VAEOutput out =
            model->forward(denoising ? corrupt(x, cfg.data.noise, cfg.data.noise_level) : x, y);
        const LossTerms terms = model_loss(cfg, out.logits, x, out.mu, out.log_var);
        loss = w == 1.0 ? terms.total() : terms.recon + w * terms.kl;
        if (terms.penalty.defined()) loss = loss + terms.penalty;
        loss_value = loss.item<double>();
      }
      ++batches_run;
      if (options.poison_batch && options.poison_batch(batches_run))
        loss_value = std::numeric_limits<double>::quiet_NaN();
      bool finite = std::isfinite(loss_value);
      if (finite) {
        if (!fused) loss.backward();
        finite = gradients_finite(model);
      }
      st.batch = b + 1;
      if (finite) {
        optimizer->step();
        ++st.step;
        st.loss_sum += loss_value;
        st.seen += len;
      } else if (cfg.train.nonfinite == "skip") {
        ++st.skipped;
        spdlog::warn("non-finite {} at epoch {} batch {}: batch skipped",
                     std::isfinite(loss_value) ? "gradient" : "loss", epoch, b + 1);
      } else {
        throw DivergedError("training diverged: non-finite " +
                            std::string(std::isfinite(loss_value) ? "gradient" : "loss") +
                            " at step " + std::to_string(st.step + 1) + " (epoch " +
                            std::to_string(epoch) + ", batch " + std::to_string(b + 1) + "); " +
                            last_checkpoint_note() +
                            ". Try a smaller train.lr, or train.nonfinite = \"skip\"");
      }
      const double elapsed = st.seconds + seconds_since(t0);
      if (options.on_progress && (Clock::now() >= next_report || b + 1 == batches)) {
        next_report = Clock::now() + std::chrono::milliseconds(250);
        const double mean = st.seen > 0 ? st.loss_sum / static_cast<double>(st.seen) : 0.0;
        options.on_progress({epoch, cfg.train.epochs, b + 1, batches, mean, elapsed});
      }
      // A stop at an epoch's last batch is taken after the epoch's own checkpoint.
      if (options.stop_requested && b + 1 < batches) {
        if (const int sig = options.stop_requested()) {
          st.seconds = elapsed;
          save(last);
          return stopped(sig, epoch, b + 1);
        }
      }
    }
    EpochMetrics m;
    m.epoch = epoch;
    m.step = st.step;
    m.skipped = st.skipped;
    m.train_loss = st.seen > 0 ? st.loss_sum / static_cast<double>(st.seen)
                               : std::numeric_limits<double>::quiet_NaN();
    m.seconds = st.seconds + seconds_since(t0);
    const auto te = Clock::now();
    m.test = evaluate(model, test_images, std::max<int64_t>(cfg.train.batch_size, 1000),
                      cfg.train.seed ^ kEvalSeedSalt, cfg.data, test_labels);
    m.eval_seconds = seconds_since(te);
    if (st.seen == 0 || !std::isfinite(m.test.loss))
      throw DivergedError("training diverged: " +
                          std::string(st.seen == 0 ? "every batch of epoch " + std::to_string(epoch) +
                                                         " was non-finite"
                                                   : "the test loss of epoch " + std::to_string(epoch) +
                                                         " is not finite") +
                          "; " + last_checkpoint_note() + ". Try a smaller train.lr");

    st.epoch = epoch;
    st.batch = 0;
    st.loss_sum = 0;
    st.seen = 0;
    st.skipped = 0;
    st.seconds = 0;
    st.history += metrics_json(m) + "\n";
    const bool best = m.test.loss < st.best_test_loss;
    if (best) st.best_test_loss = m.test.loss;
    save(last);
    if (cfg.train.keep_best && best) save(ckpt_dir / "best.pt");
    if (cfg.train.keep_every > 0 && epoch % cfg.train.keep_every == 0) save(ckpt_dir / ("epoch-" + epoch_tag(epoch) + ".pt"));
    write_file_atomic(metrics_path.string(), st.history);
    if (cfg.train.image_every > 0 && epoch % cfg.train.image_every == 0) {
      make_dirs((run_dir / "images").string());
      const std::string tag = epoch_tag(epoch);
      const int64_t shown = std::min<int64_t>(kReconCount, test_set.size());
      write_png_gray((run_dir / "images" / ("recon-" + tag + ".png")).string(),
                     reconstruction_grid(model, test_set.images.narrow(0, 0, shown), 8, device,
                                         test_set.labels.narrow(0, 0, shown)));
      if (variational)
        write_png_gray((run_dir / "images" / ("samples-" + tag + ".png")).string(),
                       make_grid(sample_images(model, sample_count, cfg.train.seed, device), sample_columns));
      plot::loss_plot(loss_plot_path, st.history, loss_title);
    }
    const double w_end = kl_weight(cfg.loss, epoch, batches, batches);
    spdlog::info("epoch {:>3}/{}  train {:8.3f}  test {:8.3f} (recon {:8.3f} + kl {:7.3f})  {:6.2f} s{}{}",
                 epoch, cfg.train.epochs, m.train_loss, m.test.loss, m.test.recon, m.test.kl,
                 m.seconds, m.skipped ? "  skipped " + std::to_string(m.skipped) : "",
                 !variational             ? fmt::format("  mean |code| {:.4f}", m.test.code_abs)
                 : w_end != 1.0           ? fmt::format("  kl weight {:.3g}", w_end)
                                          : std::string());
    result.history.push_back(m);
    if (options.stop_requested && epoch < cfg.train.epochs) {
      if (const int sig = options.stop_requested()) return stopped(sig, epoch + 1, 0);
    }
  }

  if (!fs::exists(last, ec)) save(last);  // epochs = 0: the initial model
  if (variational) {  // the autoencoders have no prior to sample from
    result.samples = (run_dir / "samples.png").string();
    const torch::Tensor samples = sample_images(model, sample_count, cfg.train.seed, device);
    write_png_gray(result.samples, make_grid(samples, sample_columns));
  }
  if (cfg.train.image_every > 0 && !st.history.empty()) plot::loss_plot(loss_plot_path, st.history, loss_title);
  spdlog::info("checkpoint {}", result.checkpoint);
  if (!result.samples.empty()) spdlog::info("samples    {}", result.samples);
  spdlog::info("metrics    {}", metrics_path.string());
  if (cfg.train.image_every > 0 && !st.history.empty()) spdlog::info("loss plot  {}", loss_plot_path);
  return result;
}

}  // namespace vae
