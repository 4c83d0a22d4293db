// vae-sample: decode draws of z ~ N(0, I) from a checkpoint into a PNG grid.
#include <spdlog/spdlog.h>

#include <cmath>

#include "cli.hpp"
#include "vae/checkpoint.hpp"
#include "vae/image.hpp"
#include "vae/inference.hpp"
#include "vae/runtime.hpp"

int main(int argc, char** argv) {
  vae::cli::setup_logging();
  CLI::App app{"Generate digits from a trained VAE checkpoint.", "vae-sample"};
  vae::cli::add_version_flag(app);
  std::string checkpoint, out, device = "auto";
  int64_t num = 64, columns = 0;
  uint64_t seed = 0;
  app.add_option("--checkpoint", checkpoint, "checkpoint file (run/checkpoints/last.pt)")->required();
  app.add_option("--out", out, "PNG file to write")->required();
  app.add_option("--num", num, "number of digits")->capture_default_str()->check(CLI::Range(1, 10000));
  app.add_option("--seed", seed, "seed for z")->capture_default_str();
  app.add_option("--columns", columns, "grid columns (0: square-ish)")->capture_default_str()->check(CLI::Range(0, 10000));
  app.add_option("--device", device, "auto, cpu or cuda")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  return vae::cli::run_guarded([&] {
    const torch::Device dev = vae::resolve_device(device);
    vae::LoadedModel m = vae::load_model(checkpoint, dev);
    const torch::Tensor images = vae::sample_images(m.model, num, seed, dev);
    const int64_t cols = columns > 0 ? columns : static_cast<int64_t>(std::ceil(std::sqrt(num)));
    vae::write_png_gray(out, vae::make_grid(images, cols));
    spdlog::info("wrote {} samples from {} (epoch {}, {}) to {}", num, checkpoint, m.meta.state.epoch,
                 vae::describe_layers(m.meta.config.model), out);
    return 0;
  });
}
