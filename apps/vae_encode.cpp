// vae-encode: write the latent means of a data split as CSV or .npy, and
// plot them.
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <utility>

#include "cli.hpp"
#include "model_and_data.hpp"
#include "vae/export.hpp"
#include "vae/inference.hpp"
#include "vae/latent_plot.hpp"
#include "vae/io.hpp"
#include "vae/runtime.hpp"

int main(int argc, char** argv) {
  vae::cli::setup_logging();
  CLI::App app{"Encode images with a trained VAE: one row of latent means per image.", "vae-encode"};
  vae::cli::add_version_flag(app);
  std::string checkpoint, out, data_dir, split = "test", device = "auto";
  int64_t batch_size = 1000;
  app.add_option("--checkpoint", checkpoint, "checkpoint file (run/checkpoints/last.pt)")->required();
  std::string plot, indices;
  app.add_option("--out", out,
                 "FILE.csv (index,label,mu_0,...; index,path,label,mu_0,... for image folders) or FILE.npy "
                 "(float32 [N, Z], labels in FILE_labels.npy)");
  app.add_option("--plot", plot,
                 "FILE.png: scatter plot of the means coloured by label (Z > 2: first two principal components)");
  app.add_option("--indices", indices,
                 "FILE.npy: a VQ-VAE's codebook index at each position of each code (int64 [N, h, w] for conv, "
                 "[N, positions] for mlp)");
  app.add_option("--data-dir", data_dir, "data folder (default: the checkpoint's data.dir)");
  app.add_option("--split", split, "train, valid (a validation split), test, or all (train then test)")
      ->capture_default_str()
      ->check(CLI::IsMember({"train", "valid", "test", "all"}));
  app.add_option("--batch-size", batch_size, "images per forward pass")->capture_default_str()->check(CLI::Range(1, 1 << 20));
  app.add_option("--device", device, "auto, cpu or cuda")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (out.empty() && plot.empty() && indices.empty()) {
    std::fprintf(stderr, "vae-encode: nothing to write: give --out FILE.csv|FILE.npy, --plot FILE.png, --indices "
                         "FILE.npy (a VQ-VAE), or several\n");
    return 2;
  }

  vae::tune_allocator();
  return vae::cli::run_guarded([&] {
    if (!out.empty()) vae::cli::require_extension(out, {".csv", ".npy"}, "--out");
    if (!plot.empty()) vae::cli::require_extension(plot, {".png"}, "--plot");
    if (!indices.empty()) vae::cli::require_extension(indices, {".npy"}, "--indices");
    auto [dev, m, dir, data] = vae::cli::load_model_and_split(checkpoint, data_dir, split, device);
    if (!indices.empty() && !m.model->codebook().defined())
      throw std::invalid_argument("--indices: " + checkpoint + " is a " + vae::name(m.meta.config.model.kind) +
                                  " model, which has no codebook (only model.kind = vq_vae does); --out writes its codes");
    const std::string labels_out = vae::ends_with(out, ".npy") ? out.substr(0, out.size() - 4) + "_labels.npy" : "";
    for (const auto& [path, flag] :
         {std::pair{out, "--out"}, {labels_out, "--out (its labels)"}, {plot, "--plot"}, {indices, "--indices"}})
      if (!path.empty()) vae::cli::refuse_to_overwrite(path, checkpoint, dir, flag);
    const auto t0 = std::chrono::steady_clock::now();
    const torch::Tensor mu = vae::encode_means(m.model, data, batch_size, dev);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    spdlog::info("encoded {} {} images from {} in {:.3f} s", data.size(), split, dir, secs);
    if (vae::ends_with(out, ".npy")) {
      vae::write_npy(out, mu);
      vae::write_npy(labels_out, data.labels);
    } else if (!out.empty()) {
      vae::write_latent_csv(out, mu, data.labels, data.paths);
    }
    if (!out.empty()) spdlog::info("wrote {}", out);
    if (!indices.empty()) {
      const torch::Tensor idx = vae::encode_indices(m.model, data, batch_size, dev);
      vae::write_npy(indices, idx);
      spdlog::info("wrote the codebook indices {} to {}", vae::shape_text(idx.size(0), idx.size(1)) +
                   (idx.dim() == 3 ? "x" + std::to_string(idx.size(2)) : ""), indices);
    }
    if (!plot.empty()) {
      vae::write_latent_plot(plot, mu, data.labels,
                             split == "all" ? "Latent means of all " + std::to_string(data.size()) + " images"
                                            : "Latent means of the " + std::to_string(data.size()) + " " + split +
                                                  " images");
      spdlog::info("wrote {}", plot);
    }
    return 0;
  });
}
