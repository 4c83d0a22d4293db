#include "vae/model.hpp"

#include <algorithm>
#include <cmath>

#include <torch/nn/functional/activation.h>

#include "sparse_input.hpp"
#include "vae/objective.hpp"

#include <stdexcept>
#include <string>

namespace vae {
namespace {

std::string fc_name(size_t index) { return "fc" + std::to_string(index); }

// Registers dense layer `name` (in -> out) in `m`, with its gate
// `name_gate` where the activation is gated.
void add_dense(torch::nn::Module& m, const ModelConfig& cfg, const std::string& name, int64_t in, int64_t out,
               std::vector<torch::nn::Linear>& layers, std::vector<torch::nn::Linear>& gates) {
  layers.push_back(m.register_module(name, torch::nn::Linear(in, out)));
  gates.push_back(cfg.activation == Activation::kGated ? m.register_module(name + "_gate", torch::nn::Linear(in, out))
                                                       : torch::nn::Linear(nullptr));
}

// fc(h), from h's nonzeros where `sparse` holds them (h's, or null).
torch::Tensor linear(torch::nn::Linear& fc, const torch::Tensor& h, const SparseInput* sparse) {
  return sparse ? sparse->linear(fc->weight, fc->bias) : fc->forward(h);
}

torch::Tensor dense_layer(Activation act, torch::nn::Linear& fc, torch::nn::Linear& gate, const torch::Tensor& h,
                          const SparseInput* sparse) {
  switch (act) {
    case Activation::kTanh: return torch::tanh(linear(fc, h, sparse));
    case Activation::kGated: return linear(fc, h, sparse) * torch::sigmoid(linear(gate, h, sparse));
    default: return torch::relu(linear(fc, h, sparse));
  }
}

}  // namespace

torch::Tensor dense_layer(Activation act, torch::nn::Linear& fc, torch::nn::Linear& gate, const torch::Tensor& h) {
  return dense_layer(act, fc, gate, h, nullptr);
}

torch::Tensor head_log_var(const ModelConfig& cfg, const torch::Tensor& raw) {
  return cfg.bounded_log_var ? torch::clamp(raw, -6.0, 2.0) : raw;
}

static bool is_conv(const ModelConfig& cfg) { return cfg.arch == Arch::kConv; }

// The last stage's channels x height x width after the stride-2 convolutions.
static std::vector<int64_t> conv_out_shape(const ModelConfig& cfg) {
  const std::vector<int64_t> stages = conv_stages(cfg);
  const int64_t k = static_cast<int64_t>(stages.size());
  return {stages.back(), cfg.image_height >> k, cfg.image_width >> k};
}

static int64_t conv_features(const ModelConfig& cfg) {
  const std::vector<int64_t> s = conv_out_shape(cfg);
  return s[0] * s[1] * s[2];
}

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

static bool is_quantized(const ModelConfig& cfg) { return make_objective(cfg)->code_head() == CodeHead::kQuantized; }

EncoderImpl::EncoderImpl(const ModelConfig& cfg) : cfg_(cfg) {
  int64_t in = input_dim(cfg);
  if (is_conv(cfg)) {
    const std::vector<int64_t> stages = conv_stages(cfg);
    if (stages.empty()) throw std::invalid_argument("model.arch = conv needs even image sides of at least 8");
    int64_t c = cfg.image_channels;
    for (size_t i = 0; i < stages.size(); ++i) {
      convs_.push_back(register_module("conv" + std::to_string(i + 1), torch::nn::Conv2d(conv3x3(c, stages[i], 2))));
      c = stages[i];
    }
    if (is_quantized(cfg)) {  // a conv vq_vae's code is the last stage's grid: no dense layers
      code_conv_ = register_module("code_conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(c, cfg.code_dim, 1)));
      code_activation_ = CodeHead::kQuantized;
      return;
    }
    in = conv_features(cfg);
  }
  if (cfg.conditional) in += cfg.classes;  // the one-hot label joins here
  for (size_t i = 0; i < cfg.hidden.size(); ++i) {
    add_dense(*this, cfg, fc_name(i + 1), in, cfg.hidden[i], hidden_, gates_);
    in = cfg.hidden[i];
  }
  const CodeHead head = make_objective(cfg)->code_head();
  if (head == CodeHead::kGaussian) {
    fc_mean_ = register_module("fc_mean", torch::nn::Linear(in, cfg.latent));
    fc_sd_ = register_module("fc_sd", torch::nn::Linear(in, cfg.latent));
  } else {
    fc_mean_ = register_module("fc_code", torch::nn::Linear(in, cfg.latent));
    code_activation_ = head;
  }
}

std::pair<torch::Tensor, torch::Tensor> EncoderImpl::forward(const torch::Tensor& x, const torch::Tensor& y) {
  torch::Tensor h = x;
  if (!convs_.empty()) {
    h = x.reshape({x.size(0), cfg_.image_channels, cfg_.image_height, cfg_.image_width});
    for (auto& conv : convs_) h = torch::relu(conv->forward(h));
    // A conv vq_vae's code: code_dim channels per cell, position-major.
    if (code_conv_) return {code_conv_->forward(h).permute({0, 2, 3, 1}).flatten(1), torch::Tensor()};
    h = h.flatten(1);
  }
  if (cfg_.conditional) h = torch::cat({h, condition(cfg_, y, h.size(0), h.scalar_type())}, 1);
  // The input's nonzeros, for the layers that read it: only a mostly-zero
  // input gives them (SparseInput::of), and a conv model's features do not.
  const std::optional<SparseInput> sparse =
      sparse_input_ && convs_.empty() ? SparseInput::of(h) : std::optional<SparseInput>();
  const SparseInput* first = sparse ? &*sparse : nullptr;
  for (size_t i = 0; i < hidden_.size(); ++i) {
    h = dense_layer(cfg_.activation, hidden_[i], gates_[i], h, first);
    first = nullptr;
  }
  if (!fc_sd_) {  // an autoencoder's code layer
    const torch::Tensor a = linear(fc_mean_, h, first);
    switch (code_activation_) {
      case CodeHead::kSigmoid: return {torch::sigmoid(a), torch::Tensor()};
      case CodeHead::kLinear:
      case CodeHead::kQuantized: return {a, torch::Tensor()};  // a VQ-VAE's z_e, quantized by VAEImpl
      default: return {torch::relu(a), torch::Tensor()};
    }
  }
  return {linear(fc_mean_, h, first), head_log_var(cfg_, linear(fc_sd_, h, first))};
}

DecoderImpl::DecoderImpl(const ModelConfig& cfg) : cfg_(cfg) {
  if (is_conv(cfg) && is_quantized(cfg)) {  // a conv vq_vae: the code's grid to the last stage, 1x1
    code_deconv_ = register_module(
        "code_deconv", torch::nn::Conv2d(torch::nn::Conv2dOptions(cfg.code_dim, conv_stages(cfg).back(), 1)));
  } else {
    // Numbered after the encoder's K hidden layers and its heads, as in the guide.
    const size_t first = cfg.hidden.size() + 2;
    int64_t in = cfg.latent + (cfg.conditional ? cfg.classes : 0);
    for (size_t i = 0; i < cfg.hidden.size(); ++i) {
      const int64_t out = cfg.hidden[cfg.hidden.size() - 1 - i];
      add_dense(*this, cfg, fc_name(first + i), in, out, layers_, gates_);
      in = out;
    }
    layers_.push_back(register_module(fc_name(first + cfg.hidden.size()),
                                      torch::nn::Linear(in, is_conv(cfg) ? conv_features(cfg) : input_dim(cfg))));
  }
  if (is_conv(cfg)) {
    // The stages in reverse: deconv1 keeps the last stage's channels, each
    // next one steps down a stage, the last maps to the image's channels.
    const std::vector<int64_t> s = conv_stages(cfg);
    const size_t k = s.size();
    for (size_t i = 0; i < k; ++i) {
      const int64_t from = i == 0 ? s[k - 1] : s[k - i], to = s[k - 1 - i];
      deconvs_.push_back(register_module("deconv" + std::to_string(i + 1),
                                         torch::nn::ConvTranspose2d(deconv3x3(from, to, 2))));
    }
    deconvs_.push_back(register_module("deconv" + std::to_string(k + 1),
                                       torch::nn::ConvTranspose2d(deconv3x3(s[0], cfg.image_channels, 1))));
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
  // Keep any leading sample dimensions (the IW pass decodes [S, B, Z]).
  std::vector<int64_t> lead(z.sizes().begin(), z.sizes().end() - 1);
  if (code_deconv_) {  // a conv vq_vae: the code's grid, position-major
    const std::vector<int64_t> shape = conv_out_shape(cfg_);
    h = z.reshape({-1, shape[1], shape[2], cfg_.code_dim}).permute({0, 3, 1, 2});
    h = torch::relu(code_deconv_->forward(h));
  } else {
    for (size_t i = 0; i + 1 < layers_.size(); ++i) h = dense_layer(cfg_.activation, layers_[i], gates_[i], h);
    if (deconvs_.empty()) return layers_.back()->forward(h);
    const std::vector<int64_t> shape = conv_out_shape(cfg_);  // conv only: an MLP's image may be too small for a stage
    h = torch::relu(layers_.back()->forward(h)).reshape({-1, shape[0], shape[1], shape[2]});
  }
  for (size_t i = 0; i + 1 < deconvs_.size(); ++i) h = torch::relu(deconvs_[i]->forward(h));
  lead.push_back(input_dim(cfg_));
  return deconvs_.back()->forward(h).reshape(lead);
}

TopLayerImpl::TopLayerImpl(const ModelConfig& cfg) : cfg_(cfg) {
  int64_t in = cfg.latent;
  for (size_t i = 0; i < cfg.top_hidden.size(); ++i) {
    add_dense(*this, cfg, "q_" + fc_name(i + 1), in, cfg.top_hidden[i], q_, q_gates_);
    in = cfg.top_hidden[i];
  }
  q_mean_ = register_module("q_mean", torch::nn::Linear(in, cfg.top_latent));
  q_sd_ = register_module("q_sd", torch::nn::Linear(in, cfg.top_latent));
  in = cfg.top_latent;
  for (size_t i = 0; i < cfg.top_hidden.size(); ++i) {
    const int64_t out = cfg.top_hidden[cfg.top_hidden.size() - 1 - i];
    add_dense(*this, cfg, "p_" + fc_name(i + 1), in, out, p_, p_gates_);
    in = out;
  }
  p_mean_ = register_module("p_mean", torch::nn::Linear(in, cfg.latent));
  p_sd_ = register_module("p_sd", torch::nn::Linear(in, cfg.latent));
}

std::pair<torch::Tensor, torch::Tensor> TopLayerImpl::posterior(const torch::Tensor& z1) {
  torch::Tensor h = z1;
  for (size_t i = 0; i < q_.size(); ++i) h = dense_layer(cfg_.activation, q_[i], q_gates_[i], h);
  return {q_mean_->forward(h), head_log_var(cfg_, q_sd_->forward(h))};
}

std::pair<torch::Tensor, torch::Tensor> TopLayerImpl::prior(const torch::Tensor& z2) {
  torch::Tensor h = z2;
  for (size_t i = 0; i < p_.size(); ++i) h = dense_layer(cfg_.activation, p_[i], p_gates_[i], h);
  return {p_mean_->forward(h), head_log_var(cfg_, p_sd_->forward(h))};
}

VAEImpl::VAEImpl(const ModelConfig& cfg) : cfg_(cfg) {
  encoder_ = register_module("encoder", Encoder(cfg));
  decoder_ = register_module("decoder", Decoder(cfg));
  if (cfg.top_latent > 0) top_ = register_module("top", TopLayer(cfg));
  if (cfg.prior == Prior::kVamp)  // Tomczak and Welling's initialisation: N(0.05, 0.01)
    pseudo_ = register_parameter("pseudo_inputs",
                                 torch::randn({cfg.pseudo_inputs, input_dim(cfg)}) * 0.01 + 0.05);
  if (is_quantized(cfg)) {
    // U(-1/K, 1/K), as the paper's code and pythae initialise it.
    const double r = 1.0 / static_cast<double>(cfg.codebook_size);
    const torch::Tensor init = torch::rand({cfg.codebook_size, cfg.code_dim}) * (2 * r) - r;
    if (!cfg.codebook_ema) {
      codebook_ = register_parameter("codebook", init);
    } else {
      codebook_ = register_buffer("codebook", init);
      // As if each vector had been assigned itself once: an unused one keeps its place while its count decays.
      ema_count_ = register_buffer("ema_count", torch::ones({cfg.codebook_size}));
      ema_sum_ = register_buffer("ema_sum", init.clone());
    }
    steps_unused_ = register_buffer("steps_unused", torch::zeros({cfg.codebook_size}, torch::kInt64));
    codebook_initialized_ = register_buffer("codebook_initialized", torch::zeros({}, torch::kInt64));
  }
}

// The codes of every process's rows of the global batch: z_e [b, Z] ->
// [global rows, Z], summed in place across the processes.
static torch::Tensor whole_batch(const torch::Tensor& z_e, const RowSlice& rows) {
  if (!rows.sum_across) return z_e.detach();
  torch::Tensor all = torch::zeros({rows.global, z_e.size(1)}, z_e.options());
  all.narrow(0, rows.offset, z_e.size(0)).copy_(z_e.detach());
  rows.sum_across(all);
  return all;
}

// k codes drawn from the positions of the global batch's codes `all`
// [rows, Z]: distinct where there are enough.
static torch::Tensor random_codes(const torch::Tensor& all, int64_t code_dim, int64_t k) {
  const torch::Tensor pool = all.reshape({-1, code_dim});
  const int64_t n = pool.size(0);
  const auto i64 = torch::TensorOptions().dtype(torch::kInt64);
  const torch::Tensor pick = n >= k ? torch::randperm(n, i64).narrow(0, 0, k) : torch::randint(n, {k}, i64);
  return pool.index_select(0, pick.to(pool.device()));
}

void VAEImpl::update_codebook(const torch::Tensor& z_e, const torch::Tensor& indices, const RowSlice& rows,
                              double ema_decay, int64_t restart_steps) {
  if (!codebook_.defined()) throw std::logic_error("update_codebook: this model has no codebook (model.kind vq_vae)");
  if (ema_decay > 0 && !ema_count_.defined())
    throw std::logic_error("update_codebook: the codebook is not a moving average (model.codebook_ema)");
  torch::NoGradGuard no_grad;
  const int64_t k = cfg_.codebook_size, d = cfg_.code_dim;
  const torch::Tensor flat = z_e.detach().reshape({-1, d}).to(torch::kFloat32);
  const torch::Tensor idx = indices.reshape({-1});
  // [count | sum] per vector, summed over the processes in one call.
  torch::Tensor stats = torch::zeros({k, d + 1}, flat.options());
  stats.narrow(1, 0, 1).index_add_(0, idx, torch::ones({idx.size(0), 1}, flat.options()));
  stats.narrow(1, 1, d).index_add_(0, idx, flat);
  if (rows.sum_across) rows.sum_across(stats);
  if (!torch::isfinite(stats).all().item<bool>()) return;  // non-finite codes: no upkeep (the trainer's check is on the loss)
  const torch::Tensor used = stats.select(1, 0) > 0;
  steps_unused_.add_(1).masked_fill_(used, 0);
  if (ema_decay > 0) {
    ema_count_.mul_(ema_decay).add_(stats.select(1, 0), 1 - ema_decay);
    ema_sum_.mul_(ema_decay).add_(stats.narrow(1, 1, d), 1 - ema_decay);
    constexpr double kEps = 1e-5;
    const torch::Tensor n = ema_count_.sum();
    const torch::Tensor smoothed = (ema_count_ + kEps) / (n + static_cast<double>(k) * kEps) * n;
    codebook_.copy_(ema_sum_ / smoothed.clamp_min(kEps).unsqueeze(1));
  }
  if (restart_steps <= 0) return;
  const torch::Tensor dead = (steps_unused_ > restart_steps).nonzero().reshape({-1});
  const int64_t n_dead = dead.size(0);  // the same on every process: the counts were summed
  if (n_dead == 0) return;
  place_vectors(dead, random_codes(whole_batch(z_e, rows), d, n_dead));
}

void VAEImpl::place_vectors(const torch::Tensor& which, const torch::Tensor& vectors) {
  const torch::Tensor v = vectors.to(codebook_.scalar_type());
  codebook_.index_copy_(0, which, v);
  if (ema_sum_.defined()) {  // as if each had been assigned itself once
    ema_sum_.index_copy_(0, which, v);
    ema_count_.index_fill_(0, which, 1.0);
  }
  steps_unused_.index_fill_(0, which, 0);
}

bool VAEImpl::codebook_initialized() {
  if (!initialized_seen_ && codebook_initialized_.defined()) initialized_seen_ = codebook_initialized_.item<int64_t>() != 0;
  return initialized_seen_;
}

void VAEImpl::init_codebook(const torch::Tensor& z_e, const RowSlice& rows) {
  torch::NoGradGuard no_grad;
  const int64_t k = cfg_.codebook_size;
  place_vectors(torch::arange(k, torch::TensorOptions().dtype(torch::kInt64).device(codebook_.device())),
                random_codes(whole_batch(z_e, rows), cfg_.code_dim, k));
  codebook_initialized_.fill_(1);
  initialized_seen_ = true;
}

torch::Tensor VAEImpl::codebook() const { return codebook_; }

std::vector<int64_t> VAEImpl::code_grid() const {
  if (!is_conv(cfg_)) return {cfg_.latent / cfg_.code_dim};
  const std::vector<int64_t> s = conv_out_shape(cfg_);
  return {s[1], s[2]};
}

Quantized VAEImpl::quantize(const torch::Tensor& z_e) {
  if (!codebook_.defined()) throw std::logic_error("quantize: this model has no codebook (model.kind vq_vae)");
  const torch::Tensor flat = z_e.reshape({-1, cfg_.code_dim});  // [B * positions, code_dim]
  const torch::Tensor e = codebook_;
  torch::Tensor idx;
  {
    torch::NoGradGuard no_grad;
    const torch::Tensor d2 = flat.pow(2).sum(1, /*keepdim=*/true) - 2 * flat.matmul(e.t()) + e.pow(2).sum(1);
    idx = d2.argmin(1);
  }
  return {e.index_select(0, idx).reshape_as(z_e), idx.reshape({z_e.size(0), z_e.size(1) / cfg_.code_dim})};
}

torch::Tensor VAEImpl::codes_of(const torch::Tensor& indices) {
  int64_t positions = 1;
  for (const int64_t g : code_grid()) positions *= g;
  return codebook_.index_select(0, indices.reshape({-1}).to(codebook_.device()))
      .reshape({indices.size(0), positions * cfg_.code_dim});
}

torch::Tensor VAEImpl::pseudo_inputs() const {
  // hardtanh to [0, 1], as the paper's pseudo-input layer: gradients stop
  // only where a pixel is pushed past either end.
  return pseudo_.defined() ? torch::clamp(pseudo_, 0.0, 1.0) : torch::Tensor();
}

torch::Tensor VAEImpl::prior_log_weight(const torch::Tensor& z1, const torch::Tensor& top_eps) {
  if (!top_) return prior_log_density(z1);
  const auto [mu2, log_var2] = top_->posterior(z1);
  const torch::Tensor z2 = reparameterize(mu2, log_var2, top_eps);
  const auto [mu1, log_var1] = top_->prior(z2);
  const torch::Tensor zeros = torch::zeros_like(z2);
  return log_gaussian(z1, mu1, log_var1) + log_gaussian(z2, zeros, zeros) - log_gaussian(z2, mu2, log_var2);
}

torch::Tensor VAEImpl::prior_log_density(const torch::Tensor& z) {
  constexpr double kLog2Pi = 1.8378770664093453;
  if (top_) throw std::logic_error("a two-layer model's p(z1) has no closed form: use prior_log_weight");
  if (!pseudo_.defined()) return (-0.5 * (kLog2Pi + z.pow(2))).sum(-1);
  const auto [mu, log_var] = encoder_->forward(pseudo_inputs());  // [K, Z]
  // log N(z; mu_k, var_k) for every row and k as products, so z's rows and
  // the K components never make a [rows, K, Z] temporary:
  // -1/2 [sum_j (log 2 pi + lv + mu^2/var) - 2 z.(mu/var) + z^2.(1/var)].
  const torch::Tensor inv_var = torch::exp(-log_var);
  const torch::Tensor flat = z.reshape({-1, z.size(-1)}).to(mu.scalar_type());
  const torch::Tensor constant = (kLog2Pi + log_var + mu.pow(2) * inv_var).sum(-1);  // [K]
  const torch::Tensor log_n = -0.5 * (constant - 2 * flat.matmul((mu * inv_var).t()) + flat.pow(2).matmul(inv_var.t()));
  const double log_k = std::log(static_cast<double>(mu.size(0)));
  std::vector<int64_t> shape(z.sizes().begin(), z.sizes().end() - 1);
  return (torch::logsumexp(log_n, -1) - log_k).reshape(shape);
}

torch::Tensor VAEImpl::sample_prior(int64_t n, at::Generator& gen) {
  const torch::Device device = encoder_->parameters().front().device();
  const torch::Tensor eps = torch::randn({n, cfg_.latent}, gen, torch::kFloat32).to(device);
  if (top_) {
    const torch::Tensor z2 = torch::randn({n, cfg_.top_latent}, gen, torch::kFloat32).to(device);
    const auto [mu, log_var] = top_->prior(z2);
    return reparameterize(mu, log_var, eps);
  }
  if (!pseudo_.defined()) return eps;
  const torch::Tensor k = torch::randint(cfg_.pseudo_inputs, {n}, gen, torch::kInt64).to(device);
  const auto [mu, log_var] = encoder_->forward(pseudo_inputs().index_select(0, k));
  return reparameterize(mu, log_var, eps);
}

std::pair<torch::Tensor, torch::Tensor> VAEImpl::encode(const torch::Tensor& x, const torch::Tensor& y) {
  if (codebook_.defined()) return {encode_quantized(x, y).codes, torch::Tensor()};  // the code the decoder sees
  return encoder_->forward(x.reshape({x.size(0), input_dim(cfg_)}), y);
}

Quantized VAEImpl::encode_quantized(const torch::Tensor& x, const torch::Tensor& y) {
  return quantize(encoder_->forward(x.reshape({x.size(0), input_dim(cfg_)}), y).first);
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
