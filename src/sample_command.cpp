#include "vae/sample_command.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "vae/categorical_prior.hpp"
#include "vae/checkpoint.hpp"
#include "vae/data.hpp"
#include "vae/digest.hpp"
#include "vae/export.hpp"
#include "vae/image.hpp"
#include "vae/inference.hpp"
#include "vae/io.hpp"
#include "vae/manifest.hpp"
#include "vae/objective.hpp"
#include "vae/runtime.hpp"

namespace vae {
namespace {

using Mode = SampleRequest::Mode;

// Drawn samples into r.out: a PNG grid of --columns, else `columns`, else
// a square-ish one; or with --out *.npy the pixel probabilities themselves,
// float32 [n, H, W] (or [n, C, H, W]), for measuring them.
void write_samples(const SampleRequest& r, const torch::Tensor& images, int64_t columns = 0) {
  if (ends_with(r.out, ".npy"))
    write_npy(r.out, images.to(torch::kFloat32).contiguous());
  else
    write_png(r.out, make_grid(images, r.columns > 0 ? r.columns
                                       : columns > 0 ? columns
                                                     : static_cast<int64_t>(std::ceil(std::sqrt(r.num)))));
}

// --label as a class number or one of model.class_names.
int64_t resolve_label(const SampleRequest& r, const ModelConfig& mc) {
  if (r.label_name.empty()) return r.label;
  const std::string& t = r.label_name;
  for (size_t i = 0; i < mc.class_names.size(); ++i)
    if (mc.class_names[i] == t) return static_cast<int64_t>(i);
  if (!t.empty() && t.size() < 7 && t.find_first_not_of("0123456789") == std::string::npos) return std::stoll(t);
  const std::string names = join(mc.class_names, ", ");
  throw std::invalid_argument("--label " + t + ": " + r.checkpoint +
                              (names.empty() ? " has no class names; give a class number"
                                             : " has no class of that name; its classes: " + names));
}

void check_request(const SampleRequest& r, const ModelConfig& mc) {
  const bool gmm = r.prior == SampleRequest::Prior::kGmm;
  const bool categorical = r.prior == SampleRequest::Prior::kCategorical;
  const bool quantized = make_objective(mc)->code_head() == CodeHead::kQuantized;
  if ((gmm || categorical) && r.mode != Mode::kPrior)
    throw std::invalid_argument(std::string("--prior ") + (gmm ? "gmm" : "categorical") +
                                " draws samples; it does not combine with --manifold or --interpolate");
  if (categorical && !quantized)
    throw std::invalid_argument(r.checkpoint + ": --prior categorical is fitted to a VQ-VAE's codebook indices; "
                                "model.kind = " + name(mc.kind) + " has none (--prior gmm fits its codes)");
  if (gmm && quantized)
    throw std::invalid_argument(r.checkpoint + ": a VQ-VAE's codes are codebook indices, not points for a Gaussian "
                                "mixture: use --prior categorical");
  if (gmm && mc.conditional)
    throw std::invalid_argument(r.checkpoint + ": --prior gmm fits the codes of an unconditional model; this one is "
                                "conditional (sample it by --label)");
  if (!gmm && !categorical && !make_objective(mc)->has_prior() && r.mode != Mode::kInterpolate)
    throw std::invalid_argument(r.checkpoint + ": model.kind = " + name(mc.kind) +
                                " has no prior to sample from (only a VAE's codes follow N(0, I)); " +
                                (quantized ? "--prior categorical fits one to its codebook indices"
                                           : "--prior gmm fits one to its codes") +
                                ", --interpolate I,J decodes between two images' codes");
  if (!mc.conditional && r.label >= 0)
    throw std::invalid_argument(r.checkpoint + ": --label needs a conditional model (model.conditional = true); "
                                "this one was trained without labels");
  if (r.label >= 0 && r.mode == Mode::kInterpolate)
    throw std::invalid_argument("--label and --interpolate: an interpolation uses the two images' own labels");
  if (mc.conditional && r.label >= mc.classes)
    throw std::invalid_argument("--label " + std::to_string(r.label) + ": " + r.checkpoint + " knows classes 0.." +
                                std::to_string(mc.classes - 1));
  if (r.mode == Mode::kManifold && mc.conditional && r.label < 0)
    throw std::invalid_argument(r.checkpoint + ": a conditional model's manifold is drawn for one class; "
                                "choose it with --label D");
}

std::string interpolate(const SampleRequest& r, LoadedModel& lm, const torch::Device& dev, const std::string& what) {
  long long a = -1, b = -1;
  char tail = 0;
  if (std::sscanf(r.pair.c_str(), "%lld,%lld%c", &a, &b, &tail) != 2 || a < 0 || b < 0)
    throw std::invalid_argument("--interpolate expects two image indices I,J, got '" + r.pair + "'");
  const Config& cfg = lm.meta.config;
  const DataForModel d = load_data_for_model(cfg, r.data_dir, r.split);
  const Dataset& data = d.data;
  if (a >= data.size() || b >= data.size())
    throw std::invalid_argument("--interpolate " + r.pair + ": the " + r.split + " split of " + d.dir +
                                " has images 0.." + std::to_string(data.size() - 1));
  const bool conditional = cfg.model.conditional;
  const torch::Tensor row = interpolation_images(lm.model, data.images[a], data.images[b], r.steps, dev,
                                                 conditional ? data.labels[a].item<int64_t>() : -1,
                                                 conditional ? data.labels[b].item<int64_t>() : -1);
  write_png(r.out, make_grid(row, row.size(0)));
  return "wrote " + std::to_string(r.steps) + " + 2 images from " + r.split + " image " + std::to_string(a) + " to " +
         std::to_string(b) + " (" + what + ") to " + r.out;
}

// A prior fitted to the training codes (--prior gmm, --prior categorical),
// kept at `path`: read back (read: text -> prior, its provenance's text)
// where it was fitted to the same checkpoint (by content) and data folder
// with the same seed and `usable` accepts it for this request, else fitted
// now by fit(training data, &note) and written there by write(prior,
// provenance). *how says which.
template <class P, class Read, class Usable, class Fit, class Write>
P cached_fit(const SampleRequest& r, const Config& cfg, const std::string& path, Read read, Usable usable, Fit fit,
             Write write, std::string* how) {
  const std::string dir = r.data_dir.empty() ? cfg.data.dir : r.data_dir;
  const std::string provenance = nlohmann::ordered_json{{"checkpoint_sha256", sha256_file(r.checkpoint)},
                                                        {"data_dir", dir}, {"split", "train"}, {"seed", cfg.train.seed}}
                                     .dump();
  std::string stale;
  if (std::filesystem::exists(path)) {
    try {
      std::string stored;
      P p = read(read_regular_file(path), &stored);
      if (stored == provenance && usable(p)) {
        *how = "read from " + path;
        return p;
      }
      stale = "; " + path + " held a fit to other codes, replaced";
    } catch (const std::exception& e) {
      stale = "; " + path + " was unreadable (" + e.what() + "), replaced";
    }
  }
  const auto t0 = std::chrono::steady_clock::now();
  const DataForModel d = load_data_for_model(cfg, r.data_dir, "train");
  std::string note;
  P p = fit(d.data, &note);
  write_file_atomic(path, write(p, provenance));
  char text[160];
  std::snprintf(text, sizeof text, "fitted to the codes of %lld training images in %.1f s",
                static_cast<long long>(d.data.size()),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  *how = text + note + ", kept in " + path + stale;
  return p;
}

// The mixture of --prior gmm, fitted to the codes (posterior means) of the
// training images.
Gmm fitted_prior(const SampleRequest& r, LoadedModel& lm, const torch::Device& dev, std::string* how) {
  const Config& cfg = lm.meta.config;
  return cached_fit<Gmm>(
      r, cfg, gmm_path_for(r.checkpoint, r.components, r.covariance), gmm_from_json,
      [&](const Gmm& g) {
        return g.means.size(0) == r.components && g.covariance == r.covariance && g.means.size(1) == cfg.model.latent;
      },
      [&](const Dataset& data, std::string* note) {
        Gmm g = fit_gmm(encode_means(lm.model, data, 1000, dev), r.components, r.covariance, cfg.train.seed);
        *note = " (" + std::to_string(g.iterations) + " EM iterations" + (g.converged ? ")" : ", not converged)");
        return g;
      },
      gmm_to_json, how);
}

// A VQ-VAE's --prior categorical: a mixture of r.components products of
// per-position categoricals, fitted to the training codes' indices.
std::string sample_categorical_prior(const SampleRequest& r, LoadedModel& lm, const torch::Device& dev,
                                     const std::string& what) {
  const ModelConfig& mc = lm.meta.config.model;
  std::string how;
  const CategoricalPrior p = cached_fit<CategoricalPrior>(
      r, lm.meta.config, categorical_path_for(r.checkpoint, r.components), categorical_from_json,
      [&](const CategoricalPrior& c) {
        return c.grid == lm.model->code_grid() && c.probs.size(2) == mc.codebook_size &&
               c.weights.size(0) == r.components;
      },
      [&](const Dataset& data, std::string* note) {
        CategoricalPrior c =
            fit_categorical(encode_indices(lm.model, data, 1000, dev), mc.codebook_size, r.components, lm.meta.config.train.seed);
        char text[128];
        std::snprintf(text, sizeof text, " (%lld EM iterations%s; %.2f nats per code on them)",
                      static_cast<long long>(c.iterations), c.converged ? "" : ", not converged", -c.mean_log_likelihood);
        *note = text;
        return c;
      },
      categorical_to_json, &how);
  auto gen = at::detail::createCPUGenerator(r.seed);
  const torch::Tensor images = [&] {
    c10::InferenceMode guard;
    return decode_codes(lm.model, lm.model->codes_of(sample_categorical(p, r.num, gen)), dev);
  }();
  write_samples(r, images);
  return "wrote " + std::to_string(r.num) + " samples from a " + std::to_string(r.components) +
         "-component categorical mixture over the " +
         (p.grid.size() == 2 ? shape_text(p.grid[0], p.grid[1]) : std::to_string(p.grid[0])) + " grid of codebook indices (" + how + ") of " + r.checkpoint + " (" + what + ") to " +
         r.out;
}

std::string sample_gmm_prior(const SampleRequest& r, LoadedModel& lm, const torch::Device& dev, const std::string& what) {
  std::string how;
  const Gmm g = fitted_prior(r, lm, dev, &how);
  auto gen = at::detail::createCPUGenerator(r.seed);
  const torch::Tensor images = decode_codes(lm.model, sample_gmm(g, r.num, gen), dev);
  write_samples(r, images);
  return "wrote " + std::to_string(r.num) + " samples from a " + std::to_string(r.components) + "-component " +
         name(r.covariance) + "-covariance Gaussian mixture (" + how + ") of " + r.checkpoint + " (" + what + ") to " +
         r.out;
}

std::string sample_prior(const SampleRequest& r, LoadedModel& lm, const torch::Device& dev, const std::string& what) {
  if (r.prior == SampleRequest::Prior::kGmm) return sample_gmm_prior(r, lm, dev, what);
  if (r.prior == SampleRequest::Prior::kCategorical) return sample_categorical_prior(r, lm, dev, what);
  const ModelConfig& mc = lm.meta.config.model;
  const torch::Tensor images = sample_images(lm.model, r.num, r.seed, dev, r.label);
  // A conditional model's default grid has one column per class.
  write_samples(r, images, mc.conditional && r.label < 0 ? std::min(r.num, mc.classes) : 0);
  const std::string which =
      !mc.conditional ? ""
      : r.label >= 0  ? " of class " + std::to_string(r.label) +
                           (static_cast<size_t>(r.label) < mc.class_names.size() ? " (" + mc.class_names[r.label] + ")" : "")
                      : " of classes 0.." + std::to_string(mc.classes - 1) + " (one per column)";
  return "wrote " + std::to_string(r.num) + " samples" + which + " from " + r.checkpoint + " (" + what + ") to " + r.out;
}

}  // namespace

static std::string checkpoint_stem(const std::string& checkpoint) {
  std::string stem = checkpoint;
  if (stem.size() > 3 && stem.compare(stem.size() - 3, 3, ".pt") == 0) stem.resize(stem.size() - 3);
  return stem;
}

std::string gmm_path_for(const std::string& checkpoint, int64_t components, GmmCovariance covariance) {
  return checkpoint_stem(checkpoint) + ".gmm-k" + std::to_string(components) + "-" + name(covariance) + ".json";
}

std::string categorical_path_for(const std::string& checkpoint, int64_t components) {
  return checkpoint_stem(checkpoint) + ".categorical-k" + std::to_string(components) + ".json";
}

static std::string run_resolved(const SampleRequest& r, LoadedModel& lm, const torch::Device& dev, const std::string& what);

std::string run_sample(const SampleRequest& r) {
  const torch::Device dev = resolve_device(r.device);
  if (dev.is_cpu()) reserve_blas_buffers();  // before the model: see Trainer
  LoadedModel lm = load_model(r.checkpoint, dev);
  std::vector<std::string> inputs{r.checkpoint, manifest_path_for(r.checkpoint)};
  if (r.prior == SampleRequest::Prior::kGmm) inputs.push_back(gmm_path_for(r.checkpoint, r.components, r.covariance));
  if (r.prior == SampleRequest::Prior::kCategorical) inputs.push_back(categorical_path_for(r.checkpoint, r.components));
  refuse_output_over_input(r.out, inputs,
                           {r.data_dir.empty() ? lm.meta.config.data.dir : r.data_dir}, "--out");
  const std::string what = describe_layers(lm.meta.config.model) + ", epoch " + std::to_string(lm.meta.state.epoch);
  SampleRequest resolved = r;
  resolved.label = resolve_label(r, lm.meta.config.model);
  return run_resolved(resolved, lm, dev, what);
}

static std::string run_resolved(const SampleRequest& r, LoadedModel& lm, const torch::Device& dev, const std::string& what) {
  check_request(r, lm.meta.config.model);
  if (r.mode == Mode::kInterpolate) return interpolate(r, lm, dev, what);
  if (r.mode == Mode::kPrior) return sample_prior(r, lm, dev, what);
  write_png(r.out, make_grid(manifold_images(lm.model, r.grid, dev, r.label), r.grid, /*pad=*/0));
  return "wrote the " + shape_text(r.grid, r.grid) + " latent manifold of " + r.checkpoint +
         " (" + what + ") to " + r.out;
}

}  // namespace vae
