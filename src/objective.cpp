#include "vae/objective.hpp"

#include <cstdio>
#include <stdexcept>

#include "objectives/families.hpp"
#include "vae/transforms.hpp"

namespace vae {
namespace {

constexpr double kLog2Pi = 1.8378770664093453;  // log(2 pi)

using Factory = std::unique_ptr<Objective> (*)(const Config&);

// model.kind -> its family: a new kind is a line here (and its file).
constexpr struct {
  Kind kind;
  Factory make;
} kFamilies[] = {
    {Kind::kVae, make_vae_objective},
    {Kind::kAe, make_ae_objective},
    {Kind::kSparseAe, make_sparse_ae_objective},
    {Kind::kDenoisingAe, make_denoising_ae_objective},
    {Kind::kRae, make_rae_objective},
    {Kind::kWae, make_wae_objective},
    {Kind::kInfoVae, make_info_vae_objective},
    {Kind::kVqVae, make_vq_vae_objective},
};

}  // namespace

torch::Tensor log_gaussian(const torch::Tensor& z, const torch::Tensor& mean, const torch::Tensor& log_var) {
  return (-0.5 * (kLog2Pi + log_var + (z - mean).pow(2) * torch::exp(-log_var))).sum(-1);
}

std::unique_ptr<Objective> make_objective(const Config& cfg) {
  for (const auto& f : kFamilies)
    if (f.kind == cfg.model.kind) return f.make(cfg);
  throw std::logic_error(std::string("model.kind ") + name(cfg.model.kind) + " has no objective");
}

std::unique_ptr<Objective> make_objective(const ModelConfig& model) {
  Config cfg;
  cfg.model = model;
  return make_objective(cfg);
}

LossTerms model_loss(const Config& cfg, const torch::Tensor& logits, const torch::Tensor& target,
                     const torch::Tensor& mu, const torch::Tensor& log_var) {
  return make_objective(cfg)->loss(logits, target, mu, log_var);
}

LossTerms Objective::train_terms(VAE& model, const torch::Tensor& x, const torch::Tensor& y,
                                 const RowSlice& rows) const {
  const torch::Tensor input =
      corrupts_input() ? corrupt(x, cfg_.data.noise, cfg_.data.noise_level, nullptr, rows) : x;
  const VAEOutput out = model->forward(input, y, rows);
  return loss(out.logits, x, out.mu, out.log_var);
}

CodeTerms Objective::code_terms(VAE& /*model*/, const torch::Tensor& /*mu*/, const torch::Tensor& /*log_var*/,
                                const RowSlice& /*rows*/) const {
  throw std::logic_error("model.kind " + std::string(name(cfg_.model.kind)) + " has no separate code step");
}

LossTerms Objective::terms_through_code(VAE& model, const torch::Tensor& x, const torch::Tensor& y,
                                        const RowSlice& rows) const {
  const auto [mu, log_var] = model->encoder()->forward(x.reshape({x.size(0), input_dim(cfg_.model)}), y);
  CodeTerms c = code_terms(model, mu, log_var, rows);
  c.terms.recon = -log_likelihood(model->decoder()->forward(c.z, y), x, cfg_.model.likelihood).sum();
  return c.terms;
}

BatchScore CodeObjective::score(VAE& model, const EvalBatch& b) const {
  return {reconstruction_error(model, b.mu, b.x, b.y), {}, {}, {}};
}

std::string CodeObjective::epoch_note(const EpochMetrics::Test& test, double /*kl_weight*/) const {
  char text[48];
  std::snprintf(text, sizeof text, "  mean |code| %.4f", test.code_abs);
  return text;
}

torch::Tensor reconstruction_error(VAE& model, const torch::Tensor& code, const torch::Tensor& x,
                                   const torch::Tensor& y) {
  return -log_likelihood(model->decoder()->forward(code, y), x, model->config().likelihood).sum().to(torch::kFloat64);
}

torch::Tensor iw_log_weights(VAE& model, const torch::Tensor& x, const torch::Tensor& mu,
                             const torch::Tensor& log_var, const torch::Tensor& eps, const torch::Tensor& labels) {
  const int64_t s = eps.size(0), b = x.size(0), z_dim = mu.size(1);
  // eps [S, B, noise_width]: z1's noise, then a two-layer model's z2's.
  const torch::Tensor z = reparameterize(mu.unsqueeze(0), log_var.unsqueeze(0), eps.narrow(-1, 0, z_dim));  // [S, B, Z]
  // Rows run sample-major, so image j's label repeats every b rows.
  const torch::Tensor y = labels.defined() ? labels.repeat({s}) : labels;
  const torch::Tensor flat = model->decoder()->forward(z.reshape({s * b, z_dim}), y);
  const torch::Tensor logits = flat.reshape({s, b, flat.size(1)});  // b may be 0: a process without rows
  const torch::Tensor log_px_z = log_likelihood(logits, x.unsqueeze(0).expand_as(logits), model->config().likelihood);
  const torch::Tensor log_pz = model->prior_log_weight(z, eps.narrow(-1, z_dim, eps.size(-1) - z_dim));  // [S, B]
  const torch::Tensor log_qz = log_gaussian(z, mu.unsqueeze(0), log_var.unsqueeze(0));
  return (log_px_z + log_pz - log_qz).to(torch::kFloat64);
}

}  // namespace vae
