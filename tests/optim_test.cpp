// FusedAdam against torch::optim::Adam, and gradients cleared to none.
#include <gtest/gtest.h>
#include <torch/optim/adam.h>
#include <torch/serialize.h>

#include <sstream>
#include <vector>

#include "vae/model.hpp"
#include "vae/gradients.hpp"
#include "vae/optim.hpp"

namespace vae {
namespace {

std::vector<torch::Tensor> make_params(int64_t seed) {
  torch::manual_seed(seed);
  return {torch::randn({40, 30}).requires_grad_(), torch::randn({30}).requires_grad_(),
          torch::randn({7, 3, 5}).requires_grad_()};
}

// The same gradients (drawn from `step`) on both sets of parameters.
void set_gradients(std::vector<torch::Tensor>& params, int64_t step) {
  torch::manual_seed(1000 + step);
  for (auto& p : params) p.mutable_grad() = torch::randn_like(p) * (step % 3 + 0.1);
}

double max_difference(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, (a[i] - b[i]).abs().max().item<double>());
  return worst;
}

TEST(FusedAdam, MatchesTorchAdamStepForStep) {
  auto ref = make_params(1), fused = make_params(1);
  torch::optim::Adam adam(ref, torch::optim::AdamOptions(1e-2));
  FusedAdam fast(fused, torch::optim::AdamOptions(1e-2));
  for (int64_t step = 0; step < 50; ++step) {
    set_gradients(ref, step);
    set_gradients(fused, step);
    adam.step();
    fast.step();
  }
  // 50 steps of lr 1e-2 move each weight by up to 0.5: the two agree to float rounding.
  EXPECT_GT(max_difference(ref, make_params(1)), 0.1);
  EXPECT_LT(max_difference(ref, fused), 2e-6);
}

TEST(FusedAdam, StateMovesBetweenFusedAndTorchAdam) {
  // 10 fused steps, saved, loaded into torch's Adam, 10 more steps: the
  // same as 20 steps of torch's Adam.
  auto ref = make_params(2), mixed = make_params(2);
  torch::optim::Adam adam(ref, torch::optim::AdamOptions(5e-3));
  for (int64_t step = 0; step < 20; ++step) {
    set_gradients(ref, step);
    adam.step();
  }
  FusedAdam first(mixed, torch::optim::AdamOptions(5e-3));
  for (int64_t step = 0; step < 10; ++step) {
    set_gradients(mixed, step);
    first.step();
  }
  std::stringstream buffer;
  torch::serialize::OutputArchive out;
  first.save(out);
  out.save_to(buffer);
  torch::optim::Adam second(mixed, torch::optim::AdamOptions(5e-3));
  torch::serialize::InputArchive in;
  in.load_from(buffer);
  second.load(in);
  for (int64_t step = 10; step < 20; ++step) {
    set_gradients(mixed, step);
    second.step();
  }
  EXPECT_LT(max_difference(ref, mixed), 2e-6);
}

TEST(FusedAdam, WeightDecayTakesTorchAdamsStepExactly) {
  auto ref = make_params(3), fused = make_params(3);
  torch::optim::Adam adam(ref, torch::optim::AdamOptions(1e-2).weight_decay(0.1));
  FusedAdam fast(fused, torch::optim::AdamOptions(1e-2).weight_decay(0.1));
  for (int64_t step = 0; step < 5; ++step) {
    set_gradients(ref, step);
    set_gradients(fused, step);
    adam.step();
    fast.step();
  }
  EXPECT_EQ(max_difference(ref, fused), 0.0);
}

TEST(FlatGradients, ZeroThenBackwardStoresFreshGradients) {
  ModelConfig cfg;
  cfg.hidden = {16};
  cfg.latent = 3;
  torch::manual_seed(4);
  VAE model(cfg);
  FlatGradients block(model->parameters());
  const torch::Tensor x = torch::rand({5, 784});
  model->eval();  // deterministic: z = mu
  auto grads = [&] {
    std::vector<torch::Tensor> g;
    for (const auto& p : model->parameters()) g.push_back(p.grad().clone());
    return g;
  };
  model->forward(x).logits.sum().backward();
  const auto once = grads();
  ASSERT_GE(once.size(), 6u);
  model->forward(x).logits.sum().backward();  // accumulates: twice the gradient
  EXPECT_LT(max_difference(grads(), [&] {
              std::vector<torch::Tensor> d;
              for (const auto& g : once) d.push_back(2 * g);
              return d;
            }()),
            1e-5);
  block.zero();
  EXPECT_EQ(block.flat().abs().sum().item<double>(), 0.0);
  model->forward(x).logits.sum().backward();
  EXPECT_EQ(max_difference(grads(), once), 0.0);
}

}  // namespace
}  // namespace vae
