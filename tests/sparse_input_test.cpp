// A dense layer fed from its input's nonzeros (src/sparse_input.hpp): the
// same outputs and gradients as the dense product, for any width (the
// kernels' 64-, 16- and 8-wide tiles and the scalar tail), first and second
// derivatives, the inputs it declines, and the encoder that uses it (the
// fused step's use: tests/train_step_test.cpp).
#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "sparse_input.hpp"
#include "sparse_kernels.hpp"
#include "vae/model.hpp"

namespace vae {
namespace {

// [b, d] with about `density` of its entries nonzero: values in (0, 1], and
// some negative, so no sign is assumed.
torch::Tensor sparse_batch(int64_t b, int64_t d, double density, uint64_t seed) {
  torch::manual_seed(seed);
  const torch::Tensor keep = torch::rand({b, d}) < density;
  const torch::Tensor values = torch::rand({b, d}) * 2 - 0.5;
  return torch::where(keep, values, torch::zeros({b, d}));
}

double max_diff(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }

TEST(SparseInput, OutputsAndWeightGradientsEqualTheDenseProducts) {
  const torch::Tensor x = sparse_batch(40, 150, 0.2, 1);
  const auto s = SparseInput::of(x);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->nonzeros(), x.ne(0).sum().item<int64_t>());
  // 64-wide tiles, 16-wide, 8-wide, a scalar tail, and their mixtures.
  for (int64_t o : {16, 24, 64, 100, 128, 143, 256, 400}) {  // 128, 256: rows padded for gathering
    const torch::Tensor w = torch::randn({o, 150}), b = torch::randn({o}), g = torch::randn({40, o});
    const torch::Tensor dense = torch::addmm(b, x, w.t());
    EXPECT_LT(max_diff(s->linear(w, b), dense), 1e-5) << o << " outputs";
    torch::Tensor y = torch::full({40, o}, std::numeric_limits<float>::quiet_NaN());
    s->linear_out(y, w, b);  // every entry written
    EXPECT_LT(max_diff(y, dense), 1e-5) << o << " outputs";
    torch::Tensor gw = torch::full({o, 150}, std::numeric_limits<float>::quiet_NaN());
    s->weight_grad_out(gw, g);
    EXPECT_LT(max_diff(gw, g.t().mm(x)), 1e-5) << o << " outputs";
  }
}

TEST(SparseInput, FirstAndSecondDerivativesEqualTheDenseLayers) {
  const torch::Tensor x = sparse_batch(32, 60, 0.15, 2);
  const auto s = SparseInput::of(x);
  ASSERT_TRUE(s.has_value());
  torch::manual_seed(3);
  const torch::Tensor w0 = torch::randn({70, 60}), b0 = torch::randn({70}), r = torch::randn({32, 70});
  struct Grads {
    torch::Tensor w, b, w2, b2;
  };
  // loss = sum(tanh(y) * r); its gradient; then the gradient of ||dloss/dw||^2,
  // which differentiates the layer's backward (as RAE-GP's penalty does).
  auto run = [&](bool sparse) {
    const torch::Tensor w = w0.clone().requires_grad_(), b = b0.clone().requires_grad_();
    const torch::Tensor y = sparse ? s->linear(w, b) : torch::addmm(b, x, w.t());
    const torch::Tensor loss = (torch::tanh(y) * r).sum();
    const auto first = torch::autograd::grad({loss}, {w, b}, {}, /*retain_graph=*/true, /*create_graph=*/true);
    const auto second = torch::autograd::grad({first[0].pow(2).sum() + first[1].pow(2).sum()}, {w, b});
    return Grads{first[0].detach(), first[1].detach(), second[0], second[1]};
  };
  const Grads a = run(true), d = run(false);
  EXPECT_LT(max_diff(a.w, d.w), 1e-4);
  EXPECT_LT(max_diff(a.b, d.b), 1e-4);
  EXPECT_GT(d.w2.abs().max().item<double>(), 0.0);
  EXPECT_LT(max_diff(a.w2, d.w2), 1e-3 * d.w2.abs().max().item<double>());
  EXPECT_LT(max_diff(a.b2, d.b2), 1e-3 * d.b2.abs().max().item<double>());
  // A plain backward (no graph) takes the sparse weight gradient.
  const torch::Tensor w = w0.clone().requires_grad_(), b = b0.clone().requires_grad_();
  (torch::tanh(s->linear(w, b)) * r).sum().backward();
  EXPECT_LT(max_diff(w.grad(), d.w), 1e-4);
  EXPECT_LT(max_diff(b.grad(), d.b), 1e-4);
}

TEST(SparseInput, DeclinesInputsWhereTheDenseProductServes) {
  EXPECT_TRUE(SparseInput::of(sparse_batch(16, 50, 0.2, 4)).has_value());
  EXPECT_FALSE(SparseInput::of(sparse_batch(16, 50, 0.5, 4)).has_value()) << "half nonzero (Fashion-MNIST)";
  EXPECT_FALSE(SparseInput::of(sparse_batch(15, 50, 0.2, 4)).has_value()) << "fewer than 16 rows";
  EXPECT_EQ(detail::gather_stride(400), 400);
  EXPECT_EQ(detail::gather_stride(512), 528);
  EXPECT_EQ(detail::gather_stride(7), 16);
  EXPECT_FALSE(SparseInput::of(sparse_batch(16, 50, 0.2, 4).to(torch::kDouble)).has_value()) << "double";
  EXPECT_FALSE(SparseInput::of(sparse_batch(50, 16, 0.2, 4).t()).has_value()) << "not contiguous";
  EXPECT_FALSE(SparseInput::of(sparse_batch(16, 50, 0.2, 4).requires_grad_()).has_value()) << "needs a gradient";
  EXPECT_FALSE(SparseInput::of(torch::zeros({16, 5, 10})).has_value()) << "not a matrix";
  // All zeros is the sparsest input of all.
  const auto empty = SparseInput::of(torch::zeros({16, 50}));
  ASSERT_TRUE(empty.has_value());
  const torch::Tensor w = torch::randn({20, 50}), b = torch::randn({20});
  EXPECT_TRUE(torch::equal(empty->linear(w, b), b.expand({16, 20})));
  // Fewer than 16 outputs go through the dense product, and stay correct.
  const torch::Tensor x = sparse_batch(16, 50, 0.2, 5);
  const torch::Tensor w7 = torch::randn({7, 50}), b7 = torch::randn({7});
  EXPECT_LT(max_diff(SparseInput::of(x)->linear(w7, b7), torch::addmm(b7, x, w7.t())), 1e-5);
}

TEST(SparseInput, ANaNInTheInputReachesItsRowOnly) {
  torch::Tensor x = sparse_batch(16, 40, 0.2, 6);
  x[3][7] = std::numeric_limits<float>::quiet_NaN();
  const torch::Tensor y = SparseInput::of(x)->linear(torch::randn({32, 40}), torch::randn({32}));
  EXPECT_TRUE(torch::isnan(y[3]).all().item<bool>());
  EXPECT_EQ(torch::isnan(y).sum().item<int64_t>(), 32);
}

TEST(SparseInput, TheTransposeIsExactForEveryShape) {
  for (auto [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{
           {1, 1}, {1, 9}, {7, 9}, {8, 8}, {16, 24}, {13, 21}, {33, 17}, {400, 784}}) {
    const torch::Tensor in = torch::randn({rows, cols});
    torch::Tensor out = torch::empty({cols, rows});
    detail::transpose(in.data_ptr<float>(), rows, cols, cols, out.data_ptr<float>(), rows);
    EXPECT_TRUE(torch::equal(out, in.t())) << rows << " x " << cols;
    // Rows of the output further apart than its width (the gathering stride).
    const int64_t ld = detail::gather_stride(rows);
    torch::Tensor wide = torch::full({cols, ld}, 7.0f);
    detail::transpose(in.data_ptr<float>(), rows, cols, cols, wide.data_ptr<float>(), ld);
    EXPECT_TRUE(torch::equal(wide.narrow(1, 0, rows), in.t())) << rows << " x " << cols << ", stride " << ld;
    EXPECT_TRUE((wide.narrow(1, rows, ld - rows) == 7.0f).all().item<bool>()) << "the padding is not written";
  }
}

// The encoder's first layer (and a gated layer's gate) reads the input's
// nonzeros: its code is exactly the layers written out with SparseInput for
// the first, and with set_sparse_input(false) exactly the dense layers'.
TEST(SparseInput, TheEncodersFirstLayerReadsTheNonzeros) {
  for (Activation act : {Activation::kRelu, Activation::kGated}) {
    ModelConfig cfg;
    cfg.hidden = {48, 24};
    cfg.latent = 5;
    cfg.activation = act;
    torch::manual_seed(9);
    Encoder enc(cfg);
    torch::NoGradGuard no_grad;
    const auto p = enc->named_parameters();
    const torch::Tensor x = sparse_batch(20, 784, 0.15, 10);
    const auto s = SparseInput::of(x);
    ASSERT_TRUE(s.has_value());
    // Layer `name` of the activation, its linear parts given.
    auto layer = [&](const std::string& name, auto linear) {
      if (act == Activation::kGated)
        return linear(p[name + ".weight"], p[name + ".bias"]) *
               torch::sigmoid(linear(p[name + "_gate.weight"], p[name + "_gate.bias"]));
      return torch::relu(linear(p[name + ".weight"], p[name + ".bias"]));
    };
    const torch::Tensor h1 = layer("fc1", [&](const torch::Tensor& w, const torch::Tensor& b) { return s->linear(w, b); });
    const torch::Tensor h2 =
        layer("fc2", [&](const torch::Tensor& w, const torch::Tensor& b) { return torch::addmm(b, h1, w.t()); });
    const torch::Tensor mu = torch::addmm(p["fc_mean.bias"], h2, p["fc_mean.weight"].t());
    const torch::Tensor sparse_mu = enc->forward(x).first;
    EXPECT_TRUE(torch::equal(sparse_mu, mu));
    enc->set_sparse_input(false);
    const torch::Tensor dense_mu = enc->forward(x).first;
    EXPECT_LT(max_diff(sparse_mu, dense_mu), 1e-4);
  }
}

}  // namespace
}  // namespace vae
