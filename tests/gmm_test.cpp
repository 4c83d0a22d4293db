// The Gaussian mixture of vae-sample --prior gmm (src/gmm.cpp): EM against
// a known mixture and the one-component closed form, its density against
// the formula written out, seeded fits and draws, its file, and the sample
// command that fits it once and reuses it.
#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <filesystem>
#include <string>

#include "expect_error.hpp"
#include "test_util.hpp"
#include "vae/gmm.hpp"
#include "vae/io.hpp"
#include "vae/sample_command.hpp"
#include "vae/trainer.hpp"

namespace vae {
namespace {

using testing::TempDir;
const auto kF64 = torch::TensorOptions().dtype(torch::kFloat64);

// 6,000 points from three 2-D Gaussians of weights 0.5, 0.3, 0.2.
struct Known {
  torch::Tensor weights = torch::tensor({0.5, 0.3, 0.2}, kF64);
  torch::Tensor means = torch::tensor({{-5.0, 0.0}, {4.0, 4.0}, {3.0, -4.0}}, kF64);
  torch::Tensor covs = torch::stack({torch::tensor({{1.0, 0.6}, {0.6, 1.0}}, kF64),
                                     torch::tensor({{0.5, 0.0}, {0.0, 2.0}}, kF64),
                                     torch::tensor({{1.5, -0.7}, {-0.7, 0.8}}, kF64)});
  torch::Tensor draw(int64_t n, uint64_t seed) const {
    auto gen = at::detail::createCPUGenerator(seed);
    Gmm g;
    g.weights = weights;
    g.means = means;
    g.covariances = covs;
    return sample_gmm(g, n, gen).to(torch::kFloat64);
  }
};

TEST(Gmm, RecoversAKnownMixture) {
  const Known truth;
  const torch::Tensor x = truth.draw(6000, 1);
  const Gmm g = fit_gmm(x, 3, GmmCovariance::kFull, 7);
  EXPECT_TRUE(g.converged);
  for (int64_t c = 0; c < 3; ++c) {
    const int64_t k = (g.means - truth.means[c]).pow(2).sum(1).argmin().item<int64_t>();
    EXPECT_NEAR(g.weights[k].item<double>(), truth.weights[c].item<double>(), 0.02) << "component " << c;
    EXPECT_TRUE(torch::allclose(g.means[k], truth.means[c], 0, 0.1)) << g.means[k];
    EXPECT_TRUE(torch::allclose(g.covariances[k], truth.covs[c], 0, 0.15)) << g.covariances[k];
  }
  // More EM, a higher likelihood (EM never lowers it).
  const Gmm one_step = fit_gmm(x, 3, GmmCovariance::kFull, 7, /*max_iter=*/1);
  EXPECT_LT(one_step.mean_log_likelihood, g.mean_log_likelihood);
}

TEST(Gmm, OneComponentIsTheSampleMeanAndCovariance) {
  torch::manual_seed(3);
  const torch::Tensor x = torch::randn({500, 3}, kF64).matmul(torch::tensor({{1.0, 0.5, 0.0}, {0.0, 2.0, 0.3}, {0.0, 0.0, 0.7}}, kF64));
  const torch::Tensor mean = x.mean(0);
  const torch::Tensor cov = (x - mean).t().matmul(x - mean) / 500;
  const Gmm full = fit_gmm(x, 1, GmmCovariance::kFull, 0);
  EXPECT_TRUE(torch::allclose(full.means[0], mean, 0, 1e-10));
  EXPECT_TRUE(torch::allclose(full.covariances[0], cov + 1e-6 * torch::eye(3, kF64), 0, 1e-10));
  const Gmm diag = fit_gmm(x, 1, GmmCovariance::kDiag, 0);
  EXPECT_TRUE(torch::allclose(diag.covariances[0], torch::diag(cov.diagonal() + 1e-6), 0, 1e-10));
}

TEST(Gmm, TheDensityIsTheMixtureWrittenOut) {
  const Known truth;
  Gmm g;
  g.weights = truth.weights;
  g.means = truth.means;
  g.covariances = truth.covs;
  const torch::Tensor x = torch::randn({7, 2}, kF64) * 3;
  torch::Tensor p = torch::zeros({7}, kF64);
  for (int64_t c = 0; c < 3; ++c) {
    const torch::Tensor d = x - truth.means[c];
    const torch::Tensor quad = (d.matmul(torch::inverse(truth.covs[c])) * d).sum(1);
    p += truth.weights[c] * torch::exp(-0.5 * quad) / (2 * M_PI * torch::sqrt(torch::det(truth.covs[c])));
  }
  EXPECT_TRUE(torch::allclose(gmm_log_density(g, x), p.log(), 1e-10, 1e-10));
}

TEST(Gmm, FitsAndDrawsAreSeeded) {
  const torch::Tensor x = Known().draw(900, 2);
  const Gmm a = fit_gmm(x, 4, GmmCovariance::kDiag, 11), b = fit_gmm(x, 4, GmmCovariance::kDiag, 11);
  EXPECT_TRUE(torch::equal(a.means, b.means) && torch::equal(a.covariances, b.covariances));
  auto g1 = at::detail::createCPUGenerator(5), g2 = at::detail::createCPUGenerator(5);
  EXPECT_TRUE(torch::equal(sample_gmm(a, 10, g1), sample_gmm(a, 10, g2)));
  // Draws follow the mixture: their mean is the weighted mean of the means.
  auto g3 = at::detail::createCPUGenerator(6);
  const torch::Tensor many = sample_gmm(a, 40000, g3).to(torch::kFloat64);
  EXPECT_TRUE(torch::allclose(many.mean(0), (a.weights.unsqueeze(1) * a.means).sum(0), 0, 0.05));
  testing::expect_error<std::invalid_argument>([&] { fit_gmm(x.narrow(0, 0, 3), 4, GmmCovariance::kFull, 0); },
                                               "needs at least as many codes", "fewer codes than components");
}

TEST(Gmm, TheFileRoundTripsExactlyAndRefusesDamage) {
  const Gmm g = fit_gmm(Known().draw(600, 3), 3, GmmCovariance::kFull, 1);
  const std::string text = gmm_to_json(g, R"({"checkpoint_sha256":"ab","seed":1})");
  std::string provenance;
  const Gmm back = gmm_from_json(text, &provenance);
  EXPECT_TRUE(torch::equal(back.means, g.means) && torch::equal(back.covariances, g.covariances) &&
              torch::equal(back.weights, g.weights));
  EXPECT_EQ(provenance, R"({"checkpoint_sha256":"ab","seed":1})");
  testing::expect_error<std::runtime_error>([&] { gmm_from_json(text.substr(0, text.size() / 2), nullptr); },
                                            "not JSON", "a truncated file");
  Gmm bad = g;
  bad.covariances = g.covariances.clone();
  bad.covariances[1][0][0] = -1.0;
  testing::expect_error<std::runtime_error>([&] { gmm_from_json(gmm_to_json(bad, "{}"), nullptr); },
                                            "not symmetric positive definite", "a negative variance");
  bad = g;
  bad.weights = g.weights * 2;
  testing::expect_error<std::runtime_error>([&] { gmm_from_json(gmm_to_json(bad, "{}"), nullptr); },
                                            "weights are not a distribution", "weights summing to 2");
}

TEST(Gmm, VaeSampleFitsOnceReusesAndRefitsAStaleFile) {
  TempDir dir;
  Config cfg;
  cfg.model.kind = Kind::kAe;
  cfg.model.hidden = {32};
  cfg.model.latent = 3;
  testing::small_run(cfg, dir, /*epochs=*/2, /*batch=*/50, /*train_images=*/200, /*test_images=*/40);
  train(cfg, {});
  SampleRequest r;
  r.checkpoint = dir.file("run/checkpoints/last.pt");
  r.out = dir.file("a.png");
  r.num = 9;
  r.device = DeviceChoice::kCpu;
  testing::expect_error<std::invalid_argument>([&] { run_sample(r); }, "--prior gmm fits one to its codes",
                                               "an ae without --prior gmm");
  r.prior = SampleRequest::Prior::kGmm;
  r.components = 4;
  EXPECT_NE(run_sample(r).find("fitted to the codes of 200 training images"), std::string::npos);
  const std::string kept = dir.file("run/checkpoints/last.gmm-k4-full.json");
  ASSERT_EQ(gmm_path_for(r.checkpoint, 4, GmmCovariance::kFull), kept);
  ASSERT_TRUE(std::filesystem::exists(kept));
  r.out = dir.file("b.png");
  EXPECT_NE(run_sample(r).find("read from " + kept), std::string::npos);
  EXPECT_EQ(read_file(dir.file("a.png")), read_file(dir.file("b.png"))) << "the same fit and seed, the same samples";
  testing::write_bytes(kept, "{\"format\": \"vae-gmm 1\", \"components\": 4");
  EXPECT_NE(run_sample(r).find("was unreadable (not JSON"), std::string::npos);
  EXPECT_EQ(read_file(dir.file("a.png")), read_file(dir.file("b.png"))) << "refitted the same way";
  // --out *.npy: the samples themselves, float32 [n, 28, 28], for measuring them.
  r.out = dir.file("s.npy");
  run_sample(r);
  const std::string npy = read_file(r.out);
  EXPECT_EQ(npy.substr(0, 6), "\x93NUMPY");
  EXPECT_NE(npy.find("'descr': '<f4'"), std::string::npos);
  EXPECT_NE(npy.find("'shape': (9, 28, 28)"), std::string::npos);
  EXPECT_EQ((npy.size() - 9 * 28 * 28 * 4) % 64, 0u) << "a padded header, then the 9 x 784 floats";
  r.out = kept;
  testing::expect_error<std::invalid_argument>([&] { run_sample(r); }, "--out", "writing over the kept fit");
  r.out = dir.file("c.png");
  r.mode = SampleRequest::Mode::kManifold;
  testing::expect_error<std::invalid_argument>([&] { run_sample(r); }, "does not combine with --manifold", "gmm manifold");
}

}  // namespace
}  // namespace vae
