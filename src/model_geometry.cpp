// The model's geometry from its config: the image's dims, the conv stages,
// the layer widths.
#include <algorithm>
#include <string>

#include "vae/config.hpp"

namespace vae {

std::vector<int64_t> image_dims(const ModelConfig& m) {
  if (m.image_channels == 1) return {m.image_height, m.image_width};
  return {m.image_channels, m.image_height, m.image_width};
}

std::vector<int64_t> conv_stages(const ModelConfig& m) {
  if (!m.conv_channels.empty()) return m.conv_channels;
  std::vector<int64_t> out;
  for (int64_t h = m.image_height, w = m.image_width; h % 2 == 0 && w % 2 == 0 && h / 2 >= 4 && w / 2 >= 4;
       h /= 2, w /= 2)
    out.push_back(std::min<int64_t>(256, int64_t{32} << std::min<size_t>(out.size(), 4)));
  return out;
}

std::string describe_layers(const ModelConfig& m) {
  std::string s = std::to_string(input_dim(m));
  if (m.arch == Arch::kConv)
    for (int64_t c : conv_stages(m)) s += "-conv" + std::to_string(c);
  if (m.kind == Kind::kVqVae) {  // 784-512-256-64 as 8x8 of 512 codes; conv: 784-conv32-conv64-7x7x16 of 512 codes
    const int64_t k = static_cast<int64_t>(conv_stages(m).size());
    const std::string codes =
        std::to_string(m.code_dim) + " of " + std::to_string(m.codebook_size) + " codes" + (m.codebook_ema ? " (EMA)" : "");
    if (m.arch == Arch::kConv && k > 0)
      return s + "-" + std::to_string(m.image_height >> k) + "x" + std::to_string(m.image_width >> k) + "x" + codes;
    for (int64_t h : m.hidden) s += "-" + std::to_string(h);
    return s + "-" + std::to_string(m.latent) + " as " + std::to_string(m.latent / m.code_dim) + "x" + codes;
  }
  for (int64_t h : m.hidden) s += "-" + std::to_string(h);
  s += "-" + std::to_string(m.latent);
  if (m.top_latent > 0) {  // the IWAE paper's spelling: 784-200-200-100 / 100-100-50
    s += " /";
    for (int64_t h : m.top_hidden) s += (s.back() == '/' ? " " : "-") + std::to_string(h);
    s += (s.back() == '/' ? " " : "-") + std::to_string(m.top_latent);
  }
  if (m.activation != Activation::kRelu) s += std::string(" ") + name(m.activation);
  if (m.bounded_log_var) s += ", bounded log-variance";
  return s;
}

}  // namespace vae
