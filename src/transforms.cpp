#include "vae/transforms.hpp"

#include "vae/seeds.hpp"

namespace vae {

torch::Tensor to_unit_float(const torch::Tensor& pixels) {
  return pixels.reshape({pixels.size(0), -1}).to(torch::kFloat32).div_(255.0f);
}

torch::Tensor binarize_images(const torch::Tensor& images, Binarize mode, bool for_training, uint64_t split_seed) {
  if (mode == Binarize::kNone || (mode == Binarize::kDynamic && for_training)) return images;
  if (mode == Binarize::kStatic) return (images >= 128).to(torch::kUInt8) * 255;
  auto gen = stream_generator(split_seed, Stream::kBinarizeSplit);
  const torch::Tensor p = images.to(torch::kCPU, torch::kFloat32) / 255.0f;
  return (torch::bernoulli(p, gen) * 255).to(torch::kUInt8).to(images.device());
}

torch::Tensor binarize_batch(const torch::Tensor& x, Binarize mode) {
  return mode == Binarize::kDynamic ? torch::bernoulli(x) : x;
}

torch::Tensor corrupt(const torch::Tensor& x, Noise noise, double level, at::Generator* gen) {
  const auto draw = [&](bool normal) {
    if (!gen) return normal ? torch::randn_like(x) : torch::rand_like(x);
    const auto opts = torch::TensorOptions().dtype(x.scalar_type());
    return (normal ? torch::randn(x.sizes(), *gen, opts) : torch::rand(x.sizes(), *gen, opts)).to(x.device());
  };
  switch (noise) {
    case Noise::kGaussian: return (x + level * draw(true)).clamp(0, 1);
    case Noise::kMask: return x * (draw(false) >= level).to(x.scalar_type());
    case Noise::kSaltPepper: {
      const torch::Tensor hit = draw(false) < level;
      const torch::Tensor salt = (draw(false) < 0.5).to(x.scalar_type());
      return torch::where(hit, salt, x);
    }
  }
  return x;
}

}  // namespace vae
