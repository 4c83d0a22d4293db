// The conditional VAE (model.conditional): where the one-hot label enters,
// that it reaches every layer it should, that it round-trips through
// checkpoints, and that generated digits are the digits asked for.
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "expect_error.hpp"
#include "test_util.hpp"
#include "vae/checkpoint.hpp"
#include "vae/data.hpp"
#include "vae/evaluate.hpp"
#include "vae/inference.hpp"
#include "vae/loss.hpp"
#include "vae/objective.hpp"
#include "vae/model.hpp"
#include "vae/trainer.hpp"
#include "vae/transforms.hpp"

namespace vae {
namespace {

using testing::TempDir;

ModelConfig conditional_config(const std::string& arch = "mlp") {
  ModelConfig m;
  m.hidden = {32, 16};
  m.latent = 8;
  m.conditional = true;
  m.arch = parse_choice<Arch>(arch, "model.arch");
  return m;
}

TEST(Conditional, TheOneHotLabelWidensTheFirstLayerOfEachHalf) {
  VAE mlp(conditional_config());
  auto p = mlp->named_parameters();
  EXPECT_EQ(p["encoder.fc1.weight"].sizes(), (std::vector<int64_t>{32, 784 + 10}));
  EXPECT_EQ(p["decoder.fc4.weight"].sizes(), (std::vector<int64_t>{16, 8 + 10}));
  EXPECT_EQ(p["encoder.fc_mean.weight"].sizes(), (std::vector<int64_t>{8, 16}));  // unchanged
  const torch::Tensor y = torch::tensor({0, 3, 9, 1, 4}, torch::kLong);
  const VAEOutput out = mlp->forward(torch::rand({5, 28, 28}), y);
  EXPECT_EQ(out.logits.sizes(), (std::vector<int64_t>{5, 784}));
  EXPECT_EQ(out.mu.sizes(), (std::vector<int64_t>{5, 8}));

  // conv: the label joins the flattened convolutional features.
  VAE conv(conditional_config("conv"));
  EXPECT_EQ(conv->named_parameters()["encoder.fc1.weight"].sizes(), (std::vector<int64_t>{32, 64 * 7 * 7 + 10}));
  EXPECT_EQ(conv->forward(torch::rand({5, 784}), y).logits.sizes(), (std::vector<int64_t>{5, 784}));

  // A conditional model needs labels in range; another model ignores them.
  EXPECT_THROW(mlp->forward(torch::rand({5, 784})), std::invalid_argument);
  EXPECT_THROW(mlp->forward(torch::rand({5, 784}), torch::tensor({0, 1, 2, 3, 10}, torch::kLong)),
               std::invalid_argument);
  EXPECT_THROW(mlp->forward(torch::rand({5, 784}), torch::tensor({0, 1}, torch::kLong)), std::invalid_argument);
  ModelConfig plain = conditional_config();
  plain.conditional = false;
  VAE unconditional(plain);
  EXPECT_EQ(unconditional->named_parameters()["encoder.fc1.weight"].size(1), 784);
}

// With no hidden layers the encoder is mu = W [x; onehot(y)] + b, so the
// label adds column 784 + y of W: computed here by hand.
TEST(Conditional, EncoderMeanMatchesAHandComputation) {
  ModelConfig m = conditional_config();
  m.hidden = {};
  m.latent = 3;
  VAE model(m);
  torch::NoGradGuard ng;
  const torch::Tensor w = model->named_parameters()["encoder.fc_mean.weight"];
  const torch::Tensor b = model->named_parameters()["encoder.fc_mean.bias"];
  const torch::Tensor x = torch::rand({2, 784});
  const torch::Tensor y = torch::tensor({7, 2}, torch::kLong);
  const torch::Tensor mu = model->encode(x, y).first;
  for (int64_t i = 0; i < 2; ++i) {
    const int64_t label = y[i].item<int64_t>();
    const torch::Tensor want = w.narrow(1, 0, 784).matmul(x[i]) + w.select(1, 784 + label) + b;
    EXPECT_TRUE(torch::allclose(mu[i], want, 1e-5, 1e-5)) << "row " << i;
  }
}

TEST(Conditional, TheDecoderFollowsTheLabelAndTakesSoftLabels) {
  VAE model(conditional_config());
  torch::NoGradGuard ng;
  const torch::Tensor z = torch::randn({4, 8});
  const torch::Tensor zeros = torch::zeros({4}, torch::kLong);
  const torch::Tensor a = model->decode(z, zeros);
  EXPECT_FALSE(torch::allclose(a, model->decode(z, torch::ones({4}, torch::kLong))));
  // A one-hot float row is the same condition as the integer label.
  const torch::Tensor hot = torch::one_hot(zeros, 10).to(torch::kFloat32);
  EXPECT_TRUE(torch::allclose(a, model->decode(z, hot)));
  // [S, B, Z] codes take one label per row.
  EXPECT_EQ(model->decoder()->forward(torch::randn({3, 4, 8}), torch::zeros({12}, torch::kLong)).sizes(),
            (std::vector<int64_t>{3, 4, 784}));
  EXPECT_THROW(model->decode(z, torch::ones({4, 9})), std::invalid_argument);  // wrong width
  // The IW pass decodes S samples of B images as S*B rows, sample-major, with
  // the labels tiled (labels.repeat({S})): the same as decoding each sample.
  const torch::Tensor zs = torch::randn({3, 4, 8});
  const torch::Tensor y = torch::tensor({2, 7, 0, 9}, torch::kLong);
  const torch::Tensor all = model->decoder()->forward(zs.reshape({12, 8}), y.repeat({3})).reshape({3, 4, 784});
  for (int64_t s = 0; s < 3; ++s)  // GEMMs of 12 and 4 rows round differently
    EXPECT_LT((all[s] - model->decoder()->forward(zs[s], y)).abs().max().item<double>(), 1e-5) << s;
}

// iw_log_likelihood with K = 1 is one ELBO draw per image, each with its own label.
TEST(Conditional, ImportanceWeightsUseEachImagesLabel) {
  VAE model(conditional_config());
  model->eval();
  torch::NoGradGuard ng;
  const torch::Tensor x = torch::rand({4, 784});
  const torch::Tensor y = torch::tensor({3, 1, 4, 1}, torch::kLong);
  auto gen = at::detail::createCPUGenerator(11);
  const torch::Tensor iw = iw_log_likelihood(model, x, 1, gen, 1, y);
  // The same draw by hand: eps from a generator with the same seed.
  auto gen2 = at::detail::createCPUGenerator(11);
  auto [mu, log_var] = model->encode(x, y);
  const torch::Tensor eps = torch::randn(mu.sizes(), gen2, torch::kFloat32);
  const torch::Tensor z = mu + torch::exp(0.5 * log_var) * eps;
  const torch::Tensor log_px = log_likelihood(model->decoder()->forward(z, y), x, Likelihood::kBernoulli);
  const torch::Tensor log_pz = (-0.5 * (1.8378770664093453 + z.pow(2))).sum(-1);
  const torch::Tensor log_qz = (-0.5 * (1.8378770664093453 + log_var + eps.pow(2))).sum(-1);
  EXPECT_TRUE(torch::allclose(iw, (log_px + log_pz - log_qz).to(torch::kFloat64), 1e-4, 1e-3)) << iw;
  // Another label for one image changes that image's estimate only.
  auto gen3 = at::detail::createCPUGenerator(11);
  const torch::Tensor other = iw_log_likelihood(model, x, 1, gen3, 1, torch::tensor({3, 1, 4, 2}, torch::kLong));
  EXPECT_TRUE(torch::allclose(other.narrow(0, 0, 3), iw.narrow(0, 0, 3)));
  EXPECT_GT(std::abs(other[3].item<double>() - iw[3].item<double>()), 1e-3);
}

TEST(Conditional, GradientsReachEveryParameter) {
  for (const char* arch : {"mlp", "conv"}) {
    Config cfg;
    cfg.model = conditional_config(arch);
    VAE model(cfg.model);
    const torch::Tensor x = torch::rand({6, 784});
    const VAEOutput out = model->forward(x, torch::arange(6, torch::kLong));
    model_loss(cfg, out.logits, x, out.mu, out.log_var).total().backward();
    for (const auto& p : model->named_parameters()) {
      ASSERT_TRUE(p.value().grad().defined()) << arch << " " << p.key();
      EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << arch << " " << p.key();
    }
    // Including the weights of the label's own columns.
    const torch::Tensor g = model->named_parameters()["encoder.fc1.weight"].grad();
    EXPECT_GT(g.narrow(1, g.size(1) - 10, 6).abs().sum().item<double>(), 0.0) << arch;
  }
}

TEST(Conditional, ConfigRulesAndCheckpointRoundTrip) {
  Config bad;
  bad.model.conditional = true;
  bad.model.kind = Kind::kAe;
  EXPECT_THROW(validate(bad), ConfigError);
  bad.model.kind = Kind::kVae;
  bad.model.classes = 1;
  EXPECT_THROW(validate(bad), ConfigError);
  Config good;
  good.model.conditional = true;
  good.model.classes = 12;
  EXPECT_EQ(first_difference(parse_config(to_toml(good), "t"), good), "");
  Config plain = good;
  plain.model.conditional = false;
  EXPECT_EQ(first_difference(good, plain, "model"), "model.conditional (true vs false)");

  TempDir dir;
  testing::write_synthetic_split(dir.file("data"), 256, 64, /*gz=*/false);
  Config cfg;
  cfg.data.dir = dir.file("data");
  cfg.model = conditional_config();
  cfg.train.epochs = 1;
  cfg.train.batch_size = 64;
  cfg.train.device = DeviceChoice::kCpu;
  cfg.train.out_dir = dir.file("run");
  const TrainResult r = train(cfg, {});
  EXPECT_FALSE(r.samples.empty());
  LoadedModel m = load_model(dir.file("run/checkpoints/last.pt"), torch::kCPU);
  EXPECT_TRUE(m.meta.config.model.conditional);
  const Dataset test = IdxSource(cfg.data.dir).load(Split::kTest);
  // The run's evaluation options score the loaded model exactly as training did at its last epoch.
  EXPECT_EQ(evaluate(m.model, test.images, test.labels, eval_options_for(m.meta.config)).loss,
            r.history.back().test.loss);
  EvalOptions iw = testing::eval_options(1, 32);
  iw.iw_samples = 50;
  iw.chunk_rows = 200;
  const Evaluation e = evaluate(m.model, test.images, test.labels, iw);
  EXPECT_TRUE(std::isfinite(e.nll_iw));
  EXPECT_LT(e.nll_iw, e.loss + 1.0);
  EXPECT_EQ(sample_images(m.model, 5, 3, torch::kCPU, 4).sizes(), (std::vector<int64_t>{5, 28, 28}));
  EXPECT_THROW(sample_images(m.model, 5, 3, torch::kCPU, 10), std::invalid_argument);
  // Resuming as an unconditional model is refused, with the key named.
  Config other = cfg;
  other.model.conditional = false;
  other.train.epochs = 2;
  TrainOptions resume;
  resume.resume = dir.file("run");
  testing::expect_error<ConfigError>([&] { train(other, resume); }, "model.conditional",
                                     "resumed a conditional run as an unconditional one");
  // Labels outside [0, classes) are refused when the data is loaded.
  Config few = cfg;
  few.model.classes = 5;
  few.train.out_dir = dir.file("few");
  EXPECT_THROW(train(few, {}), DataError);
}

// A nearest-neighbour classifier in pixel space over real labelled images
// (about 94% right on real MNIST test digits): the class of each row.
torch::Tensor nearest_neighbour(const Dataset& real, const torch::Tensor& images) {
  const torch::Tensor refs = to_unit_float(real.images).reshape({real.size(), -1});
  const torch::Tensor nearest = torch::cdist(images.reshape({images.size(0), -1}).to(torch::kFloat32), refs).argmin(1);
  return real.labels.index_select(0, nearest);
}

// Trained on the default data (real MNIST digits), digits generated for
// label D are classified as D by a nearest-neighbour classifier over the
// real training images, far above the 10% of chance, and for every
// label D more of them are classified as D than as any other class.
TEST(Conditional, GeneratedDigitsAreTheDigitsAskedFor) {
  const char* data = std::getenv("VAE_DEFAULT_DATA_DIR");
  if (data == nullptr || !std::filesystem::exists(std::string(data) + "/train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "default data not prepared (scripts/prepare-data.sh)";
  TempDir dir;
  Config cfg;
  cfg.data.dir = data;
  cfg.model.conditional = true;  // the guide's 784-512-256-2, conditional
  cfg.train.epochs = 5;
  cfg.train.device = DeviceChoice::kCpu;
  cfg.train.image_every = 0;
  cfg.train.out_dir = dir.file("cvae");
  train(cfg, {});
  LoadedModel m = load_model(dir.file("cvae/checkpoints/last.pt"), torch::kCPU);

  const Dataset train_set = IdxSource(data).load(Split::kTrain);
  const Dataset test_set = IdxSource(data).load(Split::kTest);
  // The classifier itself: its accuracy on real test digits.
  const double real_acc = (nearest_neighbour(train_set, to_unit_float(test_set.images)) == test_set.labels)
                              .to(torch::kFloat64).mean().item<double>();

  constexpr int64_t kPerClass = 100;
  double correct = 0;
  std::vector<double> per_class;
  for (int64_t d = 0; d < 10; ++d) {
    const torch::Tensor generated = sample_images(m.model, kPerClass, /*seed=*/100 + d, torch::kCPU, d);
    const torch::Tensor predicted = nearest_neighbour(train_set, generated);
    const double hits = (predicted == d).sum().item<double>();
    // The class asked for is the one most often seen.
    EXPECT_EQ(torch::bincount(predicted, {}, 10).argmax().item<int64_t>(), d)
        << "digit " << d << ": " << torch::bincount(predicted, {}, 10);
    per_class.push_back(hits / kPerClass);
    correct += hits;
  }
  const double acc = correct / (10.0 * kPerClass);
  std::cout << "nearest neighbour: real test digits " << real_acc << ", generated digits " << acc << " (per class:";
  for (double a : per_class) std::cout << " " << a;
  std::cout << ")\n";
  EXPECT_GT(real_acc, 0.85);
  EXPECT_GT(acc, 0.8);

  // The same draws of z decoded by an unconditional model, labelled by the
  // class asked for, score near chance: the labels, not the classifier, do it.
  Config plain = cfg;
  plain.model.conditional = false;
  plain.train.epochs = 1;
  plain.train.out_dir = dir.file("vae");
  train(plain, {});
  LoadedModel u = load_model(dir.file("vae/checkpoints/last.pt"), torch::kCPU);
  double plain_hits = 0;
  for (int64_t d = 0; d < 10; ++d)
    plain_hits += (nearest_neighbour(train_set, sample_images(u.model, kPerClass, 100 + d, torch::kCPU)) == d)
                      .sum().item<double>();
  std::cout << "unconditional samples matching the asked-for class: " << plain_hits / (10.0 * kPerClass) << "\n";
  EXPECT_LT(plain_hits / (10.0 * kPerClass), 0.3);
}

}  // namespace
}  // namespace vae
