#include "sparse_input.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/autograd.h>

#include <limits>

#include "sparse_kernels.hpp"

namespace vae {
namespace {

using detail::SparseLines;

SparseLines lines(const torch::Tensor& ptr, const torch::Tensor& idx, const torch::Tensor& val) {
  return {ptr.data_ptr<int32_t>(), idx.data_ptr<int32_t>(), val.data_ptr<float>()};
}

// out [L, O] = init + s m over L lines (m's rows m.stride(0) apart), the
// outputs split among LibTorch's intra-op threads in tiles of 64.
void times(const SparseLines& s, int64_t lines, const torch::Tensor& m, const float* init, const torch::Tensor& out) {
  const int64_t o = out.size(1);
  at::parallel_for(0, o, 64, [&](int64_t o0, int64_t o1) {
    detail::sparse_times(s, lines, m.data_ptr<float>(), m.stride(0), o, init, out.data_ptr<float>(), o0, o1);
  });
}

// w [R, C] transposed to [C, R], its rows gather_stride(R) floats apart.
torch::Tensor transposed_for_gathering(const torch::Tensor& w) {
  const torch::Tensor in = w.contiguous();
  const int64_t r = in.size(0), c = in.size(1), ld = detail::gather_stride(r);
  torch::Tensor out = torch::empty({c, ld}, in.options());
  detail::transpose(in.data_ptr<float>(), r, c, c, out.data_ptr<float>(), ld);
  return out.narrow(1, 0, r);
}

// g [B, O] with its rows gather_stride(O) floats apart: g itself, or a copy.
torch::Tensor for_gathering(const torch::Tensor& g) {
  const int64_t ld = detail::gather_stride(g.size(1));
  if (g.stride(1) == 1 && g.stride(0) == ld) return g;
  torch::Tensor out = torch::empty({g.size(0), ld}, g.options()).narrow(1, 0, g.size(1));
  out.copy_(g);
  return out;
}

void check_layer(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
  TORCH_CHECK(w.dim() == 2 && w.size(1) == x.size(1) && w.scalar_type() == torch::kFloat && w.device().is_cpu(),
              "SparseInput: weight ", w.sizes(), " for an input of ", x.size(1), " columns");
  TORCH_CHECK(b.defined() && b.dim() == 1 && b.size(0) == w.size(0) && b.scalar_type() == torch::kFloat &&
                  b.device().is_cpu(),
              "SparseInput: bias for ", w.size(0), " outputs");
}

}  // namespace

// x w^T + b whose backward gives w's gradient from x's columns. A backward
// that builds a graph (a second derivative) goes through the dense product.
struct detail::SparseLinearFunction : torch::autograd::Function<SparseLinearFunction> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& w, const torch::Tensor& b,
                               const SparseInput& s) {
    torch::Tensor y = torch::empty({s.x_.size(0), w.size(0)}, w.options());
    s.linear_out(y, w, b);
    ctx->save_for_backward({s.x_});  // checked against changes in place before the backward
    ctx->saved_data["ptr"] = s.row_ptr_;
    ctx->saved_data["idx"] = s.row_idx_;
    ctx->saved_data["val"] = s.row_val_;
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    SparseInput s;
    s.x_ = ctx->get_saved_variables()[0];
    s.row_ptr_ = ctx->saved_data["ptr"].toTensor();
    s.row_idx_ = ctx->saved_data["idx"].toTensor();
    s.row_val_ = ctx->saved_data["val"].toTensor();
    const torch::Tensor g = grads[0].contiguous();
    torch::Tensor gw;
    if (torch::GradMode::is_enabled()) {
      gw = g.t().mm(s.x_);
    } else {
      gw = torch::empty({g.size(1), s.x_.size(1)}, g.options());
      s.weight_grad_out(gw, g);
    }
    return {gw, g.sum(0), torch::Tensor()};
  }
};

std::optional<SparseInput> SparseInput::of(const torch::Tensor& x) {
  if (!x.defined() || x.dim() != 2 || !x.device().is_cpu() || x.scalar_type() != torch::kFloat ||
      !x.is_contiguous() || x.requires_grad() || x.size(0) < kMinRows)
    return std::nullopt;
  const int64_t b = x.size(0), d = x.size(1);
  const int64_t nnz = detail::count_nonzero(x.data_ptr<float>(), x.numel());
  if (static_cast<double>(nnz) > kMaxDensity * static_cast<double>(x.numel())) return std::nullopt;
  SparseInput s;
  s.x_ = x;
  const auto i32 = torch::TensorOptions().dtype(torch::kInt);
  s.row_ptr_ = torch::empty({b + 1}, i32);
  s.row_idx_ = torch::empty({nnz}, i32);
  s.row_val_ = torch::empty({nnz}, x.options());
  detail::sparse_rows(x.data_ptr<float>(), b, d, s.row_ptr_.data_ptr<int32_t>(), s.row_idx_.data_ptr<int32_t>(),
                      s.row_val_.data_ptr<float>());
  return s;
}

torch::Tensor SparseInput::linear(const torch::Tensor& w, const torch::Tensor& b) const {
  if (w.size(0) < kMinOutputs) return torch::addmm(b, x_, w.t());
  check_layer(x_, w, b);
  if (torch::GradMode::is_enabled() && (w.requires_grad() || b.requires_grad()))
    return detail::SparseLinearFunction::apply(w, b, *this);
  torch::Tensor y = torch::empty({x_.size(0), w.size(0)}, w.options());
  linear_out(y, w, b);
  return y;
}

void SparseInput::linear_out(const torch::Tensor& y, const torch::Tensor& w, const torch::Tensor& b) const {
  check_layer(x_, w, b);
  TORCH_CHECK(y.is_contiguous() && y.device().is_cpu() && y.scalar_type() == torch::kFloat && y.dim() == 2 &&
                  y.size(0) == x_.size(0) && y.size(1) == w.size(0),
              "SparseInput: output ", y.sizes());
  const torch::Tensor bias = b.contiguous();
  times(lines(row_ptr_, row_idx_, row_val_), x_.size(0), transposed_for_gathering(w), bias.data_ptr<float>(), y);
}

void SparseInput::weight_grad_out(const torch::Tensor& gw, const torch::Tensor& g) const {
  const int64_t b = x_.size(0), d = x_.size(1), o = g.size(1);
  TORCH_CHECK(g.dim() == 2 && g.size(0) == b && g.device().is_cpu() && g.scalar_type() == torch::kFloat &&
                  gw.is_contiguous() && gw.device().is_cpu() && gw.scalar_type() == torch::kFloat && gw.dim() == 2 &&
                  gw.size(0) == o && gw.size(1) == d,
              "SparseInput: gradient ", g.sizes(), " into ", gw.sizes());
  const auto i32 = torch::TensorOptions().dtype(torch::kInt);
  const torch::Tensor col_ptr = torch::empty({d + 1}, i32), col_idx = torch::empty({nonzeros()}, i32),
                      col_val = torch::empty({nonzeros()}, x_.options());
  detail::sparse_columns(lines(row_ptr_, row_idx_, row_val_), b, d, col_ptr.data_ptr<int32_t>(),
                         col_idx.data_ptr<int32_t>(), col_val.data_ptr<float>());
  torch::Tensor gt = torch::empty({d, o}, g.options());
  times(lines(col_ptr, col_idx, col_val), d, for_gathering(g), nullptr, gt);
  detail::transpose(gt.data_ptr<float>(), d, o, o, gw.data_ptr<float>(), d);
}

}  // namespace vae
