#include "vae/inference.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>

#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "vae/image.hpp"
#include "vae/transforms.hpp"

namespace vae {

namespace {

// `label` for a model that may or may not be conditional: the labels a
// conditional one decodes n rows with (label < 0: 0, 1, ..., in turn), an
// undefined tensor for others, which refuse a label.
torch::Tensor labels_for(const ModelConfig& cfg, int64_t n, int64_t label, const torch::Device& device) {
  if (!cfg.conditional) {
    if (label >= 0)
      throw std::invalid_argument("this model is not conditional (model.conditional = false): it takes no label");
    return {};
  }
  if (label >= cfg.classes)
    throw std::invalid_argument("label " + std::to_string(label) + " is outside [0, " +
                                std::to_string(cfg.classes) + ") (model.classes)");
  const torch::Tensor y = label >= 0 ? torch::full({n}, label, torch::kLong)
                                     : torch::arange(n, torch::kLong).remainder(cfg.classes);
  return y.to(device);
}

}  // namespace

// {n, H, W} or {n, C, H, W}: n images of the model's shape.
std::vector<int64_t> with_count(int64_t n, const ModelConfig& cfg) {
  std::vector<int64_t> shape = image_dims(cfg);
  shape.insert(shape.begin(), n);
  return shape;
}

torch::Tensor sample_images(VAE& model, int64_t n, uint64_t seed, const torch::Device& device, int64_t label) {
  c10::InferenceMode guard;
  model->eval();
  const ModelConfig& cfg = model->config();
  const torch::Tensor y = labels_for(cfg, n, label, device);
  auto gen = at::detail::createCPUGenerator(seed);  // the caller's seed, as given
  const torch::Tensor z = model->sample_prior(n, gen).to(device);
  return model->decode(z, y).to(torch::kCPU).reshape(with_count(n, cfg));
}

torch::Tensor decode_codes(VAE& model, const torch::Tensor& z, const torch::Device& device) {
  c10::InferenceMode guard;
  model->eval();
  return model->decode(z.to(device)).to(torch::kCPU).reshape(with_count(z.size(0), model->config()));
}

SampleGrid sample_grid_for(const ModelConfig& cfg) {
  return cfg.conditional ? SampleGrid{8 * cfg.classes, cfg.classes} : SampleGrid{64, 8};
}

torch::Tensor encode_means(VAE& model, const Dataset& data, int64_t batch_size,
                           const torch::Device& device) {
  c10::InferenceMode guard;
  model->eval();
  const ModelConfig& cfg = model->config();
  check_data_fits(cfg, data, "the");
  torch::Tensor out = torch::empty({data.size(), cfg.latent}, torch::kFloat32);
  for (int64_t start = 0; start < data.size(); start += batch_size) {
    const int64_t len = std::min(batch_size, data.size() - start);
    const torch::Tensor x = to_unit_float(data.images.narrow(0, start, len).to(device));
    const torch::Tensor y = cfg.conditional ? data.labels.narrow(0, start, len).to(device) : torch::Tensor();
    out.narrow(0, start, len).copy_(model->encode(x, y).first.to(torch::kCPU));
  }
  return out;
}

torch::Tensor encode_indices(VAE& model, const Dataset& data, int64_t batch_size, const torch::Device& device) {
  c10::InferenceMode guard;
  model->eval();
  check_data_fits(model->config(), data, "the");
  std::vector<int64_t> shape = model->code_grid();
  shape.insert(shape.begin(), data.size());
  torch::Tensor out = torch::empty(shape, torch::kInt64);
  for (int64_t start = 0; start < data.size(); start += batch_size) {
    const int64_t len = std::min(batch_size, data.size() - start);
    const torch::Tensor x = to_unit_float(data.images.narrow(0, start, len).to(device));
    out.narrow(0, start, len).copy_(model->encode_quantized(x).indices.reshape(out.narrow(0, start, len).sizes()));
  }
  return out;
}

torch::Tensor reconstruction_grid(VAE& model, const torch::Tensor& images, int64_t columns,
                                  const torch::Device& device, const torch::Tensor& labels) {
  c10::InferenceMode guard;
  const bool was_training = model->is_training();
  model->eval();
  const int64_t n = images.size(0);
  const std::vector<int64_t> shape = images.sizes().vec();
  const torch::Tensor x = to_unit_float(images.to(device));
  const torch::Tensor y = model->config().conditional ? labels.to(device) : torch::Tensor();
  const torch::Tensor recon = model->decode(model->encode(x, y).first, y).to(torch::kCPU).reshape(shape);
  const torch::Tensor inputs = x.to(torch::kCPU).reshape(shape);
  model->train(was_training);
  // Interleave rows: inputs[0:c], recon[0:c], inputs[c:2c], recon[c:2c], ...
  std::vector<torch::Tensor> rows;
  for (int64_t start = 0; start < n; start += columns) {
    const int64_t len = std::min(columns, n - start);
    rows.push_back(inputs.narrow(0, start, len));
    rows.push_back(recon.narrow(0, start, len));
    if (len < columns) {  // keep the grid rectangular
      std::vector<int64_t> blank = shape;
      blank[0] = columns - len;
      rows.back() = torch::cat({rows.back(), torch::zeros(blank)});
      rows[rows.size() - 2] = torch::cat({rows[rows.size() - 2], torch::zeros(blank)});
    }
  }
  return make_grid(torch::cat(rows), columns);
}

torch::Tensor manifold_images(VAE& model, int64_t n, const torch::Device& device, int64_t label) {
  const ModelConfig& cfg = model->config();
  if (cfg.conditional && label < 0)
    throw std::invalid_argument("this model is conditional: the manifold is drawn for one class; give its label");
  if (cfg.latent != 2)
    throw std::invalid_argument("the manifold needs a 2-D latent space; this model's latent size is " +
                                std::to_string(cfg.latent) + " (train with model.latent = 2)");
  if (n < 2) throw std::invalid_argument("the manifold needs a grid of at least 2 x 2");
  c10::InferenceMode guard;
  model->eval();
  // Standard normal quantiles: Phi^-1(p) = sqrt(2) * erfinv(2p - 1).
  const torch::Tensor p = torch::linspace(0.05, 0.95, n, torch::kFloat64);
  const torch::Tensor q = (std::sqrt(2.0) * torch::erfinv(2 * p - 1)).to(torch::kFloat32);
  const torch::Tensor z1 = q.flip({0}).view({n, 1}).expand({n, n});  // rows: top is high z_1
  const torch::Tensor z0 = q.view({1, n}).expand({n, n});            // columns: z_0 rises
  const torch::Tensor z = torch::stack({z0.reshape(-1), z1.reshape(-1)}, 1).to(device);
  return model->decode(z, labels_for(cfg, n * n, label, device))
      .to(torch::kCPU)
      .reshape(with_count(n * n, cfg));
}

torch::Tensor interpolation_images(VAE& model, const torch::Tensor& a, const torch::Tensor& b,
                                   int64_t steps, const torch::Device& device, int64_t label_a,
                                   int64_t label_b) {
  if (steps < 2) throw std::invalid_argument("an interpolation needs at least 2 steps");
  c10::InferenceMode guard;
  model->eval();
  const ModelConfig& cfg = model->config();
  const torch::Tensor ends = to_unit_float(torch::stack({a, b}).to(device));
  torch::Tensor y_ends, y_path;
  if (cfg.conditional) {
    if (label_a < 0 || label_b < 0)
      throw std::invalid_argument("this model is conditional: an interpolation needs the labels of both images");
    y_ends = torch::tensor({label_a, label_b}, torch::kLong).to(device);
  }
  const torch::Tensor mu = model->encode(ends, y_ends).first;
  const torch::Tensor t = torch::linspace(0, 1, steps, torch::kFloat32).to(device).view({steps, 1});
  const torch::Tensor z = mu[0].view({1, -1}) * (1 - t) + mu[1].view({1, -1}) * t;
  if (cfg.conditional) {
    const torch::Tensor onehot = condition(cfg, y_ends, 2, torch::kFloat32);
    y_path = onehot[0].view({1, -1}) * (1 - t) + onehot[1].view({1, -1}) * t;  // [steps, classes]
  }
  const torch::Tensor decoded = model->decode(z, y_path).to(torch::kCPU);
  const torch::Tensor originals = ends.to(torch::kCPU);
  return torch::cat({originals.narrow(0, 0, 1), decoded, originals.narrow(0, 1, 1)})
      .reshape(with_count(steps + 2, cfg));
}

}  // namespace vae
