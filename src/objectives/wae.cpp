// The families that pull their codes toward the prior by a maximum mean
// discrepancy (MMD) between the batch's codes and draws from N(0, I):
//   wae      the Wasserstein autoencoder WAE-MMD (Tolstikhin et al. 2018):
//            a deterministic linear code, recon + B * mmd_weight * MMD^2;
//            its prior N(0, I) is what vae-sample decodes.
//   info_vae InfoVAE's MMD-VAE (Zhao et al. 2019): the VAE's recon + beta *
//            KL, plus B * mmd_weight * MMD^2 of the sampled z. In the
//            paper's (alpha, lambda): beta = 1 - alpha, mmd_weight =
//            alpha + lambda - 1.
// MMD^2 is the unbiased estimate over the whole global batch: with several
// processes each adds its rows' share and its rows' exact gradient.
#include <torch/autograd.h>

#include <cmath>

#include "families.hpp"
#include "vae.hpp"

namespace vae {
namespace {

constexpr double kImqScales[] = {0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0};

// The kernel as a function of the squared distance d2, with its derivative
// in the same pass over d2 (CPU): one autograd node where the composite
// form below records three per IMQ scale, which for a batch of 100 cost
// more than the arithmetic. The backward is first-order only: nothing
// differentiates the MMD twice.
struct KernelOfDistance : torch::autograd::Function<KernelOfDistance> {
  template <typename T>
  static void fill(MmdKernel kind, double c, const T* d2, T* k, T* dk, int64_t n) {
    if (kind == MmdKernel::kRbf) {
      for (int64_t i = 0; i < n; ++i) {
        k[i] = std::exp(-d2[i] / static_cast<T>(c));
        dk[i] = -k[i] / static_cast<T>(c);
      }
      return;
    }
    for (int64_t i = 0; i < n; ++i) {
      T sum = 0, slope = 0;
      for (const double s : kImqScales) {
        const T sc = static_cast<T>(s * c), q = sc / (sc + d2[i]);
        sum += q;
        slope -= q * q / sc;  // d/dd2 sc / (sc + d2) = -sc / (sc + d2)^2
      }
      k[i] = sum;
      dk[i] = slope;
    }
  }

  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& d2_in, MmdKernel kind,
                               double c) {
    const torch::Tensor d2 = d2_in.contiguous();
    torch::Tensor k = torch::empty_like(d2), dk = torch::empty_like(d2);
    if (d2.scalar_type() == torch::kDouble)
      fill(kind, c, d2.data_ptr<double>(), k.data_ptr<double>(), dk.data_ptr<double>(), d2.numel());
    else
      fill(kind, c, d2.data_ptr<float>(), k.data_ptr<float>(), dk.data_ptr<float>(), d2.numel());
    ctx->save_for_backward({dk});
    return k;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    return {grads[0] * ctx->get_saved_variables()[0], torch::Tensor(), torch::Tensor()};
  }
};

// k(a_i, b_j) for every pair: [n, m]. C = 2 Z, the WAE paper's scale for a
// prior of unit variance; IMQ summed over its scales, as its code does.
torch::Tensor kernel(MmdKernel kind, const torch::Tensor& a, const torch::Tensor& b) {
  const double c = 2.0 * static_cast<double>(a.size(1));
  const torch::Tensor d2 =
      (a.pow(2).sum(1, /*keepdim=*/true) + b.pow(2).sum(1).unsqueeze(0) - 2 * a.matmul(b.t())).clamp_min(0);
  const bool fused = d2.device().is_cpu() && (d2.scalar_type() == torch::kFloat || d2.scalar_type() == torch::kDouble);
  if (fused) return KernelOfDistance::apply(d2, kind, c);
  if (kind == MmdKernel::kRbf) return torch::exp(-d2 / c);
  torch::Tensor k = torch::zeros_like(d2);
  for (const double s : kImqScales) k = k + (s * c) / (s * c + d2);
  return k;
}

// The mean of k over the pairs of distinct rows of a: sum_{i != j} / (n (n - 1)).
torch::Tensor off_diagonal_mean(const torch::Tensor& k) {
  const auto n = static_cast<double>(k.size(0));
  return (k.sum() - k.diagonal().sum()) / (n * (n - 1));
}

class WaeObjective : public CodeObjective {
 public:
  using CodeObjective::CodeObjective;
  std::string title() const override { return "WAE"; }
  CodeHead code_head() const override { return CodeHead::kLinear; }
  bool has_prior() const override { return true; }
  bool has_elbo() const override { return false; }

  LossTerms loss(const torch::Tensor& logits, const torch::Tensor& target, const torch::Tensor& /*code*/,
                 const torch::Tensor& /*log_var*/) const override {
    return {-log_likelihood(logits, target, cfg_.model.likelihood).sum(), torch::zeros({}, logits.options()), {}};
  }

  bool has_fused_step() const override { return true; }

  // The code is the encoder's output, pulled toward the prior by the MMD.
  CodeTerms code_terms(VAE& /*model*/, const torch::Tensor& code, const torch::Tensor& /*log_var*/,
                       const RowSlice& rows) const override {
    CodeTerms c;
    c.z = code;
    c.terms.kl = torch::zeros({}, code.options());
    c.terms.penalty = mmd_penalty(cfg_.loss, code, rows);
    return c;
  }

  LossTerms train_terms(VAE& model, const torch::Tensor& x, const torch::Tensor& y,
                        const RowSlice& rows) const override {
    return terms_through_code(model, x, y, rows);
  }
};

class InfoVaeObjective : public VaeObjective {
 public:
  using VaeObjective::VaeObjective;
  std::string title() const override { return "InfoVAE"; }

  // The VAE's code (the same draws: eps for the global batch, then this
  // process's rows) and KL, and the MMD of the sampled z.
  CodeTerms code_terms(VAE& model, const torch::Tensor& mu, const torch::Tensor& log_var,
                       const RowSlice& rows) const override {
    CodeTerms c = VaeObjective::code_terms(model, mu, log_var, rows);
    c.terms.penalty = mmd_penalty(cfg_.loss, c.z, rows);
    return c;
  }

  LossTerms train_terms(VAE& model, const torch::Tensor& x, const torch::Tensor& y,
                        const RowSlice& rows) const override {
    return terms_through_code(model, x, y, rows);
  }
};

}  // namespace

torch::Tensor mmd_penalty(const LossConfig& loss, const torch::Tensor& codes, const RowSlice& rows) {
  const int64_t b = codes.size(0), z_dim = codes.size(1);
  const bool whole = !rows.sum_across;  // this process holds the whole batch
  const int64_t n = whole || rows.global == 0 ? b : rows.global;
  if (n < 2) return torch::zeros({}, codes.options());  // no pair to compare (every process agrees)
  const auto nd = static_cast<double>(n);
  // The prior's draws for the whole batch, the same on every process.
  const torch::Tensor prior = torch::randn({n, z_dim}, codes.options());
  torch::Tensor pp;
  {
    torch::NoGradGuard no_grad;
    pp = off_diagonal_mean(kernel(loss.mmd_kernel, prior, prior));
  }
  // MMD^2 of n codes z against the prior's draws.
  const auto mmd = [&](const torch::Tensor& z) {
    return off_diagonal_mean(kernel(loss.mmd_kernel, z, z)) + pp -
           2 * kernel(loss.mmd_kernel, z, prior).sum() / (nd * nd);
  };
  if (whole) return (nd * loss.mmd_weight) * mmd(codes);
  // Several processes: every code of the batch, then the batch's MMD^2 (its
  // value) and a surrogate whose gradient on this process's rows is the
  // MMD^2's: 2/(n(n-1)) sum_{i mine, j != i} k(z_i, z_j) - 2/n^2 sum_{i mine, j} k(z_i, p_j).
  torch::Tensor all = torch::zeros({n, z_dim}, codes.options());
  all.narrow(0, rows.offset, b).copy_(codes.detach());
  rows.sum_across(all);
  torch::Tensor value;
  {
    torch::NoGradGuard no_grad;
    value = mmd(all);
  }
  const torch::Tensor k_mine = kernel(loss.mmd_kernel, codes, all);  // [b, n]
  const torch::Tensor own = k_mine.narrow(1, rows.offset, b).diagonal().sum();
  const torch::Tensor surrogate =
      2 * (k_mine.sum() - own) / (nd * (nd - 1)) - 2 * kernel(loss.mmd_kernel, codes, prior).sum() / (nd * nd);
  return (loss.mmd_weight * static_cast<double>(b)) * value + (nd * loss.mmd_weight) * (surrogate - surrogate.detach());
}

std::unique_ptr<Objective> make_wae_objective(const Config& cfg) { return std::make_unique<WaeObjective>(cfg); }
std::unique_ptr<Objective> make_info_vae_objective(const Config& cfg) {
  return std::make_unique<InfoVaeObjective>(cfg);
}

}  // namespace vae
