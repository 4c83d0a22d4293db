// The guide's variational autoencoder (and its beta, conditional and conv
// variants, the IWAE bound, the VampPrior and two stochastic layers) as an
// Objective; a header so the families built on the VAE (info_vae,
// src/objectives/wae.cpp) can derive from it.
#pragma once

#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "families.hpp"
#include "vae/evaluate.hpp"
#include "vae/transforms.hpp"

namespace vae {

class VaeObjective : public Objective {
 public:
  using Objective::Objective;
  std::string title() const override { return "VAE"; }
  CodeHead code_head() const override { return CodeHead::kGaussian; }
  bool has_prior() const override { return true; }
  // The fused MLP step computes the ELBO with the standard prior only.
  bool has_fused_step() const override {
    const ModelConfig& m = cfg_.model;
    return cfg_.loss.iw_samples == 1 && m.prior == Prior::kStandard && m.top_latent == 0;
  }

  // The ELBO's code: z = mu + sd * eps (eps for the global batch), and the
  // closed-form KL to N(0, I).
  CodeTerms code_terms(VAE& model, const torch::Tensor& mu, const torch::Tensor& log_var,
                       const RowSlice& rows) const override {
    CodeTerms c;
    c.z = model->sampling(mu, log_var, rows);
    c.terms.kl = gaussian_kl(mu, log_var);
    return c;
  }

  // IWAE (loss.iw_samples = k > 1): the negative importance-weighted bound,
  // -sum_b [logsumexp_k log w_kb - log k], as `recon` (kl 0): it has no KL
  // term of its own. The k draws per image are made for the whole global
  // batch ([B, k, Z], then this process's rows), as the ELBO's are.
  LossTerms train_terms(VAE& model, const torch::Tensor& x, const torch::Tensor& y,
                        const RowSlice& rows) const override {
    const int64_t k = cfg_.loss.iw_samples;
    if (k == 1 && closed_form_kl()) return Objective::train_terms(model, x, y, rows);
    const auto [mu, log_var] = model->encoder()->forward(x, y);
    const int64_t b = mu.size(0), width = model->noise_width();
    if (k == 1) return terms_at(model, x, y, mu, log_var, normal_rows(torch::empty({b, width}, mu.options()), rows));
    const torch::Tensor eps = normal_rows(torch::empty({b, k, width}, mu.options()), rows).transpose(0, 1);
    const torch::Tensor log_w = iw_log_weights(model, x, mu, log_var, eps, y);  // [k, B]
    const torch::Tensor bound = torch::logsumexp(log_w, 0) - std::log(static_cast<double>(k));
    return {(-bound.sum()).to(torch::kFloat32), torch::zeros({}, x.options()), {}};
  }

  LossTerms loss(const torch::Tensor& logits, const torch::Tensor& target, const torch::Tensor& mu,
                 const torch::Tensor& log_var) const override {
    if (!closed_form_kl())
      throw std::logic_error("this prior's KL is estimated at z: use train_terms or score");
    return vae_loss(logits, target, mu, log_var, cfg_.model.likelihood);
  }

  BatchScore score(VAE& model, const EvalBatch& b) const override {
    // An explicit z: eval-mode sampling returns mu, which is no ELBO estimate.
    const torch::Tensor like = torch::empty({b.mu.size(0), model->noise_width()}, b.mu.options());
    const torch::Tensor eps = normal_rows(like, b.rows, &b.elbo_gen);
    const LossTerms t = terms_at(model, b.x, b.y, b.mu, b.log_var, eps);
    BatchScore s{t.recon.to(torch::kFloat64), t.kl.to(torch::kFloat64), {}, {}};
    if (b.iw_samples > 0)
      s.nll = -iw_log_likelihood(model, b.x, b.iw_samples, b.iw_gen, b.chunk_rows, b.y, b.on_iw_chunk).sum();
    return s;
  }

  // Whether the KL term has a closed form: one stochastic layer with N(0, I).
  bool closed_form_kl() const { return cfg_.model.prior == Prior::kStandard && cfg_.model.top_latent == 0; }

  // The negative ELBO's terms at z = mu + sigma * eps[..., :Z]: the KL in
  // closed form for N(0, I); by Monte Carlo at that z (log q(z|x) - log
  // p(z)) for the VampPrior, whose KL has none; and for two layers, log
  // q(z1|x) + log q(z2|z1) - log p(z1|z2) - log p(z2) with z2 drawn from
  // eps[..., Z:].
  LossTerms terms_at(VAE& model, const torch::Tensor& x, const torch::Tensor& y, const torch::Tensor& mu,
                     const torch::Tensor& log_var, const torch::Tensor& eps) const {
    const int64_t z_dim = mu.size(-1);
    const torch::Tensor z = reparameterize(mu, log_var, eps.narrow(-1, 0, z_dim));
    const torch::Tensor logits = model->decoder()->forward(z, y);
    if (closed_form_kl()) return vae_loss(logits, x, mu, log_var, cfg_.model.likelihood);
    const torch::Tensor recon = -log_likelihood(logits, x, cfg_.model.likelihood).sum();
    const torch::Tensor top_eps = eps.narrow(-1, z_dim, eps.size(-1) - z_dim);
    const torch::Tensor kl = (log_gaussian(z, mu, log_var) - model->prior_log_weight(z, top_eps)).sum();
    return {recon, kl, {}};
  }

  std::string epoch_note(const EpochMetrics::Test& /*test*/, double kl_weight) const override {
    if (kl_weight == 1.0) return "";
    char text[48];
    std::snprintf(text, sizeof text, "  kl weight %.3g", kl_weight);
    return text;
  }
};

}  // namespace vae
