#include "vae/config.hpp"

#include <CLI/CLI.hpp>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <limits>
#include <map>
#include <sstream>

namespace vae {
namespace {

// One config key: how to set it from the strings CLI11's TOML reader gives.
using Setter = std::function<void(Config&, const std::vector<std::string>&, const std::string& where)>;

[[noreturn]] void fail(const std::string& where, const std::string& what) {
  throw ConfigError(where + ": " + what);
}

const std::string& single(const std::vector<std::string>& in, const std::string& where) {
  if (in.size() != 1) fail(where, "expects one value, got " + std::to_string(in.size()));
  return in.front();
}

int64_t parse_int(const std::string& s, const std::string& where) {
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || end != s.c_str() + s.size() || errno == ERANGE)
    fail(where, "expects an integer, got '" + s + "'");
  return v;
}

double parse_double(const std::string& s, const std::string& where) {
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || errno == ERANGE || !std::isfinite(v))
    fail(where, "expects a finite number, got '" + s + "'");
  return v;
}

template <typename Field>
Setter set_int(Field field) {
  return [field](Config& c, const std::vector<std::string>& in, const std::string& where) {
    field(c) = parse_int(single(in, where), where);
  };
}

template <typename Field>
Setter set_bool(Field field) {
  return [field](Config& c, const std::vector<std::string>& in, const std::string& where) {
    const std::string& v = single(in, where);
    if (v != "true" && v != "false") fail(where, "expects true or false, got '" + v + "'");
    field(c) = v == "true";
  };
}

const std::map<std::string, Setter>& setters() {
  static const std::map<std::string, Setter> table = {
      {"data.dir",
       [](Config& c, const auto& in, const auto& w) { c.data.dir = single(in, w); }},
      {"data.binarize",
       [](Config& c, const auto& in, const auto& w) { c.data.binarize = single(in, w); }},
      {"model.image_height", set_int([](Config& c) -> int64_t& { return c.model.image_height; })},
      {"model.image_width", set_int([](Config& c) -> int64_t& { return c.model.image_width; })},
      {"model.hidden",
       [](Config& c, const auto& in, const auto& w) {
         c.model.hidden.clear();
         for (const auto& s : in) {
           if (s.empty()) continue;  // "hidden = []": no hidden layer
           c.model.hidden.push_back(parse_int(s, w));
         }
       }},
      {"model.latent", set_int([](Config& c) -> int64_t& { return c.model.latent; })},
      {"train.optimizer",
       [](Config& c, const auto& in, const auto& w) { c.train.optimizer = single(in, w); }},
      {"train.lr",
       [](Config& c, const auto& in, const auto& w) { c.train.lr = parse_double(single(in, w), w); }},
      {"train.batch_size", set_int([](Config& c) -> int64_t& { return c.train.batch_size; })},
      {"train.epochs", set_int([](Config& c) -> int64_t& { return c.train.epochs; })},
      {"train.seed",
       [](Config& c, const auto& in, const auto& w) {
         const std::string& v = single(in, w);
         errno = 0;
         char* end = nullptr;
         const unsigned long long seed = std::strtoull(v.c_str(), &end, 10);
         if (v.empty() || v[0] == '-' || end != v.c_str() + v.size() || errno == ERANGE)
           fail(w, "expects an integer in [0, 2^64), got '" + v + "'");
         c.train.seed = seed;
       }},
      {"train.device",
       [](Config& c, const auto& in, const auto& w) { c.train.device = single(in, w); }},
      {"train.threads", set_int([](Config& c) -> int64_t& { return c.train.threads; })},
      {"train.blas_threads", set_int([](Config& c) -> int64_t& { return c.train.blas_threads; })},
      {"train.fused_step", set_bool([](Config& c) -> bool& { return c.train.fused_step; })},
      {"train.out_dir",
       [](Config& c, const auto& in, const auto& w) { c.train.out_dir = single(in, w); }},
      {"model.likelihood",
       [](Config& c, const auto& in, const auto& w) { c.model.likelihood = single(in, w); }},
      {"model.arch", [](Config& c, const auto& in, const auto& w) { c.model.arch = single(in, w); }},
      {"model.kind", [](Config& c, const auto& in, const auto& w) { c.model.kind = single(in, w); }},
      {"model.sparsity", [](Config& c, const auto& in, const auto& w) { c.model.sparsity = single(in, w); }},
      {"data.noise", [](Config& c, const auto& in, const auto& w) { c.data.noise = single(in, w); }},
      {"data.noise_level",
       [](Config& c, const auto& in, const auto& w) { c.data.noise_level = parse_double(single(in, w), w); }},
      {"loss.l1_weight",
       [](Config& c, const auto& in, const auto& w) { c.loss.l1_weight = parse_double(single(in, w), w); }},
      {"loss.sparsity_weight",
       [](Config& c, const auto& in, const auto& w) { c.loss.sparsity_weight = parse_double(single(in, w), w); }},
      {"loss.rho", [](Config& c, const auto& in, const auto& w) { c.loss.rho = parse_double(single(in, w), w); }},
      {"loss.beta",
       [](Config& c, const auto& in, const auto& w) { c.loss.beta = parse_double(single(in, w), w); }},
      {"loss.kl_warmup_epochs", set_int([](Config& c) -> int64_t& { return c.loss.kl_warmup_epochs; })},
      {"train.nonfinite",
       [](Config& c, const auto& in, const auto& w) { c.train.nonfinite = single(in, w); }},
      {"train.keep_best", set_bool([](Config& c) -> bool& { return c.train.keep_best; })},
      {"model.conditional", set_bool([](Config& c) -> bool& { return c.model.conditional; })},
      {"model.classes", set_int([](Config& c) -> int64_t& { return c.model.classes; })},
      {"train.keep_every", set_int([](Config& c) -> int64_t& { return c.train.keep_every; })},
      {"train.image_every", set_int([](Config& c) -> int64_t& { return c.train.image_every; })},
  };
  return table;
}

void require(bool ok, const std::string& key, const std::string& allowed, const std::string& got) {
  if (!ok) throw ConfigError("config key '" + key + "' must be " + allowed + ", got " + got);
}

// CLI11's reader strips the outer quotes and unescapes nothing, so neither do we.
std::string quote(const std::string& s) { return "\"" + s + "\""; }

std::string number(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

}  // namespace

Config parse_config(const std::string& toml_text, const std::string& origin) {
  std::istringstream in(toml_text);
  std::vector<CLI::ConfigItem> items;
  try {
    items = CLI::ConfigTOML().from_config(in);
  } catch (const std::exception& e) {
    throw ConfigError(origin + ": not a readable TOML file: " + e.what());
  }
  Config cfg;
  for (const auto& item : items) {
    if (item.name == "++" || item.name == "--") continue;  // CLI11's section markers
    const std::string key = item.fullname();
    const std::string where = origin + ": key '" + key + "'";
    const auto it = setters().find(key);
    if (it == setters().end()) {
      std::string known;
      for (const auto& [name, _] : setters()) known += (known.empty() ? "" : ", ") + name;
      fail(origin, "unknown key '" + key + "' (known keys: " + known + ")");
    }
    it->second(cfg, item.inputs, where);
  }
  return cfg;
}

Config load_config_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec) && !std::filesystem::is_regular_file(path, ec))
    throw ConfigError(path + ": is not a file (a config file was expected)");
  std::ifstream f(path, std::ios::binary);
  if (!f) throw ConfigError(path + ": cannot open config file");
  std::ostringstream text;
  text << f.rdbuf();
  if (f.bad()) throw ConfigError(path + ": cannot read config file");
  return parse_config(text.str(), path);
}

void validate(const Config& c) {
  // CLI11's TOML reader cuts a line at '#' even inside quotes and unescapes
  // nothing, so such paths could not be read back from config.toml.
  for (const auto& [key, path] : {std::pair<const char*, const std::string&>{"data.dir", c.data.dir},
                                  {"train.out_dir", c.train.out_dir}})
    require(path.find_first_of("#\"\n") == std::string::npos, key,
            "a path without '#', '\"' or a line break", quote(path));
  require(!c.data.dir.empty(), "data.dir", "a folder", "an empty string");
  require(c.data.binarize == "none" || c.data.binarize == "static" || c.data.binarize == "dynamic",
          "data.binarize", "\"none\", \"static\" or \"dynamic\"", quote(c.data.binarize));
  require(c.model.image_height >= 1 && c.model.image_height <= 4096, "model.image_height",
          "in [1, 4096]", std::to_string(c.model.image_height));
  require(c.model.image_width >= 1 && c.model.image_width <= 4096, "model.image_width",
          "in [1, 4096]", std::to_string(c.model.image_width));
  for (int64_t h : c.model.hidden)
    require(h >= 1 && h <= 65536, "model.hidden", "a list of widths in [1, 65536]",
            std::to_string(h));
  require(c.model.latent >= 1 && c.model.latent <= 65536, "model.latent", "in [1, 65536]",
          std::to_string(c.model.latent));
  require(c.model.likelihood == "bernoulli" || c.model.likelihood == "gaussian", "model.likelihood",
          "\"bernoulli\" or \"gaussian\"", quote(c.model.likelihood));
  require(c.model.kind == "vae" || c.model.kind == "ae" || c.model.kind == "sparse_ae" ||
              c.model.kind == "denoising_ae",
          "model.kind", "\"vae\", \"ae\", \"sparse_ae\" or \"denoising_ae\"", quote(c.model.kind));
  require(c.model.arch == "mlp" || c.model.arch == "conv", "model.arch", "\"mlp\" or \"conv\"", quote(c.model.arch));
  require(c.model.arch != "conv" || (c.model.image_height % 4 == 0 && c.model.image_width % 4 == 0),
          "model.image_height and model.image_width", "multiples of 4 for model.arch = \"conv\"",
          std::to_string(c.model.image_height) + "x" + std::to_string(c.model.image_width));
  require(c.model.sparsity == "l1" || c.model.sparsity == "kl", "model.sparsity", "\"l1\" or \"kl\"",
          quote(c.model.sparsity));
  require(c.model.classes >= 2 && c.model.classes <= 65536, "model.classes", "in [2, 65536]",
          std::to_string(c.model.classes));
  require(!c.model.conditional || c.model.kind == "vae", "model.conditional",
          "false for model.kind = \"" + c.model.kind + "\" (only a VAE can be conditional)", "true");
  require(c.data.noise == "gaussian" || c.data.noise == "mask" || c.data.noise == "salt_pepper", "data.noise",
          "\"gaussian\", \"mask\" or \"salt_pepper\"", quote(c.data.noise));
  require(c.data.noise_level >= 0 && c.data.noise_level <= (c.data.noise == "gaussian" ? 10.0 : 1.0),
          "data.noise_level", c.data.noise == "gaussian" ? "in [0, 10]" : "a fraction in [0, 1]",
          number(c.data.noise_level));
  require(c.loss.l1_weight >= 0 && c.loss.l1_weight <= 1e3, "loss.l1_weight", "in [0, 1000]",
          number(c.loss.l1_weight));
  require(c.loss.sparsity_weight >= 0 && c.loss.sparsity_weight <= 1e6, "loss.sparsity_weight", "in [0, 1e6]",
          number(c.loss.sparsity_weight));
  require(c.loss.rho > 0 && c.loss.rho < 1, "loss.rho", "in (0, 1)", number(c.loss.rho));
  require(c.loss.beta >= 0 && c.loss.beta <= 1e6, "loss.beta", "in [0, 1e6]", number(c.loss.beta));
  require(c.loss.kl_warmup_epochs >= 0 && c.loss.kl_warmup_epochs <= 1000000, "loss.kl_warmup_epochs",
          "in [0, 1000000]", std::to_string(c.loss.kl_warmup_epochs));
  require(c.train.optimizer == "adam" || c.train.optimizer == "rmsprop", "train.optimizer",
          "\"adam\" or \"rmsprop\"", quote(c.train.optimizer));
  require(c.train.lr > 0 && std::isfinite(c.train.lr), "train.lr", "a finite number > 0",
          number(c.train.lr));
  require(c.train.batch_size >= 1 && c.train.batch_size <= (1 << 20), "train.batch_size",
          "in [1, 1048576]", std::to_string(c.train.batch_size));
  require(c.train.epochs >= 0 && c.train.epochs <= 1000000, "train.epochs", "in [0, 1000000]",
          std::to_string(c.train.epochs));
  require(c.train.device == "auto" || c.train.device == "cpu" || c.train.device == "cuda",
          "train.device", "\"auto\", \"cpu\" or \"cuda\"", quote(c.train.device));
  require(c.train.threads >= 0 && c.train.threads <= 1024, "train.threads", "in [0, 1024]",
          std::to_string(c.train.threads));
  require(c.train.blas_threads >= 0 && c.train.blas_threads <= 1024, "train.blas_threads", "in [0, 1024]",
          std::to_string(c.train.blas_threads));
  require(!c.train.out_dir.empty(), "train.out_dir", "a folder", "an empty string");
  require(c.train.nonfinite == "stop" || c.train.nonfinite == "skip", "train.nonfinite",
          "\"stop\" or \"skip\"", quote(c.train.nonfinite));
  require(c.train.keep_every >= 0, "train.keep_every", ">= 0 (0: keep no per-epoch copies)",
          std::to_string(c.train.keep_every));
  require(c.train.image_every >= 0, "train.image_every", ">= 0 (0: no per-epoch images)",
          std::to_string(c.train.image_every));
}

std::string to_toml(const Config& c) {
  std::ostringstream os;
  os << std::setprecision(std::numeric_limits<double>::max_digits10);
  os << "[data]\n";
  os << "dir = " << quote(c.data.dir) << "\n";
  os << "binarize = " << quote(c.data.binarize) << "\n";
  os << "noise = " << quote(c.data.noise) << "\n";
  os << "noise_level = " << c.data.noise_level << "\n\n";
  os << "[model]\n";
  os << "image_height = " << c.model.image_height << "\n";
  os << "image_width = " << c.model.image_width << "\n";
  os << "hidden = [";
  for (size_t i = 0; i < c.model.hidden.size(); ++i) os << (i ? ", " : "") << c.model.hidden[i];
  os << "]\n";
  os << "latent = " << c.model.latent << "\n";
  os << "likelihood = " << quote(c.model.likelihood) << "\n";
  os << "arch = " << quote(c.model.arch) << "\n";
  os << "kind = " << quote(c.model.kind) << "\n";
  os << "sparsity = " << quote(c.model.sparsity) << "\n";
  os << "conditional = " << (c.model.conditional ? "true" : "false") << "\n";
  os << "classes = " << c.model.classes << "\n\n";
  os << "[loss]\n";
  os << "beta = " << c.loss.beta << "\n";
  os << "kl_warmup_epochs = " << c.loss.kl_warmup_epochs << "\n";
  os << "l1_weight = " << c.loss.l1_weight << "\n";
  os << "sparsity_weight = " << c.loss.sparsity_weight << "\n";
  os << "rho = " << c.loss.rho << "\n\n";
  os << "[train]\n";
  os << "optimizer = " << quote(c.train.optimizer) << "\n";
  os << "lr = " << c.train.lr << "\n";
  os << "batch_size = " << c.train.batch_size << "\n";
  os << "epochs = " << c.train.epochs << "\n";
  os << "seed = " << c.train.seed << "\n";
  os << "device = " << quote(c.train.device) << "\n";
  os << "threads = " << c.train.threads << "\n";
  os << "blas_threads = " << c.train.blas_threads << "\n";
  os << "fused_step = " << (c.train.fused_step ? "true" : "false") << "\n";
  os << "out_dir = " << quote(c.train.out_dir) << "\n";
  os << "nonfinite = " << quote(c.train.nonfinite) << "\n";
  os << "keep_best = " << (c.train.keep_best ? "true" : "false") << "\n";
  os << "keep_every = " << c.train.keep_every << "\n";
  os << "image_every = " << c.train.image_every << "\n";
  return os.str();
}

std::string describe_layers(const ModelConfig& m) {
  std::string s = std::to_string(input_dim(m)) + (m.arch == "conv" ? "-conv32-conv64" : "");
  for (int64_t h : m.hidden) s += "-" + std::to_string(h);
  return s + "-" + std::to_string(m.latent);
}

std::string model_difference(const ModelConfig& a, const ModelConfig& b) {
  auto list = [](const std::vector<int64_t>& v) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
    return s + "]";
  };
  auto diff = [](const char* key, const std::string& x, const std::string& y) {
    return std::string(key) + " (" + x + " vs " + y + ")";
  };
  if (a.image_height != b.image_height)
    return diff("model.image_height", std::to_string(a.image_height), std::to_string(b.image_height));
  if (a.image_width != b.image_width)
    return diff("model.image_width", std::to_string(a.image_width), std::to_string(b.image_width));
  if (a.hidden != b.hidden) return diff("model.hidden", list(a.hidden), list(b.hidden));
  if (a.latent != b.latent)
    return diff("model.latent", std::to_string(a.latent), std::to_string(b.latent));
  if (a.likelihood != b.likelihood) return diff("model.likelihood", a.likelihood, b.likelihood);
  if (a.kind != b.kind) return diff("model.kind", a.kind, b.kind);
  if (a.arch != b.arch) return diff("model.arch", a.arch, b.arch);
  if (a.kind == "sparse_ae" && a.sparsity != b.sparsity) return diff("model.sparsity", a.sparsity, b.sparsity);
  auto flag = [](bool v) { return std::string(v ? "true" : "false"); };
  if (a.conditional != b.conditional) return diff("model.conditional", flag(a.conditional), flag(b.conditional));
  if (a.conditional && a.classes != b.classes)
    return diff("model.classes", std::to_string(a.classes), std::to_string(b.classes));
  return "";
}

bool operator==(const ModelConfig& a, const ModelConfig& b) { return model_difference(a, b).empty(); }

}  // namespace vae
