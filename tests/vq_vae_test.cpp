// model.kind = "vq_vae" (src/objectives/vq_vae.cpp, the codebook in
// src/model.cpp): the nearest-vector quantization, the loss and its
// straight-through gradient against hand computations, the moving-average
// codebook, the conv code grid, codebook usage in evaluation and
// metrics.jsonl, training and resuming, the indices vae-encode writes and
// the categorical prior vae-sample fits (src/categorical_prior.cpp).
#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <filesystem>
#include <string>

#include "expect_error.hpp"
#include "test_util.hpp"
#include "vae/categorical_prior.hpp"
#include "vae/checkpoint.hpp"
#include "vae/data.hpp"
#include "vae/evaluate.hpp"
#include "vae/inference.hpp"
#include "vae/io.hpp"
#include "vae/metrics.hpp"
#include "vae/objective.hpp"
#include "vae/sample_command.hpp"
#include "vae/trainer.hpp"

namespace vae {
namespace {

using testing::TempDir;

Config vq_config() {
  Config c;
  c.model.kind = Kind::kVqVae;
  c.model.hidden = {32};
  c.model.latent = 4;
  c.model.code_dim = 2;  // two positions
  c.model.codebook_size = 3;
  c.model.likelihood = Likelihood::kGaussian;
  return c;
}

// Sets the model's codebook to `rows` [K, code_dim], marked initialised so
// the first training step does not replace it with the batch's codes.
void set_codebook(VAE& model, const torch::Tensor& rows) {
  torch::NoGradGuard no_grad;
  model->codebook().copy_(rows);
  model->named_buffers()["codebook_initialized"].fill_(1);
}

TEST(VqVae, EachPositionTakesItsNearestVector) {
  VAE model(vq_config().model);
  set_codebook(model, torch::tensor({{0.0f, 0.0f}, {1.0f, 1.0f}, {-2.0f, 0.0f}}));
  // Positions (0.9, 0.8) -> 1, (-1.2, 0.1) -> 2 (1.45 away from 0, 0.65 from 2); (0.1, -0.1) -> 0, (5, 5) -> 1.
  const torch::Tensor z_e = torch::tensor({{0.9f, 0.8f, -1.2f, 0.1f}, {0.1f, -0.1f, 5.0f, 5.0f}});
  const Quantized q = model->quantize(z_e);
  EXPECT_TRUE(torch::equal(q.indices, torch::tensor({{1, 2}, {0, 1}}, torch::kInt64))) << q.indices;
  EXPECT_TRUE(torch::equal(q.codes, torch::tensor({{1.0f, 1.0f, -2.0f, 0.0f}, {0.0f, 0.0f, 1.0f, 1.0f}})));
  EXPECT_TRUE(torch::equal(model->codes_of(q.indices), q.codes));
  EXPECT_EQ(model->code_grid(), std::vector<int64_t>{2});
  // z_e is fc_code's output without an activation (no ReLU would let it
  // reach a vector with negative numbers).
  torch::manual_seed(3);
  EXPECT_LT(model->encoder()->forward(torch::rand({200, 784})).first.min().item<float>(), 0.0f);
  // The decoder sees the quantized code: encode gives codebook rows only.
  const torch::Tensor code = model->encode(torch::rand({5, 784})).first;
  EXPECT_TRUE(torch::equal(code, model->codes_of(model->quantize(code).indices)));
}

// Loss per batch: recon + ||sg(z_e) - z_q||^2 + beta ||z_e - sg(z_q)||^2.
// The gradient reaching z_e is the decoder's gradient at z_q plus the
// commitment term's 2 beta (z_e - z_q); the codebook's is 2 (z_q - z_e) at
// the chosen rows.
TEST(VqVae, LossAndStraightThroughGradient) {
  Config cfg = vq_config();
  cfg.loss.vq_commitment = 0.25;
  cfg.loss.vq_restart_steps = 0;
  torch::manual_seed(2);
  VAE model(cfg.model);
  const torch::Tensor book = torch::tensor({{0.0f, 0.0f}, {1.0f, 1.0f}, {-2.0f, 0.0f}});
  set_codebook(model, book);
  const torch::Tensor x = torch::rand({3, 784});
  const LossTerms t = make_objective(cfg)->train_terms(model, x, {}, {});
  torch::Tensor z_e, z_q;
  {
    torch::NoGradGuard no_grad;
    z_e = model->encoder()->forward(x).first;
    z_q = model->quantize(z_e).codes;
  }
  const double dist = (z_e - z_q).pow(2).sum().item<double>();
  EXPECT_NEAR(t.penalty.item<double>(), 1.25 * dist, 1e-5 * (1 + dist));
  EXPECT_TRUE(torch::equal(model->codebook(), book)) << "the hand-written codebook is the one used";
  EXPECT_GT(dist, 1e-3) << "the codes are not on the codebook: the terms are not trivially 0";
  EXPECT_EQ(t.kl.item<double>(), 0.0);
  // recon is the error of decoding z_q.
  EXPECT_NEAR(t.recon.item<double>(),
              -log_likelihood(model->decoder()->forward(z_q), x, Likelihood::kGaussian).sum().item<double>(), 1e-3);

  // Straight-through: d recon / d z_e equals d recon / d z_q.
  const torch::Tensor zq_leaf = z_q.clone().requires_grad_(true);
  const torch::Tensor g_q = torch::autograd::grad(
      {-log_likelihood(model->decoder()->forward(zq_leaf), x, Likelihood::kGaussian).sum()}, {zq_leaf})[0];
  const torch::Tensor ze_leaf = z_e.clone().requires_grad_(true);
  const Quantized q = model->quantize(ze_leaf);
  const torch::Tensor st = ze_leaf + (q.codes - ze_leaf).detach();
  const torch::Tensor g_e = torch::autograd::grad(
      {-log_likelihood(model->decoder()->forward(st), x, Likelihood::kGaussian).sum()}, {ze_leaf})[0];
  EXPECT_TRUE(torch::allclose(g_e, g_q, 1e-5, 1e-6));

  // The codebook's gradient from the loss: 2 (z_q - z_e) summed over the positions that chose each row.
  model->zero_grad();
  const LossTerms again = make_objective(cfg)->train_terms(model, x, {}, {});
  (again.total() + again.penalty).backward();
  const torch::Tensor idx = model->quantize(z_e).indices.reshape({-1});
  const torch::Tensor expected = torch::zeros({3, 2}).index_add_(0, idx, 2 * (z_q - z_e).reshape({-1, 2}));
  ASSERT_TRUE(model->codebook().grad().defined());
  EXPECT_TRUE(torch::allclose(model->codebook().grad(), expected, 1e-4, 1e-5)) << model->codebook().grad();
}

// With model.codebook_ema the codebook is buffers: after one step of decay
// d, row k = (d * s_k + (1 - d) * sum of its codes) / (d * c_k + (1 - d) *
// its count), Laplace-smoothed; an unused row stays where it was.
TEST(VqVae, MovingAverageCodebook) {
  Config cfg = vq_config();
  cfg.model.codebook_ema = true;
  cfg.loss.vq_ema_decay = 0.5;
  VAE model(cfg.model);
  EXPECT_FALSE(model->named_parameters().contains("codebook"));
  EXPECT_TRUE(model->named_buffers().contains("codebook"));
  const torch::Tensor start = torch::tensor({{0.0f, 0.0f}, {1.0f, 1.0f}, {-2.0f, 0.0f}});
  {
    torch::NoGradGuard no_grad;
    model->named_buffers()["codebook"].copy_(start);
    model->named_buffers()["ema_sum"].copy_(start);
  }
  // Three positions choose row 1 (codes (2,2), (1,1) and (0.2,1)), one row 0 ((0.1,0.1)).
  const torch::Tensor z_e = torch::tensor({{2.0f, 2.0f, 1.0f, 1.0f}, {0.2f, 1.0f, 0.1f, 0.1f}});
  const Quantized q = model->quantize(z_e);
  ASSERT_TRUE(torch::equal(q.indices, torch::tensor({{1, 1}, {1, 0}}, torch::kInt64)));
  model->update_codebook(z_e, q.indices, {}, 0.5, /*restart_steps=*/0);
  // counts: 0.5 * 1 + 0.5 * {1, 3, 0} = {1, 2, 0.5}; sums: 0.5 * start + 0.5 * {(0.1,0.1), (3.2,4), 0}.
  const torch::Tensor counts = torch::tensor({1.0, 2.0, 0.5});
  const torch::Tensor sums = torch::tensor({{0.05, 0.05}, {2.1, 2.5}, {-1.0, 0.0}});
  const double n = 3.5, eps = 1e-5;
  const torch::Tensor smoothed = (counts + eps) / (n + 3 * eps) * n;
  const torch::Tensor expected = (sums / smoothed.unsqueeze(1)).to(torch::kFloat32);
  EXPECT_TRUE(torch::allclose(model->codebook(), expected, 1e-5, 1e-6)) << model->codebook();
  EXPECT_NEAR(model->codebook()[2][0].item<double>(), -2.0, 1e-4) << "the unused row stays put";
  // In training, train_terms leaves the moving-average step to its commit
  // (run by the trainer only for a step it takes); the loss then has the
  // commitment term alone, no codebook term.
  Config c2 = cfg;
  c2.loss.vq_commitment = 1.0;
  c2.loss.vq_restart_steps = 0;
  VAE m2(c2.model);
  m2->train();
  const torch::Tensor x = torch::rand({4, 784});
  make_objective(c2)->train_terms(m2, x, {}, {});  // the first step sets the codebook from the batch
  const torch::Tensor before = m2->codebook().clone(), sum_before = m2->named_buffers()["ema_sum"].clone();
  const torch::Tensor count_before = m2->named_buffers()["ema_count"].clone();
  const LossTerms t = make_objective(c2)->train_terms(m2, x, {}, {});
  ASSERT_TRUE(static_cast<bool>(t.commit));
  EXPECT_TRUE(torch::equal(before, m2->codebook())) << "nothing moves before the commit";
  torch::Tensor z2, q_idx, q_codes;
  {
    torch::NoGradGuard no_grad;
    z2 = m2->encoder()->forward(x).first;
    const Quantized q = m2->quantize(z2);
    q_idx = q.indices;
    q_codes = q.codes;
  }
  const double dist = (z2 - q_codes).pow(2).sum().item<double>();
  EXPECT_NEAR(t.penalty.item<double>(), dist, 1e-5 * (1 + dist)) << "commitment 1 x ||z2 - z_q||^2, no codebook term";
  t.commit();
  const torch::Tensor idx = q_idx.reshape({-1});
  const torch::Tensor c_exp = 0.5 * count_before + 0.5 * torch::bincount(idx, {}, 3).to(torch::kFloat32);
  const torch::Tensor s_exp = 0.5 * sum_before + 0.5 * torch::zeros({3, 2}).index_add_(0, idx, z2.reshape({-1, 2}));
  const torch::Tensor n2 = c_exp.sum();
  const torch::Tensor book2 = s_exp / ((c_exp + 1e-5) / (n2 + 3e-5) * n2).unsqueeze(1);
  EXPECT_TRUE(torch::allclose(m2->codebook(), book2, 1e-4, 1e-5)) << m2->codebook() << book2;
  m2->eval();
  EXPECT_FALSE(static_cast<bool>(make_objective(c2)->train_terms(m2, x, {}, {}).commit)) << "no upkeep in eval mode";
}

TEST(VqVae, ConvCodeIsAGridAndTheConfigSaysWhatLatentItNeeds) {
  Config cfg;
  cfg.model.kind = Kind::kVqVae;
  cfg.model.arch = Arch::kConv;
  cfg.model.code_dim = 4;
  cfg.model.codebook_size = 8;
  cfg.model.latent = 10;
  testing::expect_error<ConfigError>([&] { validate(cfg, true); },
                                     "'model.latent' must be 196 (model.code_dim 4 x the 7x7 grid", "conv latent");
  cfg.model.latent = 196;
  validate(cfg, true);
  VAE model(cfg.model);
  EXPECT_TRUE(model->named_parameters().contains("encoder.code_conv.weight"));
  EXPECT_TRUE(model->named_parameters().contains("decoder.code_deconv.weight"));
  EXPECT_FALSE(model->named_parameters().contains("encoder.fc1.weight")) << "no dense layers between grid and code";
  EXPECT_EQ(model->code_grid(), (std::vector<int64_t>{7, 7}));
  const torch::Tensor x = torch::rand({3, 784});
  const auto [code, none] = model->encode(x);
  EXPECT_EQ(code.sizes(), (std::vector<int64_t>{3, 196}));
  EXPECT_FALSE(none.defined());
  EXPECT_EQ(model->decode(code).sizes(), (std::vector<int64_t>{3, 784}));
  // Position (i, j) of the code is the 1x1 convolution of cell (i, j): moving
  // one corner of the image changes the first cells, not the opposite corner's.
  torch::Tensor y = x.clone();
  y.reshape({3, 28, 28}).narrow(1, 0, 4).narrow(2, 0, 4).fill_(1.0f);
  const torch::Tensor a = model->encoder()->forward(x).first.reshape({3, 7, 7, 4});
  const torch::Tensor b = model->encoder()->forward(y).first.reshape({3, 7, 7, 4});
  EXPECT_FALSE(torch::equal(a.select(1, 0).select(1, 0), b.select(1, 0).select(1, 0)));
  EXPECT_TRUE(torch::equal(a.select(1, 6).select(1, 6), b.select(1, 6).select(1, 6)));

  Config mlp = vq_config();
  mlp.model.latent = 5;
  testing::expect_error<ConfigError>([&] { validate(mlp, true); }, "a multiple of model.code_dim = 2", "mlp latent");
  mlp.model.latent = 4;
  mlp.model.conditional = true;
  testing::expect_error<ConfigError>([&] { validate(mlp, true); }, "only a VAE can be conditional", "conditional");
}

TEST(CategoricalPrior, OneComponentIsEachPositionsFrequencies) {
  // Two positions over K = 3: position 0 always 2; position 1 is 0 three times in four.
  const torch::Tensor idx = torch::tensor({{2, 0}, {2, 0}, {2, 1}, {2, 0}}, torch::kInt64);
  const CategoricalPrior p = fit_categorical(idx, 3, /*components=*/1);
  EXPECT_TRUE(torch::allclose(p.probs[0], torch::tensor({{0.0, 0.0, 1.0}, {0.75, 0.25, 0.0}}, torch::kFloat64)));
  EXPECT_NEAR(p.mean_log_likelihood, (3 * std::log(0.75) + std::log(0.25)) / 4, 1e-12);
  EXPECT_NEAR(categorical_log_density(p, idx.narrow(0, 2, 1)).item<double>(), std::log(0.25), 1e-12);
  auto gen = at::detail::createCPUGenerator(7);
  const torch::Tensor s = sample_categorical(p, 4000, gen);
  EXPECT_EQ(s.sizes(), (std::vector<int64_t>{4000, 2}));
  EXPECT_TRUE((s.select(1, 0) == 2).all().item<bool>());
  const double zeros = (s.select(1, 1) == 0).to(torch::kFloat64).mean().item<double>();
  EXPECT_NEAR(zeros, 0.75, 0.03);  // 4 sd of a binomial mean over 4000 draws
  EXPECT_FALSE((s.select(1, 1) == 2).any().item<bool>()) << "a vector never seen there is never drawn";
  testing::expect_error<std::invalid_argument>([&] { fit_categorical(idx + 1, 3); }, "outside [0, 3)", "bad index");
  testing::expect_error<std::invalid_argument>([&] { fit_categorical(idx, 3, 5); }, "at least 5 codes", "too few");
}

// Codes of two kinds, (0, 0, 0) and (1, 1, 2): independent positions would
// mix them; two components keep each whole.
TEST(CategoricalPrior, MixtureKeepsWhatThePositionsShare) {
  const torch::Tensor idx =
      torch::cat({torch::zeros({30, 3}, torch::kInt64), torch::tensor({1, 1, 2}, torch::kInt64).repeat({10, 1})});
  const CategoricalPrior one = fit_categorical(idx, 3, 1);
  const CategoricalPrior two = fit_categorical(idx, 3, 2, /*seed=*/3);
  EXPECT_TRUE(two.converged);
  EXPECT_NEAR(two.mean_log_likelihood, 0.75 * std::log(0.75) + 0.25 * std::log(0.25), 1e-9) << "the exact fit";
  EXPECT_GT(two.mean_log_likelihood, one.mean_log_likelihood + 1.0);
  auto gen = at::detail::createCPUGenerator(5);
  const torch::Tensor s = sample_categorical(two, 2000, gen);
  const torch::Tensor a = (s == 0).all(1), b = (s == torch::tensor({1, 1, 2}, torch::kInt64)).all(1);
  EXPECT_TRUE((a | b).all().item<bool>()) << "every draw one of the two kinds";
  EXPECT_NEAR(b.to(torch::kFloat64).mean().item<double>(), 0.25, 0.04);
  const torch::Tensor s1 = sample_categorical(one, 2000, gen);
  EXPECT_FALSE(((s1 == 0).all(1) | (s1 == torch::tensor({1, 1, 2}, torch::kInt64)).all(1)).all().item<bool>())
      << "independent positions mix the kinds (the test can tell)";
  std::string prov;
  const CategoricalPrior back = categorical_from_json(categorical_to_json(two, R"({"seed": 1})"), &prov);
  EXPECT_TRUE(torch::equal(back.probs, two.probs));
  EXPECT_TRUE(torch::equal(back.weights, two.weights));
  EXPECT_EQ(back.grid, two.grid);
  EXPECT_EQ(prov, R"({"seed":1})");
  std::string forged = categorical_to_json(two, "{}");
  const size_t at = forged.find("\"weights\":[") + 11;
  forged.replace(at, forged.find(',', at) - at, "0.9");
  testing::expect_error<std::runtime_error>([&] { categorical_from_json(forged, nullptr); }, "do not sum to 1",
                                            "forged weights");
}

// A short run: its test loss falls, the codebook's use is in the log's
// metrics and equals vae-eval's, a resume continues exactly, and the tools:
// indices, no N(0, I) prior, and the fitted categorical prior.
TEST(VqVae, TrainsResumesEncodesAndSamplesFromAFittedPrior) {
  TempDir dir;
  Config cfg = vq_config();
  cfg.model.likelihood = Likelihood::kBernoulli;
  cfg.model.hidden = {64};
  cfg.model.latent = 8;
  cfg.model.code_dim = 2;
  cfg.model.codebook_size = 16;
  cfg.loss.vq_restart_steps = 1;  // restarts happen in the 12 steps, and the resume must replay them
  testing::small_run(cfg, dir, /*epochs=*/3);
  const TrainResult r = train(cfg, {});
  ASSERT_EQ(r.history.size(), 3u);
  EXPECT_LT(r.history.back().test.loss, r.history.front().test.loss);
  const EpochMetrics& last = r.history.back();
  EXPECT_GE(last.test.perplexity, 1.0);
  EXPECT_LE(last.test.perplexity, 16.0);
  EXPECT_GE(last.test.dead_codes, 0.0);
  EXPECT_LE(last.test.dead_codes, 15.0);
  const std::vector<EpochMetrics> back = parse_history(to_jsonl(r.history), "test");
  EXPECT_EQ(back.back().test.perplexity, last.test.perplexity);
  EXPECT_NE(to_json_line(last).find("\"test_perplexity\": "), std::string::npos);
  EpochMetrics plain;
  EXPECT_EQ(to_json_line(plain).find("perplexity"), std::string::npos) << "only a codebook's run writes it";

  const std::string ckpt = dir.file("run/checkpoints/last.pt");
  LoadedModel m = load_model(ckpt, torch::kCPU);
  const Dataset test = IdxSource(cfg.data.dir).load(Split::kTest);
  const Evaluation e = evaluate(m.model, test.images, {}, eval_options_for(m.meta.config));
  EXPECT_EQ(e.loss, last.test.loss);
  EXPECT_EQ(e.perplexity, last.test.perplexity);
  EXPECT_EQ(e.dead_codes, last.test.dead_codes);
  // The perplexity and dead codes from the indices themselves.
  const torch::Tensor idx = encode_indices(m.model, test, 7, torch::kCPU);
  EXPECT_EQ(idx.sizes(), (std::vector<int64_t>{32, 4}));
  const torch::Tensor counts = torch::bincount(idx.reshape({-1}), {}, 16).to(torch::kFloat64);
  const torch::Tensor pr = counts / counts.sum();
  const double entropy = -(pr * torch::log(pr.clamp_min(1e-300))).sum().item<double>();
  EXPECT_NEAR(e.perplexity, std::exp(entropy), 1e-9);
  EXPECT_EQ(e.dead_codes, (counts == 0).sum().item<double>());

  SampleRequest s;
  s.checkpoint = ckpt;
  s.out = dir.file("s.png");
  s.device = DeviceChoice::kCpu;
  testing::expect_error<std::invalid_argument>([&] { run_sample(s); }, "--prior categorical fits one", "N(0, I)");
  s.prior = SampleRequest::Prior::kGmm;
  testing::expect_error<std::invalid_argument>([&] { run_sample(s); }, "use --prior categorical", "gmm on indices");
  s.prior = SampleRequest::Prior::kCategorical;
  s.label_name = "3";
  testing::expect_error<std::invalid_argument>([&] { run_sample(s); }, "--label needs a conditional model", "label");
  s.label_name.clear();
  s.num = 16;
  const std::string first = run_sample(s);
  EXPECT_NE(first.find("fitted to the codes of 128 training images"), std::string::npos) << first;
  const std::string kept = categorical_path_for(ckpt, 10);
  EXPECT_TRUE(std::filesystem::exists(kept));
  const CategoricalPrior fitted = categorical_from_json(read_regular_file(kept), nullptr);
  const torch::Tensor train_idx = encode_indices(m.model, IdxSource(cfg.data.dir).load(Split::kTrain), 50, torch::kCPU);
  EXPECT_TRUE(torch::allclose(fitted.probs, fit_categorical(train_idx, 16, 10, cfg.train.seed).probs))
      << "fitted to the training codes' indices with the run's seed";
  const std::string first_png = read_regular_file(s.out);
  s.out = dir.file("s2.png");
  const std::string second = run_sample(s);
  EXPECT_NE(second.find("read from"), std::string::npos) << second;
  EXPECT_EQ(read_regular_file(s.out), first_png) << "the same seed draws the same samples from the kept fit";
  // Not for a model without a codebook.
  Config ae = vq_config();
  ae.model.kind = Kind::kAe;
  ae.model.latent = 3;
  TempDir d2;
  testing::small_run(ae, d2, 1);
  train(ae, {});
  s.checkpoint = d2.file("run/checkpoints/last.pt");
  s.out = d2.file("s.png");
  testing::expect_error<std::invalid_argument>([&] { run_sample(s); }, "has none (--prior gmm fits its codes)",
                                               "categorical on an ae");
  // Last: this continues the run in place.
  const auto [resumed, whole] = testing::resumed_and_whole_test_loss(cfg, dir.file("run4"));
  EXPECT_EQ(resumed, whole);
}

TEST(VqVae, MovingAverageRunResumesExactly) {
  TempDir dir;
  Config cfg = vq_config();
  cfg.model.codebook_ema = true;
  cfg.model.codebook_size = 8;
  cfg.loss.vq_restart_steps = 1;
  testing::small_run(cfg, dir, /*epochs=*/2);
  const TrainResult r = train(cfg, {});
  EXPECT_LT(r.history.back().test.loss, r.history.front().test.loss);
  const auto [resumed, whole] = testing::resumed_and_whole_test_loss(cfg, dir.file("run3"));
  EXPECT_EQ(resumed, whole) << "the codebook's buffers are in the checkpoint";
}

}  // namespace
}  // namespace vae
