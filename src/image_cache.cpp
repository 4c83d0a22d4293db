// The image cache file: where it lives, how it is framed and checked, read
// and written. Untrusted when read (fuzzed: tests/fuzz/image_cache_fuzz.cpp).
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <memory>
#include <sstream>

#include "image_folder_internal.hpp"
#include "vae/digest.hpp"
#include "vae/io.hpp"

namespace vae {
namespace {

namespace fs = std::filesystem;

constexpr char kMagic[8] = {'V', 'A', 'E', 'I', 'M', 'G', 'S', '1'};
constexpr size_t kHead = detail::kCacheHead;

std::string put_u64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}

uint64_t get_u64(const std::string& s, size_t at) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | static_cast<unsigned char>(s[at + i]);
  return v;
}

std::string header_text(const std::string& key, const DecodedImages& d) {
  std::ostringstream h;
  h << "key " << key << "\nshape " << d.count << ' ' << d.channels << ' ' << d.height << ' ' << d.width
    << "\nconverted " << d.converted << "\nhas_test " << (d.has_test_folder ? 1 : 0) << "\nclasses "
    << d.class_names.size() << '\n';
  for (const std::string& c : d.class_names) h << c << '\n';
  h << "images " << d.count << '\n';
  for (int64_t i = 0; i < d.count; ++i) h << d.labels[i] << '\t' << int(d.in_test[i]) << '\t' << d.paths[i] << '\n';
  h << "skipped " << d.skipped.size() << '\n';
  for (const std::string& s : d.skipped) h << s << '\n';
  return h.str();
}

// Reads a cache file; false (with why) when it is not a valid cache for `key`.
bool read_cache(const std::string& path, const std::string& key, DecodedImages& d, std::string& why) {
  std::shared_ptr<std::string> storage;
  try {  // one read into a buffer of the file's size; a folder or a device is refused unread
    storage = std::make_shared<std::string>(read_regular_file(path));
  } catch (const IoError& e) {
    return why = std::string("cannot read it: ") + e.what(), false;
  }
  return parse_image_cache(storage, key, d, why);
}

std::string hex_prefix(const std::string& text, size_t n) { return sha256_hex(text).substr(0, n); }

}  // namespace

bool parse_image_cache(std::shared_ptr<std::string> storage, const std::string& key, DecodedImages& d,
                       std::string& why) {
  const std::string& s = *storage;
  if (s.size() < kHead + 8 + 64 || std::memcmp(s.data(), kMagic, 8) != 0) return why = "not a vae image cache", false;
  if (sha256_hex(std::string_view(s).substr(0, s.size() - 64)) != s.substr(s.size() - 64))
    return why = "its checksum does not match (damaged or edited)", false;
  const uint64_t payload = get_u64(s, 8), header = get_u64(s, s.size() - 72);
  if (payload > s.size() || header > s.size() || kHead + payload + header + 72 != s.size())
    return why = "inconsistent sizes", false;
  std::istringstream in(s.substr(kHead + payload, header));
  std::string word, k;
  size_t classes = 0, images = 0, skipped = 0;
  int has_test = 0;
  in >> word >> k;
  if (word != "key" || k != key) return why = "made for other files or options", false;
  in >> word >> d.count >> d.channels >> d.height >> d.width;
  // Divided, not multiplied: a forged header cannot wrap the product.
  if (word != "shape" || d.count < 1 || static_cast<uint64_t>(d.count) > payload ||
      (d.channels != 1 && d.channels != 3) || d.height < 1 || d.height > 65536 || d.width < 1 || d.width > 65536 ||
      payload % static_cast<uint64_t>(d.channels * d.height * d.width) != 0 ||
      payload / static_cast<uint64_t>(d.channels * d.height * d.width) != static_cast<uint64_t>(d.count))
    return why = "a shape that does not match its pixels", false;
  in >> word >> d.converted >> word >> has_test >> word >> classes;
  d.has_test_folder = has_test != 0;
  in.ignore(1, '\n');
  if (!in || classes > 65536 || classes > header / 2) return why = "a malformed header", false;
  d.class_names.resize(classes);
  for (size_t i = 0; i < classes; ++i) {  // non-empty and sorted, as the folders were
    std::getline(in, d.class_names[i]);
    if (d.class_names[i].empty() || (i > 0 && !(d.class_names[i - 1] < d.class_names[i])))
      return why = "malformed class names", false;
  }
  in >> word >> images;
  in.ignore(1, '\n');
  // Every image has a line of at least 5 bytes: no count past that is allocated.
  if (!in || word != "images" || images != static_cast<size_t>(d.count) || images > header / 5)
    return why = "a malformed image list", false;
  d.paths.resize(images);
  d.labels.resize(images);
  d.in_test.resize(images);
  for (size_t i = 0; i < images; ++i) {
    std::string line;
    std::getline(in, line);
    const size_t t1 = line.find('\t'), t2 = t1 == std::string::npos ? t1 : line.find('\t', t1 + 1);
    if (t2 == std::string::npos) return why = "a malformed image list", false;
    const long label = std::strtol(line.substr(0, t1).c_str(), nullptr, 10);
    if (classes == 0 ? label != -1 : (label < 0 || label >= static_cast<long>(classes)))
      return why = "a label outside the classes", false;
    d.labels[i] = static_cast<int32_t>(label);
    d.in_test[i] = line[t1 + 1] == '1';
    d.paths[i] = line.substr(t2 + 1);
  }
  in >> word >> skipped;
  in.ignore(1, '\n');
  if (!in || word != "skipped" || skipped > header / 2) return why = "a malformed skip list", false;
  d.skipped.resize(skipped);
  for (std::string& line : d.skipped) std::getline(in, line);
  d.storage_ = storage;
  d.offset_ = kHead;
  return true;
}

std::string image_cache_dir() {
  if (const char* v = std::getenv("VAE_CACHE_DIR"); v && *v) return v;
  if (const char* v = std::getenv("XDG_CACHE_HOME"); v && *v) return std::string(v) + "/vae";
  if (const char* v = std::getenv("HOME"); v && *v) return std::string(v) + "/.cache/vae";
  return (fs::temp_directory_path() / "vae-cache").string();
}

namespace detail {

std::string cache_file_path(const std::string& dir, const std::string& options) {
  std::error_code ec;
  const std::string where = fs::absolute(dir, ec).lexically_normal().string();
  return image_cache_dir() + "/images-" + hex_prefix(where + '\n' + options, 24) + ".bin";
}

std::optional<DecodedImages> read_cached(const std::string& key, DecodedImages& d) {
  std::error_code ec;
  if (!fs::exists(d.cache_path, ec)) return std::nullopt;
  DecodedImages c;
  std::string why;
  c.cache_path = d.cache_path;
  if (read_cache(d.cache_path, key, c, why)) {
    c.from_cache = true;
    return c;
  }
  d.cache_note = why == "made for other files or options"
                     ? "the folder or the options changed since it was cached"
                     : "the cache " + d.cache_path + " is not usable (" + why + ")";
  return std::nullopt;
}

void seal_cache(std::string& storage, const std::string& key, const DecodedImages& d) {
  std::memcpy(storage.data(), kMagic, 8);
  const std::string size = put_u64(storage.size() - kHead);
  std::memcpy(storage.data() + 8, size.data(), 8);
  const std::string header = header_text(key, d);
  storage.append(header);
  storage.append(put_u64(header.size()));
  storage.append(sha256_hex(storage));
}

void store_cache(DecodedImages& d) {
  try {
    make_dirs(image_cache_dir());
    write_file_atomic(d.cache_path, *d.storage_);
  } catch (const std::exception& e) {
    d.cache_note = std::string("cannot write the cache (") + e.what() + "): the next run decodes again";
    d.cache_path.clear();
  }
}

}  // namespace detail
}  // namespace vae
