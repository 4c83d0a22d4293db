// The rules between config keys, and validate(): each key's own range
// (the table), then these.
#include <algorithm>

#include "config_internal.hpp"

namespace vae {
namespace detail {

// The relations between keys that no single key's range can say.
void check_rules(const Config& c, bool shape_known) {
  auto require = [](bool ok, const std::string& key, const std::string& allowed, const std::string& got) {
    if (!ok) throw ConfigError("config key '" + key + "' must be " + allowed + ", got " + got);
  };
  if (c.model.arch == Arch::kConv && shape_known) {
    const std::string size = shape_text(c.model.image_height, c.model.image_width);
    const size_t stages = conv_stages(c.model).size();
    const int64_t side = int64_t{1} << std::min<size_t>(stages, 20);
    require(stages > 0 && c.model.image_height % side == 0 && c.model.image_width % side == 0,
            "model.image_height and model.image_width",
            stages == 0 ? std::string("even sides >= 8 for model.arch = \"conv\" (data.image_size resizes)")
                        : "multiples of " + std::to_string(side) + " for " + std::to_string(stages) +
                              " conv stages (model.conv_channels; data.image_size resizes)",
            size);
  }
  require(!c.model.conditional || c.model.kind == Kind::kVae, "model.conditional",
          std::string("false for model.kind = \"") + name(c.model.kind) + "\" (only a VAE can be conditional)",
          "true");
  if (c.model.prior == Prior::kVamp) {
    require(c.model.kind == Kind::kVae, "model.prior", "\"standard\" for model.kind = \"" +
            std::string(name(c.model.kind)) + "\" (a prior needs a VAE)", "\"vamp\"");
    require(!c.model.conditional, "model.prior", "\"standard\" for a conditional VAE", "\"vamp\"");
  }
  if (c.model.top_latent > 0) {
    const std::string top = std::to_string(c.model.top_latent);
    require(c.model.kind == Kind::kVae, "model.top_latent", "0 for model.kind = \"" + std::string(name(c.model.kind)) +
            "\" (a second stochastic layer needs a VAE)", top);
    require(c.model.prior == Prior::kStandard, "model.top_latent", "0 with model.prior = \"vamp\"", top);
    require(!c.model.conditional, "model.top_latent", "0 for a conditional VAE", top);
  }
  if (c.loss.iw_samples > 1) {
    const std::string k = "loss.iw_samples = " + std::to_string(c.loss.iw_samples);
    require(c.model.kind == Kind::kVae, "loss.iw_samples", "1 for model.kind = \"" + std::string(name(c.model.kind)) +
            "\" (the importance-weighted bound needs a VAE)", std::to_string(c.loss.iw_samples));
    require(c.loss.beta == 1.0, "loss.beta", "1 with " + k + " (the bound has no KL weight)", float_text(c.loss.beta));
    require(c.loss.kl_warmup_epochs == 0, "loss.kl_warmup_epochs", "0 with " + k,
            std::to_string(c.loss.kl_warmup_epochs));
  }
  if (c.model.kind == Kind::kVqVae) {
    const std::string z = std::to_string(c.model.latent), d = std::to_string(c.model.code_dim);
    if (c.model.arch == Arch::kMlp)
      require(c.model.latent % c.model.code_dim == 0, "model.latent",
              "a multiple of model.code_dim = " + d + " for model.kind = \"vq_vae\" (latent / code_dim positions)", z);
    else if (shape_known && !conv_stages(c.model).empty()) {
      const int64_t k = static_cast<int64_t>(conv_stages(c.model).size());
      const int64_t cells = (c.model.image_height >> k) * (c.model.image_width >> k);
      require(c.model.latent == cells * c.model.code_dim, "model.latent",
              std::to_string(cells * c.model.code_dim) + " (model.code_dim " + d + " x the " +
                  shape_text(c.model.image_height >> k, c.model.image_width >> k) +
                  " grid of the last conv stage) for a conv vq_vae",
              z);
    }
  }
  require(c.train.lr_schedule != LrSchedule::kMultistep || !c.train.lr_milestones.empty(), "train.lr_milestones",
          "a list of epochs for train.lr_schedule = \"multistep\"", "[]");
  require(c.data.noise == Noise::kGaussian || c.data.noise_level <= 1, "data.noise_level",
          "a fraction in [0, 1] for data.noise = \"" + std::string(name(c.data.noise)) + "\"",
          float_text(c.data.noise_level));
}

}  // namespace detail

void validate(const Config& c, bool shape_known) {
  for (const detail::Key& k : detail::keys()) k.check(c);
  detail::check_rules(c, shape_known);
}

}  // namespace vae
