// vae-encode: write the latent means of a data split as CSV.
#include <spdlog/spdlog.h>

#include <chrono>

#include "cli.hpp"
#include "model_and_data.hpp"
#include "vae/inference.hpp"
#include "vae/io.hpp"
#include "vae/runtime.hpp"

int main(int argc, char** argv) {
  vae::cli::setup_logging();
  CLI::App app{"Encode images with a trained VAE: one row of latent means per image.", "vae-encode"};
  vae::cli::add_version_flag(app);
  std::string checkpoint, out, data_dir, split = "test", device = "auto";
  int64_t batch_size = 1000;
  app.add_option("--checkpoint", checkpoint, "checkpoint file (run/checkpoints/last.pt)")->required();
  app.add_option("--out", out,
                 "FILE.csv (index,label,mu_0,...) or FILE.npy (float32 [N, Z], labels in FILE_labels.npy)")
      ->required();
  app.add_option("--data-dir", data_dir, "folder with the IDX files (default: the checkpoint's data.dir)");
  app.add_option("--split", split, "train or test")->capture_default_str()->check(CLI::IsMember({"train", "test"}));
  app.add_option("--batch-size", batch_size, "images per forward pass")->capture_default_str()->check(CLI::Range(1, 1 << 20));
  app.add_option("--device", device, "auto, cpu or cuda")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  return vae::cli::run_guarded([&] {
    auto [dev, m, dir, data] = vae::cli::load_model_and_split(checkpoint, data_dir, split, device);
    const auto t0 = std::chrono::steady_clock::now();
    const torch::Tensor mu = vae::encode_means(m.model, data, batch_size, dev);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (vae::ends_with(out, ".npy")) {
      vae::write_npy(out, mu);
      vae::write_npy(out.substr(0, out.size() - 4) + "_labels.npy", data.labels);
    } else {
      vae::write_latent_csv(out, mu, data.labels);
    }
    spdlog::info("encoded {} {} images from {} in {:.3f} s; wrote {}", data.size(), split, dir, secs, out);
    return 0;
  });
}
