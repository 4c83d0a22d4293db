#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "test_util.hpp"
#include "vae/image.hpp"
#include "vae/export.hpp"
#include "vae/inference.hpp"
#include "vae/latent_plot.hpp"
#include "vae/transforms.hpp"
#include "vae/io.hpp"

namespace vae {
namespace {

using testing::TempDir;

TEST(Grid, PlacesImagesRowMajorWithPadding) {
  // Five 2x3 images, image i filled with (i+1)/5: bytes 51, 102, ..., 255.
  torch::Tensor imgs = torch::empty({5, 2, 3});
  for (int i = 0; i < 5; ++i) imgs[i].fill_((i + 1) / 5.0);
  const torch::Tensor g = make_grid(imgs, /*columns=*/2, /*pad=*/1);
  // 3 rows x 2 columns: height 3*(2+1)+1, width 2*(3+1)+1.
  ASSERT_EQ(g.sizes(), (std::vector<int64_t>{10, 9}));
  EXPECT_EQ(g[0][0].item<int>(), 0);                       // padding
  EXPECT_EQ(g[1][1].item<int>(), 51);   // image 0
  EXPECT_EQ(g[2][7].item<int>(), 102);  // image 1, bottom right pixel
  EXPECT_EQ(g[1][8].item<int>(), 0);    // right padding
  EXPECT_EQ(g[4][1].item<int>(), 153);  // image 2, second row
  EXPECT_EQ(g[7][1].item<int>(), 255);  // image 4
  EXPECT_EQ(g[7][5].item<int>(), 0);    // the empty cell stays black
}

TEST(Png, WritesAValidPngThatReadsBack) {
  TempDir dir;
  const torch::Tensor img = torch::randint(0, 256, {30, 47}, torch::kUInt8);
  write_png(dir.file("a.png"), img);
  const std::string bytes = read_file(dir.file("a.png"));
  ASSERT_GE(bytes.size(), 8u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_TRUE(torch::equal(read_png_gray(dir.file("a.png")), img));
  testing::write_bytes(dir.file("b.png"), "not a png");
  EXPECT_THROW(read_png_gray(dir.file("b.png")), IoError);
}

TEST(Grid, ColourImagesGiveRgbPixelsThatAPngKeeps) {
  // Two 1x1 RGB images: red and blue, in [N, C, H, W].
  const torch::Tensor imgs = torch::tensor({1.0f, 0.0f, 0.0f, 0.0f, 0.0f, 1.0f}).reshape({2, 3, 1, 1});
  const torch::Tensor g = make_grid(imgs, /*columns=*/2, /*pad=*/1);
  ASSERT_EQ(g.sizes(), (std::vector<int64_t>{3, 5, 3}));
  EXPECT_TRUE(torch::equal(g[1][1], torch::tensor({255, 0, 0}, torch::kUInt8)));
  EXPECT_TRUE(torch::equal(g[1][3], torch::tensor({0, 0, 255}, torch::kUInt8)));
  TempDir dir;
  write_png(dir.file("c.png"), g);
  const std::string bytes = read_file(dir.file("c.png"));
  EXPECT_EQ(bytes[25], 2);  // IHDR colour type 2: RGB
}

TEST(ConvModel, StagesFollowTheImageSizeAndChannels) {
  ModelConfig cfg;
  EXPECT_EQ(conv_stages(cfg), (std::vector<int64_t>{32, 64}));  // 28 x 28: the Keras example's
  cfg.image_height = cfg.image_width = 64;
  EXPECT_EQ(conv_stages(cfg), (std::vector<int64_t>{32, 64, 128, 256}));
  cfg.image_height = 32;
  EXPECT_EQ(conv_stages(cfg).size(), 3u);  // 32 x 64: as long as both sides halve
  cfg.image_height = cfg.image_width = 27;
  EXPECT_TRUE(conv_stages(cfg).empty());
  // A 3 x 64 x 48 conv VAE: codes, logits of every value, samples of the shape.
  cfg.arch = Arch::kConv;
  cfg.image_channels = 3;
  cfg.image_height = 64;
  cfg.image_width = 48;
  cfg.hidden = {16};
  cfg.latent = 4;
  EXPECT_EQ(conv_stages(cfg), (std::vector<int64_t>{32, 64, 128}));
  EXPECT_EQ(describe_layers(cfg), "9216-conv32-conv64-conv128-16-4");
  torch::manual_seed(0);
  VAE model(cfg);
  const VAEOutput out = model->forward(torch::rand({2, 3, 64, 48}));
  EXPECT_EQ(out.logits.sizes(), (std::vector<int64_t>{2, 3 * 64 * 48}));
  EXPECT_EQ(out.mu.sizes(), (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(sample_images(model, 5, 1, torch::kCPU).sizes(), (std::vector<int64_t>{5, 3, 64, 48}));
  EXPECT_EQ(make_grid(sample_images(model, 5, 1, torch::kCPU), 5).size(2), 3);
  // Sides that the stages cannot halve are a config error naming the fix.
  Config bad;
  bad.model = cfg;
  bad.model.conv_channels = {8, 8, 8, 8, 8, 8, 8};
  try {
    validate(bad);
    ADD_FAILURE() << "validate took 64x48 for 7 stages";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("multiples of 128 for 7 conv stages"), std::string::npos) << e.what();
  }
}

TEST(ConvModel, TheDefaultConvKeepsItsParameterNames) {
  // 28 x 28 grey: conv1, conv2 and deconv1..3, as checkpoints before the
  // stages became configurable have them.
  ModelConfig cfg;
  cfg.arch = Arch::kConv;
  cfg.hidden = {};
  VAE model(cfg);
  const auto p = model->named_parameters();
  EXPECT_EQ(p["encoder.conv1.weight"].sizes(), (std::vector<int64_t>{32, 1, 3, 3}));
  EXPECT_EQ(p["encoder.conv2.weight"].sizes(), (std::vector<int64_t>{64, 32, 3, 3}));
  EXPECT_EQ(p["decoder.deconv1.weight"].sizes(), (std::vector<int64_t>{64, 64, 3, 3}));
  EXPECT_EQ(p["decoder.deconv3.weight"].sizes(), (std::vector<int64_t>{32, 1, 3, 3}));
  EXPECT_FALSE(p.contains("encoder.conv3.weight"));
}

TEST(StratifiedSplit, HoldsOutTheFractionOfEachClassBySeed) {
  std::vector<int32_t> labels;
  for (int i = 0; i < 50; ++i) labels.push_back(0);
  for (int i = 0; i < 30; ++i) labels.push_back(1);
  for (int i = 0; i < 3; ++i) labels.push_back(2);
  const std::vector<int64_t> a = stratified_test_rows(labels, 0.1, 1);
  int per[3] = {0, 0, 0};
  for (int64_t i : a) ++per[labels[static_cast<size_t>(i)]];
  EXPECT_EQ(per[0], 5);
  EXPECT_EQ(per[1], 3);
  EXPECT_EQ(per[2], 0);  // round(0.3)
  EXPECT_TRUE(std::is_sorted(a.begin(), a.end()));
  EXPECT_EQ(stratified_test_rows(labels, 0.1, 1), a);  // the same seed, the same split
  EXPECT_NE(stratified_test_rows(labels, 0.1, 2), a);
  EXPECT_EQ(stratified_test_rows(labels, 0.0, 1).size(), 0u);
  EXPECT_EQ(stratified_test_rows(std::vector<int32_t>(10, -1), 0.5, 1).size(), 5u);  // no classes: one group
}

TEST(Inference, SamplesAreSeededAndShaped) {
  ModelConfig cfg;
  cfg.hidden = {32};
  cfg.latent = 2;
  VAE model(cfg);
  const torch::Tensor a = sample_images(model, 6, 11, torch::kCPU);
  EXPECT_EQ(a.sizes(), (std::vector<int64_t>{6, 28, 28}));
  torch::manual_seed(99);  // the global generator must not matter
  EXPECT_TRUE(torch::equal(a, sample_images(model, 6, 11, torch::kCPU)));
  EXPECT_FALSE(torch::equal(a, sample_images(model, 6, 12, torch::kCPU)));
}

TEST(Inference, EncodeMeansMatchesTheEncoderInAnyBatching) {
  ModelConfig cfg;
  cfg.hidden = {32};
  cfg.latent = 3;
  VAE model(cfg);
  const Dataset d = testing::synthetic_digits(25, 4);
  const torch::Tensor all = encode_means(model, d, 1000, torch::kCPU);
  const torch::Tensor batched = encode_means(model, d, 7, torch::kCPU);
  ASSERT_EQ(all.sizes(), (std::vector<int64_t>{25, 3}));
  EXPECT_TRUE(torch::allclose(all, batched, 1e-5, 1e-6));
  torch::NoGradGuard ng;
  const torch::Tensor direct = model->encode(to_unit_float(d.images)).first;
  EXPECT_TRUE(torch::allclose(all, direct, 1e-5, 1e-6));
  // A model for other image sizes refuses the data.
  cfg.image_height = 32;
  VAE other(cfg);
  EXPECT_THROW(encode_means(other, d, 10, torch::kCPU), DataError);
}

TEST(Npy, HeaderShapeAndBytesFollowTheFormat) {
  TempDir dir;
  const torch::Tensor mu = torch::tensor({{1.5f, -2.0f, 3.25f}, {0.0f, 7.0f, -1.0f}});
  write_npy(dir.file("a.npy"), mu);
  const std::string bytes = read_file(dir.file("a.npy"));
  ASSERT_GE(bytes.size(), 10u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  const size_t header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
  EXPECT_EQ((10 + header_len) % 64, 0u);  // the data starts 64-byte aligned
  const std::string header = bytes.substr(10, header_len);
  EXPECT_EQ(header.rfind("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 0), 0u) << header;
  EXPECT_EQ(header.back(), '\n');
  ASSERT_EQ(bytes.size(), 10 + header_len + 6 * sizeof(float));
  float values[6];
  std::memcpy(values, bytes.data() + 10 + header_len, sizeof values);
  EXPECT_EQ(values[2], 3.25f);
  EXPECT_EQ(values[4], 7.0f);
  write_npy(dir.file("l.npy"), torch::tensor({4, 2, 9}, torch::kInt64));
  EXPECT_NE(read_file(dir.file("l.npy")).find("'descr': '<i8', 'fortran_order': False, 'shape': (3,), }"),
            std::string::npos);
  EXPECT_THROW(write_npy(dir.file("u.npy"), torch::zeros({2}, torch::kUInt8)), std::invalid_argument);
}

TEST(Inference, ManifoldCoversTheQuantilesInOrder) {
  ModelConfig cfg;
  cfg.hidden = {16};
  cfg.latent = 2;
  VAE model(cfg);
  const torch::Tensor m = manifold_images(model, 4, torch::kCPU);
  ASSERT_EQ(m.sizes(), (std::vector<int64_t>{16, 28, 28}));
  // The grid's corners decode the extreme quantiles: Phi^-1(0.05) = -1.645.
  torch::NoGradGuard ng;
  model->eval();
  const torch::Tensor corner = model->decode(torch::tensor({{-1.6448536f, 1.6448536f}})).reshape({28, 28});
  EXPECT_TRUE(torch::allclose(m[0], corner, 1e-4, 1e-5));  // top left: z_0 low, z_1 high
  cfg.latent = 3;
  VAE three(cfg);
  EXPECT_THROW(manifold_images(three, 4, torch::kCPU), std::invalid_argument);
}

TEST(Inference, InterpolationStartsAndEndsAtTheImagesMeans) {
  ModelConfig cfg;
  cfg.hidden = {16};
  cfg.latent = 3;
  VAE model(cfg);
  const Dataset d = testing::synthetic_digits(2, 8);
  const torch::Tensor row = interpolation_images(model, d.images[0], d.images[1], 5, torch::kCPU);
  ASSERT_EQ(row.sizes(), (std::vector<int64_t>{7, 28, 28}));
  EXPECT_TRUE(torch::allclose(row[0], to_unit_float(d.images.narrow(0, 0, 1)).reshape({28, 28})));
  torch::NoGradGuard ng;
  model->eval();
  const torch::Tensor mu = model->encode(to_unit_float(d.images)).first;
  EXPECT_TRUE(torch::allclose(row[1], model->decode(mu.narrow(0, 0, 1)).reshape({28, 28}), 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(row[5], model->decode(mu.narrow(0, 1, 1)).reshape({28, 28}), 1e-5, 1e-6));
}

TEST(Inference, LatentCsvHasHeaderAndExactValues) {
  TempDir dir;
  const torch::Tensor mu = torch::tensor({{0.1f, -2.5f}, {1e-8f, 3.0f}});
  write_latent_csv(dir.file("z.csv"), mu, torch::tensor({7, 3}));
  std::istringstream in(read_file(dir.file("z.csv")));
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "index,label,mu_0,mu_1");
  std::getline(in, line);
  EXPECT_EQ(line, "0,7,0.100000001,-2.5");
  std::getline(in, line);
  EXPECT_EQ(line.rfind("1,3,", 0), 0u);
  EXPECT_EQ(std::stof(line.substr(4, line.find(',', 4) - 4)), 1e-8f);  // round-trips exactly
  EXPECT_FALSE(std::getline(in, line));
}

}  // namespace
}  // namespace vae
