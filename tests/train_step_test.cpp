// The two training steps (src/train_step.hpp): the hand-written one against
// autograd, the same loss and the same gradients, for any number of hidden
// layers and any batch size; and the flat gradient block both write into.
#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "test_util.hpp"
#include "train_step.hpp"
#include "vae/gradients.hpp"
#include "vae/loss.hpp"
#include "vae/model.hpp"
#include "vae/checkpoint.hpp"
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

// Every gradient is first filled with NaN: one a step failed to write (or,
// for autograd, to clear) would fail the comparison.
StepResult run_step(TrainStep& step, FlatGradients& grads, VAE& model, const torch::Tensor& x, double w,
                    uint64_t seed) {
  grads.flat().fill_(std::numeric_limits<float>::quiet_NaN());
  model->train();
  torch::manual_seed(seed);  // the draw of eps
  const double loss = step.run(x, torch::Tensor(), w);
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

VAE seeded(const ModelConfig& m, uint64_t seed) {
  torch::manual_seed(seed);
  return VAE(m);
}

// An MLP VAE of `hidden` layers and latent 3, seeded, with both steps
// writing into its one gradient block.
struct BothSteps {
  BothSteps(const std::vector<int64_t>& hidden, uint64_t seed, int64_t max_batch)
      : whole([&] {
          Config c;
          c.model.hidden = hidden;
          c.model.latent = 3;
          return c;
        }()),
        model(seeded(whole.model, seed)),
        grads(model->parameters()),
        autograd(whole, model, grads),
        fused(whole, model, max_batch) {}
  Config whole;
  VAE model;
  FlatGradients grads;
  AutogradStep autograd;
  FusedMlpStep fused;
};

TEST(TrainStep, FusedSameLossAndGradientsAsAutograd) {
  for (const std::vector<int64_t>& hidden : {std::vector<int64_t>{32, 16}, std::vector<int64_t>{24},
                                             std::vector<int64_t>{}}) {
    BothSteps s(hidden, 7, 10);
    auto& [whole, model, grads, autograd, fused] = s;
    torch::manual_seed(8);
    const torch::Tensor x = torch::rand({10, 784});
    for (double w : {1.0, 0.25}) {
      const std::string what = std::to_string(hidden.size()) + " hidden layers, kl weight " + std::to_string(w);
      const StepResult reference = run_step(autograd, grads, model, x, w, 99);
      const StepResult hand = run_step(fused, grads, model, x, w, 99);
      expect_same(reference, hand, model, what);
      // A smaller (ragged last) batch reuses the buffers.
      const torch::Tensor few = x.narrow(0, 0, 3);
      const StepResult reference_few = run_step(autograd, grads, model, few, w, 5);
      const StepResult fused_few = run_step(fused, grads, model, few, w, 5);
      expect_same(reference_few, fused_few, model, what + ", 3 rows");
    }
  }
}

// The objectives whose code terms the fused step takes from code_terms:
// their loss and every gradient (a codebook's too) as autograd's, with the
// same draws (eps, the MMD's prior draws, the first batch's codebook).
TEST(TrainStep, FusedSameAsAutogradForEveryObjectiveItServes) {
  struct Case {
    std::string name;
    void (*set)(Config&);
  };
  const std::vector<Case> cases{
      {"wae", [](Config& c) { c.model.kind = Kind::kWae; }},
      {"info_vae", [](Config& c) { c.model.kind = Kind::kInfoVae; }},
      {"info_vae rbf", [](Config& c) {
         c.model.kind = Kind::kInfoVae;
         c.loss.mmd_kernel = MmdKernel::kRbf;
       }},
      {"vq_vae", [](Config& c) {
         c.model.kind = Kind::kVqVae;
         c.model.codebook_size = 8;
         c.model.code_dim = 2;
       }},
      {"rae_gp", [](Config& c) {
         c.model.kind = Kind::kRae;
         c.loss.rae_regularizer = RaeRegularizer::kGp;
         c.loss.rae_gp_weight = 0.5;  // large enough to weigh in the gradients
       }},
      {"rae_l2", [](Config& c) {
         c.model.kind = Kind::kRae;
         c.loss.rae_decoder_decay = 0.01;
       }},
      {"vq_vae ema", [](Config& c) {
         c.model.kind = Kind::kVqVae;
         c.model.codebook_size = 8;
         c.model.code_dim = 2;
         c.model.codebook_ema = true;
       }}};
  for (const Case& c : cases) {
    Config whole;
    whole.model.hidden = {32, 16};
    whole.model.latent = 4;
    c.set(whole);
    ASSERT_TRUE(fused_step_applies(whole, torch::kCPU)) << c.name;
    // Two copies of one model, so each step meets the first batch itself
    // (a VQ-VAE's codebook is set from it) and keeps its own buffers.
    VAE by_autograd = seeded(whole.model, 7), by_hand = seeded(whole.model, 7);
    FlatGradients grads_a(by_autograd->parameters()), grads_h(by_hand->parameters());
    AutogradStep autograd(whole, by_autograd, grads_a);
    FusedMlpStep fused(whole, by_hand, 24);
    torch::manual_seed(8);
    const torch::Tensor x = torch::rand({24, 784});
    for (double w : {1.0, 0.5}) {
      const std::string what = c.name + ", kl weight " + std::to_string(w);
      const StepResult hand = run_step(fused, grads_h, by_hand, x, w, 99);
      const StepResult reference = run_step(autograd, grads_a, by_autograd, x, w, 99);
      expect_same(reference, hand, by_hand, what);
      fused.commit();  // a codebook's upkeep, from each step's own codes
      autograd.commit();
      const auto bh = by_hand->buffers(), ba = by_autograd->buffers();
      ASSERT_EQ(bh.size(), ba.size());
      for (size_t i = 0; i < bh.size(); ++i)
        EXPECT_TRUE(torch::allclose(bh[i].to(torch::kDouble), ba[i].to(torch::kDouble), 1e-5, 1e-6)) << what;
    }
  }
}

// The fused step reading a mostly-zero batch's nonzeros in the encoder's
// first layer (src/sparse_input.hpp), and autograd reading them too, against
// autograd through the dense layers; 40 rows, then 17 in the same buffers.
TEST(TrainStep, FromTheInputsNonzerosSameAsThroughTheDenseLayers) {
  BothSteps s({32, 16}, 11, 40);
  auto& [whole, model, grads, autograd, fused] = s;
  for (int64_t rows : {40, 17}) {
    torch::manual_seed(13);
    const torch::Tensor x = torch::where(torch::rand({rows, 784}) < 0.15, torch::rand({rows, 784}), torch::zeros({}));
    ASSERT_TRUE(SparseInput::of(x).has_value());
    const std::string what = std::to_string(rows) + " rows";
    model->encoder()->set_sparse_input(false);
    const StepResult dense = run_step(autograd, grads, model, x, 1.0, 12);
    model->encoder()->set_sparse_input(true);
    expect_same(dense, run_step(fused, grads, model, x, 1.0, 12), model, "fused, " + what);
    expect_same(dense, run_step(autograd, grads, model, x, 1.0, 12), model, "autograd, " + what);
  }
}

TEST(TrainStep, FusedAppliesToTheUnconditionalBernoulliMlpVaeOnCpu) {
  Config cfg;
  EXPECT_TRUE(fused_step_applies(cfg, torch::kCPU));
  EXPECT_FALSE(fused_step_applies(cfg, torch::Device(torch::kCUDA)));
  for (auto change : std::vector<void (*)(Config&)>{
           [](Config& c) { c.model.arch = Arch::kConv; }, [](Config& c) { c.model.kind = Kind::kAe; },
           [](Config& c) { c.model.likelihood = Likelihood::kGaussian; }, [](Config& c) { c.model.conditional = true; },
           [](Config& c) { c.train.fused_step = false; }, [](Config& c) { c.model.activation = Activation::kTanh; },
           [](Config& c) { c.model.bounded_log_var = true; }, [](Config& c) { c.model.kind = Kind::kSparseAe; },
           [](Config& c) { c.loss.iw_samples = 5; }}) {
    Config other;
    change(other);
    EXPECT_FALSE(fused_step_applies(other, torch::kCPU));
  }
}

// Whole runs: the fused and the autograd step train to the same test loss.
TEST(TrainStep, FusedTrainsLikeAutograd) {
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
    cfg.train.device = DeviceChoice::kCpu;
    cfg.train.image_every = 0;
    cfg.train.fused_step = fused;
    cfg.train.out_dir = dir.file(fused ? "fused" : "autograd");
    const TrainResult r = train(cfg, {});
    losses.push_back(r.history.back().test.loss);
  }
  EXPECT_NEAR(losses[0], losses[1], 0.01 * losses[1]) << "fused " << losses[0] << ", autograd " << losses[1];
}

// Every parameter's gradient is a view of one block: what the block holds,
// the optimizer sees, and one call checks, clips or (later) reduces them all.
TEST(FlatGradients, EveryGradientIsAViewOfOneBlock) {
  ModelConfig cfg;
  cfg.hidden = {6};
  cfg.latent = 2;
  VAE model(cfg);
  FlatGradients grads(model->parameters());
  int64_t total = 0;
  for (const auto& p : model->parameters()) {
    ASSERT_TRUE(p.grad().defined());
    EXPECT_EQ(p.grad().sizes(), p.sizes());
    EXPECT_EQ(p.grad().data_ptr<float>(), grads.flat().data_ptr<float>() + total);  // in order, no gaps
    total += p.numel();
  }
  EXPECT_EQ(grads.numel(), total);
  // Autograd adds into the views: the block holds the gradient after backward.
  grads.zero();
  const torch::Tensor x = torch::rand({4, 784});
  const VAEOutput out = model->forward(x);
  vae_loss(out.logits, x, out.mu, out.log_var).total().backward();
  EXPECT_GT(grads.flat().abs().sum().item<double>(), 0.0);
  EXPECT_TRUE(grads.all_finite());
  // Clipping scales all of them together to the asked norm.
  const double norm = grads.flat().norm().item<double>();
  EXPECT_EQ(grads.clip_norm(norm / 4), norm);  // returns the norm before clipping
  const double clipped = grads.flat().norm().item<double>();
  EXPECT_NEAR(clipped, norm / 4, 1e-3 * norm);
  grads.clip_norm(norm);  // under the limit: unchanged
  EXPECT_EQ(grads.flat().norm().item<double>(), clipped);
  // One NaN anywhere makes the block non-finite.
  model->parameters().back().grad()[0] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_FALSE(grads.all_finite());
}

// train.clip_grad_norm reaches the optimizer: gradients clipped far below
// Adam's eps (1e-8 per coordinate) make its steps a small fraction of lr, so
// the weights move much less than without clipping.
TEST(FlatGradients, ClippingReachesTheOptimizer) {
  TempDir dir;
  testing::write_synthetic_split(dir.file("data"), 64, 16, /*gz=*/false);
  std::vector<double> moved;
  for (double clip : {0.0, 1e-7}) {
    Config cfg;
    cfg.data.dir = dir.file("data");
    cfg.model.hidden = {16};
    cfg.train.epochs = 1;
    cfg.train.batch_size = 16;
    cfg.train.device = DeviceChoice::kCpu;
    cfg.train.image_every = 0;
    cfg.train.clip_grad_norm = clip;
    cfg.train.out_dir = dir.file(clip > 0 ? "clipped" : "plain");
    torch::manual_seed(cfg.train.seed);  // the trainer's initial weights
    VAE initial(cfg.model);
    train(cfg, {});
    LoadedModel m = load_model(cfg.train.out_dir + "/checkpoints/last.pt", torch::kCPU);
    double d = 0;
    auto after = m.model->named_parameters();
    for (const auto& p : initial->named_parameters()) d += (after[p.key()] - p.value()).abs().sum().item<double>();
    moved.push_back(d);
  }
  EXPECT_GT(moved[1], 0.0);
  EXPECT_LT(moved[1], 0.2 * moved[0]) << "unclipped " << moved[0] << ", clipped " << moved[1];
}

}  // namespace
}  // namespace vae
