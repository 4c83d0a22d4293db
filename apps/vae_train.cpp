// vae-train: train a model from a TOML config; flags override the file.
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <csignal>
#include <ctime>
#include <cstdio>

#include "cli.hpp"
#include "config_flags.hpp"
#include "vae/distributed.hpp"
#include "vae/runtime.hpp"
#include "vae/trainer.hpp"

namespace {

volatile std::sig_atomic_t g_stop_signal = 0;
volatile std::sig_atomic_t g_launched = 0;  // under torchrun or another launcher
volatile std::sig_atomic_t g_first_signal_at = 0;  // seconds (CLOCK_MONOTONIC)

long monotonic_seconds() {
  timespec t{};
  ::clock_gettime(CLOCK_MONOTONIC, &t);  // async-signal-safe
  return static_cast<long>(t.tv_sec);
}

// First SIGINT/SIGTERM/SIGHUP: finish the step, checkpoint, exit 128+signal.
// Second: exit at once (the last checkpoint on disk is complete either way).
// Under a launcher a second signal within 2 s is the launcher passing the
// first one on (Ctrl-C reaches every process of the terminal's group, and
// torchrun then forwards it to its workers), and is ignored.
extern "C" void on_stop_signal(int sig) {
  if (g_stop_signal != 0) {
    if (g_launched && monotonic_seconds() - g_first_signal_at < 2) return;
    ::_exit(128 + sig);
  }
  g_first_signal_at = static_cast<std::sig_atomic_t>(monotonic_seconds());
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
  CLI::App app{"Train a variational autoencoder (or a plain, sparse or denoising one) on MNIST-format data.",
               "vae-train"};
  vae::cli::add_version_flag(app);
  vae::TrainRequest request;
  app.add_option("--config", request.config_path, "TOML config file (see configs/); defaults apply without it");
  app.add_option("--resume", request.resume,
                 "continue a run: its folder (newest complete checkpoint) or a checkpoint file");
  vae::cli::add_config_flags(app, request.overrides);
  app.add_flag("--force", request.force, "overwrite a run folder that already holds a run");
  app.add_flag("--auto-resume", request.auto_resume,
               "continue the run folder's checkpoint when it holds one, else start a new run (the same command "
               "for a first start and every restart, e.g. under torchrun --max_restarts)");
  CLI11_PARSE(app, argc, argv);

  vae::tune_allocator();
  return vae::cli::run_guarded([&] {
    // Under torchrun (or any launcher setting RANK, WORLD_SIZE, ...): join
    // the other processes first; rank 0 then reads the run folder for all.
    const vae::DistEnv env = vae::dist_env_from_environment();
    g_launched = env.launched ? 1 : 0;
    std::shared_ptr<vae::ProcessGroup> group;
    if (env.launched && env.world_size > 1) {
      if (env.rank > 0) vae::cli::log_as_rank(env.rank);
      vae::Config asked;  // the backend and timeout come from the config; its errors are reported to all ranks
      try {
        asked = vae::requested_config(request, !request.resume.empty());
      } catch (const std::exception&) {
      }
      group = std::make_shared<vae::ProcessGroup>(env, asked.train.dist_backend, asked.train.dist_timeout);
    }
    auto [cfg, options] = group ? vae::prepare_training(request, group) : vae::prepare_training(request);
    if (!group || group->rank() == 0) options.on_progress = show_progress;
    options.stop_requested = [] { return static_cast<int>(g_stop_signal); };
    std::signal(SIGINT, on_stop_signal);
    std::signal(SIGTERM, on_stop_signal);
    std::signal(SIGHUP, on_stop_signal);  // a closed terminal or SSH session: checkpoint, exit 129
    std::signal(SIGPIPE, SIG_IGN);        // a closed log pipe fails the log's writes, not the run
    const vae::TrainResult r = vae::train(cfg, options);
    return r.stopped_by != 0 ? 128 + r.stopped_by : 0;
  });
}
