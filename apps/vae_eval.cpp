// vae-eval: negative ELBO, importance-weighted NLL and active units of a
// checkpoint on a data split, printed and written as JSON.
#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <cstdio>

#include "cli.hpp"
#include "model_and_data.hpp"
#include "vae/evaluate.hpp"
#include "vae/io.hpp"
#include "vae/runtime.hpp"

int main(int argc, char** argv) {
  vae::cli::setup_logging();
  CLI::App app{"Evaluate a trained VAE: negative ELBO, importance-weighted NLL, active units.", "vae-eval"};
  vae::cli::add_version_flag(app);
  std::string checkpoint, data_dir, split = "test", out, device = "auto";
  vae::EvalOptions opt;
  app.add_option("--checkpoint", checkpoint, "checkpoint file (run/checkpoints/last.pt)")->required();
  app.add_option("--data-dir", data_dir, "folder with the IDX files (default: the checkpoint's data.dir)");
  app.add_option("--split", split, "train or test")->capture_default_str()->check(CLI::IsMember({"train", "test"}));
  app.add_option("--iw-samples", opt.iw_samples, "K for the importance-weighted NLL (0: skip it)")
      ->capture_default_str()->check(CLI::Range(int64_t{0}, int64_t{1000000}));
  app.add_option("--seed", opt.seed, "seed for the draws of z")->capture_default_str();
  app.add_option("--out", out, "also write the results as JSON to this file");
  app.add_option("--device", device, "auto, cpu or cuda")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  vae::tune_allocator();
  return vae::cli::run_guarded([&] {
    auto [dev, m, dir, data] = vae::cli::load_model_and_split(checkpoint, data_dir, split, device);
    const auto t0 = std::chrono::steady_clock::now();
    const vae::Evaluation e = vae::evaluate_model(m.model, data.images.to(dev), opt);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    char json[1024];
    std::snprintf(json, sizeof json,
                  "{\"checkpoint\": \"%s\", \"data_dir\": \"%s\", \"split\": \"%s\", \"images\": %lld, "
                  "\"neg_elbo\": %.6f, \"bce\": %.6f, \"kl\": %.6f, \"iw_samples\": %lld, \"nll_iw\": %s, "
                  "\"active_units\": %lld, \"latent\": %lld, \"seconds\": %.3f}\n",
                  checkpoint.c_str(), dir.c_str(), split.c_str(), static_cast<long long>(e.images), e.neg_elbo,
                  e.bce, e.kl, static_cast<long long>(e.iw_samples),
                  std::isfinite(e.nll_iw) ? std::to_string(e.nll_iw).c_str() : "null",
                  static_cast<long long>(e.active_units), static_cast<long long>(e.latent), secs);
    std::fputs(json, stdout);
    if (!out.empty()) vae::write_file_atomic(out, json);
    spdlog::info("{} {} images: -ELBO {:.3f} (bce {:.3f} + kl {:.3f}), IW NLL (K={}) {:.3f}, active units {}/{}, {:.1f} s",
                 split, e.images, e.neg_elbo, e.bce, e.kl, e.iw_samples, e.nll_iw, e.active_units, e.latent, secs);
    return 0;
  });
}
