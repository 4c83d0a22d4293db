// vae-eval: negative ELBO, importance-weighted NLL and active units of a
// checkpoint on a data split, printed and written as JSON.
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <stdexcept>

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
    if (!vae::is_variational(m.meta.config.model))
      throw std::invalid_argument(checkpoint + ": model.kind = " + m.meta.config.model.kind +
                                  " has no ELBO or likelihood to evaluate (only model.kind = vae has); "
                                  "its test reconstruction error is in the run's metrics.jsonl");
    const auto t0 = std::chrono::steady_clock::now();
    const vae::Evaluation e = vae::evaluate_model(m.model, data.images.to(dev), opt);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    nlohmann::ordered_json j = {
        {"checkpoint", checkpoint}, {"data_dir", dir},       {"split", split},
        {"images", e.images},       {"likelihood", m.meta.config.model.likelihood},
        {"neg_elbo", e.neg_elbo},   {"recon", e.recon},      {"kl", e.kl},
        {"iw_samples", e.iw_samples}, {"nll_iw", nullptr},   {"active_units", e.active_units},
        {"latent", e.latent},       {"seconds", secs}};
    if (std::isfinite(e.nll_iw)) j["nll_iw"] = e.nll_iw;
    const std::string json = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    std::fputs(json.c_str(), stdout);
    if (!out.empty()) vae::write_file_atomic(out, json);
    spdlog::info("{} {} images: -ELBO {:.3f} (recon {:.3f} + kl {:.3f}), IW NLL (K={}) {:.3f}, active units {}/{}, {:.1f} s",
                 split, e.images, e.neg_elbo, e.recon, e.kl, e.iw_samples, e.nll_iw, e.active_units, e.latent, secs);
    return 0;
  });
}
