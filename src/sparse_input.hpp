// A dense layer's input that is mostly zeros. MNIST's digits have 13% (binarized)
// to 19% of their pixels nonzero, so the first layer of an MLP encoder spends
// most of its two large products (x w^T forward, g^T x for the weight's
// gradient) multiplying zeros. SparseInput holds a batch's nonzeros, and
// the layers reading it multiply only those: on the 784 -> 400 layer at
// batch 100, about 0.25 ms a step instead of 1.1 ms (docs/BENCHMARKS.md).
// The result equals the dense product up to float rounding: each output
// sums its nonzeros in ascending pixel order.
//
//   const auto s = SparseInput::of(x);               // nullopt: use the dense layer
//   torch::Tensor h = s ? s->linear(fc->weight, fc->bias) : fc->forward(x);
#pragma once

#include <torch/types.h>

#include <optional>

namespace vae {
namespace detail {
struct SparseLinearFunction;
}

class SparseInput {
 public:
  // x's nonzeros where the sparse product pays: x a contiguous CPU float32
  // [B, D] that needs no gradient, B >= kMinRows, at most kMaxDensity of its
  // entries nonzero. nullopt otherwise.
  static std::optional<SparseInput> of(const torch::Tensor& x);
  static constexpr int64_t kMinRows = 16;
  // Above about 0.4 nonzero the forward's gathered weight rows cost more than
  // OpenBLAS's dense product (measured on Fashion-MNIST's batches, 784 ->
  // 512 at batch 128, which are about half nonzero): 0.35 leaves a margin.
  static constexpr double kMaxDensity = 0.35;

  // x w^T + b for w [O, D] and b [O], differentiable in w and b (through the
  // dense product when a second derivative is taken). Dense below kMinOutputs.
  torch::Tensor linear(const torch::Tensor& w, const torch::Tensor& b) const;
  static constexpr int64_t kMinOutputs = 16;

  // y [B, O] = x w^T + b, without autograd; y contiguous.
  void linear_out(const torch::Tensor& y, const torch::Tensor& w, const torch::Tensor& b) const;
  // gw [O, D] = g^T x for g [B, O]: the weight gradient of x w^T; gw contiguous.
  void weight_grad_out(const torch::Tensor& gw, const torch::Tensor& g) const;

  const torch::Tensor& dense() const { return x_; }
  int64_t nonzeros() const { return row_val_.numel(); }

 private:
  friend struct detail::SparseLinearFunction;  // keeps the tensors for the backward
  SparseInput() = default;

  torch::Tensor x_;                 // [B, D]
  torch::Tensor row_ptr_;           // int32 [B + 1]: row i's entries are [ptr[i], ptr[i + 1])
  torch::Tensor row_idx_, row_val_; // int32 column and float value of each entry [nnz]
};

}  // namespace vae
