#include "train_step.hpp"

#include <ATen/ATen.h>
#include <torch/autograd.h>

#include <algorithm>
#include <set>

#include "vae/loss.hpp"
#include "vae/transforms.hpp"

namespace vae {

bool fused_step_applies(const Config& cfg, const torch::Device& device) {
  const ModelConfig& m = cfg.model;
  return cfg.train.fused_step && device.is_cpu() && make_objective(cfg)->has_fused_step() && m.arch == Arch::kMlp &&
         m.likelihood == Likelihood::kBernoulli && !m.conditional && m.activation == Activation::kRelu &&
         !m.bounded_log_var;
}

std::unique_ptr<TrainStep> make_train_step(const Config& cfg, VAE& model, FlatGradients& grads,
                                           const torch::Device& device, int64_t max_batch) {
  if (fused_step_applies(cfg, device)) return std::make_unique<FusedMlpStep>(cfg, model, max_batch);
  return std::make_unique<AutogradStep>(cfg, model, grads);
}

double AutogradStep::run(const torch::Tensor& x, const torch::Tensor& y, double kl_weight, const RowSlice& rows) {
  grads_.zero();  // backward adds into the block
  const LossTerms terms = objective_->train_terms(model_, x, y, rows);
  pending_ = terms.commit;
  torch::Tensor loss = kl_weight == 1.0 ? terms.total() : terms.recon + kl_weight * terms.kl;
  if (terms.penalty.defined()) loss = loss + terms.penalty;
  const double value = loss.item<double>();
  loss.backward();
  return value;
}

FusedMlpStep::FusedMlpStep(const Config& cfg, VAE& model, int64_t max_batch)
    : objective_(make_objective(cfg)), model_(model), max_batch_(max_batch),
      sparse_input_(model->encoder()->sparse_input()), gp_weight_(objective_->decoder_gradient_penalty()) {
  const ModelConfig& m = cfg.model;
  std::set<const void*> by_hand;  // the parameters whose gradients the step writes itself
  auto layer = [&](const torch::nn::Linear& lin) {
    by_hand.insert(lin->weight.unsafeGetTensorImpl());
    by_hand.insert(lin->bias.unsafeGetTensorImpl());
    return Layer{lin->weight, lin->bias, torch::empty({max_batch, lin->weight.size(0)})};
  };
  for (const auto& lin : model->encoder()->hidden_layers()) enc_.push_back(layer(lin));
  mean_ = layer(model->encoder()->mean_head());
  if (model->encoder()->sd_head()) sd_ = layer(model->encoder()->sd_head());
  for (const auto& lin : model->decoder()->layers()) dec_.push_back(layer(lin));
  for (const torch::Tensor& p : model->parameters())
    if (by_hand.count(p.unsafeGetTensorImpl()) == 0) others_.push_back(p);
  int64_t widest = std::max(input_dim(m), m.latent);
  for (int64_t h : m.hidden) widest = std::max(widest, h);
  for (log_chunk_ = 120; input_dim(m) % log_chunk_ != 0;) --log_chunk_;  // 112 for 784 pixels
  grad_out_ = torch::empty({max_batch * widest});
  grad_in_ = torch::empty({max_batch * widest});
}

namespace {

// The first b rows of a buffer.
torch::Tensor rows(const torch::Tensor& t, int64_t b) { return t.narrow(0, 0, b); }

// A contiguous [b, width] view of a flat scratch buffer.
torch::Tensor scratch(const torch::Tensor& t, int64_t b, int64_t width) {
  return t.narrow(0, 0, b * width).view({b, width});
}

}  // namespace

void FusedMlpStep::encode(const torch::Tensor& x) {
  const int64_t b = x.size(0);
  sparse_ = sparse_input_ && !enc_.empty() ? SparseInput::of(x) : std::nullopt;
  torch::Tensor in = x;
  for (Layer& l : enc_) {
    torch::Tensor h = rows(l.out, b);
    if (sparse_ && in.is_same(x)) {
      sparse_->linear_out(h, l.w, l.b);
    } else {
      at::addmm_out(h, l.b, in, l.w.t());
    }
    h.relu_();
    in = h;
  }
  mu_ = rows(mean_.out, b);
  at::addmm_out(mu_, mean_.b, in, mean_.w.t());
  log_var_ = torch::Tensor();
  if (sd_.w.defined()) {
    log_var_ = rows(sd_.out, b);
    at::addmm_out(log_var_, sd_.b, in, sd_.w.t());
  }
}

void FusedMlpStep::decode(const torch::Tensor& z) {
  const int64_t b = z.size(0);
  torch::Tensor in = z;
  for (size_t j = 0; j < dec_.size(); ++j) {
    torch::Tensor h = rows(dec_[j].out, b);
    at::addmm_out(h, dec_[j].b, in, dec_[j].w.t());
    if (j + 1 < dec_.size()) h.relu_();
    in = h;
  }
}

// BCE(sigmoid(l), x) summed = sum softplus(l) - sum l x, with softplus(l) =
// max(l, 0) - log q, q = sigmoid(|l|) = 0.5 + |s - 0.5|, from s = sigmoid(l),
// which the gradient needs anyway. q lies in [0.5, 1], so a product of
// log_chunk_ (<= 120) of them stays above 2^-120, a normal float: sum log q
// is one log per chunk's product instead of one per pixel. max(l, 0) - l x
// is summed as one term, so two large sums do not cancel in float.
double FusedMlpStep::loss_and_output_gradient(const torch::Tensor& x) {
  const torch::Tensor& logits = dec_.back().out;
  const int64_t b = x.size(0), d = logits.size(1);
  const torch::Tensor l = rows(logits, b);
  g_ = scratch(grad_out_, b, d);
  at::sigmoid_out(g_, l);
  const torch::Tensor flat_l = l.reshape({-1}), flat_x = x.reshape({-1});
  const torch::Tensor q = (g_ - 0.5).abs_().add_(0.5).view({-1, log_chunk_});
  const double recon = at::relu(flat_l).addcmul_(flat_l, flat_x, -1).sum().item<double>() -
                       q.prod(1).log_().sum().item<double>();
  g_.sub_(x);  // dL/dlogits = sigmoid(l) - x
  return recon;
}

void FusedMlpStep::backward_decoder() {
  const int64_t b = g_.size(0);
  for (size_t j = dec_.size(); j-- > 0;) {
    Layer& l = dec_[j];
    const torch::Tensor layer_in = j > 0 ? rows(dec_[j - 1].out, b) : z_;
    at::mm_out(l.w.mutable_grad(), g_.t(), layer_in);
    at::sum_out(l.b.mutable_grad(), g_, {0});
    torch::Tensor g_in = j > 0 ? scratch(grad_in_, b, layer_in.size(1)) : torch::empty_like(z_);
    at::mm_out(g_in, g_, l.w);
    if (j > 0) at::threshold_backward_out(g_in, g_in, layer_in, 0);  // ReLU: zero where the output was 0
    std::swap(grad_out_, grad_in_);
    g_ = g_in;
  }
}

// RAE-GP's penalty P = lambda sum_b ||g_b||^2, g = d(sum_d sigmoid(l))/dz,
// through the decoder's layers W_j (out_j x in_j) and ReLU masks m_j:
//   u_last = s' = s (1 - s);  v_j = u_j W_j;  u_{j-1} = v_j * m_{j-1};  g = v_0,
// and its gradient in reverse, the masks constant (ReLU'' = 0):
//   dv_0 = 2 lambda g;  dW_j += u_j^T dv_j;  du_j = dv_j W_j^T;
//   dv_{j+1} = du_j * m_j;  d logits = du_last * s' (1 - 2 s).
// The last goes into g_ beside the reconstruction's and takes the forward
// layers' backward with it; the weights' own terms wait in gp_u_ / gp_dv_
// for backward_decoder to have written the gradients.
double FusedMlpStep::gradient_penalty() {
  const int64_t b = g_.size(0);
  const size_t n = dec_.size();
  const torch::Tensor s = at::sigmoid(rows(dec_.back().out, b));
  const torch::Tensor s1 = s * (1 - s);
  gp_u_.assign(n, torch::Tensor());
  gp_dv_.assign(n, torch::Tensor());
  gp_u_[n - 1] = s1;
  torch::Tensor v;
  for (size_t j = n; j-- > 0;) {
    v = gp_u_[j].mm(dec_[j].w);
    if (j > 0) gp_u_[j - 1] = at::threshold_backward(v, rows(dec_[j - 1].out, b), 0);
  }
  const double penalty = gp_weight_ * v.pow(2).sum().item<double>();
  torch::Tensor dv = (2 * gp_weight_) * v;
  for (size_t j = 0; j < n; ++j) {
    gp_dv_[j] = dv;
    const torch::Tensor du = dv.mm(dec_[j].w.t());
    if (j + 1 < n) {
      dv = at::threshold_backward(du, rows(dec_[j].out, b), 0);
    } else {
      g_.add_(du * s1 * (1 - 2 * s));
    }
  }
  return penalty;
}

// From the gradients at the heads' outputs, g_mu [B, Z] and g_lv (or
// undefined: a code head), down the encoder.
void FusedMlpStep::backward_encoder(const torch::Tensor& x, const torch::Tensor& g_mu, const torch::Tensor& g_lv) {
  const int64_t b = x.size(0);
  const torch::Tensor h_last = enc_.empty() ? x : rows(enc_.back().out, b);
  at::mm_out(mean_.w.mutable_grad(), g_mu.t(), h_last);
  at::sum_out(mean_.b.mutable_grad(), g_mu, {0});
  if (g_lv.defined()) {
    at::mm_out(sd_.w.mutable_grad(), g_lv.t(), h_last);
    at::sum_out(sd_.b.mutable_grad(), g_lv, {0});
  }
  if (enc_.empty()) return;
  torch::Tensor g_h = scratch(grad_out_, b, h_last.size(1));
  at::mm_out(g_h, g_mu, mean_.w);
  if (g_lv.defined()) g_h.addmm_(g_lv, sd_.w);
  for (size_t i = enc_.size(); i-- > 0;) {
    Layer& l = enc_[i];
    at::threshold_backward_out(g_h, g_h, rows(l.out, b), 0);
    const torch::Tensor layer_in = i > 0 ? rows(enc_[i - 1].out, b) : x;
    if (i == 0 && sparse_) {
      sparse_->weight_grad_out(l.w.mutable_grad(), g_h);
    } else {
      at::mm_out(l.w.mutable_grad(), g_h.t(), layer_in);
    }
    at::sum_out(l.b.mutable_grad(), g_h, {0});
    if (i > 0) {
      torch::Tensor g_in = scratch(grad_in_, b, layer_in.size(1));
      at::mm_out(g_in, g_h, l.w);
      std::swap(grad_out_, grad_in_);
      g_h = g_in;
    }
  }
}

// The encoder and the decoder by hand; between them the objective's code
// terms by autograd, on leaves holding the heads' outputs: its draws, KL and
// penalties (and a codebook's gradient) as train_terms computes them, and
// the gradient at the heads from both the decoder's (through z) and theirs.
double FusedMlpStep::run(const torch::Tensor& x, const torch::Tensor& /*y*/, double kl_weight, const RowSlice& rows) {
  TORCH_CHECK(x.size(0) <= max_batch_, "FusedMlpStep: batch of ", x.size(0), " rows, buffers for ", max_batch_);
  {
    torch::NoGradGuard no_grad;
    encode(x);
  }
  const torch::Tensor mu = mu_.detach().requires_grad_();
  const torch::Tensor log_var = log_var_.defined() ? log_var_.detach().requires_grad_() : torch::Tensor();
  const CodeTerms code = objective_->code_terms(model_, mu, log_var, rows);
  pending_ = code.terms.commit;
  double recon = 0;
  {
    torch::NoGradGuard no_grad;
    z_ = code.z.detach();
    decode(z_);
    recon = loss_and_output_gradient(x);
    if (gp_weight_ > 0) recon += gradient_penalty();  // adds to g_
    backward_decoder();  // g_ = d recon / dz
    for (size_t j = 0; gp_weight_ > 0 && j < dec_.size(); ++j) dec_[j].w.mutable_grad().addmm_(gp_u_[j].t(), gp_dv_[j]);
    for (torch::Tensor& p : others_) p.mutable_grad().zero_();  // autograd adds to these
  }
  torch::Tensor code_loss;
  if (code.terms.kl.defined()) code_loss = kl_weight == 1.0 ? code.terms.kl : kl_weight * code.terms.kl;
  if (code.terms.penalty.defined())
    code_loss = code_loss.defined() ? code_loss + code.terms.penalty : code.terms.penalty;
  std::vector<torch::Tensor> roots{code.z}, seeds{g_};
  if (code_loss.defined() && code_loss.requires_grad()) {
    roots.push_back(code_loss);
    seeds.push_back(torch::ones({}, code_loss.options()));
  }
  torch::autograd::backward(roots, seeds);
  torch::NoGradGuard no_grad;
  backward_encoder(x, mu.grad(), log_var.defined() ? log_var.grad() : torch::Tensor());
  return recon + (code_loss.defined() ? code_loss.item<double>() : 0.0);
}

}  // namespace vae
