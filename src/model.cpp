#include "vae/model.hpp"

#include <torch/nn/functional/activation.h>

#include <string>

namespace vae {
namespace {

std::string fc_name(size_t index) { return "fc" + std::to_string(index); }

}  // namespace

EncoderImpl::EncoderImpl(const ModelConfig& cfg) {
  int64_t in = input_dim(cfg);
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
  for (auto& fc : hidden_) h = torch::relu(fc->forward(h));
  if (!fc_sd_) {  // an autoencoder's code layer
    const torch::Tensor a = fc_mean_->forward(h);
    return {sigmoid_code_ ? torch::sigmoid(a) : torch::relu(a), torch::Tensor()};
  }
  return {fc_mean_->forward(h), fc_sd_->forward(h)};
}

DecoderImpl::DecoderImpl(const ModelConfig& cfg) {
  // Numbered after the encoder's K hidden layers and its heads, as in the guide.
  const size_t first = cfg.hidden.size() + 2;
  int64_t in = cfg.latent;
  for (size_t i = 0; i < cfg.hidden.size(); ++i) {
    const int64_t out = cfg.hidden[cfg.hidden.size() - 1 - i];
    layers_.push_back(register_module(fc_name(first + i), torch::nn::Linear(in, out)));
    in = out;
  }
  layers_.push_back(register_module(fc_name(first + cfg.hidden.size()),
                                    torch::nn::Linear(in, input_dim(cfg))));
}

torch::Tensor DecoderImpl::forward(const torch::Tensor& z) {
  torch::Tensor h = z;
  for (size_t i = 0; i + 1 < layers_.size(); ++i) h = torch::relu(layers_[i]->forward(h));
  return layers_.back()->forward(h);
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
