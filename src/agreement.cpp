#include "vae/distributed.hpp"
#include "vae/errors.hpp"

namespace vae {
namespace {

// A failed rank's text: a marker no agreeing text starts with.
constexpr char kFailed[] = "\x01" "failed ";

bool is_failure(const std::string& text) { return text.rfind(kFailed, 0) == 0; }

}  // namespace

void agree_failed(ProcessGroup& group, const std::string& key, const std::string& message) {
  group.all_gather(key, kFailed + message);
}

void agree(ProcessGroup& group, const std::string& key, const std::string& text, const std::string& failed,
           const std::function<void(int64_t, const std::string&, const std::string&)>& differs) {
  const std::vector<std::string> all = group.all_gather(key, text);
  for (size_t r = 0; r < all.size(); ++r)
    if (is_failure(all[r])) {
      const std::string message = all[r].substr(sizeof kFailed - 1);
      throw DistError("rank " + std::to_string(r) + " " + failed + ": " + message.substr(0, message.find('\n')));
    }
  for (size_t r = 1; r < all.size(); ++r)
    if (all[r] != all[0]) differs(static_cast<int64_t>(r), all[r], all[0]);
}

}  // namespace vae
