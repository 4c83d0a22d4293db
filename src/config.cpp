#include "vae/config.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <limits>
#include <sstream>
#include <utility>

namespace vae {
namespace {

// ---- Choices: each enum's spellings, in the order messages list them.

template <typename E>
using ChoiceList = std::vector<std::pair<E, const char*>>;

template <typename E>
const ChoiceList<E>& choices();

#define VAE_CHOICES(E, ...)                        \
  template <>                                      \
  const ChoiceList<E>& choices<E>() {              \
    static const ChoiceList<E> list = __VA_ARGS__; \
    return list;                                   \
  }
VAE_CHOICES(Binarize, {{Binarize::kNone, "none"}, {Binarize::kStatic, "static"}, {Binarize::kDynamic, "dynamic"}})
VAE_CHOICES(Noise, {{Noise::kGaussian, "gaussian"}, {Noise::kMask, "mask"}, {Noise::kSaltPepper, "salt_pepper"}})
VAE_CHOICES(Likelihood, {{Likelihood::kBernoulli, "bernoulli"}, {Likelihood::kGaussian, "gaussian"}})
VAE_CHOICES(Kind, {{Kind::kVae, "vae"}, {Kind::kAe, "ae"}, {Kind::kSparseAe, "sparse_ae"},
                   {Kind::kDenoisingAe, "denoising_ae"}})
VAE_CHOICES(Arch, {{Arch::kMlp, "mlp"}, {Arch::kConv, "conv"}})
VAE_CHOICES(Sparsity, {{Sparsity::kL1, "l1"}, {Sparsity::kKl, "kl"}})
VAE_CHOICES(OptimizerKind, {{OptimizerKind::kAdam, "adam"}, {OptimizerKind::kRmsprop, "rmsprop"}})
VAE_CHOICES(DeviceChoice, {{DeviceChoice::kAuto, "auto"}, {DeviceChoice::kCpu, "cpu"}, {DeviceChoice::kCuda, "cuda"}})
VAE_CHOICES(NonFinite, {{NonFinite::kStop, "stop"}, {NonFinite::kSkip, "skip"}})
VAE_CHOICES(DataFormat, {{DataFormat::kAuto, "auto"}, {DataFormat::kIdx, "idx"}, {DataFormat::kNpy, "npy"},
                         {DataFormat::kImages, "images"}})
VAE_CHOICES(OnBadImage, {{OnBadImage::kError, "error"}, {OnBadImage::kSkip, "skip"}})
VAE_CHOICES(DistBackend, {{DistBackend::kAuto, "auto"}, {DistBackend::kGloo, "gloo"}, {DistBackend::kNccl, "nccl"}})
#undef VAE_CHOICES

template <typename E>
const char* choice_name(E v) {
  for (const auto& [value, text] : choices<E>())
    if (value == v) return text;
  return "?";
}

// "\"none\", \"static\" or \"dynamic\""
template <typename E>
std::string choice_list() {
  const auto& list = choices<E>();
  std::string s;
  for (size_t i = 0; i < list.size(); ++i)
    s += std::string(i == 0 ? "" : i + 1 == list.size() ? " or " : ", ") + "\"" + list[i].second + "\"";
  return s;
}

// A TOML basic string: quotes, backslashes and control characters escaped.
std::string quote(const std::string& s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

// Shortest text that reads back to the same double, always with a '.' or an
// exponent so TOML sees a float.
std::string float_text(double v) {
  std::ostringstream os;
  os << std::setprecision(std::numeric_limits<double>::max_digits10) << v;
  for (int digits = 1; digits < std::numeric_limits<double>::max_digits10; ++digits) {
    std::ostringstream shorter;
    shorter << std::setprecision(digits) << v;
    if (std::strtod(shorter.str().c_str(), nullptr) == v) {
      os.str(shorter.str());
      break;
    }
  }
  std::string s = os.str();
  if (std::isfinite(v) && s.find_first_of(".eE") == std::string::npos) s += ".0";
  return s;
}

// ---- Codecs: how each member type is read from TOML and from a flag, and written.

const char* type_of(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::array: return "an array";
    case toml::node_type::table: return "a table";
    default: return "a date or time";
  }
}

[[noreturn]] void wrong_type(const std::string& where, const char* expected, const toml::node& n) {
  throw ConfigError(where + " expects " + expected + ", got " + type_of(n));
}

int64_t int_from_text(const std::string& s, const std::string& where) {
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || end != s.c_str() + s.size() || errno == ERANGE)
    throw ConfigError(where + " expects an integer, got '" + s + "'");
  return v;
}

template <typename T, typename = void>
struct Codec;

template <>
struct Codec<int64_t> {
  static int64_t read(const toml::node& n, const std::string& where) {
    if (!n.is_integer()) wrong_type(where, "an integer", n);
    return n.as_integer()->get();
  }
  static int64_t parse(const std::string& s, const std::string& where) { return int_from_text(s, where); }
  static std::string text(int64_t v) { return std::to_string(v); }
};

template <>
struct Codec<uint64_t> {  // seeds: TOML integers are signed 64-bit
  static uint64_t read(const toml::node& n, const std::string& where) {
    const int64_t v = Codec<int64_t>::read(n, where);
    if (v < 0) throw ConfigError(where + " must be an integer in [0, 2^63), got " + std::to_string(v));
    return static_cast<uint64_t>(v);
  }
  static uint64_t parse(const std::string& s, const std::string& where) {
    errno = 0;
    char* end = nullptr;
    const unsigned long long v = std::strtoull(s.c_str(), &end, 10);
    if (s.empty() || s[0] == '-' || end != s.c_str() + s.size() || errno == ERANGE)
      throw ConfigError(where + " must be an integer in [0, 2^63), got '" + s + "'");
    return v;
  }
  static std::string text(uint64_t v) { return std::to_string(v); }
};

template <>
struct Codec<double> {
  static double read(const toml::node& n, const std::string& where) {
    if (n.is_integer()) return static_cast<double>(n.as_integer()->get());
    if (!n.is_floating_point()) wrong_type(where, "a number", n);
    return n.as_floating_point()->get();
  }
  static double parse(const std::string& s, const std::string& where) {
    errno = 0;
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (s.empty() || end != s.c_str() + s.size() || errno == ERANGE)
      throw ConfigError(where + " expects a number, got '" + s + "'");
    return v;
  }
  static std::string text(double v) { return float_text(v); }
};

template <>
struct Codec<bool> {
  static bool read(const toml::node& n, const std::string& where) {
    if (!n.is_boolean()) wrong_type(where, "true or false", n);
    return n.as_boolean()->get();
  }
  static bool parse(const std::string& s, const std::string& where) {
    if (s != "true" && s != "false") throw ConfigError(where + " expects true or false, got '" + s + "'");
    return s == "true";
  }
  static std::string text(bool v) { return v ? "true" : "false"; }
};

template <>
struct Codec<std::string> {
  static std::string read(const toml::node& n, const std::string& where) {
    if (!n.is_string()) wrong_type(where, "a string", n);
    return n.as_string()->get();
  }
  static std::string parse(const std::string& s, const std::string&) { return s; }
  static std::string text(const std::string& v) { return quote(v); }
};

template <>
struct Codec<std::vector<int64_t>> {
  static std::vector<int64_t> read(const toml::node& n, const std::string& where) {
    if (!n.is_array()) wrong_type(where, "an array of integers", n);
    std::vector<int64_t> out;
    for (const toml::node& el : *n.as_array()) out.push_back(Codec<int64_t>::read(el, where + " element"));
    return out;
  }
  static std::vector<int64_t> parse(const std::string& s, const std::string& where) {
    std::vector<int64_t> out;  // "512,256"; "" is no hidden layer
    std::istringstream in(s);
    for (std::string part; std::getline(in, part, ',');) out.push_back(int_from_text(part, where));
    return out;
  }
  static std::string text(const std::vector<int64_t>& v) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
    return s + "]";
  }
};

template <>
struct Codec<std::vector<std::string>> {
  static std::vector<std::string> read(const toml::node& n, const std::string& where) {
    if (!n.is_array()) wrong_type(where, "an array of strings", n);
    std::vector<std::string> out;
    for (const toml::node& el : *n.as_array()) out.push_back(Codec<std::string>::read(el, where + " element"));
    return out;
  }
  static std::vector<std::string> parse(const std::string& s, const std::string&) {
    std::vector<std::string> out;  // "cat,dog"; "" is none
    std::istringstream in(s);
    for (std::string part; std::getline(in, part, ',');) out.push_back(part);
    return out;
  }
  static std::string text(const std::vector<std::string>& v) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + quote(v[i]);
    return s + "]";
  }
};

template <typename E>
struct Codec<E, std::enable_if_t<std::is_enum_v<E>>> {
  static E read(const toml::node& n, const std::string& where) {
    return parse(Codec<std::string>::read(n, where), where);
  }
  static E parse(const std::string& s, const std::string& where) {
    for (const auto& [value, text] : choices<E>())
      if (s == text) return value;
    throw ConfigError(where + " must be " + choice_list<E>() + ", got " + quote(s));
  }
  static std::string text(E v) { return quote(choice_name(v)); }
};

// ---- The key table.

// A key with everything the table needs, type-erased over its member type.
struct Key : KeyInfo {
  std::function<void(Config&, const toml::node&, const std::string& where)> read;
  std::function<void(const Config&)> check;  // throws ConfigError naming the key
};

template <typename T>
struct Allowed {
  std::function<bool(const T&)> ok;  // empty: every value of the type
  std::string text;
};

template <typename T>
Allowed<T> in_range(T lo, T hi, std::string text) {
  return {[lo, hi](const T& v) { return v >= lo && v <= hi; }, std::move(text)};
}

template <typename T>
Allowed<T> any() {
  if constexpr (std::is_enum_v<T>) return {{}, choice_list<T>()};
  return {{}, ""};
}

struct Rule {
  OnResume on_resume = OnResume::kLog;
  const char* reason = "";
  std::function<bool(const Config&)> matters = [](const Config&) { return true; };
};

const Rule kLogged;
const Rule kModel{OnResume::kRefuse, "it is part of the model"};
const Rule kDataOrder{OnResume::kRefuse, "it changes the data order"};
const Rule kData{OnResume::kRefuse, "it changes the images the model learns"};
const Rule kIgnored{OnResume::kIgnore};

template <typename T, typename Get>
Key key(const char* name, Get get, Allowed<T> allowed, const char* flag, const Rule& rule, const char* help) {
  Key k;
  k.name = name;
  k.help = help;
  k.flag = flag;
  k.allowed = allowed.text;
  k.on_resume = rule.on_resume;
  k.resume_reason = rule.reason;
  k.matters = rule.matters;
  auto ref = [get](const Config& c) -> const T& { return get(const_cast<Config&>(c)); };
  k.to_text = [ref](const Config& c) { return Codec<T>::text(ref(c)); };
  k.set_from_text = [get, name](Config& c, const std::string& s) {
    get(c) = Codec<T>::parse(s, std::string("key '") + name + "'");
  };
  k.read = [get](Config& c, const toml::node& n, const std::string& where) { get(c) = Codec<T>::read(n, where); };
  k.check = [ref, allowed, name](const Config& c) {
    if (allowed.ok && !allowed.ok(ref(c)))
      throw ConfigError(std::string("config key '") + name + "' must be " + allowed.text + ", got " +
                        Codec<T>::text(ref(c)));
  };
  return k;
}

#define VAE_FIELD(path) [](Config& c) -> auto& { return c.path; }

bool paths_ok(const std::string& s) { return !s.empty(); }
bool widths_ok(const std::vector<int64_t>& v) {
  for (int64_t h : v)
    if (h < 1 || h > 65536) return false;
  return true;
}

const Allowed<std::string> kPath{paths_ok, "a non-empty path"};

// The table, in the order of config.toml: [data] and [model] here, [loss]
// and [train] in loss_and_train_keys(). Each line: name, member, allowed values,
// flag, what a resume may do with it, help.
std::vector<Key> data_and_model_keys() {
  const Rule sparse_only{OnResume::kRefuse, "it is part of the model",
                         [](const Config& c) { return c.model.kind == Kind::kSparseAe; }};
  const Rule conditional_only{OnResume::kRefuse, "it is part of the model",
                              [](const Config& c) { return c.model.conditional; }};
  const Rule conv_only{OnResume::kRefuse, "it is part of the model",
                       [](const Config& c) { return c.model.arch == Arch::kConv; }};
  return {
      key<std::string>("data.dir", VAE_FIELD(data.dir), kPath, "--data-dir", kLogged,
                       "folder with the four IDX files (raw or .gz), or NumPy arrays"),
      key<DataFormat>("data.format", VAE_FIELD(data.format), any<DataFormat>(), "--data-format", kLogged,
                      "auto, idx, npy or images (auto: looks at data.dir)"),
      key<std::vector<int64_t>>("data.image_size", VAE_FIELD(data.image_size),
                                {[](const std::vector<int64_t>& v) {
                                   return v.empty() || (v.size() == 2 && v[0] >= 1 && v[0] <= 4096 && v[1] >= 1 &&
                                                        v[1] <= 4096);
                                 },
                                 "[] or [H, W] with sides in [1, 4096]"},
                                "--image-size", kData, "images: resize and centre-crop to [H, W] ([]: as they are)"),
      key<int64_t>("data.channels", VAE_FIELD(data.channels),
                   {[](int64_t c) { return c == 0 || c == 1 || c == 3; }, "0, 1 or 3"}, "--channels", kData,
                   "images: 1 grey, 3 RGB, 0 as the first image"),
      key<double>("data.test_fraction", VAE_FIELD(data.test_fraction),
                  {[](double f) { return f > 0 && f <= 0.9; }, "in (0, 0.9]"},
                  "--test-fraction", kData, "images without test/: the fraction of each class held out"),
      key<uint64_t>("data.split_seed", VAE_FIELD(data.split_seed),
                    in_range<uint64_t>(0, std::numeric_limits<int64_t>::max(), "an integer in [0, 2^63)"), "",
                    kData, "images without test/: seeds that split"),
      key<OnBadImage>("data.on_bad_image", VAE_FIELD(data.on_bad_image), any<OnBadImage>(), "--on-bad-image",
                      kLogged, "images: a file that cannot be used: error or skip"),
      key<int64_t>("data.max_image_pixels", VAE_FIELD(data.max_image_pixels),
                   in_range<int64_t>(1, int64_t{1} << 40, "in [1, 2^40]"), "", kLogged,
                   "images: refuse larger ones before decoding them"),
      key<Binarize>("data.binarize", VAE_FIELD(data.binarize), any<Binarize>(), "--binarize",
                    {OnResume::kRefuse, "it changes the data the model learns"},
                    "binarize pixels: none, static (once) or dynamic (each use)"),
      key<Noise>("data.noise", VAE_FIELD(data.noise), any<Noise>(), "", kLogged,
                 "denoising_ae's input corruption: gaussian, mask or salt_pepper"),
      key<double>("data.noise_level", VAE_FIELD(data.noise_level), in_range(0.0, 10.0, "in [0, 10]"), "", kLogged,
                  "its level: a standard deviation (gaussian) or a fraction of pixels"),
      key<int64_t>("model.image_channels", VAE_FIELD(model.image_channels),
                   {[](int64_t c) { return c == 1 || c == 3; }, "1 or 3"}, "", kModel,
                   "image channels (set from the data)"),
      key<int64_t>("model.image_height", VAE_FIELD(model.image_height), in_range<int64_t>(1, 4096, "in [1, 4096]"),
                   "", kModel, "image height in pixels (set from the data)"),
      key<int64_t>("model.image_width", VAE_FIELD(model.image_width), in_range<int64_t>(1, 4096, "in [1, 4096]"),
                   "", kModel, "image width in pixels (set from the data)"),
      key<std::vector<std::string>>("model.class_names", VAE_FIELD(model.class_names), any<std::vector<std::string>>(),
                                    "", kModel, "the data's class names, in label order (set from the data)"),
      key<std::vector<int64_t>>("model.hidden", VAE_FIELD(model.hidden),
                                {widths_ok, "a list of widths in [1, 65536]"}, "", kModel,
                                "encoder hidden widths; the decoder mirrors them"),
      key<int64_t>("model.latent", VAE_FIELD(model.latent), in_range<int64_t>(1, 65536, "in [1, 65536]"), "",
                   kModel, "latent dimension Z"),
      key<Likelihood>("model.likelihood", VAE_FIELD(model.likelihood), any<Likelihood>(), "", kModel,
                      "p(x|z): bernoulli (BCE) or gaussian (squared error, variance 1/2)"),
      key<Arch>("model.arch", VAE_FIELD(model.arch), any<Arch>(), "", kModel, "mlp or conv"),
      key<std::vector<int64_t>>("model.conv_channels", VAE_FIELD(model.conv_channels),
                                {widths_ok, "a list of widths in [1, 65536]"}, "", conv_only,
                                "conv: channels per stride-2 stage ([]: by image size)"),
      key<Kind>("model.kind", VAE_FIELD(model.kind), any<Kind>(), "", kModel,
                "vae, ae, sparse_ae or denoising_ae"),
      key<Sparsity>("model.sparsity", VAE_FIELD(model.sparsity), any<Sparsity>(), "", sparse_only,
                    "sparse_ae's penalty: l1 or kl"),
      key<bool>("model.conditional", VAE_FIELD(model.conditional), any<bool>(), "", kModel,
                "a conditional VAE: one-hot labels into encoder and decoder"),
      key<int64_t>("model.classes", VAE_FIELD(model.classes), in_range<int64_t>(2, 65536, "in [2, 65536]"), "",
                   conditional_only, "classes of a conditional model"),
  };
}

std::vector<Key> loss_and_train_keys() {
  return {
      key<double>("loss.beta", VAE_FIELD(loss.beta), in_range(0.0, 1e6, "in [0, 1e6]"), "--beta", kLogged,
                  "weight of the KL term (beta-VAE when > 1)"),
      key<int64_t>("loss.kl_warmup_epochs", VAE_FIELD(loss.kl_warmup_epochs),
                   in_range<int64_t>(0, 1000000, "in [0, 1000000]"), "", kLogged,
                   "ramp the KL weight from 0 to beta over N epochs"),
      key<double>("loss.l1_weight", VAE_FIELD(loss.l1_weight), in_range(0.0, 1e3, "in [0, 1000]"), "", kLogged,
                  "sparse_ae l1: weight of sum |code| (per pixel, as Keras)"),
      key<double>("loss.sparsity_weight", VAE_FIELD(loss.sparsity_weight), in_range(0.0, 1e6, "in [0, 1e6]"), "",
                  kLogged, "sparse_ae kl: weight of the KL sparsity penalty"),
      key<double>("loss.rho", VAE_FIELD(loss.rho), {[](double r) { return r > 0 && r < 1; }, "in (0, 1)"}, "",
                  kLogged, "sparse_ae kl: target mean activation"),
      key<OptimizerKind>("train.optimizer", VAE_FIELD(train.optimizer), any<OptimizerKind>(), "--optimizer",
                         {OnResume::kRefuse, "its state cannot be carried over"}, "adam or rmsprop"),
      key<double>("train.lr", VAE_FIELD(train.lr),
                  {[](double v) { return v > 0 && std::isfinite(v); }, "a finite number > 0"}, "--lr", kLogged,
                  "learning rate"),
      key<int64_t>("train.batch_size", VAE_FIELD(train.batch_size),
                   in_range<int64_t>(1, 1 << 20, "in [1, 1048576]"), "--batch-size", kDataOrder,
                   "images per step"),
      key<int64_t>("train.epochs", VAE_FIELD(train.epochs), in_range<int64_t>(0, 1000000, "in [0, 1000000]"),
                   "--epochs", kLogged, "epochs to train in all"),
      key<uint64_t>("train.seed", VAE_FIELD(train.seed),
                    in_range<uint64_t>(0, std::numeric_limits<int64_t>::max(), "an integer in [0, 2^63)"), "--seed",
                    kDataOrder, "seeds weights, noise, data order and evaluation"),
      key<DeviceChoice>("train.device", VAE_FIELD(train.device), any<DeviceChoice>(), "--device", kLogged,
                        "auto, cpu or cuda"),
      key<int64_t>("train.threads", VAE_FIELD(train.threads), in_range<int64_t>(0, 1024, "in [0, 1024]"),
                   "--threads", kLogged, "LibTorch intra-op threads (0: LibTorch's default)"),
      key<int64_t>("train.blas_threads", VAE_FIELD(train.blas_threads), in_range<int64_t>(0, 1024, "in [0, 1024]"),
                   "--blas-threads", kLogged, "OpenBLAS threads (0: OpenBLAS's default)"),
      key<bool>("train.fused_step", VAE_FIELD(train.fused_step), any<bool>(), "", kLogged,
                "the hand-written MLP VAE step on the CPU where it applies"),
      key<double>("train.clip_grad_norm", VAE_FIELD(train.clip_grad_norm), in_range(0.0, 1e12, "in [0, 1e12]"),
                  "--clip-grad-norm", kLogged, "clip the gradient's L2 norm to this (0: off)"),
      key<std::string>("train.out_dir", VAE_FIELD(train.out_dir), kPath, "--out-dir", kIgnored, "run folder"),
      key<NonFinite>("train.nonfinite", VAE_FIELD(train.nonfinite), any<NonFinite>(), "", kLogged,
                     "a NaN or Inf loss or gradient: stop, or skip the batch"),
      key<bool>("train.keep_best", VAE_FIELD(train.keep_best), any<bool>(), "", kLogged,
                "keep checkpoints/best.pt (lowest test loss)"),
      key<int64_t>("train.keep_every", VAE_FIELD(train.keep_every),
                   in_range<int64_t>(0, std::numeric_limits<int64_t>::max(), ">= 0 (0: keep no per-epoch copies)"),
                   "", kLogged, "also keep checkpoints/epoch-NNNN.pt every N epochs"),
      key<int64_t>("train.image_every", VAE_FIELD(train.image_every),
                   in_range<int64_t>(0, std::numeric_limits<int64_t>::max(), ">= 0 (0: no per-epoch images)"), "",
                   kLogged, "per-epoch reconstruction and sample grids every N epochs"),
      key<int64_t>("train.checkpoint_every_steps", VAE_FIELD(train.checkpoint_every_steps),
                   in_range<int64_t>(0, std::numeric_limits<int64_t>::max(), ">= 0 (0: at epoch ends only)"),
                   "--checkpoint-every-steps", kLogged, "also write checkpoints/last.pt every N steps"),
      key<DistBackend>("train.dist_backend", VAE_FIELD(train.dist_backend), any<DistBackend>(), "--dist-backend",
                       kLogged, "under torchrun: auto, gloo or nccl"),
      key<double>("train.dist_timeout", VAE_FIELD(train.dist_timeout), in_range(0.1, 86400.0, "in [0.1, 86400]"),
                  "--dist-timeout", kLogged, "under torchrun: seconds to wait for the other processes"),
  };
}
#undef VAE_FIELD

const std::vector<Key>& keys() {
  static const std::vector<Key> table = [] {
    std::vector<Key> all = data_and_model_keys();
    for (Key& k : loss_and_train_keys()) all.push_back(std::move(k));
    return all;
  }();
  return table;
}

const Key* find_key(const std::string& name) {
  for (const Key& k : keys())
    if (k.name == name) return &k;
  return nullptr;
}

std::string known_keys() {
  std::string s;
  for (const Key& k : keys()) s += (s.empty() ? "" : ", ") + k.name;
  return s;
}

std::string at_line(const std::string& origin, const toml::source_region& where) {
  return origin + ":" + std::to_string(where.begin.line);
}

// The relations between keys that no single key's range can say.
void check_rules(const Config& c, bool shape_known) {
  auto require = [](bool ok, const std::string& key, const std::string& allowed, const std::string& got) {
    if (!ok) throw ConfigError("config key '" + key + "' must be " + allowed + ", got " + got);
  };
  if (c.model.arch == Arch::kConv && shape_known) {
    const std::string size = std::to_string(c.model.image_height) + "x" + std::to_string(c.model.image_width);
    const size_t stages = conv_stages(c.model).size();
    const int64_t side = int64_t{1} << std::min<size_t>(stages, 20);
    require(stages > 0 && c.model.image_height % side == 0 && c.model.image_width % side == 0,
            "model.image_height and model.image_width",
            stages == 0 ? std::string("even sides >= 8 for model.arch = \"conv\" (data.image_size resizes)")
                        : "multiples of " + std::to_string(side) + " for " + std::to_string(stages) +
                              " conv stages (model.conv_channels; data.image_size resizes)",
            size);
  }
  require(!c.model.conditional || c.model.kind == Kind::kVae, "model.conditional",
          std::string("false for model.kind = \"") + name(c.model.kind) + "\" (only a VAE can be conditional)",
          "true");
  require(c.data.noise == Noise::kGaussian || c.data.noise_level <= 1, "data.noise_level",
          "a fraction in [0, 1] for data.noise = \"" + std::string(name(c.data.noise)) + "\"",
          float_text(c.data.noise_level));
}

}  // namespace

#define VAE_NAME(E) \
  const char* name(E v) { return choice_name(v); }
VAE_NAME(Binarize)
VAE_NAME(Noise)
VAE_NAME(Likelihood)
VAE_NAME(Kind)
VAE_NAME(Arch)
VAE_NAME(Sparsity)
VAE_NAME(OptimizerKind)
VAE_NAME(DeviceChoice)
VAE_NAME(NonFinite)
VAE_NAME(DistBackend)
VAE_NAME(DataFormat)
VAE_NAME(OnBadImage)
#undef VAE_NAME

template <typename E>
E parse_choice(const std::string& text, const std::string& key) {
  return Codec<E>::parse(text, "'" + key + "'");
}
template Binarize parse_choice<Binarize>(const std::string&, const std::string&);
template Noise parse_choice<Noise>(const std::string&, const std::string&);
template Likelihood parse_choice<Likelihood>(const std::string&, const std::string&);
template Kind parse_choice<Kind>(const std::string&, const std::string&);
template DeviceChoice parse_choice<DeviceChoice>(const std::string&, const std::string&);
template Arch parse_choice<Arch>(const std::string&, const std::string&);
template Sparsity parse_choice<Sparsity>(const std::string&, const std::string&);
template OptimizerKind parse_choice<OptimizerKind>(const std::string&, const std::string&);
template NonFinite parse_choice<NonFinite>(const std::string&, const std::string&);
template DistBackend parse_choice<DistBackend>(const std::string&, const std::string&);
template OnBadImage parse_choice<OnBadImage>(const std::string&, const std::string&);
template DataFormat parse_choice<DataFormat>(const std::string&, const std::string&);

const std::vector<KeyInfo>& config_keys() {
  static const std::vector<KeyInfo> infos(keys().begin(), keys().end());
  return infos;
}

Config parse_config(const std::string& toml_text, const std::string& origin) {
  toml::table root;
  try {
    root = toml::parse(toml_text, origin);
  } catch (const toml::parse_error& e) {
    throw ConfigError(at_line(origin, e.source()) + ": not valid TOML: " + std::string(e.description()));
  }
  Config cfg;
  for (const auto& [section_key, section] : root) {
    const std::string section_name(section_key.str());
    if (!section.is_table()) {
      const bool known = section_name == "data" || section_name == "model" || section_name == "loss" ||
                         section_name == "train";
      throw ConfigError(at_line(origin, section_key.source()) +
                        (known ? ": '" + section_name + "' is not a table: write [" + section_name + "], got " +
                                     type_of(section)
                               : ": unknown key '" + section_name + "' (known keys: " + known_keys() + ")"));
    }
    for (const auto& [k, value] : *section.as_table()) {
      const std::string full = section_name + "." + std::string(k.str());
      const Key* info = find_key(full);
      const std::string where = at_line(origin, k.source()) + ": key '" + full + "'";
      if (info == nullptr)
        throw ConfigError(at_line(origin, k.source()) + ": unknown key '" + full + "' (known keys: " +
                          known_keys() + ")");
      info->read(cfg, value, where);
    }
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

void validate(const Config& c, bool shape_known) {
  for (const Key& k : keys()) k.check(c);
  check_rules(c, shape_known);
}

std::string to_toml(const Config& c) {
  std::string out, section;
  for (const Key& k : keys()) {
    const size_t dot = k.name.find('.');
    if (k.name.compare(0, dot, section) != 0 || section.empty()) {
      section = k.name.substr(0, dot);
      out += (out.empty() ? "[" : "\n[") + section + "]\n";
    }
    out += k.name.substr(dot + 1) + " = " + k.to_text(c) + "\n";
  }
  return out;
}

void set_key(Config& cfg, const std::string& name, const std::string& text) {
  const Key* k = find_key(name);
  if (k == nullptr) throw ConfigError("unknown key '" + name + "' (known keys: " + known_keys() + ")");
  k->set_from_text(cfg, text);
}

std::string display_value(const std::string& t) {
  const bool plain = t.size() >= 2 && t.front() == '"' && t.back() == '"' && t.find('\\') == std::string::npos;
  return plain ? t.substr(1, t.size() - 2) : t;
}

std::string first_difference(const Config& a, const Config& b, const std::string& section) {
  for (const Key& k : keys()) {
    if (!section.empty() && k.name.compare(0, section.size() + 1, section + ".") != 0) continue;
    if (!k.matters(a) && !k.matters(b)) continue;
    const std::string x = k.to_text(a), y = k.to_text(b);
    if (x != y) return k.name + " (" + display_value(x) + " vs " + display_value(y) + ")";
  }
  return "";
}

std::vector<int64_t> image_dims(const ModelConfig& m) {
  if (m.image_channels == 1) return {m.image_height, m.image_width};
  return {m.image_channels, m.image_height, m.image_width};
}

std::vector<int64_t> conv_stages(const ModelConfig& m) {
  if (!m.conv_channels.empty()) return m.conv_channels;
  std::vector<int64_t> out;
  for (int64_t h = m.image_height, w = m.image_width; h % 2 == 0 && w % 2 == 0 && h / 2 >= 4 && w / 2 >= 4;
       h /= 2, w /= 2)
    out.push_back(std::min<int64_t>(256, int64_t{32} << std::min<size_t>(out.size(), 4)));
  return out;
}

std::string describe_layers(const ModelConfig& m) {
  std::string s = std::to_string(input_dim(m));
  if (m.arch == Arch::kConv)
    for (int64_t c : conv_stages(m)) s += "-conv" + std::to_string(c);
  for (int64_t h : m.hidden) s += "-" + std::to_string(h);
  return s + "-" + std::to_string(m.latent);
}

}  // namespace vae
