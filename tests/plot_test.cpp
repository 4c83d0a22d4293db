// Plots: tick placement, valid PNGs of the documented size that show what
// they were given (each series' and class's colour appears), and the latent
// plane (principal components for Z > 2).
#include <cairo.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "test_util.hpp"
#include "vae/latent_plot.hpp"
#include "vae/io.hpp"
#include "vae/plot.hpp"

namespace vae {
namespace {

using testing::TempDir;

struct Pixels {
  int width = 0, height = 0;
  std::vector<uint32_t> rgb;  // 0xRRGGBB
  // Pixels within `tol` per channel of the colour.
  // Only columns x < x_max count: x_max = kPlotOnly leaves out the legends
  // (their swatches alone hold tens of pixels of each colour).
  int64_t count(uint32_t colour, int tol = 6, int x_max = 1 << 30) const {
    int64_t n = 0;
    for (size_t i = 0; i < rgb.size(); ++i) {
      if (static_cast<int>(i % static_cast<size_t>(width)) >= x_max) continue;
      const uint32_t p = rgb[i];
      bool near = true;
      for (int shift : {0, 8, 16})
        near &= std::abs(static_cast<int>((p >> shift) & 0xff) - static_cast<int>((colour >> shift) & 0xff)) <= tol;
      n += near;
    }
    return n;
  }
};

// Decoded by cairo's own PNG reader: a file it cannot read fails the test.
Pixels read_png(const std::string& path) {
  cairo_surface_t* s = cairo_image_surface_create_from_png(path.c_str());
  Pixels px;
  if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
    ADD_FAILURE() << path << ": not a readable PNG: " << cairo_status_to_string(cairo_surface_status(s));
    cairo_surface_destroy(s);
    return px;
  }
  px.width = cairo_image_surface_get_width(s);
  px.height = cairo_image_surface_get_height(s);
  const int stride = cairo_image_surface_get_stride(s);
  const unsigned char* data = cairo_image_surface_get_data(s);
  for (int y = 0; y < px.height; ++y)
    for (int x = 0; x < px.width; ++x)
      px.rgb.push_back(*reinterpret_cast<const uint32_t*>(data + y * stride + 4 * x) & 0xffffff);
  cairo_surface_destroy(s);
  return px;
}

constexpr uint32_t kWhite = 0xffffff, kBlack = 0x000000;
constexpr int kPlotOnly = 650;  // every legend here starts right of this column

// A scatter dot's colour: drawn with alpha 0.7 over white.
uint32_t on_white(uint32_t c, double alpha = 0.7) {
  uint32_t out = 0;
  for (int shift : {0, 8, 16}) {
    const double v = alpha * ((c >> shift) & 0xff) + (1 - alpha) * 255;
    out |= static_cast<uint32_t>(std::lround(v)) << shift;
  }
  return out;
}
constexpr uint32_t kBlue = 0x1f77b4, kOrange = 0xff7f0e, kGreen = 0x2ca02c;  // tab10 0, 1, 2

TEST(NiceTicks, RoundStepsThatCoverTheRange) {
  EXPECT_EQ(plot::nice_ticks(0.3, 9.7), (std::vector<double>{0, 2, 4, 6, 8, 10}));
  const std::vector<double> t = plot::nice_ticks(152.1, 160.9);
  EXPECT_LE(t.front(), 152.1);
  EXPECT_GE(t.back(), 160.9);
  EXPECT_DOUBLE_EQ(t[1] - t[0], 2.0);
  const std::vector<double> small = plot::nice_ticks(-0.031, 0.012);
  EXPECT_NEAR(small[1] - small[0], 0.01, 1e-12);
  EXPECT_LE(small.front(), -0.031);
  EXPECT_EQ(plot::nice_ticks(0.9, 3.1, 6, 1), (std::vector<double>{0, 1, 2, 3, 4}));  // epochs
  EXPECT_THROW(plot::nice_ticks(1, 1), std::invalid_argument);
  EXPECT_THROW(plot::nice_ticks(0, NAN), std::invalid_argument);
}

TEST(LinePlot, DrawsEachSeriesAxesAndLegend) {
  TempDir dir;
  const std::string path = dir.file("loss.png");
  plot::line_plot(path, {"Loss", "epoch", "nats"},
                  {{"train", {1, 2, 3, 4}, {200, 180, 170, 165}}, {"test", {1, 2, 3, 4}, {190, 178, 172, 169}}});
  const Pixels px = read_png(path);
  EXPECT_EQ(px.width, 800);
  EXPECT_EQ(px.height, 560);
  EXPECT_GT(px.count(kWhite), px.width * px.height / 2);  // a white page ...
  EXPECT_GT(px.count(kBlack), 1000);                      // ... with a frame, ticks and text
  EXPECT_GT(px.count(kBlue, 6, kPlotOnly), 200);          // the first series
  EXPECT_GT(px.count(kOrange, 6, kPlotOnly), 200);        // the second
  EXPECT_EQ(px.count(kGreen), 0);                         // and no third
}

TEST(LinePlot, RejectsMismatchedSeriesAndUnwritablePaths) {
  TempDir dir;
  EXPECT_THROW(plot::line_plot(dir.file("a.png"), {}, {{"s", {1, 2}, {1}}}), std::invalid_argument);
  EXPECT_THROW(plot::line_plot(dir.file("no/such/dir/a.png"), {}, {{"s", {1}, {1}}}), IoError);
  plot::Axes tiny;
  tiny.width = 10;
  EXPECT_THROW(plot::line_plot(dir.file("b.png"), tiny, {}), std::invalid_argument);
}

TEST(LinePlot, SkipsNonFinitePointsAndDrawsASinglePoint) {
  TempDir dir;
  plot::line_plot(dir.file("a.png"), {}, {{"s", {1, 2, 3}, {5, NAN, INFINITY}}});
  EXPECT_GT(read_png(dir.file("a.png")).count(kBlue, 6, kPlotOnly), 20);  // the one finite point
  plot::line_plot(dir.file("b.png"), {}, {});  // no data: axes only
  EXPECT_EQ(read_png(dir.file("b.png")).count(kBlue), 0);
}

TEST(LinePlot, SkipsPointsThatAreNotNumbers) {
  TempDir dir;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  plot::Axes axes{"title", "epoch", "loss"};
  axes.integer_x = true;
  plot::line_plot(dir.file("loss.png"), axes,
                  {{"train", {1, 2, 3}, {200.5, 180.0, 170.0}}, {"test", {1, 2, 3}, {190.1, nan, 175.0}}});
  const Pixels px = read_png(dir.file("loss.png"));
  EXPECT_GT(px.count(kBlue, 6, kPlotOnly), 200);
  EXPECT_GT(px.count(kOrange, 6, kPlotOnly), 15);  // epochs 1 and 3: two dots (the NaN lifts the pen)
}

TEST(ScatterPlot, ColoursEachClassAndChecksItsInput) {
  TempDir dir;
  std::vector<double> x, y;
  std::vector<int64_t> cls;
  for (int i = 0; i < 300; ++i) {
    x.push_back(std::cos(i * 0.1) * (1 + i % 3));
    y.push_back(std::sin(i * 0.1) * (1 + i % 3));
    cls.push_back(i % 3);
  }
  plot::scatter_plot(dir.file("s.png"), {"t", "x", "y"}, x, y, cls, {"a", "b", "c"});
  const Pixels px = read_png(dir.file("s.png"));
  EXPECT_EQ(px.width, 800);
  for (uint32_t c : {kBlue, kOrange, kGreen})
    EXPECT_GT(px.count(on_white(c), 12, kPlotOnly), 80) << std::hex << c;  // 100 dots each, overlapping
  cls[7] = 3;
  EXPECT_THROW(plot::scatter_plot(dir.file("t.png"), {}, x, y, cls, {"a", "b", "c"}), std::invalid_argument);
  EXPECT_THROW(plot::scatter_plot(dir.file("t.png"), {}, x, {1.0}, cls, {"a"}), std::invalid_argument);
}

TEST(LatentPlane, TwoDimensionsAreShownAsTheyAre) {
  const torch::Tensor mu = torch::randn({50, 2});
  const LatentPlane p = latent_plane(mu, torch::zeros({50}, torch::kLong));
  EXPECT_TRUE(torch::allclose(p.xy, mu.to(torch::kFloat64)));
  EXPECT_EQ(p.note, "");
}

TEST(LatentPlane, MoreDimensionsProjectOntoThePrincipalComponents) {
  torch::manual_seed(3);
  const int64_t n = 2000;
  // Variance 16 along unit 3, 4 along unit 1, 0.01 elsewhere.
  torch::Tensor mu = torch::randn({n, 5}) * 0.1;
  const torch::Tensor a = torch::randn({n}) * 4, b = torch::randn({n}) * 2;
  mu.select(1, 3).add_(a);
  mu.select(1, 1).add_(b);
  const LatentPlane p = latent_plane(mu, torch::zeros({n}, torch::kLong));
  ASSERT_EQ(p.xy.sizes(), (std::vector<int64_t>{n, 2}));
  // PC 1 is unit 3 and PC 2 unit 1, up to the noise, with the sign fixed.
  const auto corr = [](const torch::Tensor& u, const torch::Tensor& v) {
    const torch::Tensor uc = u - u.mean(), vc = v - v.mean();
    return ((uc * vc).sum() / (uc.norm() * vc.norm())).item<double>();
  };
  EXPECT_GT(corr(p.xy.select(1, 0), mu.select(1, 3).to(torch::kFloat64)), 0.99);
  EXPECT_GT(corr(p.xy.select(1, 1), mu.select(1, 1).to(torch::kFloat64)), 0.99);
  // 16 / (16 + 4 + 5 * 0.01) = 80%, up to the sampling of 2,000 points.
  ASSERT_EQ(p.xlabel.rfind("PC 1 (", 0), 0u) << p.xlabel;
  const int share = std::stoi(p.xlabel.substr(6));
  EXPECT_GE(share, 76);
  EXPECT_LE(share, 84);
  EXPECT_NE(p.note.find("5-D"), std::string::npos);
}

TEST(LatentPlot, WritesTheDocumentedSize) {
  TempDir dir;
  torch::manual_seed(0);
  const torch::Tensor labels = torch::arange(100, torch::kLong) % 10;
  write_latent_plot(dir.file("z.png"), torch::randn({100, 3}) + labels.unsqueeze(1).to(torch::kFloat), labels,
                    "title");
  const Pixels px = read_png(dir.file("z.png"));
  EXPECT_EQ(px.width, 840);
  EXPECT_EQ(px.height, 680);
  EXPECT_GT(px.count(on_white(kBlue), 12, kPlotOnly), 30);  // the 10 dots of label 0
}

}  // namespace
}  // namespace vae
