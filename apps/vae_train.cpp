// vae-train: train a VAE from a TOML config; flags override the file.
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cstdio>
#include <optional>

#include "cli.hpp"
#include "vae/config.hpp"
#include "vae/trainer.hpp"

namespace {

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
  std::optional<std::string> data_dir, out_dir, device, optimizer;
  std::optional<int64_t> epochs, batch_size, threads;
  std::optional<uint64_t> seed;
  std::optional<double> lr;
  bool force = false;
  app.add_option("--config", config_path, "TOML config file (see configs/); defaults apply without it");
  app.add_option("--data-dir", data_dir, "folder with the four IDX files (overrides data.dir)");
  app.add_option("--out-dir", out_dir, "run folder (overrides train.out_dir)");
  app.add_option("--epochs", epochs, "overrides train.epochs");
  app.add_option("--device", device, "auto, cpu or cuda (overrides train.device)");
  app.add_option("--seed", seed, "overrides train.seed");
  app.add_option("--batch-size", batch_size, "overrides train.batch_size");
  app.add_option("--lr", lr, "overrides train.lr");
  app.add_option("--optimizer", optimizer, "adam or rmsprop (overrides train.optimizer)");
  app.add_option("--threads", threads, "LibTorch intra-op threads, 0 = LibTorch's default");
  app.add_flag("--force", force, "overwrite a run folder that already holds a run");
  CLI11_PARSE(app, argc, argv);

  return vae::cli::run_guarded([&] {
    vae::Config cfg = config_path.empty() ? vae::Config{} : vae::load_config_file(config_path);
    if (data_dir) cfg.data.dir = *data_dir;
    if (out_dir) cfg.train.out_dir = *out_dir;
    if (epochs) cfg.train.epochs = *epochs;
    if (device) cfg.train.device = *device;
    if (seed) cfg.train.seed = *seed;
    if (batch_size) cfg.train.batch_size = *batch_size;
    if (lr) cfg.train.lr = *lr;
    if (optimizer) cfg.train.optimizer = *optimizer;
    if (threads) cfg.train.threads = *threads;
    vae::validate(cfg);
    vae::TrainOptions options;
    options.force = force;
    options.on_progress = show_progress;
    vae::train(cfg, options);
    return 0;
  });
}
