#include "vae/config.hpp"

#include <gtest/gtest.h>

#include <filesystem>

#include "test_util.hpp"

namespace vae {
namespace {

std::string config_error(const std::string& text) {
  try {
    validate(parse_config(text, "cfg.toml"));
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "accepted: " << text;
  return "";
}

TEST(Config, ParsesSectionsCommentsAndLists) {
  const Config c = parse_config(R"(# a comment
[data]
dir = "some/dir"   # trailing comment

[model]
hidden = [400]
latent = 20

[train]
optimizer = "rmsprop"
lr = 5e-4
batch_size = 64
epochs = 3
seed = 42
device = "cpu"
threads = 2
out_dir = "runs/x"
)",
                                "cfg.toml");
  EXPECT_EQ(c.data.dir, "some/dir");
  EXPECT_EQ(c.model.hidden, (std::vector<int64_t>{400}));
  EXPECT_EQ(c.model.latent, 20);
  EXPECT_EQ(c.model.image_height, 28);  // untouched default
  EXPECT_EQ(c.train.optimizer, "rmsprop");
  EXPECT_DOUBLE_EQ(c.train.lr, 5e-4);
  EXPECT_EQ(c.train.batch_size, 64);
  EXPECT_EQ(c.train.epochs, 3);
  EXPECT_EQ(c.train.seed, 42u);
  EXPECT_EQ(c.train.device, "cpu");
  EXPECT_EQ(c.train.threads, 2);
  EXPECT_EQ(c.train.out_dir, "runs/x");
}

TEST(Config, DefaultsAreTheGuidesVae) {
  const Config c;
  EXPECT_EQ(describe_layers(c.model), "784-512-256-2");
  EXPECT_NO_THROW(validate(c));
}

TEST(Config, UnknownKeyIsAnErrorNamingIt) {
  const std::string msg = config_error("[model]\nlatnet = 3\n");
  EXPECT_NE(msg.find("cfg.toml"), std::string::npos);
  EXPECT_NE(msg.find("unknown key 'model.latnet'"), std::string::npos);
  EXPECT_NE(config_error("[optim]\nlr = 1\n").find("unknown key 'optim.lr'"), std::string::npos);
  EXPECT_NE(config_error("epochs = 3\n").find("unknown key 'epochs'"), std::string::npos);
}

TEST(Config, WrongTypesAreErrors) {
  EXPECT_NE(config_error("[train]\nepochs = \"ten\"\n").find("cfg.toml: key 'train.epochs': expects an integer, got 'ten'"),
            std::string::npos);
  EXPECT_NE(config_error("[train]\nlr = fast\n").find("key 'train.lr': expects a finite number"),
            std::string::npos);
  EXPECT_NE(config_error("[train]\nbatch_size = 1.5\n").find("expects an integer"),
            std::string::npos);
  EXPECT_NE(config_error("[model]\nhidden = [512, x]\n").find("model.hidden"), std::string::npos);
  EXPECT_NE(config_error("[train]\nepochs = [1, 2]\n").find("expects one value"),
            std::string::npos);
}

TEST(Config, OutOfRangeValuesNameKeyAndRange) {
  EXPECT_NE(config_error("[train]\nbatch_size = -4\n").find("'train.batch_size' must be in [1"),
            std::string::npos);
  EXPECT_NE(config_error("[train]\nlr = 0\n").find("'train.lr' must be a finite number > 0"),
            std::string::npos);
  EXPECT_NE(config_error("[model]\nlatent = 0\n").find("'model.latent' must be in [1"),
            std::string::npos);
  EXPECT_NE(config_error("[train]\ndevice = \"tpu\"\n").find("'train.device'"), std::string::npos);
  EXPECT_NE(config_error("[train]\noptimizer = \"sgd\"\n").find("'train.optimizer'"),
            std::string::npos);
  EXPECT_NE(config_error("[train]\nseed = -1\n").find("'train.seed'"), std::string::npos);
  EXPECT_NE(config_error("[model]\nhidden = [0]\n").find("'model.hidden'"), std::string::npos);
  EXPECT_NE(config_error("[data]\nbinarize = \"yes\"\n").find("'data.binarize' must be \"none\", \"static\" or"),
            std::string::npos);
}

TEST(Config, TomlRoundTrip) {
  Config c;
  c.data.dir = "/usr/share/datasets/fashion-mnist";
  c.model.hidden = {400};
  c.model.latent = 20;
  c.train.lr = 0.000123456789;
  c.train.seed = 987654321;
  c.train.optimizer = "rmsprop";
  c.data.binarize = "dynamic";
  const Config back = parse_config(to_toml(c), "roundtrip");
  EXPECT_EQ(back.data.binarize, "dynamic");
  EXPECT_EQ(to_toml(back), to_toml(c));
  EXPECT_TRUE(back.model == c.model);
  EXPECT_EQ(back.train.lr, c.train.lr);  // exact, not approximately
  Config none;
  none.model.hidden = {};
  EXPECT_TRUE(parse_config(to_toml(none), "x").model.hidden.empty());
}

TEST(Config, MissingFileOrAFolderIsAnError) {
  EXPECT_THROW(load_config_file("/nonexistent/cfg.toml"), ConfigError);
  EXPECT_THROW(load_config_file("/tmp"), ConfigError);
}

TEST(Config, EverySeedRoundTrips) {
  Config c;
  c.train.seed = 18446744073709551615ull;  // 2^64 - 1
  EXPECT_EQ(parse_config(to_toml(c), "x").train.seed, c.train.seed);
  EXPECT_NE(config_error("[train]\nseed = 18446744073709551616\n").find("'train.seed'"), std::string::npos);
}

TEST(Config, PathsThatCannotBeReadBackAreRefused) {
  Config c;
  c.data.dir = "data#1";
  EXPECT_THROW(validate(c), ConfigError);
  c.data.dir = "data";
  c.train.out_dir = "runs/\"x\"";
  EXPECT_THROW(validate(c), ConfigError);
}

TEST(Config, ShippedConfigsParseAndValidate) {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(VAE_SOURCE_DIR) + "/configs")) {
    if (entry.path().extension() != ".toml") continue;
    const std::string path = entry.path().string();
    Config c;
    ASSERT_NO_THROW(c = load_config_file(path)) << path;
    EXPECT_NO_THROW(validate(c)) << path;
    // Each writes its own run folder, named after it.
    EXPECT_EQ(c.train.out_dir, "runs/" + entry.path().stem().string()) << path;
    ++count;
  }
  EXPECT_GE(count, 13);  // a VAE, beta-VAE and conditional VAE and three autoencoders, MLP and conv
  EXPECT_EQ(describe_layers(load_config_file(std::string(VAE_SOURCE_DIR) + "/configs/mnist_vae.toml").model),
            "784-512-256-2");
  EXPECT_EQ(describe_layers(
                load_config_file(std::string(VAE_SOURCE_DIR) + "/configs/mnist_vae_classic.toml").model),
            "784-400-20");
}

}  // namespace
}  // namespace vae
