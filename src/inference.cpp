#include "vae/inference.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "vae/image.hpp"
#include "vae/io.hpp"
#include "vae/plot.hpp"

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

torch::Tensor sample_images(VAE& model, int64_t n, uint64_t seed, const torch::Device& device, int64_t label) {
  c10::InferenceMode guard;
  model->eval();
  const ModelConfig& cfg = model->config();
  const torch::Tensor y = labels_for(cfg, n, label, device);
  auto gen = at::detail::createCPUGenerator(seed);
  const torch::Tensor z = torch::randn({n, cfg.latent}, gen, torch::kFloat32).to(device);
  return model->decode(z, y).to(torch::kCPU).reshape({n, cfg.image_height, cfg.image_width});
}

void check_labels(const ModelConfig& cfg, const Dataset& data, const std::string& origin) {
  if (!cfg.conditional || data.size() == 0) return;
  const int64_t lo = data.labels.min().item<int64_t>(), hi = data.labels.max().item<int64_t>();
  if (lo < 0 || hi >= cfg.classes)
    throw DataError(origin + ": label " + std::to_string(lo < 0 ? lo : hi) + " is outside [0, " +
                    std::to_string(cfg.classes) + "), the classes of this conditional model (model.classes)");
}

void check_labels(const ModelConfig& cfg, const Dataset& data, const std::string& dir, Split split) {
  if (cfg.conditional) check_labels(cfg, data, find_idx_file(dir, idx_file_stem(split, /*labels=*/true)));
}

torch::Tensor encode_means(VAE& model, const Dataset& data, int64_t batch_size,
                           const torch::Device& device) {
  c10::InferenceMode guard;
  model->eval();
  const ModelConfig& cfg = model->config();
  if (data.height() != cfg.image_height || data.width() != cfg.image_width)
    throw DataError("images are " + std::to_string(data.height()) + "x" +
                    std::to_string(data.width()) + " but the model expects " +
                    std::to_string(cfg.image_height) + "x" + std::to_string(cfg.image_width));
  check_labels(cfg, data, "the data set");
  torch::Tensor out = torch::empty({data.size(), cfg.latent}, torch::kFloat32);
  for (int64_t start = 0; start < data.size(); start += batch_size) {
    const int64_t len = std::min(batch_size, data.size() - start);
    const torch::Tensor x = to_unit_float(data.images.narrow(0, start, len).to(device));
    const torch::Tensor y = cfg.conditional ? data.labels.narrow(0, start, len).to(device) : torch::Tensor();
    out.narrow(0, start, len).copy_(model->encode(x, y).first.to(torch::kCPU));
  }
  return out;
}

void write_latent_csv(const std::string& path, const torch::Tensor& mu,
                      const torch::Tensor& labels) {
  TORCH_CHECK(mu.dim() == 2 && labels.dim() == 1 && mu.size(0) == labels.size(0),
              "write_latent_csv: mu ", mu.sizes(), " and labels ", labels.sizes(), " disagree");
  const torch::Tensor m = mu.to(torch::kCPU, torch::kFloat32).contiguous();
  const torch::Tensor l = labels.to(torch::kCPU, torch::kInt64).contiguous();
  const float* mp = m.data_ptr<float>();
  const int64_t* lp = l.data_ptr<int64_t>();
  const int64_t n = m.size(0), z = m.size(1);
  std::string text = "index,label";
  for (int64_t j = 0; j < z; ++j) text += ",mu_" + std::to_string(j);
  text += '\n';
  char buf[32];
  for (int64_t i = 0; i < n; ++i) {
    text += std::to_string(i);
    text += ',';
    text += std::to_string(lp[i]);
    for (int64_t j = 0; j < z; ++j) {
      // %.9g round-trips a float exactly.
      std::snprintf(buf, sizeof buf, ",%.9g", static_cast<double>(mp[i * z + j]));
      text += buf;
    }
    text += '\n';
  }
  write_file_atomic(path, text);
}

void write_npy(const std::string& path, const torch::Tensor& t) {
  if (t.dim() < 1) throw std::invalid_argument("write_npy: needs at least one dimension");
  const torch::Tensor c = t.to(torch::kCPU).contiguous();
  std::string descr;
  if (c.scalar_type() == torch::kFloat32)
    descr = "<f4";
  else if (c.scalar_type() == torch::kInt64)
    descr = "<i8";
  else
    throw std::invalid_argument("write_npy: only float32 and int64 tensors");
  std::string shape = "(";
  for (int64_t d : c.sizes()) shape += std::to_string(d) + ", ";
  if (c.dim() > 1) shape.resize(shape.size() - 2);  // "(3, 4)"; a 1-D shape keeps "(3,)"
  else shape.resize(shape.size() - 1);
  shape += ")";
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  // Magic (6) + version (2) + header length (2) + header, padded with spaces
  // and ended by '\n' to a multiple of 64 bytes.
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header.push_back('\n');
  std::string out("\x93NUMPY\x01\x00", 8);
  out.push_back(static_cast<char>(header.size() & 0xff));
  out.push_back(static_cast<char>(header.size() >> 8));
  out += header;
  out.append(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size());
  write_file_atomic(path, out);
}

torch::Tensor reconstruction_grid(VAE& model, const torch::Tensor& images, int64_t columns,
                                  const torch::Device& device, const torch::Tensor& labels) {
  c10::InferenceMode guard;
  const bool was_training = model->is_training();
  model->eval();
  const int64_t n = images.size(0), h = images.size(1), w = images.size(2);
  const torch::Tensor x = to_unit_float(images.to(device));
  const torch::Tensor y = model->config().conditional ? labels.to(device) : torch::Tensor();
  const torch::Tensor recon = model->decode(model->encode(x, y).first, y).to(torch::kCPU).reshape({n, h, w});
  const torch::Tensor inputs = x.to(torch::kCPU).reshape({n, h, w});
  model->train(was_training);
  // Interleave rows: inputs[0:c], recon[0:c], inputs[c:2c], recon[c:2c], ...
  std::vector<torch::Tensor> rows;
  for (int64_t start = 0; start < n; start += columns) {
    const int64_t len = std::min(columns, n - start);
    rows.push_back(inputs.narrow(0, start, len));
    rows.push_back(recon.narrow(0, start, len));
    if (len < columns) {  // keep the grid rectangular
      rows.back() = torch::cat({rows.back(), torch::zeros({columns - len, h, w})});
      rows[rows.size() - 2] = torch::cat({rows[rows.size() - 2], torch::zeros({columns - len, h, w})});
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
      .reshape({n * n, cfg.image_height, cfg.image_width});
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
      .reshape({steps + 2, cfg.image_height, cfg.image_width});
}

LatentPlane latent_plane(const torch::Tensor& mu, const torch::Tensor& labels) {
  const torch::Tensor m = mu.to(torch::kCPU, torch::kFloat64);
  const int64_t n = m.size(0), z = m.size(1);
  if (!torch::isfinite(m).all().item<bool>())
    throw std::invalid_argument("the latent means contain NaN or Inf values (a diverged model?)");
  if (z == 1)
    return {torch::stack({m.select(1, 0), labels.to(torch::kCPU, torch::kFloat64)}, 1), "z_0 (mean)", "label", ""};
  if (z == 2) return {m, "z_0 (mean)", "z_1 (mean)", ""};
  const torch::Tensor centred = m - m.mean(0, /*keepdim=*/true);
  const torch::Tensor cov = centred.t().matmul(centred) / static_cast<double>(std::max<int64_t>(n - 1, 1));
  const auto [values, vectors] = torch::linalg_eigh(cov, "L");  // ascending
  const torch::Tensor top = vectors.narrow(1, z - 2, 2).flip({1});  // [Z, 2], largest first
  const torch::Tensor peak = top.abs().argmax(0);
  const torch::Tensor sign = top.gather(0, peak.unsqueeze(0)).sign();
  const torch::Tensor xy = centred.matmul(top * sign);
  const double total = values.sum().item<double>();
  const auto share = [&](int64_t i) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "PC %lld (%.0f%% of variance)", static_cast<long long>(i + 1),
                  total > 0 ? 100.0 * values[z - 1 - i].item<double>() / total : 0.0);
    return std::string(buf);
  };
  return {xy, share(0), share(1), "first two principal components of the " + std::to_string(z) + "-D means"};
}

void write_latent_plot(const std::string& path, const torch::Tensor& mu, const torch::Tensor& labels,
                       const std::string& title) {
  const LatentPlane plane = latent_plane(mu, labels);
  const torch::Tensor xy = plane.xy.contiguous();
  const torch::Tensor lab = labels.to(torch::kCPU, torch::kLong).contiguous();
  const int64_t n = xy.size(0);
  std::vector<double> x(n), y(n);
  std::vector<int64_t> cls(lab.data_ptr<int64_t>(), lab.data_ptr<int64_t>() + n);
  const auto a = xy.accessor<double, 2>();
  for (int64_t i = 0; i < n; ++i) {
    x[i] = a[i][0];
    y[i] = a[i][1];
  }
  const int64_t classes = n > 0 ? lab.max().item<int64_t>() + 1 : 0;
  if (n > 0 && lab.min().item<int64_t>() < 0) throw std::invalid_argument(path + ": negative labels");
  std::vector<std::string> names;
  for (int64_t c = 0; c < classes; ++c) names.push_back(std::to_string(c));
  plot::Axes axes{plane.note.empty() ? title : title + " (" + plane.note + ")", plane.xlabel, plane.ylabel};
  axes.width = 840;
  axes.height = 680;
  plot::scatter_plot(path, axes, x, y, cls, names);
}

}  // namespace vae
