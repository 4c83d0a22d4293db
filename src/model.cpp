#include "vae/model.hpp"

#include <torch/nn/functional/activation.h>

#include <string>

namespace vae {
namespace {

std::string fc_name(size_t index) { return "fc" + std::to_string(index); }

}  // namespace

static bool is_conv(const ModelConfig& cfg) { return cfg.arch == "conv"; }

// Channels x height x width after the two stride-2 convolutions.
static int64_t conv_features(const ModelConfig& cfg) { return 64 * (cfg.image_height / 4) * (cfg.image_width / 4); }

static torch::nn::Conv2dOptions conv3x3(int64_t in, int64_t out, int64_t stride) {
  return torch::nn::Conv2dOptions(in, out, 3).stride(stride).padding(1);
}

static torch::nn::ConvTranspose2dOptions deconv3x3(int64_t in, int64_t out, int64_t stride) {
  return torch::nn::ConvTranspose2dOptions(in, out, 3).stride(stride).padding(1).output_padding(stride - 1);
}

EncoderImpl::EncoderImpl(const ModelConfig& cfg) : cfg_(cfg) {
  int64_t in = input_dim(cfg);
  if (is_conv(cfg)) {
    conv1_ = register_module("conv1", torch::nn::Conv2d(conv3x3(1, 32, 2)));
    conv2_ = register_module("conv2", torch::nn::Conv2d(conv3x3(32, 64, 2)));
    in = conv_features(cfg);
  }
  for (size_t i = 0; i < cfg.hidden.size(); ++i) {
    hidden_.push_back(register_module(fc_name(i + 1), torch::nn::Linear(in, cfg.hidden[i])));
    in = cfg.hidden[i];
  }
  if (is_variational(cfg)) {
    fc_mean_ = register_module("fc_mean", torch::nn::Linear(in, cfg.latent));
    fc_sd_ = register_module("fc_sd", torch::nn::Linear(in, cfg.latent));
  } else {
    fc_mean_ = register_module("fc_code", torch::nn::Linear(in, cfg.latent));
    sigmoid_code_ = cfg.kind == "sparse_ae" && cfg.sparsity == "kl";
  }
}

std::pair<torch::Tensor, torch::Tensor> EncoderImpl::forward(const torch::Tensor& x) {
  torch::Tensor h = x;
  if (conv1_) {
    h = torch::relu(conv1_->forward(x.reshape({x.size(0), 1, cfg_.image_height, cfg_.image_width})));
    h = torch::relu(conv2_->forward(h)).flatten(1);
  }
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
  int64_t in = cfg.latent;
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

torch::Tensor DecoderImpl::forward(const torch::Tensor& z) {
  torch::Tensor h = z;
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

std::pair<torch::Tensor, torch::Tensor> VAEImpl::encode(const torch::Tensor& x) {
  return encoder_->forward(x.reshape({x.size(0), input_dim(cfg_)}));
}

torch::Tensor VAEImpl::sampling(const torch::Tensor& mu, const torch::Tensor& log_var) {
  if (!is_training()) return mu;
  const torch::Tensor std = torch::exp(0.5 * log_var);
  const torch::Tensor eps = torch::randn_like(std);
  return mu + eps * std;
}

torch::Tensor VAEImpl::decode(const torch::Tensor& z) { return torch::sigmoid(decoder_->forward(z)); }

VAEOutput VAEImpl::forward(const torch::Tensor& x) {
  auto [mu, log_var] = encode(x);
  const torch::Tensor z = log_var.defined() ? sampling(mu, log_var) : mu;
  return {decoder_->forward(z), mu, log_var};
}

}  // namespace vae
