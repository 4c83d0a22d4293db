// vae-sample: decode draws of z ~ N(0, I), the 2-D latent manifold, or an
// interpolation between two images, from a checkpoint into a PNG grid.
#include <spdlog/spdlog.h>

#include <cmath>
#include <cstdio>

#include "cli.hpp"
#include "vae/checkpoint.hpp"
#include "vae/data.hpp"
#include "vae/image.hpp"
#include "vae/inference.hpp"
#include "vae/runtime.hpp"

int main(int argc, char** argv) {
  vae::cli::setup_logging();
  CLI::App app{"Generate digits from a trained VAE checkpoint.", "vae-sample"};
  vae::cli::add_version_flag(app);
  std::string checkpoint, out, device = "auto", interpolate, data_dir, split = "test";
  int64_t num = 64, columns = 0, grid = 15, steps = 10, label = -1;
  uint64_t seed = 0;
  bool manifold = false;
  app.add_option("--checkpoint", checkpoint, "checkpoint file (run/checkpoints/last.pt)")->required();
  app.add_option("--out", out, "PNG file to write")->required();
  app.add_option("--num", num, "number of digits drawn from the prior")->capture_default_str()->check(CLI::Range(1, 10000));
  app.add_option("--seed", seed, "seed for z")->capture_default_str();
  app.add_option("--label", label,
                 "conditional models: generate class D (default: classes 0, 1, ... in turn, one per column)")
      ->check(CLI::Range(int64_t{0}, int64_t{65535}));
  app.add_option("--columns", columns, "grid columns (0: square-ish)")->capture_default_str()->check(CLI::Range(0, 10000));
  auto* m = app.add_flag("--manifold", manifold, "decode a grid over the Gaussian quantiles of a 2-D latent space");
  app.add_option("--grid", grid, "digits per side of the manifold")->capture_default_str()->check(CLI::Range(2, 100));
  auto* i = app.add_option("--interpolate", interpolate,
                           "I,J: decode the line between the latent means of images I and J");
  app.add_option("--steps", steps, "decoded points of the interpolation")->capture_default_str()->check(CLI::Range(2, 1000));
  app.add_option("--data-dir", data_dir, "images for --interpolate (default: the checkpoint's data.dir)");
  app.add_option("--split", split, "train or test, for --interpolate")->capture_default_str()->check(CLI::IsMember({"train", "test"}));
  app.add_option("--device", device, "auto, cpu or cuda")->capture_default_str();
  m->excludes(i);
  CLI11_PARSE(app, argc, argv);

  vae::tune_allocator();
  return vae::cli::run_guarded([&] {
    const torch::Device dev = vae::resolve_device(device);
    vae::LoadedModel lm = vae::load_model(checkpoint, dev);
    const std::string what = vae::describe_layers(lm.meta.config.model) + ", epoch " +
                             std::to_string(lm.meta.state.epoch);
    const vae::ModelConfig& mc = lm.meta.config.model;
    if (!vae::is_variational(mc) && interpolate.empty())
      throw std::invalid_argument(checkpoint + ": model.kind = " + mc.kind +
                                  " has no prior to sample from (only a VAE's codes follow N(0, I)); "
                                  "--interpolate I,J decodes between two images' codes");
    if (!mc.conditional && label >= 0)
      throw std::invalid_argument(checkpoint + ": --label needs a conditional model (model.conditional = true); "
                                  "this one was trained without labels");
    if (label >= 0 && !interpolate.empty())
      throw std::invalid_argument("--label and --interpolate: an interpolation uses the two images' own labels");
    if (mc.conditional && label >= mc.classes)
      throw std::invalid_argument("--label " + std::to_string(label) + ": " + checkpoint + " knows classes 0.." +
                                  std::to_string(mc.classes - 1));
    if (manifold) {
      if (mc.conditional && label < 0)
        throw std::invalid_argument(checkpoint + ": a conditional model's manifold is drawn for one class; "
                                    "choose it with --label D");
      vae::write_png_gray(out, vae::make_grid(vae::manifold_images(lm.model, grid, dev, label), grid, /*pad=*/0));
      spdlog::info("wrote the {}x{} latent manifold of {} ({}) to {}", grid, grid, checkpoint, what, out);
      return 0;
    }
    if (!interpolate.empty()) {
      long long a = -1, b = -1;
      char tail = 0;
      if (std::sscanf(interpolate.c_str(), "%lld,%lld%c", &a, &b, &tail) != 2 || a < 0 || b < 0)
        throw std::invalid_argument("--interpolate expects two image indices I,J, got '" + interpolate + "'");
      const std::string dir = data_dir.empty() ? lm.meta.config.data.dir : data_dir;
      const vae::Config& cfg = lm.meta.config;
      const vae::Dataset data = vae::load_split(dir, vae::parse_split(split), vae::parse_binarize(cfg.data.binarize),
                                                /*for_training=*/false);
      if (a >= data.size() || b >= data.size())
        throw std::invalid_argument("--interpolate " + interpolate + ": the " + split + " split of " + dir +
                                    " has images 0.." + std::to_string(data.size() - 1));
      vae::check_labels(mc, data, dir, vae::parse_split(split));
      const torch::Tensor row =
          mc.conditional ? vae::interpolation_images(lm.model, data.images[a], data.images[b], steps, dev,
                                                     data.labels[a].item<int64_t>(), data.labels[b].item<int64_t>())
                         : vae::interpolation_images(lm.model, data.images[a], data.images[b], steps, dev);
      vae::write_png_gray(out, vae::make_grid(row, row.size(0)));
      spdlog::info("wrote {} + 2 images from {} image {} to {} ({}) to {}", steps, split, a, b, what, out);
      return 0;
    }
    const torch::Tensor images = vae::sample_images(lm.model, num, seed, dev, label);
    // A conditional model's default grid has one column per class.
    const int64_t cols = columns > 0                      ? columns
                         : mc.conditional && label < 0 ? std::min(num, mc.classes)
                                                       : static_cast<int64_t>(std::ceil(std::sqrt(num)));
    vae::write_png_gray(out, vae::make_grid(images, cols));
    if (mc.conditional)
      spdlog::info("wrote {} samples of {} from {} ({}) to {}", num,
                   label >= 0 ? "class " + std::to_string(label) : "classes 0.." + std::to_string(mc.classes - 1) + " (one per column)",
                   checkpoint, what, out);
    else
      spdlog::info("wrote {} samples from {} ({}) to {}", num, checkpoint, what, out);
    return 0;
  });
}
