#include "vae/config.hpp"

#include <gtest/gtest.h>

#include <algorithm>
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
  EXPECT_EQ(c.train.optimizer, OptimizerKind::kRmsprop);
  EXPECT_DOUBLE_EQ(c.train.lr, 5e-4);
  EXPECT_EQ(c.train.batch_size, 64);
  EXPECT_EQ(c.train.epochs, 3);
  EXPECT_EQ(c.train.seed, 42u);
  EXPECT_EQ(c.train.device, DeviceChoice::kCpu);
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

TEST(Config, WrongTypesAreErrorsNamingFileLineAndKey) {
  EXPECT_EQ(config_error("[train]\nepochs = \"ten\"\n"), "cfg.toml:2: key 'train.epochs' expects an integer, got a string");
  // A quoted number is a string in TOML, not a number.
  EXPECT_EQ(config_error("[train]\nlr = 1e-3\nbatch_size = \"64\"\n"),
            "cfg.toml:3: key 'train.batch_size' expects an integer, got a string");
  EXPECT_NE(config_error("[train]\nlr = fast\n").find("cfg.toml:2: not valid TOML"), std::string::npos);
  EXPECT_NE(config_error("[train]\nbatch_size = 1.5\n").find("expects an integer, got a float"), std::string::npos);
  EXPECT_NE(config_error("[model]\nhidden = [512, \"x\"]\n").find("'model.hidden' element expects an integer"),
            std::string::npos);
  EXPECT_NE(config_error("[train]\nepochs = [1, 2]\n").find("expects an integer, got an array"), std::string::npos);
  EXPECT_NE(config_error("[train]\nfused_step = 1\n").find("expects true or false"), std::string::npos);
}

// What TOML accepts is accepted and what it rejects is rejected.
TEST(Config, ReadsTomlAsTheSpecifies) {
  // '#' inside a string is not a comment; escapes are decoded.
  Config c = parse_config("[data]\ndir = \"data/#1 \\\"x\\\"\" # comment\n", "cfg.toml");
  EXPECT_EQ(c.data.dir, "data/#1 \"x\"");
  EXPECT_EQ(parse_config("[data]\ndir = 'C:\\raw'\n", "cfg.toml").data.dir, "C:\\raw");  // a literal string
  // A UTF-8 byte-order mark at the start is allowed.
  EXPECT_EQ(parse_config("\xEF\xBB\xBF[train]\nepochs = 4\n", "cfg.toml").train.epochs, 4);
  // Dotted keys and inline tables are the same keys.
  EXPECT_EQ(parse_config("train.epochs = 5\n", "cfg.toml").train.epochs, 5);
  EXPECT_EQ(parse_config("model = { latent = 7 }\n", "cfg.toml").model.latent, 7);
  // An integer where a float is expected is taken as the number it is.
  EXPECT_EQ(parse_config("[train]\nlr = 1\n", "cfg.toml").train.lr, 1.0);
  // A table defined twice, or a key set twice, is invalid TOML.
  EXPECT_NE(config_error("[model]\nlatent = 2\n[model]\nhidden = [4]\n").find("cfg.toml:3: not valid TOML"),
            std::string::npos);
  EXPECT_NE(config_error("[model]\nlatent = 2\nlatent = 3\n").find("cfg.toml:3: not valid TOML"), std::string::npos);
  // An array of tables is not one of our four tables.
  EXPECT_NE(config_error("[[train]]\nepochs = 2\n").find("cfg.toml:1: 'train' is not a table"), std::string::npos);
  EXPECT_NE(config_error("[train]\nepochs = 2\n[train.extra]\nx = 1\n").find("unknown key 'train.extra'"),
            std::string::npos);
}

// Every key of the table is written, read back and set from a flag alike.
TEST(Config, EveryKeyOfTheTableRoundTrips) {
  Config c;
  c.train.lr = 0.000123456789;
  c.data.dir = "a \"quoted\" path\\with\tcontrol";
  c.model.kind = Kind::kSparseAe;
  c.model.sparsity = Sparsity::kKl;
  c.train.clip_grad_norm = 2.5;
  const std::string text = to_toml(c);
  const Config back = parse_config(text, "back");
  EXPECT_EQ(to_toml(back), text);
  EXPECT_EQ(first_difference(back, c), "");
  EXPECT_EQ(back.data.dir, c.data.dir);
  size_t lines = 0;
  for (const KeyInfo& k : config_keys()) {
    EXPECT_NE(text.find("\n" + k.name.substr(k.name.find('.') + 1) + " = "), std::string::npos) << k.name;
    // The flag's spelling of the value: strings unquoted, lists without brackets.
    std::string flag = k.to_text(c);
    if (flag.front() == '"' || flag.front() == '[') flag = flag.substr(1, flag.size() - 2);
    flag.erase(std::remove(flag.begin(), flag.end(), ' '), flag.end());
    Config other;
    if (k.name != "data.dir") {  // escaped in TOML, not in a flag
      k.set_from_text(other, flag);
      EXPECT_EQ(k.to_text(other), k.to_text(c)) << k.name;
    }
    ++lines;
  }
  EXPECT_GE(lines, 34u);
  set_key(c, "train.epochs", "7");
  EXPECT_EQ(c.train.epochs, 7);
  EXPECT_THROW(set_key(c, "train.epoch", "7"), ConfigError);
  EXPECT_THROW(set_key(c, "train.seed", "-1"), ConfigError);
}

// A list flag takes what its help and config.toml show ("[] or [H, W]") as
// well as the bare "H,W".
TEST(Config, ListFlagsTakeTheirTomlSpellingToo) {
  Config c;
  for (const char* text : {"[28, 28]", "28,28", " [ 28 ,28 ] ", "28, 28"}) {
    set_key(c, "data.image_size", text);
    EXPECT_EQ(c.data.image_size, (std::vector<int64_t>{28, 28})) << text;
  }
  set_key(c, "data.image_size", "[]");
  EXPECT_TRUE(c.data.image_size.empty());
  set_key(c, "model.hidden", "[512, 256]");
  EXPECT_EQ(c.model.hidden, (std::vector<int64_t>{512, 256}));
  EXPECT_THROW(set_key(c, "data.image_size", "[28, x]"), ConfigError);
  EXPECT_THROW(set_key(c, "data.image_size", "[28, 28"), ConfigError);
}

// A NUL inside a path would cut it short where it is opened and printed.
TEST(Config, PathsWithNulOrLineBreaksAreRefused) {
  EXPECT_NE(config_error("[data]\ndir = \"data\\u0000/elsewhere\"\n").find("'data.dir' must be a non-empty path without NUL"),
            std::string::npos);
  EXPECT_NE(config_error("[train]\nout_dir = \"runs/a\\nb\"\n").find("'train.out_dir' must be"), std::string::npos);
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
  EXPECT_NE(config_error("[data]\nnoise = \"mask\"\nnoise_level = 2\n").find("'data.noise_level' must be a fraction"),
            std::string::npos);
}

TEST(Config, TomlRoundTrip) {
  Config c;
  c.data.dir = "/usr/share/datasets/fashion-mnist";
  c.model.hidden = {400};
  c.model.latent = 20;
  c.train.lr = 0.000123456789;
  c.train.seed = 987654321;
  c.train.optimizer = OptimizerKind::kRmsprop;
  c.data.binarize = Binarize::kDynamic;
  const Config back = parse_config(to_toml(c), "roundtrip");
  EXPECT_EQ(back.data.binarize, Binarize::kDynamic);
  EXPECT_EQ(to_toml(back), to_toml(c));
  EXPECT_EQ(first_difference(back, c, "model"), "");
  EXPECT_EQ(back.train.lr, c.train.lr);  // exact, not approximately
  Config none;
  none.model.hidden = {};
  EXPECT_TRUE(parse_config(to_toml(none), "x").model.hidden.empty());
}

TEST(Config, MissingFileOrAFolderIsAnError) {
  EXPECT_THROW(load_config_file("/nonexistent/cfg.toml"), ConfigError);
  EXPECT_THROW(load_config_file("/tmp"), ConfigError);
}

TEST(Config, EverySeedTomlCanHoldRoundTrips) {
  Config c;
  c.train.seed = 9223372036854775807ull;  // 2^63 - 1, TOML's largest integer
  EXPECT_EQ(parse_config(to_toml(c), "x").train.seed, c.train.seed);
  EXPECT_NE(config_error("[train]\nseed = 9223372036854775808\n").find("cfg.toml:2: not valid TOML"), std::string::npos);
  c.train.seed = 9223372036854775808ull;  // from a flag
  EXPECT_THROW(validate(c), ConfigError);
  EXPECT_NE(config_error("[train]\nseed = -1\n").find("must be an integer in [0, 2^63)"), std::string::npos);
}

TEST(Config, EmptyPathsAreRefused) {
  Config c;
  c.data.dir = "";
  EXPECT_THROW(validate(c), ConfigError);
  c.data.dir = "data";
  c.train.out_dir = "";
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
