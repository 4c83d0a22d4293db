// vae-sample: decode draws of z ~ N(0, I) (or from a Gaussian mixture fitted
// to the training codes: --prior gmm), the 2-D latent manifold, or an
// interpolation between two images, from a checkpoint into a PNG grid.
#include <spdlog/spdlog.h>

#include "cli.hpp"
#include "vae/runtime.hpp"
#include "vae/sample_command.hpp"

int main(int argc, char** argv) {
  vae::cli::setup_logging();
  CLI::App app{"Generate digits from a trained VAE checkpoint.", "vae-sample"};
  vae::cli::add_version_flag(app);
  vae::SampleRequest r;
  std::string device = "auto";
  bool manifold = false;
  std::string prior = "model", covariance = "full";
  app.add_option("--checkpoint", r.checkpoint, "checkpoint file (run/checkpoints/last.pt)")->required();
  app.add_option("--out", r.out, "PNG file to write (a grid); with --num, FILE.npy writes the samples' pixel "
                                 "probabilities as a float32 array instead")->required();
  app.add_option("--num", r.num, "number of digits drawn from the prior")->capture_default_str()->check(CLI::Range(1, 10000));
  app.add_option("--seed", r.seed, "seed for z")->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--label", r.label_name,
                 "conditional models: generate class D, by number or by name (default: classes 0, 1, ... in turn, "
                 "one per column)");
  app.add_option("--columns", r.columns, "grid columns (0: square-ish)")->capture_default_str()->check(CLI::Range(0, 10000));
  auto* m = app.add_flag("--manifold", manifold, "decode a grid over the Gaussian quantiles of a 2-D latent space");
  app.add_option("--grid", r.grid, "digits per side of the manifold")->capture_default_str()->check(CLI::Range(2, 100));
  auto* i = app.add_option("--interpolate", r.pair, "I,J: decode the line between the latent means of images I and J");
  app.add_option("--steps", r.steps, "decoded points of the interpolation")->capture_default_str()->check(CLI::Range(2, 1000));
  app.add_option("--prior", prior,
                 "model: the model's own p(z); gmm: a Gaussian mixture fitted to the codes of the training images "
                 "(any unconditional kind; kept beside the checkpoint and reused); categorical: a VQ-VAE's "
                 "codebook indices from a mixture of per-position categoricals fitted to the training codes (kept the "
                 "same way)")
      ->capture_default_str()->check(CLI::IsMember({"model", "gmm", "categorical"}));
  app.add_option("--components", r.components, "--prior gmm and categorical: mixture components")
      ->capture_default_str()->check(CLI::Range(1, 1000));
  app.add_option("--covariance", covariance, "--prior gmm: full or diag covariances")
      ->capture_default_str()->check(CLI::IsMember({"full", "diag"}));
  app.add_option("--data-dir", r.data_dir,
                 "images for --interpolate and --prior gmm's fit (default: the checkpoint's data.dir)");
  app.add_option("--split", r.split, "train or test, for --interpolate")->capture_default_str()->check(CLI::IsMember({"train", "test"}));
  app.add_option("--device", device, "auto, cpu or cuda")->capture_default_str()->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  m->excludes(i);
  CLI11_PARSE(app, argc, argv);

  vae::tune_allocator();
  return vae::cli::run_guarded([&] {
    r.device = vae::parse_choice<vae::DeviceChoice>(device, "--device");
    r.prior = prior == "gmm"           ? vae::SampleRequest::Prior::kGmm
              : prior == "categorical" ? vae::SampleRequest::Prior::kCategorical
                                       : vae::SampleRequest::Prior::kModel;
    r.covariance = covariance == "diag" ? vae::GmmCovariance::kDiag : vae::GmmCovariance::kFull;
    r.mode = manifold             ? vae::SampleRequest::Mode::kManifold
             : !r.pair.empty()    ? vae::SampleRequest::Mode::kInterpolate
                                  : vae::SampleRequest::Mode::kPrior;
    spdlog::info("{}", vae::run_sample(r));
    return 0;
  });
}
