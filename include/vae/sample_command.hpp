// What vae-sample does, as one library call: checks the request against the
// checkpoint, decodes draws of z ~ N(0, I), the 2-D latent manifold, or the
// line between two images' codes, and writes the PNG grid.
//
//   vae::SampleRequest r;  r.checkpoint = "run/checkpoints/last.pt";  r.out = "digits.png";
//   spdlog::info("{}", vae::run_sample(r));   // "wrote 64 samples from ..."
#pragma once

#include <cstdint>
#include <string>

#include "vae/config.hpp"
#include "vae/gmm.hpp"

namespace vae {

struct SampleRequest {
  std::string checkpoint;
  std::string out;  // PNG file
  DeviceChoice device = DeviceChoice::kAuto;
  enum class Mode { kPrior, kManifold, kInterpolate } mode = Mode::kPrior;
  int64_t num = 64;      // kPrior: digits drawn
  uint64_t seed = 0;     // kPrior: seed of z
  int64_t columns = 0;   // kPrior: grid columns; 0: square-ish (one per class for a conditional model)
  int64_t label = -1;    // a conditional model's class; -1: classes in turn
  std::string label_name;  // or its name (model.class_names); overrides label
  int64_t grid = 15;     // kManifold: digits per side
  std::string pair;      // kInterpolate: "I,J", two image indices
  int64_t steps = 10;    // kInterpolate: decoded points
  std::string data_dir;  // kInterpolate: images (default: the checkpoint's data.dir)
  std::string split = "test";
  // kPrior: draw z from the model's prior, or from a Gaussian mixture
  // fitted to the codes of the training images (every unconditional kind,
  // with a prior or not). The fit is kept beside the checkpoint
  // (gmm_path_for) and reused while the checkpoint, the data folder and
  // the request are the same.
  // kCategorical: a VQ-VAE's codebook indices drawn from a mixture of
  // `components` products of per-position categoricals fitted to the
  // training codes (vae/categorical_prior.hpp), kept at categorical_path_for.
  enum class Prior { kModel, kGmm, kCategorical } prior = Prior::kModel;
  int64_t components = 10;  // kGmm and kCategorical: the mixture's components
  GmmCovariance covariance = GmmCovariance::kFull;
};

// Where --prior gmm keeps its fit: beside the checkpoint,
// "last.pt" -> "last.gmm-k10-full.json".
std::string gmm_path_for(const std::string& checkpoint, int64_t components, GmmCovariance covariance);
// Where --prior categorical keeps its fit: "last.pt" -> "last.categorical-k10.json".
std::string categorical_path_for(const std::string& checkpoint, int64_t components);

// Writes request.out and returns one line saying what it wrote. Throws
// std::invalid_argument for a request the model cannot serve (no prior, a
// label for an unconditional model, an image index out of range), and the
// library's errors for bad files.
std::string run_sample(const SampleRequest& request);

}  // namespace vae
