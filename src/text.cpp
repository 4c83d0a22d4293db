#include "vae/text.hpp"

namespace vae {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string s;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) s += sep;
    s += items[i];
  }
  return s;
}

std::string join_or(const std::vector<std::string>& items) {
  std::string s;
  for (size_t i = 0; i < items.size(); ++i)
    s += std::string(i == 0 ? "" : i + 1 == items.size() ? " or " : ", ") + items[i];
  return s;
}

std::string shape_text(int64_t channels, int64_t height, int64_t width) {
  return std::to_string(channels) + "x" + shape_text(height, width);
}

std::string shape_text(int64_t first, int64_t second) {
  return std::to_string(first) + "x" + std::to_string(second);
}

}  // namespace vae
