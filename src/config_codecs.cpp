// The value codecs of the config: each choice's spellings, and how each
// member type is read from TOML and from a flag, and written back as TOML.
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iomanip>
#include <limits>
#include <sstream>

#include "config_internal.hpp"

namespace vae {
namespace detail {

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
                   {Kind::kDenoisingAe, "denoising_ae"}, {Kind::kRae, "rae"}, {Kind::kWae, "wae"},
                   {Kind::kInfoVae, "info_vae"}, {Kind::kVqVae, "vq_vae"}})
VAE_CHOICES(Arch, {{Arch::kMlp, "mlp"}, {Arch::kConv, "conv"}})
VAE_CHOICES(Sparsity, {{Sparsity::kL1, "l1"}, {Sparsity::kKl, "kl"}})
VAE_CHOICES(OptimizerKind, {{OptimizerKind::kAdam, "adam"}, {OptimizerKind::kRmsprop, "rmsprop"}})
VAE_CHOICES(DeviceChoice, {{DeviceChoice::kAuto, "auto"}, {DeviceChoice::kCpu, "cpu"}, {DeviceChoice::kCuda, "cuda"}})
VAE_CHOICES(NonFinite, {{NonFinite::kStop, "stop"}, {NonFinite::kSkip, "skip"}})
VAE_CHOICES(DataFormat, {{DataFormat::kAuto, "auto"}, {DataFormat::kIdx, "idx"}, {DataFormat::kNpy, "npy"},
                         {DataFormat::kImages, "images"}, {DataFormat::kAmat, "amat"}})
VAE_CHOICES(OnBadImage, {{OnBadImage::kError, "error"}, {OnBadImage::kSkip, "skip"}})
VAE_CHOICES(DistBackend, {{DistBackend::kAuto, "auto"}, {DistBackend::kGloo, "gloo"}, {DistBackend::kNccl, "nccl"}})
VAE_CHOICES(LrSchedule, {{LrSchedule::kConstant, "constant"}, {LrSchedule::kMultistep, "multistep"},
                         {LrSchedule::kCosine, "cosine"}, {LrSchedule::kPlateau, "plateau"}})
VAE_CHOICES(Prior, {{Prior::kStandard, "standard"}, {Prior::kVamp, "vamp"}})
VAE_CHOICES(RaeRegularizer, {{RaeRegularizer::kL2, "l2"}, {RaeRegularizer::kGp, "gp"}})
VAE_CHOICES(MmdKernel, {{MmdKernel::kImq, "imq"}, {MmdKernel::kRbf, "rbf"}})
VAE_CHOICES(Activation, {{Activation::kRelu, "relu"}, {Activation::kTanh, "tanh"}, {Activation::kGated, "gated"}})
#undef VAE_CHOICES

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

namespace {

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

}  // namespace

int64_t Codec<int64_t>::read(const toml::node& n, const std::string& where) {
  if (!n.is_integer()) wrong_type(where, "an integer", n);
  return n.as_integer()->get();
}
int64_t Codec<int64_t>::parse(const std::string& s, const std::string& where) { return int_from_text(s, where); }
std::string Codec<int64_t>::text(const int64_t& v) { return std::to_string(v); }

uint64_t Codec<uint64_t>::read(const toml::node& n, const std::string& where) {
  const int64_t v = Codec<int64_t>::read(n, where);
  if (v < 0) throw ConfigError(where + " must be an integer in [0, 2^63), got " + std::to_string(v));
  return static_cast<uint64_t>(v);
}
uint64_t Codec<uint64_t>::parse(const std::string& s, const std::string& where) {
  errno = 0;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(s.c_str(), &end, 10);
  if (s.empty() || s[0] == '-' || end != s.c_str() + s.size() || errno == ERANGE)
    throw ConfigError(where + " must be an integer in [0, 2^63), got '" + s + "'");
  return v;
}
std::string Codec<uint64_t>::text(const uint64_t& v) { return std::to_string(v); }

double Codec<double>::read(const toml::node& n, const std::string& where) {
  if (n.is_integer()) return static_cast<double>(n.as_integer()->get());
  if (!n.is_floating_point()) wrong_type(where, "a number", n);
  return n.as_floating_point()->get();
}
double Codec<double>::parse(const std::string& s, const std::string& where) {
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || errno == ERANGE)
    throw ConfigError(where + " expects a number, got '" + s + "'");
  return v;
}
std::string Codec<double>::text(const double& v) { return float_text(v); }

bool Codec<bool>::read(const toml::node& n, const std::string& where) {
  if (!n.is_boolean()) wrong_type(where, "true or false", n);
  return n.as_boolean()->get();
}
bool Codec<bool>::parse(const std::string& s, const std::string& where) {
  if (s != "true" && s != "false") throw ConfigError(where + " expects true or false, got '" + s + "'");
  return s == "true";
}
std::string Codec<bool>::text(const bool& v) { return v ? "true" : "false"; }

std::string Codec<std::string>::read(const toml::node& n, const std::string& where) {
  if (!n.is_string()) wrong_type(where, "a string", n);
  return n.as_string()->get();
}
std::string Codec<std::string>::parse(const std::string& s, const std::string&) { return s; }
std::string Codec<std::string>::text(const std::string& v) { return quote(v); }

std::vector<int64_t> Codec<std::vector<int64_t>>::read(const toml::node& n, const std::string& where) {
  if (!n.is_array()) wrong_type(where, "an array of integers", n);
  std::vector<int64_t> out;
  for (const toml::node& el : *n.as_array()) out.push_back(Codec<int64_t>::read(el, where + " element"));
  return out;
}
std::vector<int64_t> Codec<std::vector<int64_t>>::parse(const std::string& s, const std::string& where) {
  // "512,256" or as TOML writes it, "[512, 256]"; "" and "[]" are empty.
  const auto trim = [](const std::string& t) {
    const size_t a = t.find_first_not_of(" \t"), b = t.find_last_not_of(" \t");
    return a == std::string::npos ? std::string() : t.substr(a, b - a + 1);
  };
  std::string list = trim(s);
  if (list.size() >= 2 && list.front() == '[' && list.back() == ']') list = trim(list.substr(1, list.size() - 2));
  std::vector<int64_t> out;
  if (list.empty()) return out;
  std::istringstream in(list);
  for (std::string part; std::getline(in, part, ',');) out.push_back(int_from_text(trim(part), where));
  return out;
}
std::string Codec<std::vector<int64_t>>::text(const std::vector<int64_t>& v) {
  std::vector<std::string> items;
  for (int64_t x : v) items.push_back(std::to_string(x));
  return "[" + join(items, ", ") + "]";
}

std::vector<std::string> Codec<std::vector<std::string>>::read(const toml::node& n, const std::string& where) {
  if (!n.is_array()) wrong_type(where, "an array of strings", n);
  std::vector<std::string> out;
  for (const toml::node& el : *n.as_array()) out.push_back(Codec<std::string>::read(el, where + " element"));
  return out;
}
std::vector<std::string> Codec<std::vector<std::string>>::parse(const std::string& s, const std::string&) {
  std::vector<std::string> out;  // "cat,dog"; "" is none
  std::istringstream in(s);
  for (std::string part; std::getline(in, part, ',');) out.push_back(part);
  return out;
}
std::string Codec<std::vector<std::string>>::text(const std::vector<std::string>& v) {
  std::vector<std::string> items;
  for (const std::string& x : v) items.push_back(quote(x));
  return "[" + join(items, ", ") + "]";
}

}  // namespace detail

#define VAE_NAME(E) \
  const char* name(E v) { return detail::choice_name(v); }
VAE_CHOICE_ENUMS(VAE_NAME)
#undef VAE_NAME

template <typename E>
E parse_choice(const std::string& text, const std::string& key) {
  return detail::Codec<E>::parse(text, "'" + key + "'");
}
#define VAE_PARSE_CHOICE(E) template E parse_choice<E>(const std::string&, const std::string&);
VAE_CHOICE_ENUMS(VAE_PARSE_CHOICE)
#undef VAE_PARSE_CHOICE

}  // namespace vae
