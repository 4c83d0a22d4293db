// model.kind = "wae" and "info_vae" (src/objectives/wae.cpp): the MMD
// penalty against the estimate written out, what it measures, its shares
// across processes against the whole batch's value and gradient, and runs
// that train, resume, sample and evaluate.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "expect_error.hpp"
#include "test_util.hpp"
#include "vae/checkpoint.hpp"
#include "vae/evaluate.hpp"
#include "vae/objective.hpp"
#include "vae/sample_command.hpp"
#include "vae/trainer.hpp"

namespace vae {
namespace {

using testing::TempDir;

double kernel_written_out(MmdKernel kind, const torch::Tensor& a, const torch::Tensor& b) {
  const double c = 2.0 * static_cast<double>(a.size(0));
  const double d2 = (a - b).pow(2).sum().item<double>();
  if (kind == MmdKernel::kRbf) return std::exp(-d2 / c);
  double k = 0;
  for (const double s : {0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0}) k += s * c / (s * c + d2);
  return k;
}

TEST(Mmd, IsTheUnbiasedEstimateWrittenOut) {
  for (const MmdKernel kind : {MmdKernel::kImq, MmdKernel::kRbf}) {
    LossConfig loss;
    loss.mmd_kernel = kind;
    loss.mmd_weight = 3.0;
    const int64_t n = 6;
    const torch::Tensor z = torch::randn({n, 3}) * 2 + 0.5;
    torch::manual_seed(4);
    const double got = mmd_penalty(loss, z, {}).item<double>();
    torch::manual_seed(4);
    const torch::Tensor p = torch::randn({n, 3});
    double zz = 0, pp = 0, zp = 0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) {
        if (i != j) zz += kernel_written_out(kind, z[i], z[j]);
        if (i != j) pp += kernel_written_out(kind, p[i], p[j]);
        zp += kernel_written_out(kind, z[i], p[j]);
      }
    const double mmd = zz / (n * (n - 1)) + pp / (n * (n - 1)) - 2 * zp / (n * n);
    EXPECT_NEAR(got, n * 3.0 * mmd, 1e-4 * std::abs(n * 3.0 * mmd)) << name(kind);
  }
}

// The penalty's gradient (the kernel's derivative, hand-written for the CPU)
// against central differences of its value, in double, same prior draws.
TEST(Mmd, ItsGradientIsTheValuesSlope) {
  for (const MmdKernel kind : {MmdKernel::kImq, MmdKernel::kRbf}) {
    LossConfig loss;
    loss.mmd_kernel = kind;
    loss.mmd_weight = 2.0;
    torch::manual_seed(5);
    const torch::Tensor z0 = torch::randn({7, 3}, torch::kDouble) * 1.5 + 0.3;
    const auto value = [&](const torch::Tensor& z) {
      torch::manual_seed(6);
      return mmd_penalty(loss, z, {}).item<double>();
    };
    const torch::Tensor z = z0.clone().requires_grad_();
    torch::manual_seed(6);
    mmd_penalty(loss, z, {}).backward();
    const double h = 1e-6;
    for (int64_t i = 0; i < 7; ++i)
      for (int64_t j = 0; j < 3; ++j) {
        torch::Tensor up = z0.clone(), down = z0.clone();
        up[i][j] += h;
        down[i][j] -= h;
        const double slope = (value(up) - value(down)) / (2 * h);
        EXPECT_NEAR(z.grad()[i][j].item<double>(), slope, 1e-6 + 1e-5 * std::abs(slope)) << name(kind) << " " << i << "," << j;
      }
  }
}

TEST(Mmd, IsNearZeroForThePriorAndGrowsWithTheDistance) {
  LossConfig loss;
  loss.mmd_weight = 1.0;
  torch::manual_seed(1);
  const torch::Tensor z = torch::randn({500, 4});
  const double same = mmd_penalty(loss, z, {}).item<double>() / 500;
  const double near = mmd_penalty(loss, z + 0.5, {}).item<double>() / 500;
  const double far = mmd_penalty(loss, z * 3 + 2, {}).item<double>() / 500;
  EXPECT_LT(std::abs(same), 0.02) << "codes from N(0, I)";
  EXPECT_GT(near, 5 * std::abs(same));
  EXPECT_GT(far, near);
}

TEST(Mmd, TheProcessesSharesAddUpToTheWholeBatchAndItsGradient) {
  LossConfig loss;
  loss.mmd_weight = 2.0;
  torch::manual_seed(2);
  const torch::Tensor codes = torch::randn({6, 3}) * 1.5;
  const torch::Tensor whole = codes.clone().requires_grad_();
  torch::manual_seed(5);
  const torch::Tensor value = mmd_penalty(loss, whole, {});
  value.backward();
  // Two processes: rows [0, 2) and [2, 6); each one's sum_across adds the
  // other's codes, as the all-reduce would.
  double shares = 0;
  for (const auto& [offset, count] : {std::pair<int64_t, int64_t>{0, 2}, {2, 4}}) {
    const torch::Tensor mine = codes.narrow(0, offset, count).clone().requires_grad_();
    RowSlice rows{offset, 6};
    rows.sum_across = [&](torch::Tensor& t) {
      torch::Tensor others = codes.clone();
      others.narrow(0, offset, count).zero_();
      t.add_(others);
    };
    torch::manual_seed(5);
    const torch::Tensor share = mmd_penalty(loss, mine, rows);
    share.backward();
    shares += share.item<double>();
    EXPECT_TRUE(torch::allclose(mine.grad(), whole.grad().narrow(0, offset, count), 1e-5, 1e-5))
        << "rows from " << offset << ": " << mine.grad() << whole.grad();
  }
  EXPECT_NEAR(shares, value.item<double>(), 1e-5 * std::abs(value.item<double>()));
}

TEST(Wae, KeysAndRules) {
  Config c;
  c.model.kind = Kind::kInfoVae;
  c.model.prior = Prior::kVamp;
  testing::expect_error<ConfigError>([&] { validate(c, false); }, "(a prior needs a VAE)", "info_vae with vamp");
  c = Config{};
  c.model.kind = Kind::kWae;
  c.loss.iw_samples = 5;
  testing::expect_error<ConfigError>([&] { validate(c, false); }, "the importance-weighted bound needs a VAE", "wae iw");
  set_key(c, "loss.mmd_kernel", "rbf");
  EXPECT_EQ(c.loss.mmd_kernel, MmdKernel::kRbf);
  testing::expect_error<ConfigError>([&] { set_key(c, "loss.mmd_kernel", "gauss"); }, "imq", "an unknown kernel");
  c.model.kind = Kind::kWae;
  EXPECT_TRUE(make_objective(c)->has_prior());
  EXPECT_FALSE(make_objective(c)->has_elbo());
  c.model.kind = Kind::kInfoVae;
  EXPECT_TRUE(make_objective(c)->has_elbo());
  EXPECT_FALSE(make_objective(c)->has_fused_step());
}

TEST(Wae, WaeAndInfoVaeTrainResumeExactlySampleAndEvaluate) {
  for (const Kind kind : {Kind::kWae, Kind::kInfoVae}) {
    SCOPED_TRACE(name(kind));
    TempDir dir;
    Config cfg;
    cfg.model.kind = kind;
    cfg.model.hidden = {32};
    cfg.model.latent = 4;
    testing::small_run(cfg, dir);
    const TrainResult r = train(cfg, {});
    ASSERT_EQ(r.history.size(), 3u);
    EXPECT_LT(r.history.back().test.loss, r.history.front().test.loss);
    EXPECT_FALSE(r.samples.empty()) << "both decode draws from N(0, I)";
    LoadedModel m = load_model(dir.file("run/checkpoints/last.pt"), torch::kCPU);
    EXPECT_EQ(m.model->named_parameters().contains("encoder.fc_code.weight"), kind == Kind::kWae);
    const auto [resumed, whole] = testing::resumed_and_whole_test_loss(cfg, dir.file("run4"));
    EXPECT_EQ(resumed, whole);
    EvalOptions opt = testing::eval_options(3, 32);
    opt.iw_samples = 20;
    const Dataset test = testing::synthetic_digits(32, 9);
    const Evaluation e = evaluate(m.model, test.images, {}, opt);
    EXPECT_EQ(std::isfinite(e.nll_iw), kind == Kind::kInfoVae) << "an IW NLL only where there is a likelihood bound";
    EXPECT_NE(testing::sample_16(dir.file("run/checkpoints/last.pt"), dir.file("s.png")).find("wrote 16 samples"),
              std::string::npos);
  }
}

}  // namespace
}  // namespace vae
