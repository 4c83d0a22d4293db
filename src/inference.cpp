#include "vae/inference.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>

#include <cstdio>

#include "vae/io.hpp"

namespace vae {

torch::Tensor sample_images(VAE& model, int64_t n, uint64_t seed, const torch::Device& device) {
  c10::InferenceMode guard;
  model->eval();
  const ModelConfig& cfg = model->config();
  auto gen = at::detail::createCPUGenerator(seed);
  const torch::Tensor z = torch::randn({n, cfg.latent}, gen, torch::kFloat32).to(device);
  return model->decode(z).to(torch::kCPU).reshape({n, cfg.image_height, cfg.image_width});
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
  torch::Tensor out = torch::empty({data.size(), cfg.latent}, torch::kFloat32);
  for (int64_t start = 0; start < data.size(); start += batch_size) {
    const int64_t len = std::min(batch_size, data.size() - start);
    const torch::Tensor x = to_unit_float(data.images.narrow(0, start, len).to(device));
    out.narrow(0, start, len).copy_(model->encode(x).first.to(torch::kCPU));
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

}  // namespace vae
