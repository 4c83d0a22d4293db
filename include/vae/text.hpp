// Small text helpers for messages, shared by the tools and the libraries.
// Torch-free (vae_formats).
//
//   vae::shape_text(3, 64, 48)           // "3x64x48"
//   vae::join({"a", "b", "c"}, ", ")     // "a, b, c"
//   vae::join_or({"a", "b", "c"})        // "a, b or c"
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vae {

// Whether `s` ends with `suffix` (an empty suffix always matches).
bool ends_with(std::string_view s, std::string_view suffix);

// The items with `sep` between them; "" for none.
std::string join(const std::vector<std::string>& items, std::string_view sep);

// The items as a sentence lists choices: "a", "a or b", "a, b or c"; "" for none.
std::string join_or(const std::vector<std::string>& items);

// An image shape as messages print it, channels x height x width: "3x64x48".
std::string shape_text(int64_t channels, int64_t height, int64_t width);

// Two sides as messages print them, in the order given: "64x48".
std::string shape_text(int64_t first, int64_t second);

}  // namespace vae
