#include "vae/model.hpp"

#include <torch/nn/functional/activation.h>

#include <stdexcept>
#include <string>

namespace vae {
namespace {

std::string fc_name(size_t index) { return "fc" + std::to_string(index); }

}  // namespace

static bool is_conv(const ModelConfig& cfg) { return cfg.arch == Arch::kConv; }

// Channels x height x width after the two stride-2 convolutions.
static int64_t conv_features(const ModelConfig& cfg) { return 64 * (cfg.image_height / 4) * (cfg.image_width / 4); }

static torch::nn::Conv2dOptions conv3x3(int64_t in, int64_t out, int64_t stride) {
  return torch::nn::Conv2dOptions(in, out, 3).stride(stride).padding(1);
}

static torch::nn::ConvTranspose2dOptions deconv3x3(int64_t in, int64_t out, int64_t stride) {
  return torch::nn::ConvTranspose2dOptions(in, out, 3).stride(stride).padding(1).output_padding(stride - 1);
}

torch::Tensor condition(const ModelConfig& cfg, const torch::Tensor& y, int64_t rows, torch::ScalarType dtype) {
  if (!y.defined())
    throw std::invalid_argument("this model is conditional (model.conditional = true): it needs the labels");
  if (y.is_floating_point()) {
    if (y.dim() != 2 || y.size(0) != rows || y.size(1) != cfg.classes)
      throw std::invalid_argument("soft labels must be [" + std::to_string(rows) + ", " +
                                  std::to_string(cfg.classes) + "]");
    return y.to(dtype);
  }
  if (y.dim() != 1 || y.size(0) != rows)
    throw std::invalid_argument("labels must be [" + std::to_string(rows) + "], one per row");
  // One host read; skipped on CUDA, where it would stall every step (the
  // trainer checks the data set's labels once when it loads them).
  if (rows > 0 && y.device().is_cpu() && (y.min().item<int64_t>() < 0 || y.max().item<int64_t>() >= cfg.classes))
    throw std::invalid_argument("labels must lie in [0, " + std::to_string(cfg.classes) + ") (model.classes)");
  return torch::one_hot(y.to(torch::kLong), cfg.classes).to(dtype);
}

EncoderImpl::EncoderImpl(const ModelConfig& cfg) : cfg_(cfg) {
  int64_t in = input_dim(cfg);
  if (is_conv(cfg)) {
    conv1_ = register_module("conv1", torch::nn::Conv2d(conv3x3(1, 32, 2)));
    conv2_ = register_module("conv2", torch::nn::Conv2d(conv3x3(32, 64, 2)));
    in = conv_features(cfg);
  }
  if (cfg.conditional) in += cfg.classes;  // the one-hot label joins here
  for (size_t i = 0; i < cfg.hidden.size(); ++i) {
    hidden_.push_back(register_module(fc_name(i + 1), torch::nn::Linear(in, cfg.hidden[i])));
    in = cfg.hidden[i];
  }
  if (is_variational(cfg)) {
    fc_mean_ = register_module("fc_mean", torch::nn::Linear(in, cfg.latent));
    fc_sd_ = register_module("fc_sd", torch::nn::Linear(in, cfg.latent));
  } else {
    fc_mean_ = register_module("fc_code", torch::nn::Linear(in, cfg.latent));
    sigmoid_code_ = cfg.kind == Kind::kSparseAe && cfg.sparsity == Sparsity::kKl;
  }
}

std::pair<torch::Tensor, torch::Tensor> EncoderImpl::forward(const torch::Tensor& x, const torch::Tensor& y) {
  torch::Tensor h = x;
  if (conv1_) {
    h = torch::relu(conv1_->forward(x.reshape({x.size(0), 1, cfg_.image_height, cfg_.image_width})));
    h = torch::relu(conv2_->forward(h)).flatten(1);
  }
  if (cfg_.conditional) h = torch::cat({h, condition(cfg_, y, h.size(0), h.scalar_type())}, 1);
  for (auto& fc : hidden_) h = torch::relu(fc->forward(h));
  if (!fc_sd_) {  // an autoencoder's code layer
    const torch::Tensor a = fc_mean_->forward(h);
    return {sigmoid_code_ ? torch::sigmoid(a) : torch::relu(a), torch::Tensor()};
  }
  return {fc_mean_->forward(h), fc_sd_->forward(h)};
}

DecoderImpl::DecoderImpl(const ModelConfig& cfg) : cfg_(cfg) {
  // Numbered after the encoder's K hidden layers and its heads, as in the guide.
  const size_t first = cfg.hidden.size() + 2;
  int64_t in = cfg.latent + (cfg.conditional ? cfg.classes : 0);
  for (size_t i = 0; i < cfg.hidden.size(); ++i) {
    const int64_t out = cfg.hidden[cfg.hidden.size() - 1 - i];
    layers_.push_back(register_module(fc_name(first + i), torch::nn::Linear(in, out)));
    in = out;
  }
  layers_.push_back(register_module(fc_name(first + cfg.hidden.size()),
                                    torch::nn::Linear(in, is_conv(cfg) ? conv_features(cfg) : input_dim(cfg))));
  if (is_conv(cfg)) {
    deconv1_ = register_module("deconv1", torch::nn::ConvTranspose2d(deconv3x3(64, 64, 2)));
    deconv2_ = register_module("deconv2", torch::nn::ConvTranspose2d(deconv3x3(64, 32, 2)));
    deconv3_ = register_module("deconv3", torch::nn::ConvTranspose2d(deconv3x3(32, 1, 1)));
  }
}

torch::Tensor DecoderImpl::forward(const torch::Tensor& z, const torch::Tensor& y) {
  torch::Tensor h = z;
  if (cfg_.conditional) {  // z [..., Z] with R rows in all takes y of R rows
    const int64_t rows = z.numel() / z.size(-1);
    const torch::Tensor flat = z.reshape({rows, z.size(-1)});
    const torch::Tensor c = condition(cfg_, y, rows, z.scalar_type());
    std::vector<int64_t> shape(z.sizes().begin(), z.sizes().end() - 1);
    shape.push_back(z.size(-1) + cfg_.classes);
    h = torch::cat({flat, c}, 1).reshape(shape);
  }
  for (size_t i = 0; i + 1 < layers_.size(); ++i) h = torch::relu(layers_[i]->forward(h));
  if (!deconv1_) return layers_.back()->forward(h);
  // Keep any leading sample dimensions (the IW pass decodes [S, B, Z]).
  std::vector<int64_t> lead(z.sizes().begin(), z.sizes().end() - 1);
  h = torch::relu(layers_.back()->forward(h)).reshape({-1, 64, cfg_.image_height / 4, cfg_.image_width / 4});
  h = torch::relu(deconv1_->forward(h));
  h = torch::relu(deconv2_->forward(h));
  lead.push_back(input_dim(cfg_));
  return deconv3_->forward(h).reshape(lead);
}

VAEImpl::VAEImpl(const ModelConfig& cfg) : cfg_(cfg) {
  encoder_ = register_module("encoder", Encoder(cfg));
  decoder_ = register_module("decoder", Decoder(cfg));
}

std::pair<torch::Tensor, torch::Tensor> VAEImpl::encode(const torch::Tensor& x, const torch::Tensor& y) {
  return encoder_->forward(x.reshape({x.size(0), input_dim(cfg_)}), y);
}

torch::Tensor reparameterize(const torch::Tensor& mu, const torch::Tensor& log_var, const torch::Tensor& eps) {
  return mu + torch::exp(0.5 * log_var) * eps;
}

torch::Tensor VAEImpl::sampling(const torch::Tensor& mu, const torch::Tensor& log_var, const RowSlice& rows) {
  if (!is_training()) return mu;
  return reparameterize(mu, log_var, normal_rows(mu, rows));
}

torch::Tensor VAEImpl::decode(const torch::Tensor& z, const torch::Tensor& y) {
  return torch::sigmoid(decoder_->forward(z, y));
}

VAEOutput VAEImpl::forward(const torch::Tensor& x, const torch::Tensor& y, const RowSlice& rows) {
  auto [mu, log_var] = encode(x, y);
  const torch::Tensor z = log_var.defined() ? sampling(mu, log_var, rows) : mu;
  return {decoder_->forward(z, y), mu, log_var};
}

}  // namespace vae
