// The hand-written training step against autograd: the same loss and the
// same gradients, for any number of hidden layers and any batch size.
#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "test_util.hpp"
#include "vae/fused_step.hpp"
#include "vae/loss.hpp"
#include "vae/model.hpp"
#include "vae/trainer.hpp"

namespace vae {
namespace {

using testing::TempDir;

struct StepResult {
  double loss;
  std::vector<torch::Tensor> grads;
};

std::vector<torch::Tensor> grads_of(VAE& model) {
  std::vector<torch::Tensor> g;
  for (const auto& p : model->parameters()) g.push_back(p.grad().clone());
  return g;
}

StepResult autograd_step(VAE& model, const torch::Tensor& x, double w, uint64_t seed) {
  for (auto& p : model->parameters()) p.mutable_grad().reset();
  model->train();
  torch::manual_seed(seed);  // the draw of eps
  const VAEOutput out = model->forward(x);
  const LossTerms t = vae_loss(out.logits, x, out.mu, out.log_var);
  const torch::Tensor loss = t.recon + w * t.kl;
  loss.backward();
  return {loss.item<double>(), grads_of(model)};
}

// Every gradient is first filled with NaN: one the step failed to write
// would fail the comparison.
StepResult fused_step(FusedStep& step, VAE& model, const torch::Tensor& x, double w, uint64_t seed) {
  {
    torch::NoGradGuard ng;
    for (auto& p : model->parameters())
      if (p.grad().defined()) p.mutable_grad().fill_(std::numeric_limits<float>::quiet_NaN());
  }
  torch::manual_seed(seed);
  const double loss = step.run(x, w);
  return {loss, grads_of(model)};
}

void expect_same(const StepResult& a, const StepResult& b, VAE& model, const std::string& what) {
  EXPECT_NEAR(a.loss, b.loss, 1e-4 * std::abs(a.loss)) << what;
  const auto names = model->named_parameters().keys();
  ASSERT_EQ(a.grads.size(), b.grads.size());
  for (size_t i = 0; i < a.grads.size(); ++i) {
    const double scale = a.grads[i].abs().max().item<double>();
    EXPECT_GT(scale, 0.0) << what << " " << names[i];
    EXPECT_LT((a.grads[i] - b.grads[i]).abs().max().item<double>(), 1e-4 * scale + 1e-6) << what << " " << names[i];
  }
}

TEST(FusedStep, SameLossAndGradientsAsAutograd) {
  for (const std::vector<int64_t>& hidden : {std::vector<int64_t>{32, 16}, std::vector<int64_t>{24},
                                             std::vector<int64_t>{}}) {
    ModelConfig cfg;
    cfg.hidden = hidden;
    cfg.latent = 3;
    torch::manual_seed(7);
    VAE model(cfg);
    FusedStep step(model, 10);
    torch::manual_seed(8);
    const torch::Tensor x = torch::rand({10, 784});
    for (double w : {1.0, 0.25}) {
      const std::string what = std::to_string(hidden.size()) + " hidden layers, kl weight " + std::to_string(w);
      const StepResult reference = autograd_step(model, x, w, 99);
      const StepResult fused = fused_step(step, model, x, w, 99);
      expect_same(reference, fused, model, what);
      // A smaller (ragged last) batch reuses the buffers.
      const torch::Tensor few = x.narrow(0, 0, 3);
      const StepResult reference_few = autograd_step(model, few, w, 5);
      const StepResult fused_few = fused_step(step, model, few, w, 5);
      expect_same(reference_few, fused_few, model, what + ", 3 rows");
    }
  }
}

TEST(FusedStep, AppliesToTheUnconditionalBernoulliMlpVaeOnCpu) {
  Config cfg;
  EXPECT_TRUE(FusedStep::applies(cfg, torch::kCPU));
  EXPECT_FALSE(FusedStep::applies(cfg, torch::Device(torch::kCUDA)));
  for (auto change : std::vector<void (*)(Config&)>{
           [](Config& c) { c.model.arch = "conv"; }, [](Config& c) { c.model.kind = "ae"; },
           [](Config& c) { c.model.likelihood = "gaussian"; }, [](Config& c) { c.model.conditional = true; },
           [](Config& c) { c.train.fused_step = false; }}) {
    Config other;
    change(other);
    EXPECT_FALSE(FusedStep::applies(other, torch::kCPU));
  }
}

// Whole runs: the fused and the autograd step train to the same test loss.
TEST(FusedStep, TrainsLikeAutograd) {
  TempDir dir;
  testing::write_synthetic_split(dir.file("data"), 512, 128, /*gz=*/false);
  std::vector<double> losses;
  for (bool fused : {true, false}) {
    Config cfg;
    cfg.data.dir = dir.file("data");
    cfg.model.hidden = {64};
    cfg.model.latent = 4;
    cfg.train.epochs = 3;
    cfg.train.batch_size = 50;  // a ragged last batch of 12
    cfg.train.device = "cpu";
    cfg.train.image_every = 0;
    cfg.train.fused_step = fused;
    cfg.train.out_dir = dir.file(fused ? "fused" : "autograd");
    const TrainResult r = train(cfg, {});
    losses.push_back(r.history.back().test.loss);
  }
  EXPECT_NEAR(losses[0], losses[1], 0.01 * losses[1]) << "fused " << losses[0] << ", autograd " << losses[1];
}

}  // namespace
}  // namespace vae
