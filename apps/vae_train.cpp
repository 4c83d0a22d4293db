// vae-train: train a VAE from a TOML config; flags override the file.
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <optional>

#include "cli.hpp"
#include "vae/runtime.hpp"
#include "vae/checkpoint.hpp"
#include "vae/config.hpp"
#include "vae/trainer.hpp"

namespace {

volatile std::sig_atomic_t g_stop_signal = 0;

// First SIGINT/SIGTERM: finish the step, checkpoint, exit 128+signal.
// Second: exit at once (the last checkpoint on disk is complete either way).
extern "C" void on_stop_signal(int sig) {
  if (g_stop_signal != 0) ::_exit(128 + sig);
  g_stop_signal = sig;
  static const char kMsg[] = "\nvae-train: stopping after this step (signal again to quit at once)\n";
  [[maybe_unused]] const auto n = ::write(STDERR_FILENO, kMsg, sizeof kMsg - 1);
}

// A bar redrawn in place on a terminal; a log line per quarter epoch otherwise.
void show_progress(const vae::Progress& p) {
  static const bool tty = ::isatty(STDERR_FILENO);
  if (tty) {
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(kWidth * p.batch / p.batches);
    std::fprintf(stderr, "\repoch %lld/%lld [%-*s] %lld/%lld  loss %.3f  %.1f s", (long long)p.epoch,
                 (long long)p.epochs, kWidth, std::string(filled, '#').c_str(), (long long)p.batch,
                 (long long)p.batches, p.mean_loss, p.seconds);
    if (p.batch == p.batches) std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
    return;
  }
  static int64_t last_quarter = 0;
  const int64_t quarter = 4 * p.batch / p.batches;
  if (p.batch == 1) last_quarter = 0;
  if (quarter > last_quarter && p.batch < p.batches) {
    spdlog::info("epoch {}/{}  {:>3}%  batch {}/{}  loss {:.3f}", p.epoch, p.epochs,
                 100 * p.batch / p.batches, p.batch, p.batches, p.mean_loss);
  }
  last_quarter = quarter;
}

}  // namespace

int main(int argc, char** argv) {
  vae::cli::setup_logging();
  CLI::App app{"Train a variational autoencoder on MNIST-format data.", "vae-train"};
  vae::cli::add_version_flag(app);
  std::string config_path;
  std::optional<std::string> data_dir, out_dir, device, optimizer, binarize;
  std::optional<int64_t> epochs, batch_size, threads, blas_threads;
  std::optional<uint64_t> seed;
  std::optional<double> lr, beta;
  bool force = false;
  std::string resume;
  app.add_option("--config", config_path, "TOML config file (see configs/); defaults apply without it");
  app.add_option("--resume", resume,
                 "continue a run: its folder (newest complete checkpoint) or a checkpoint file");
  app.add_option("--data-dir", data_dir, "folder with the four IDX files (overrides data.dir)");
  app.add_option("--binarize", binarize, "none, static or dynamic (overrides data.binarize)");
  app.add_option("--out-dir", out_dir, "run folder (overrides train.out_dir)");
  app.add_option("--epochs", epochs, "overrides train.epochs");
  app.add_option("--device", device, "auto, cpu or cuda (overrides train.device)");
  app.add_option("--seed", seed, "overrides train.seed");
  app.add_option("--batch-size", batch_size, "overrides train.batch_size");
  app.add_option("--lr", lr, "overrides train.lr");
  app.add_option("--beta", beta, "weight of the KL term (overrides loss.beta)");
  app.add_option("--optimizer", optimizer, "adam or rmsprop (overrides train.optimizer)");
  app.add_option("--threads", threads, "LibTorch intra-op threads, 0 = LibTorch's default");
  app.add_option("--blas-threads", blas_threads, "OpenBLAS threads, 0 = OpenBLAS's default (overrides train.blas_threads)");
  app.add_flag("--force", force, "overwrite a run folder that already holds a run");
  CLI11_PARSE(app, argc, argv);

  vae::tune_allocator();
  return vae::cli::run_guarded([&] {
    vae::TrainOptions options;
    vae::Config cfg;
    if (!resume.empty()) {
      // The checkpoint's config is the base; --config and flags may change
      // training settings (train() refuses model changes, naming the field).
      options.resume = vae::resume_checkpoint_path(resume);
      cfg = config_path.empty() ? vae::load_model(options.resume, torch::kCPU).meta.config
                                : vae::load_config_file(config_path);
      cfg.train.out_dir = vae::run_dir_of(options.resume);
      if (out_dir) throw vae::ConfigError("--out-dir cannot be combined with --resume");
    } else if (!config_path.empty()) {
      cfg = vae::load_config_file(config_path);
    }
    if (data_dir) cfg.data.dir = *data_dir;
    if (out_dir) cfg.train.out_dir = *out_dir;
    if (binarize) cfg.data.binarize = *binarize;
    if (epochs) cfg.train.epochs = *epochs;
    if (device) cfg.train.device = *device;
    if (seed) cfg.train.seed = *seed;
    if (batch_size) cfg.train.batch_size = *batch_size;
    if (lr) cfg.train.lr = *lr;
    if (beta) cfg.loss.beta = *beta;
    if (optimizer) cfg.train.optimizer = *optimizer;
    if (threads) cfg.train.threads = *threads;
    if (blas_threads) cfg.train.blas_threads = *blas_threads;
    vae::validate(cfg);
    options.force = force;
    options.on_progress = show_progress;
    options.stop_requested = [] { return static_cast<int>(g_stop_signal); };
    std::signal(SIGINT, on_stop_signal);
    std::signal(SIGTERM, on_stop_signal);
    const vae::TrainResult r = vae::train(cfg, options);
    return r.stopped_by != 0 ? 128 + r.stopped_by : 0;
  });
}
