#include "vae/fused_step.hpp"

#include <ATen/ATen.h>
#include <torch/autograd.h>

#include <algorithm>
#include <string>

namespace vae {
namespace {

// The gradient buffer of a parameter: allocated once, then overwritten.
torch::Tensor& grad_of(const torch::Tensor& p) {
  torch::Tensor& g = p.mutable_grad();
  if (!g.defined()) g = torch::zeros_like(p);
  return g;
}

}  // namespace

bool FusedStep::applies(const Config& cfg, const torch::Device& device) {
  return cfg.train.fused_step && device.is_cpu() && cfg.model.kind == "vae" && cfg.model.arch == "mlp" &&
         cfg.model.likelihood == "bernoulli" && !cfg.model.conditional;
}

FusedStep::FusedStep(VAE& model, int64_t max_batch) : max_batch_(max_batch) {
  const ModelConfig& cfg = model->config();
  auto params = model->named_parameters();
  auto layer = [&](const std::string& name, int64_t width) {
    Layer l;
    l.w = params[name + ".weight"];
    l.b = params[name + ".bias"];
    l.out = torch::empty({max_batch, width});
    return l;
  };
  const size_t k = cfg.hidden.size();
  for (size_t i = 0; i < k; ++i) enc_.push_back(layer("encoder.fc" + std::to_string(i + 1), cfg.hidden[i]));
  mean_ = layer("encoder.fc_mean", cfg.latent);
  sd_ = layer("encoder.fc_sd", cfg.latent);
  for (size_t j = 0; j <= k; ++j)
    dec_.push_back(layer("decoder.fc" + std::to_string(k + 2 + j), j < k ? cfg.hidden[k - 1 - j] : input_dim(cfg)));
  int64_t widest = std::max(input_dim(cfg), cfg.latent);
  for (int64_t h : cfg.hidden) widest = std::max(widest, h);
  for (log_chunk_ = 120; input_dim(cfg) % log_chunk_ != 0;) --log_chunk_;  // 112 for 784 pixels
  grad_out_ = torch::empty({max_batch * widest});
  grad_in_ = torch::empty({max_batch * widest});
}

double FusedStep::run(const torch::Tensor& x, double kl_weight) {
  torch::NoGradGuard no_grad;
  const int64_t b = x.size(0);
  TORCH_CHECK(b <= max_batch_, "FusedStep: batch of ", b, " rows, buffers for ", max_batch_);
  auto rows = [b](const torch::Tensor& t) { return t.narrow(0, 0, b); };
  // A contiguous [b, width] view of a flat scratch buffer; two of them are
  // swapped as the gradient flows down.
  auto scratch = [b](const torch::Tensor& t, int64_t width) { return t.narrow(0, 0, b * width).view({b, width}); };

  // Forward: the encoder's hidden layers, the heads, z, the decoder.
  torch::Tensor in = x;
  for (Layer& l : enc_) {
    torch::Tensor h = rows(l.out);
    at::addmm_out(h, l.b, in, l.w.t());
    h.relu_();
    in = h;
  }
  const torch::Tensor h_last = in;
  torch::Tensor mu = rows(mean_.out), log_var = rows(sd_.out);
  at::addmm_out(mu, mean_.b, h_last, mean_.w.t());
  at::addmm_out(log_var, sd_.b, h_last, sd_.w.t());
  // VAEImpl::sampling's draw: randn_like of the standard deviation, from the default generator.
  const torch::Tensor sd = (0.5 * log_var).exp_();
  const torch::Tensor eps = torch::randn_like(sd);
  const torch::Tensor z = mu + eps * sd;
  in = z;
  for (size_t j = 0; j < dec_.size(); ++j) {
    torch::Tensor h = rows(dec_[j].out);
    at::addmm_out(h, dec_[j].b, in, dec_[j].w.t());
    if (j + 1 < dec_.size()) h.relu_();
    in = h;
  }
  const torch::Tensor logits = in;

  // Loss: BCE(sigmoid(l), x) summed = sum softplus(l) - sum l x, with
  // softplus(l) = max(l, 0) - log q, q = sigmoid(|l|) = 0.5 + |s - 0.5|, from
  // s = sigmoid(l), which the gradient needs anyway. q lies in [0.5, 1], so
  // a product of log_chunk_ (<= 120) of them stays above 2^-120, a normal
  // float: sum log q = sum over chunks of log(prod q), one log per chunk.
  // Here at::softplus took 270 us a batch (its log1p is scalar) and a log
  // per pixel 130 us; the chunked logs take about 16 us and agree with the
  // float64 sum to 1e-6 relative. max(l, 0) - l x is summed as one term, so
  // the two large sums do not cancel in float.
  const int64_t d = logits.size(1);
  torch::Tensor g = scratch(grad_out_, d);
  at::sigmoid_out(g, logits);
  const torch::Tensor flat_l = logits.reshape({-1}), flat_x = x.reshape({-1});
  const torch::Tensor q = (g - 0.5).abs_().add_(0.5).view({-1, log_chunk_});
  const double recon = at::relu(flat_l).addcmul_(flat_l, flat_x, -1).sum().item<double>() -
                       q.prod(1).log_().sum().item<double>();
  const torch::Tensor var = log_var.exp();
  const double kl = -0.5 * (1 + log_var - mu * mu - var).sum().item<double>();

  // Backward. dL/dlogits = sigmoid(l) - x.
  g.sub_(x);
  for (size_t j = dec_.size(); j-- > 0;) {
    Layer& l = dec_[j];
    const torch::Tensor layer_in = j > 0 ? rows(dec_[j - 1].out) : z;
    at::mm_out(grad_of(l.w), g.t(), layer_in);
    at::sum_out(grad_of(l.b), g, {0});
    torch::Tensor g_in = j > 0 ? scratch(grad_in_, layer_in.size(1)) : torch::empty_like(z);
    at::mm_out(g_in, g, l.w);
    if (j > 0) at::threshold_backward_out(g_in, g_in, layer_in, 0);  // ReLU: zero where the output was 0
    std::swap(grad_out_, grad_in_);
    g = g_in;
  }
  // g = dL/dz. z = mu + eps * exp(log_var / 2); KL' = mu and (exp(log_var) - 1) / 2.
  const torch::Tensor g_mu = g + kl_weight * mu;
  const torch::Tensor g_lv = g * eps * sd * 0.5 + (0.5 * kl_weight) * (var - 1);
  at::mm_out(grad_of(mean_.w), g_mu.t(), h_last);
  at::sum_out(grad_of(mean_.b), g_mu, {0});
  at::mm_out(grad_of(sd_.w), g_lv.t(), h_last);
  at::sum_out(grad_of(sd_.b), g_lv, {0});
  if (!enc_.empty()) {
    torch::Tensor g_h = scratch(grad_out_, h_last.size(1));
    at::mm_out(g_h, g_mu, mean_.w);
    g_h.addmm_(g_lv, sd_.w);
    for (size_t i = enc_.size(); i-- > 0;) {
      Layer& l = enc_[i];
      const torch::Tensor out = rows(l.out);
      at::threshold_backward_out(g_h, g_h, out, 0);
      const torch::Tensor layer_in = i > 0 ? rows(enc_[i - 1].out) : x;
      at::mm_out(grad_of(l.w), g_h.t(), layer_in);
      at::sum_out(grad_of(l.b), g_h, {0});
      if (i > 0) {
        torch::Tensor g_in = scratch(grad_in_, layer_in.size(1));
        at::mm_out(g_in, g_h, l.w);
        std::swap(grad_out_, grad_in_);
        g_h = g_in;
      }
    }
  }
  return recon + kl_weight * kl;
}

}  // namespace vae
