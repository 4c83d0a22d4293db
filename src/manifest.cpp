#include "vae/manifest.hpp"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "vae/digest.hpp"

namespace vae {
namespace {

using nlohmann::json;

[[noreturn]] void fail(const std::string& origin, const std::string& what) {
  throw CheckpointError(origin + ": " + what);
}

bool is_sha256_hex(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace

std::string manifest_to_json(const Manifest& m) {
  json files = json::array();
  for (const auto& f : m.files) files.push_back({{"name", f.name}, {"bytes", f.bytes}, {"sha256", f.sha256}});
  const json j = {{"format", "vae-checkpoint-manifest"},
                  {"format_version", kManifestVersion},
                  {"epoch", m.epoch},
                  {"step", m.step},
                  {"libtorch", m.libtorch},
                  {"config", m.config},
                  {"files", files}};
  return j.dump(2) + "\n";
}

Manifest parse_manifest(std::string_view text, const std::string& origin) {
  const json j = json::parse(text.begin(), text.end(), /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) fail(origin, "manifest is not valid JSON (incomplete or damaged)");
  if (!j.is_object() || j.value("format", json()) != "vae-checkpoint-manifest")
    fail(origin, "not a vae checkpoint manifest");
  auto get = [&](const char* key, json::value_t type) -> const json& {
    const auto it = j.find(key);
    if (it == j.end()) fail(origin, std::string("manifest lacks '") + key + "'");
    const bool ok = it->type() == type ||
                    (type == json::value_t::number_integer && it->is_number_unsigned());
    if (!ok) fail(origin, std::string("manifest field '") + key + "' has the wrong type");
    return *it;
  };
  const int64_t version = get("format_version", json::value_t::number_integer).get<int64_t>();
  if (version != kManifestVersion)
    fail(origin, "manifest format version " + std::to_string(version) +
                     " is not supported (this build reads version " +
                     std::to_string(kManifestVersion) + ")");
  Manifest m;
  m.epoch = get("epoch", json::value_t::number_integer).get<int64_t>();
  m.step = get("step", json::value_t::number_integer).get<int64_t>();
  if (m.epoch < 0 || m.step < 0) fail(origin, "manifest has a negative epoch or step");
  m.libtorch = get("libtorch", json::value_t::string).get<std::string>();
  m.config = get("config", json::value_t::string).get<std::string>();
  const json& files = get("files", json::value_t::array);
  if (files.empty()) fail(origin, "manifest lists no files");
  for (const json& f : files) {
    if (!f.is_object()) fail(origin, "manifest file entry is not an object");
    const auto name = f.find("name");
    const auto bytes = f.find("bytes");
    const auto sha = f.find("sha256");
    if (name == f.end() || !name->is_string() || bytes == f.end() || !bytes->is_number_unsigned() ||
        sha == f.end() || !sha->is_string())
      fail(origin, "manifest file entry needs name, bytes and sha256");
    ManifestFile mf{name->get<std::string>(), bytes->get<uint64_t>(), sha->get<std::string>()};
    if (mf.name.empty() || mf.name.find('/') != std::string::npos)
      fail(origin, "manifest names a file outside its folder: '" + mf.name + "'");
    if (!is_sha256_hex(mf.sha256)) fail(origin, "manifest sha256 of " + mf.name + " is malformed");
    m.files.push_back(std::move(mf));
  }
  return m;
}

void verify_against_manifest(const Manifest& m, const std::string& path, std::string_view bytes) {
  const std::string name = std::filesystem::path(path).filename().string();
  for (const auto& f : m.files) {
    if (f.name != name) continue;
    if (bytes.size() != f.bytes)
      fail(path, "is " + std::to_string(bytes.size()) + " bytes but its manifest says " +
                     std::to_string(f.bytes) + " (truncated or replaced)");
    const std::string actual = sha256_hex(bytes);
    if (actual != f.sha256)
      fail(path, "checksum mismatch: sha256 " + actual.substr(0, 16) + "... but the manifest says " +
                     f.sha256.substr(0, 16) + "... (the file is damaged)");
    return;
  }
  fail(path, "its manifest does not list this file");
}

std::string manifest_path_for(const std::string& checkpoint_path) {
  std::filesystem::path p(checkpoint_path);
  return (p.parent_path() / (p.stem().string() + ".manifest.json")).string();
}

}  // namespace vae
