// The autoencoder family (model.kind): shapes, loss terms against hand
// computations, gradients, save/load, input corruption, and the properties
// each kind promises: a sparse code, and denoising that beats a plain
// autoencoder on noisy inputs.
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <string>
#include <vector>

#include "test_util.hpp"
#include "vae/checkpoint.hpp"
#include "vae/data.hpp"
#include "vae/evaluate.hpp"
#include "vae/loss.hpp"
#include "vae/objective.hpp"
#include "vae/model.hpp"
#include "vae/trainer.hpp"
#include "vae/transforms.hpp"

namespace vae {
namespace {

using testing::TempDir;

ModelConfig kind_config(const std::string& kind, const std::string& sparsity = "l1") {
  ModelConfig m;
  m.hidden = {32, 16};
  m.latent = 8;
  m.kind = parse_choice<Kind>(kind, "model.kind");
  m.sparsity = parse_choice<Sparsity>(sparsity, "model.sparsity");
  return m;
}

std::vector<std::string> parameter_names(VAE& model) {
  std::vector<std::string> names;
  for (const auto& p : model->named_parameters()) names.push_back(p.key());
  return names;
}

TEST(Kinds, AutoencodersHaveOneCodeLayerAndTheVaeTwoHeads) {
  for (const char* kind : {"ae", "sparse_ae", "denoising_ae"}) {
    VAE model(kind_config(kind));
    const std::vector<std::string> names = parameter_names(model);
    const std::vector<std::string> want = {
        "encoder.fc1.weight", "encoder.fc1.bias", "encoder.fc2.weight", "encoder.fc2.bias",
        "encoder.fc_code.weight", "encoder.fc_code.bias", "decoder.fc4.weight", "decoder.fc4.bias",
        "decoder.fc5.weight", "decoder.fc5.bias", "decoder.fc6.weight", "decoder.fc6.bias"};
    EXPECT_EQ(names, want) << kind;
    const VAEOutput out = model->forward(torch::rand({5, 28, 28}));
    EXPECT_EQ(out.logits.sizes(), (std::vector<int64_t>{5, 784})) << kind;
    EXPECT_EQ(out.mu.sizes(), (std::vector<int64_t>{5, 8})) << kind;
    EXPECT_FALSE(out.log_var.defined()) << kind;
    EXPECT_GE(out.mu.min().item<float>(), 0.0f) << kind << ": ReLU code";
  }
  VAE sig(kind_config("sparse_ae", "kl"));
  const torch::Tensor code = sig->encode(torch::rand({50, 784})).first;
  EXPECT_GT(code.min().item<float>(), 0.0f);  // sigmoid units
  EXPECT_LT(code.max().item<float>(), 1.0f);
  VAE vae(kind_config("vae"));
  EXPECT_TRUE(vae->forward(torch::rand({2, 784})).log_var.defined());
}

TEST(Kinds, SparsityPenaltiesMatchHandComputations) {
  Config cfg;
  cfg.model = kind_config("sparse_ae");
  cfg.loss.l1_weight = 0.1;
  const torch::Tensor logits = torch::zeros({1, 2});
  const torch::Tensor x = torch::tensor({{1.0f, 0.0f}});
  // L1: 0.1 * D(2) * (0.5 + 2) = 0.5; the reconstruction is 2 log 2.
  LossTerms t = model_loss(cfg, logits, x, torch::tensor({{0.5f, 2.0f}}), {});
  EXPECT_NEAR(t.penalty.item<double>(), 0.5, 1e-6);
  EXPECT_NEAR(t.recon.item<double>(), 2 * std::log(2.0), 1e-6);
  EXPECT_EQ(t.kl.item<double>(), 0.0);
  // KL sparsity: two images, one unit, activations 0.1 and 0.3: rho_hat 0.2,
  //   KL(0.05 || 0.2) = 0.05 ln(0.25) + 0.95 ln(0.95 / 0.8) = 0.0939431, times B = 2.
  cfg.model.sparsity = Sparsity::kKl;
  cfg.loss.rho = 0.05;
  cfg.loss.sparsity_weight = 1.0;
  t = model_loss(cfg, torch::zeros({2, 2}), torch::zeros({2, 2}), torch::tensor({{0.1f}, {0.3f}}), {});
  EXPECT_NEAR(t.penalty.item<double>(), 2 * 0.0939431, 1e-5);
  // Plain and denoising autoencoders have no penalty.
  cfg.model.kind = Kind::kAe;
  EXPECT_FALSE(model_loss(cfg, logits, x, torch::tensor({{0.5f, 2.0f}}), {}).penalty.defined());
}

TEST(Kinds, ConvolutionalArchitectureMirrorsTheKerasExample) {
  for (const char* kind : {"vae", "ae"}) {
    ModelConfig m = kind_config(kind);
    m.arch = Arch::kConv;
    m.hidden = {16};
    VAE model(m);
    const std::vector<std::string> names = parameter_names(model);
    for (const char* want : {"encoder.conv1.weight", "encoder.conv2.weight", "encoder.fc1.weight",
                             "decoder.fc3.weight", "decoder.fc4.weight", "decoder.deconv1.weight",
                             "decoder.deconv3.bias"})
      EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << kind << " lacks " << want;
    // conv1: 1 -> 32 channels, 3x3; the dense layer sees 64 x 7 x 7.
    EXPECT_EQ(model->named_parameters()["encoder.conv1.weight"].sizes(), (std::vector<int64_t>{32, 1, 3, 3}));
    EXPECT_EQ(model->named_parameters()["encoder.fc1.weight"].sizes(), (std::vector<int64_t>{16, 64 * 7 * 7}));
    EXPECT_EQ(model->named_parameters()["decoder.fc4.weight"].sizes(), (std::vector<int64_t>{64 * 7 * 7, 16}));
    const VAEOutput out = model->forward(torch::rand({5, 28, 28}));
    EXPECT_EQ(out.logits.sizes(), (std::vector<int64_t>{5, 784})) << kind;
    EXPECT_EQ(out.mu.sizes(), (std::vector<int64_t>{5, 8})) << kind;
    // The IW pass decodes [samples, images, Z] at once.
    EXPECT_EQ(model->decoder()->forward(torch::randn({3, 5, 8})).sizes(), (std::vector<int64_t>{3, 5, 784}));
    // Each output pixel depends on the code: decoding two codes differs everywhere it should.
    torch::NoGradGuard ng;
    const torch::Tensor a = model->decoder()->forward(torch::zeros({1, 8}));
    const torch::Tensor b = model->decoder()->forward(torch::ones({1, 8}));
    EXPECT_FALSE(torch::allclose(a, b));
  }
  Config bad;
  bad.model.arch = Arch::kConv;
  bad.model.image_height = 27;  // odd: no stride-2 stage fits (30 x 28 now gets one stage)
  EXPECT_THROW(validate(bad), ConfigError);
  bad.model.image_height = 28;
  bad.model.conv_channels = {32, 64, 128};  // 28 is not a multiple of 8
  EXPECT_THROW(validate(bad), ConfigError);
}

TEST(Kinds, GradientsReachEveryParameter) {
  for (const char* kind :
       {"vae", "ae", "sparse_ae", "denoising_ae", "conv-vae", "conv-ae", "conv-sparse_ae", "conv-denoising_ae"}) {
    Config cfg;
    const std::string k(kind);
    const bool conv = k.rfind("conv-", 0) == 0;
    cfg.model = kind_config(conv ? k.substr(5) : k);
    if (conv) cfg.model.arch = Arch::kConv;
    VAE model(cfg.model);
    torch::manual_seed(1);
    const torch::Tensor x = torch::rand({6, 784});
    const VAEOutput out = model->forward(x);
    const LossTerms t = model_loss(cfg, out.logits, x, out.mu, out.log_var);
    torch::Tensor loss = t.total();
    if (t.penalty.defined()) loss = loss + t.penalty;
    loss.backward();
    for (const auto& p : model->named_parameters()) {
      ASSERT_TRUE(p.value().grad().defined()) << kind << " " << p.key();
      EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << kind << " " << p.key();
    }
  }
}

TEST(Corrupt, EachNoiseDoesWhatItSays) {
  auto gen = at::detail::createCPUGenerator(5);
  const torch::Tensor x = torch::full({200, 784}, 0.5);
  const torch::Tensor g = corrupt(x, Noise::kGaussian, 0.5, &gen);
  EXPECT_GE(g.min().item<float>(), 0.0f);
  EXPECT_LE(g.max().item<float>(), 1.0f);
  EXPECT_NEAR(g.std().item<double>(), 0.5 * 0.8, 0.05);  // clipping trims the 0.5 sd a little
  auto gen2 = at::detail::createCPUGenerator(5);
  EXPECT_TRUE(torch::equal(g, corrupt(x, Noise::kGaussian, 0.5, &gen2)));  // reproducible from the seed
  const torch::Tensor m = corrupt(x, Noise::kMask, 0.3, &gen);
  EXPECT_NEAR((m == 0).to(torch::kFloat64).mean().item<double>(), 0.3, 0.01);
  EXPECT_TRUE(((m == 0) | (m == 0.5)).all().item<bool>());
  const torch::Tensor sp = corrupt(x, Noise::kSaltPepper, 0.2, &gen);
  EXPECT_NEAR((sp == 0).to(torch::kFloat64).mean().item<double>(), 0.1, 0.01);
  EXPECT_NEAR((sp == 1).to(torch::kFloat64).mean().item<double>(), 0.1, 0.01);
  EXPECT_THROW(parse_choice<Noise>("blur", "data.noise"), ConfigError);
}

Config run_config(const TempDir& dir, const std::string& kind, const std::string& out) {
  Config c;
  c.data.dir = dir.file("data");
  c.model.hidden = {128};
  c.model.latent = 32;
  c.model.kind = parse_choice<Kind>(kind, "model.kind");
  c.train.batch_size = 64;
  c.train.epochs = 4;
  c.train.device = DeviceChoice::kCpu;
  c.train.image_every = 0;
  c.train.out_dir = dir.file(out);
  return c;
}

TEST(Kinds, SaveLoadRoundTripKeepsTheKind) {
  TempDir dir;
  testing::write_synthetic_split(dir.file("data"), 256, 64, /*gz=*/false);
  Config cfg = run_config(dir, "denoising_ae", "run");
  cfg.train.epochs = 1;
  const TrainResult r = train(cfg, {});
  EXPECT_TRUE(r.samples.empty());  // no prior: no sample grid
  LoadedModel m = load_model(dir.file("run/checkpoints/last.pt"), torch::kCPU);
  EXPECT_EQ(m.meta.config.model.kind, Kind::kDenoisingAe);
  VAE again(m.meta.config.model);
  EXPECT_EQ(parameter_names(again), parameter_names(m.model));
  // The same seed scores the loaded model the same way twice.
  const torch::Tensor test = IdxSource(cfg.data.dir).load(Split::kTest).images;
  const EvalOptions opt = testing::eval_options(7, 64);
  EXPECT_EQ(evaluate(m.model, test, {}, opt).loss, evaluate(m.model, test, {}, opt).loss);
  // And the run resumes: optimizer state and kind come back from the file.
  cfg.train.epochs = 2;
  TrainOptions resume;
  resume.resume = dir.file("run");
  const TrainResult more = train(cfg, resume);
  ASSERT_EQ(more.history.size(), 1u);
  EXPECT_EQ(more.history[0].epoch, 2);
  Config other = cfg;
  other.model.kind = Kind::kAe;
  other.train.epochs = 3;
  EXPECT_THROW(train(other, resume), ConfigError);  // model.kind (denoising_ae vs ae)
}

// Trained on the same data with the same seed: the sparse autoencoder's code
// is much less active than the plain one's, and the denoising autoencoder
// reconstructs noisy test images better than the plain one.
TEST(Kinds, SparseCodesAreSparserAndDenoisingDenoises) {
  TempDir dir;
  testing::write_synthetic_split(dir.file("data"), 1024, 256, /*gz=*/false);
  const Config plain_cfg = run_config(dir, "ae", "plain");
  const TrainResult plain = train(plain_cfg, {});
  Config sparse_cfg = run_config(dir, "sparse_ae", "sparse");
  sparse_cfg.loss.l1_weight = 4e-3;
  const TrainResult sparse = train(sparse_cfg, {});
  const double plain_code = plain.history.back().test.code_abs, sparse_code = sparse.history.back().test.code_abs;
  EXPECT_LT(sparse_code, 0.5 * plain_code) << "plain " << plain_code << ", sparse " << sparse_code;
  std::cout << "mean |code|: plain " << plain_code << ", sparse " << sparse_code << "\n";

  Config noisy_cfg = run_config(dir, "denoising_ae", "denoising");
  const TrainResult denoising = train(noisy_cfg, {});
  // Both scored on the same corrupted test images against the clean ones.
  const torch::Tensor test = IdxSource(noisy_cfg.data.dir).load(Split::kTest).images;
  LoadedModel p = load_model(dir.file("plain/checkpoints/last.pt"), torch::kCPU);
  LoadedModel d = load_model(dir.file("denoising/checkpoints/last.pt"), torch::kCPU);
  const auto noisy_error = [&](VAE& model) {
    torch::NoGradGuard ng;
    model->eval();
    auto gen = at::detail::createCPUGenerator(99);
    const torch::Tensor x = to_unit_float(test);
    const torch::Tensor code = model->encode(corrupt(x, Noise::kGaussian, 0.5, &gen)).first;
    return -log_likelihood(model->decoder()->forward(code), x, Likelihood::kBernoulli).mean().item<double>();
  };
  const double plain_err = noisy_error(p.model), denoise_err = noisy_error(d.model);
  EXPECT_LT(denoise_err, plain_err) << "plain " << plain_err << ", denoising " << denoise_err;
  std::cout << "error on noisy test images: plain " << plain_err << ", denoising " << denoise_err << "\n";
  // vae-eval's denoising error ranks them the same way, on its own draw of
  // the noise, and agrees with the error computed here.
  const Evaluation ep = evaluate(p.model, test, {}, testing::eval_options(3, 100, /*code_errors=*/true));
  const Evaluation ed = evaluate(d.model, test, {}, testing::eval_options(3, 100, /*code_errors=*/true));
  EXPECT_LT(ed.noisy_recon, ep.noisy_recon);
  EXPECT_NEAR(ep.noisy_recon, plain_err, 0.05 * plain_err);
  EXPECT_LT(ep.code_recon, ep.noisy_recon);
  EXPECT_TRUE(std::isnan(ep.nll_iw));  // no prior, no likelihood bound
  EXPECT_EQ(ep.kl, 0.0);
  EXPECT_EQ(ep.loss, ep.code_recon);  // a plain autoencoder's test loss: the error from its code
  EXPECT_EQ(ed.loss, ed.noisy_recon);  // a denoising one's: from the code of the corrupted input
  // And training reports that same kind of error for the denoising run.
  EXPECT_NEAR(denoising.history.back().test.recon, denoise_err, 0.1 * denoise_err);
}

}  // namespace
}  // namespace vae
