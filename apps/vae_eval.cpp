// vae-eval: negative ELBO, importance-weighted NLL and active units of a
// checkpoint on a data split, and the reconstruction error of clean and
// noisy inputs (every model kind), printed and written as JSON.
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "cli.hpp"
#include "model_and_data.hpp"
#include "vae/evaluate.hpp"
#include "vae/inference.hpp"
#include "vae/objective.hpp"
#include "vae/io.hpp"
#include "vae/runtime.hpp"

namespace {

struct Where {
  std::string checkpoint, data_dir, split, out;
};

// Prints the evaluation as one JSON line (and writes it to --out), then
// logs it; null where a kind has no such number (no prior) or K = 0.
void report(const vae::Evaluation& e, const vae::ModelConfig& mc, const vae::EvalOptions& opt, const Where& w,
            double secs) {
  nlohmann::ordered_json j = {
      {"checkpoint", w.checkpoint}, {"data_dir", w.data_dir}, {"split", w.split},
      {"images", e.images},       {"likelihood", vae::name(mc.likelihood)},
      {"kind", vae::name(mc.kind)}, {"seed", opt.seed},          {"neg_elbo", nullptr},   {"recon", nullptr},      {"kl", nullptr},
      {"iw_samples", e.iw_samples}, {"nll_iw", nullptr},   {"active_units", e.active_units},
      {"latent", e.latent},       {"code_recon", e.code_recon}, {"noise", vae::name(opt.noise)},
      {"noise_level", opt.noise_level}, {"noisy_recon", e.noisy_recon}, {"seconds", secs}};
  const bool variational = vae::make_objective(mc)->has_elbo();
  if (variational) j["neg_elbo"] = e.loss;
  if (variational) j["recon"] = e.recon;
  if (variational) j["kl"] = e.kl;
  if (std::isfinite(e.nll_iw)) j["nll_iw"] = e.nll_iw;
  if (std::isfinite(e.perplexity)) {  // a codebook's use
    j["codebook_size"] = mc.codebook_size;
    j["perplexity"] = e.perplexity;
    j["dead_codes"] = static_cast<int64_t>(e.dead_codes);
  }
  const std::string json = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  std::fputs(json.c_str(), stdout);
  if (!w.out.empty()) vae::write_file_atomic(w.out, json);
  if (variational)
    spdlog::info("{} {} images: -ELBO {:.3f} (recon {:.3f} + kl {:.3f}), IW NLL (K={}) {:.3f}, active units {}/{}",
                 w.split, e.images, e.loss, e.recon, e.kl, e.iw_samples, e.nll_iw, e.active_units, e.latent);
  if (std::isfinite(e.perplexity))
    spdlog::info("{} {} images: codebook perplexity {:.2f} of {} vectors, {:.0f} never chosen", w.split, e.images,
                 e.perplexity, mc.codebook_size, e.dead_codes);
  spdlog::info("{} {} images: reconstruction from the code {:.3f}; from the code of inputs with {} noise {:g}: {:.3f} "
               "(both against the clean images), {:.1f} s",
               w.split, e.images, e.code_recon, vae::name(opt.noise), opt.noise_level, e.noisy_recon, secs);
}

}  // namespace

int main(int argc, char** argv) {
  vae::cli::setup_logging();
  CLI::App app{"Evaluate a trained model: negative ELBO, importance-weighted NLL, active units (VAEs), and the "
               "reconstruction error of clean and noisy inputs (every kind).", "vae-eval"};
  vae::cli::add_version_flag(app);
  std::string checkpoint, data_dir, split = "test", out, device = "auto", noise;
  int64_t iw_samples = 5000;
  std::optional<uint64_t> seed;
  std::optional<double> noise_level;
  app.add_option("--checkpoint", checkpoint, "checkpoint file (run/checkpoints/last.pt)")->required();
  app.add_option("--data-dir", data_dir, "folder with the IDX files (default: the checkpoint's data.dir)");
  app.add_option("--split", split, "train, valid (a validation split: binarized MNIST's, or data.valid_fraction's) or test")
      ->capture_default_str()
      ->check(CLI::IsMember({"train", "valid", "test"}));
  app.add_option("--iw-samples", iw_samples, "K for the importance-weighted NLL (0: skip it)")
      ->capture_default_str()->check(CLI::Range(int64_t{0}, int64_t{1000000}));
  app.add_option("--seed", seed, "seed of the evaluation's draws (default: the run's train.seed, so the negative "
                                 "ELBO equals the run's last test_loss)")->check(CLI::NonNegativeNumber);
  app.add_option("--noise", noise, "corruption for noisy_recon: gaussian, mask or salt_pepper (default: the checkpoint's data.noise)")
      ->check(CLI::IsMember({"gaussian", "mask", "salt_pepper"}));
  app.add_option("--noise-level", noise_level, "its level (default: the checkpoint's data.noise_level)")
      ->check(CLI::Range(0.0, 10.0));
  app.add_option("--out", out, "also write the results as JSON to this file");
  app.add_option("--device", device, "auto, cpu or cuda")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  vae::tune_allocator();
  return vae::cli::run_guarded([&] {
    if (noise_level && !std::isfinite(*noise_level))
      throw std::invalid_argument("--noise-level must be a finite number, got " + std::to_string(*noise_level));
    auto [dev, m, dir, data] = vae::cli::load_model_and_split(checkpoint, data_dir, split, device);
    if (!out.empty()) vae::cli::refuse_to_overwrite(out, checkpoint, dir, "--out");
    vae::EvalOptions opt = vae::eval_options_for(m.meta.config);
    opt.iw_samples = iw_samples;
    opt.code_errors = true;
    if (seed) opt.seed = *seed;
    if (!noise.empty()) opt.noise = vae::parse_choice<vae::Noise>(noise, "--noise");
    if (noise_level) opt.noise_level = *noise_level;
    if (opt.noise != vae::Noise::kGaussian && opt.noise_level > 1)
      throw std::invalid_argument("--noise-level " + std::to_string(opt.noise_level) + ": " + vae::name(opt.noise) +
                                  " noise takes a fraction in [0, 1]");
    const auto t0 = std::chrono::steady_clock::now();
    opt.on_progress = [t0, next = 0.0](double fraction) mutable {  // a log line every 10 s
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (secs < next || fraction >= 1.0) return;
      next = secs + 10;
      if (secs > 1) spdlog::info("evaluating: {:.1f}% after {:.0f} s, about {:.0f} s left", 100 * fraction, secs,
                                 fraction > 0 ? secs * (1 - fraction) / fraction : 0.0);
    };
    const vae::Evaluation e = vae::evaluate(m.model, data.images.to(dev), data.labels.to(dev), opt);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    report(e, m.meta.config.model, opt, {checkpoint, dir, split, out}, secs);
    return 0;
  });
}
