#include "vae/metrics.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <limits>
#include <sstream>
#include <utility>
#include <stdexcept>

namespace vae {
namespace {

using Json = nlohmann::ordered_json;

Json number(double v) { return std::isfinite(v) ? Json(v) : Json(nullptr); }

double read_number(const Json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::numeric_limits<double>::quiet_NaN();
  if (!it->is_number()) throw std::invalid_argument(std::string("'") + key + "' is not a number");
  return it->get<double>();
}

int64_t read_int(const Json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_number_integer())
    throw std::invalid_argument(std::string("'") + key + "' is missing or not an integer");
  return it->get<int64_t>();
}

}  // namespace

std::string to_json_line(const EpochMetrics& m) {
  // One object per line with a space after each colon and comma, as
  // metrics.jsonl has always been written; numbers as nlohmann writes them
  // (the shortest text that reads back to the same double).
  const std::pair<const char*, Json> fields[] = {
      {"epoch", m.epoch},         {"step", m.step},
      {"train_loss", number(m.train_loss)}, {"skipped", m.skipped},
      {"test_loss", number(m.test.loss)},   {"test_recon", number(m.test.recon)},
      {"test_kl", number(m.test.kl)},       {"test_code_abs", number(m.test.code_abs)},
      {"seconds", number(m.seconds)},       {"eval_seconds", number(m.eval_seconds)}};
  std::string line = "{";
  for (const auto& [key, value] : fields) {
    line += std::string(line.size() > 1 ? ", " : "") + "\"" + key + "\": " + value.dump();
    if (m.has_valid && std::string(key) == "skipped")  // the validation fields before the test's
      line += ", \"valid_loss\": " + number(m.valid.loss).dump() + ", \"valid_recon\": " +
              number(m.valid.recon).dump() + ", \"valid_kl\": " + number(m.valid.kl).dump() +
              ", \"valid_code_abs\": " + number(m.valid.code_abs).dump();
    if (std::string(key) == "test_code_abs")  // a codebook's use, where there is one
      for (const auto& [k, v] : {std::pair{"test_perplexity", m.test.perplexity}, {"test_dead_codes", m.test.dead_codes}})
        if (std::isfinite(v)) line += std::string(", \"") + k + "\": " + Json(v).dump();
  }
  return line + "}";
}

std::string to_jsonl(const std::vector<EpochMetrics>& history) {
  std::string out;
  for (const EpochMetrics& m : history) out += to_json_line(m) + "\n";
  return out;
}

std::vector<EpochMetrics> parse_history(const std::string& jsonl, const std::string& origin) {
  std::vector<EpochMetrics> out;
  std::istringstream in(jsonl);
  int line_no = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      const Json j = Json::parse(line);
      EpochMetrics m;
      m.epoch = read_int(j, "epoch");
      m.step = read_int(j, "step");
      m.skipped = j.contains("skipped") ? read_int(j, "skipped") : 0;
      m.train_loss = read_number(j, "train_loss");
      m.test.loss = read_number(j, "test_loss");
      m.test.recon = read_number(j, "test_recon");
      m.test.kl = read_number(j, "test_kl");
      m.test.code_abs = read_number(j, "test_code_abs");
      m.test.perplexity = read_number(j, "test_perplexity");
      m.test.dead_codes = read_number(j, "test_dead_codes");
      if (j.contains("valid_loss")) {
        m.has_valid = true;
        m.valid.loss = read_number(j, "valid_loss");
        m.valid.recon = read_number(j, "valid_recon");
        m.valid.kl = read_number(j, "valid_kl");
        m.valid.code_abs = read_number(j, "valid_code_abs");
      }
      m.seconds = read_number(j, "seconds");
      m.eval_seconds = read_number(j, "eval_seconds");
      out.push_back(m);
    } catch (const std::exception& e) {
      throw std::invalid_argument(origin + ": line " + std::to_string(line_no) + " of the metrics history: " +
                                  e.what());
    }
  }
  return out;
}

}  // namespace vae
