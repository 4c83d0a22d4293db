// vae-eval: negative ELBO, importance-weighted NLL and active units of a
// checkpoint on a data split, and the reconstruction error of clean and
// noisy inputs (every model kind), printed and written as JSON.
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "cli.hpp"
#include "model_and_data.hpp"
#include "vae/evaluate.hpp"
#include "vae/inference.hpp"
#include "vae/io.hpp"
#include "vae/runtime.hpp"

int main(int argc, char** argv) {
  vae::cli::setup_logging();
  CLI::App app{"Evaluate a trained model: negative ELBO, importance-weighted NLL, active units (VAEs), and the "
               "reconstruction error of clean and noisy inputs (every kind).", "vae-eval"};
  vae::cli::add_version_flag(app);
  std::string checkpoint, data_dir, split = "test", out, device = "auto";
  vae::EvalOptions opt;
  app.add_option("--checkpoint", checkpoint, "checkpoint file (run/checkpoints/last.pt)")->required();
  app.add_option("--data-dir", data_dir, "folder with the IDX files (default: the checkpoint's data.dir)");
  app.add_option("--split", split, "train or test")->capture_default_str()->check(CLI::IsMember({"train", "test"}));
  app.add_option("--iw-samples", opt.iw_samples, "K for the importance-weighted NLL (0: skip it)")
      ->capture_default_str()->check(CLI::Range(int64_t{0}, int64_t{1000000}));
  app.add_option("--seed", opt.seed, "seed for the draws of z")->capture_default_str();
  std::string noise;
  double noise_level = -1;
  app.add_option("--noise", noise, "corruption for noisy_recon: gaussian, mask or salt_pepper (default: the checkpoint's data.noise)")
      ->check(CLI::IsMember({"gaussian", "mask", "salt_pepper"}));
  app.add_option("--noise-level", noise_level, "its level (default: the checkpoint's data.noise_level)")
      ->check(CLI::Range(0.0, 10.0));
  app.add_option("--out", out, "also write the results as JSON to this file");
  app.add_option("--device", device, "auto, cpu or cuda")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  vae::tune_allocator();
  return vae::cli::run_guarded([&] {
    auto [dev, m, dir, data] = vae::cli::load_model_and_split(checkpoint, data_dir, split, device);
    opt.noise = noise.empty() ? m.meta.config.data.noise : noise;
    opt.noise_level = noise_level >= 0 ? noise_level : m.meta.config.data.noise_level;
    if (opt.noise != "gaussian" && opt.noise_level > 1)
      throw std::invalid_argument("--noise-level " + std::to_string(opt.noise_level) + ": " + opt.noise +
                                  " noise takes a fraction in [0, 1]");
    const auto t0 = std::chrono::steady_clock::now();
    const vae::ModelConfig& mc = m.meta.config.model;
    vae::check_labels(mc, data, dir, vae::parse_split(split));
    const vae::Evaluation e = vae::evaluate_model(m.model, data.images.to(dev), opt,
                                                  mc.conditional ? data.labels.to(dev) : torch::Tensor());
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    nlohmann::ordered_json j = {
        {"checkpoint", checkpoint}, {"data_dir", dir},       {"split", split},
        {"images", e.images},       {"likelihood", m.meta.config.model.likelihood},
        {"kind", mc.kind},          {"neg_elbo", nullptr},   {"recon", nullptr},      {"kl", nullptr},
        {"iw_samples", e.iw_samples}, {"nll_iw", nullptr},   {"active_units", e.active_units},
        {"latent", e.latent},       {"code_recon", e.code_recon}, {"noise", opt.noise},
        {"noise_level", opt.noise_level}, {"noisy_recon", e.noisy_recon}, {"seconds", secs}};
    // null where a kind has no such number (no prior) or K = 0.
    if (std::isfinite(e.neg_elbo)) j["neg_elbo"] = e.neg_elbo;
    if (std::isfinite(e.recon)) j["recon"] = e.recon;
    if (std::isfinite(e.kl)) j["kl"] = e.kl;
    if (std::isfinite(e.nll_iw)) j["nll_iw"] = e.nll_iw;
    const std::string json = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    std::fputs(json.c_str(), stdout);
    if (!out.empty()) vae::write_file_atomic(out, json);
    if (vae::is_variational(mc))
      spdlog::info("{} {} images: -ELBO {:.3f} (recon {:.3f} + kl {:.3f}), IW NLL (K={}) {:.3f}, active units {}/{}",
                   split, e.images, e.neg_elbo, e.recon, e.kl, e.iw_samples, e.nll_iw, e.active_units, e.latent);
    spdlog::info("{} {} images: reconstruction from the code {:.3f}; from the code of inputs with {} noise {:g}: {:.3f} "
                 "(both against the clean images), {:.1f} s",
                 split, e.images, e.code_recon, opt.noise, opt.noise_level, e.noisy_recon, secs);
    return 0;
  });
}
