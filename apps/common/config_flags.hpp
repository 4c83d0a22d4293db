// vae-train's flags that override config keys: one per key of the config
// table (vae/config.hpp) that names a flag, so a new key with a flag needs
// no edit here.
#pragma once

#include <CLI/CLI.hpp>

#include "vae/config.hpp"
#include "vae/trainer.hpp"

namespace vae::cli {

inline void add_config_flags(CLI::App& app, std::vector<TrainRequest::Override>& overrides) {
  for (const KeyInfo& k : config_keys()) {
    if (k.flag.empty()) continue;
    const std::string key = k.name, flag = k.flag;
    app.add_option_function<std::string>(
        flag, [&overrides, key, flag](const std::string& text) { overrides.push_back({key, text, flag}); },
        k.help + " (overrides " + k.name + (k.allowed.empty() ? "" : "; " + k.allowed) + ")");
  }
}

}  // namespace vae::cli
