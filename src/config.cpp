// Whole configs through the key table: parsed from TOML, written as TOML,
// set from flags, compared on a resume.
#include "vae/config.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "config_internal.hpp"

namespace vae {
namespace {

using detail::find_key;
using detail::Key;
using detail::keys;
using detail::known_keys;
using detail::type_of;

std::string at_line(const std::string& origin, const toml::source_region& where) {
  return origin + ":" + std::to_string(where.begin.line);
}

}  // namespace

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

}  // namespace vae
