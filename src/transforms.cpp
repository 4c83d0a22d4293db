#include "vae/transforms.hpp"

#include <vector>

#include "vae/seeds.hpp"

namespace vae {

torch::Tensor to_unit_float(const torch::Tensor& pixels) {
  // flatten, not reshape(-1): a process's slice of a batch may have no rows.
  return (pixels.dim() > 1 ? pixels.flatten(1) : pixels.reshape({pixels.size(0), 1})).to(torch::kFloat32).div_(255.0f);
}

torch::Tensor binarize_images(const torch::Tensor& images, Binarize mode, bool for_training, uint64_t split_seed) {
  if (mode == Binarize::kNone || (mode == Binarize::kDynamic && for_training)) return images;
  if (mode == Binarize::kStatic) return (images >= 128).to(torch::kUInt8) * 255;
  auto gen = stream_generator(split_seed, Stream::kBinarizeSplit);
  const torch::Tensor p = images.to(torch::kCPU, torch::kFloat32) / 255.0f;
  return (torch::bernoulli(p, gen) * 255).to(torch::kUInt8).to(images.device());
}

torch::Tensor binarize_batch(const torch::Tensor& x, Binarize mode, const RowSlice& rows) {
  return mode == Binarize::kDynamic ? bernoulli_rows(x, rows) : x;
}

namespace {

// Whether `t` is the whole batch (one process, or a slice of all rows).
bool whole(const torch::Tensor& t, const RowSlice& rows) {
  return rows.global == 0 || (rows.offset == 0 && rows.global == t.size(0));
}

std::vector<int64_t> global_sizes(const torch::Tensor& t, const RowSlice& rows) {
  std::vector<int64_t> sizes = t.sizes().vec();
  sizes[0] = rows.global;
  return sizes;
}

torch::Tensor draw(const torch::Tensor& like, const RowSlice& rows, at::Generator* gen, bool normal) {
  const bool all = whole(like, rows);
  const std::vector<int64_t> sizes = all ? like.sizes().vec() : global_sizes(like, rows);
  torch::Tensor t;
  if (gen) {
    const auto opts = torch::TensorOptions().dtype(like.scalar_type());
    t = (normal ? torch::randn(sizes, *gen, opts) : torch::rand(sizes, *gen, opts)).to(like.device());
  } else if (all) {
    t = normal ? torch::randn_like(like) : torch::rand_like(like);
  } else {
    t = normal ? torch::randn(sizes, like.options()) : torch::rand(sizes, like.options());
  }
  return all ? t : t.narrow(0, rows.offset, like.size(0));
}

}  // namespace

torch::Tensor normal_rows(const torch::Tensor& like, const RowSlice& rows, at::Generator* gen) {
  return draw(like, rows, gen, true);
}

torch::Tensor uniform_rows(const torch::Tensor& like, const RowSlice& rows, at::Generator* gen) {
  return draw(like, rows, gen, false);
}

// One uniform draw per element whatever p is, so padding the other rows
// with zeros keeps every row's draw where the whole batch would have it.
torch::Tensor bernoulli_rows(const torch::Tensor& p, const RowSlice& rows) {
  if (whole(p, rows)) return torch::bernoulli(p);
  torch::Tensor full = torch::zeros(global_sizes(p, rows), p.options());
  full.narrow(0, rows.offset, p.size(0)).copy_(p);
  return torch::bernoulli(full).narrow(0, rows.offset, p.size(0));
}

torch::Tensor corrupt(const torch::Tensor& x, Noise noise, double level, at::Generator* gen, const RowSlice& rows) {
  const auto noise_draw = [&](bool normal) { return normal ? normal_rows(x, rows, gen) : uniform_rows(x, rows, gen); };
  switch (noise) {
    case Noise::kGaussian: return (x + level * noise_draw(true)).clamp(0, 1);
    case Noise::kMask: return x * (noise_draw(false) >= level).to(x.scalar_type());
    case Noise::kSaltPepper: {
      const torch::Tensor hit = noise_draw(false) < level;
      const torch::Tensor salt = (noise_draw(false) < 0.5).to(x.scalar_type());
      return torch::where(hit, salt, x);
    }
  }
  return x;
}

}  // namespace vae
