// Private to the config sources: the value codecs (config_codecs.cpp), the
// key table (config_keys.cpp), the rules between keys (config_rules.cpp) and
// config.cpp, which reads, writes and compares whole configs through the
// table. Not installed.
#pragma once

#include <toml++/toml.h>

#include <cstdint>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "vae/config.hpp"
#include "vae/text.hpp"

namespace vae::detail {

// ---- Choices: each enum's spellings, in the order messages list them
// (config_codecs.cpp).

template <typename E>
using ChoiceList = std::vector<std::pair<E, const char*>>;

template <typename E>
const ChoiceList<E>& choices();

// Every enum of a choice, for what is written once per enum.
#define VAE_CHOICE_ENUMS(X)                                                                                \
  X(Binarize) X(Noise) X(Likelihood) X(Kind) X(Arch) X(Sparsity) X(OptimizerKind) X(DeviceChoice) X(NonFinite) \
  X(DistBackend) X(DataFormat) X(OnBadImage) X(LrSchedule) X(Prior) X(Activation) X(MmdKernel) X(RaeRegularizer)

#define VAE_DECLARE_CHOICES(E) \
  template <>                  \
  const ChoiceList<E>& choices<E>();
VAE_CHOICE_ENUMS(VAE_DECLARE_CHOICES)
#undef VAE_DECLARE_CHOICES

template <typename E>
const char* choice_name(E v) {
  for (const auto& [value, text] : choices<E>())
    if (value == v) return text;
  return "?";
}

// "\"none\", \"static\" or \"dynamic\""
template <typename E>
std::string choice_list() {
  std::vector<std::string> quoted;
  for (const auto& [value, text] : choices<E>()) quoted.push_back("\"" + std::string(text) + "\"");
  return join_or(quoted);
}

// A TOML basic string: quotes, backslashes and control characters escaped.
std::string quote(const std::string& s);

// Shortest text that reads back to the same double, always with a '.' or an
// exponent so TOML sees a float.
std::string float_text(double v);

// "an integer", "a string", ...: a TOML value's type for messages.
const char* type_of(const toml::node& n);

// ---- Codecs: how each member type is read from TOML (read) and from a flag
// (parse), and written as TOML (text); `where` names the key in errors.

template <typename T, typename = void>
struct Codec;

#define VAE_CODEC(T)                                                   \
  template <>                                                          \
  struct Codec<T> {                                                    \
    static T read(const toml::node& n, const std::string& where);      \
    static T parse(const std::string& s, const std::string& where);    \
    static std::string text(const T& v);                               \
  };
VAE_CODEC(int64_t)
VAE_CODEC(uint64_t)  // seeds: TOML integers are signed 64-bit
VAE_CODEC(double)
VAE_CODEC(bool)
VAE_CODEC(std::string)
VAE_CODEC(std::vector<int64_t>)
VAE_CODEC(std::vector<std::string>)
#undef VAE_CODEC

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

// ---- The key table (config_keys.cpp).

// A key with everything the table needs, type-erased over its member type.
struct Key : KeyInfo {
  std::function<void(Config&, const toml::node&, const std::string& where)> read;
  std::function<void(const Config&)> check;  // throws ConfigError naming the key
};

// Every key, in the order of config.toml.
const std::vector<Key>& keys();

// The key called `name`, or nullptr.
const Key* find_key(const std::string& name);

// "data.dir, data.format, ...": every key's name, for messages.
std::string known_keys();

// ---- The rules (config_rules.cpp).

// The relations between keys that no single key's range can say; throws
// ConfigError naming the key. shape_known as in validate().
void check_rules(const Config& c, bool shape_known);

}  // namespace vae::detail
