#include "vae/image_folder.hpp"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <set>
#include <sstream>
#include <thread>
#include <utility>

#include "vae/digest.hpp"
#include "vae/errors.hpp"
#include "vae/io.hpp"

namespace vae {
namespace {

namespace fs = std::filesystem;

constexpr char kMagic[8] = {'V', 'A', 'E', 'I', 'M', 'G', 'S', '1'};
constexpr size_t kHead = 16;  // magic + payload size

struct Entry {
  std::string rel;  // relative to the data folder
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  int32_t label = -1;
  bool test = false;
  std::string problem;  // found while listing (a loop, a broken link, ...)
};

bool is_image_name(const std::string& name) {
  const size_t dot = name.rfind('.');
  if (dot == std::string::npos) return false;
  std::string ext = name.substr(dot + 1);
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  static const std::set<std::string> kExt = {"png", "jpg", "jpeg", "bmp", "webp", "tif",
                                             "tiff", "pgm", "ppm", "pbm", "pnm"};
  return kExt.count(ext) > 0;
}

// The non-hidden names in a folder, sorted (readdir: std::filesystem's
// paths cost several times more per file on a folder of 60,000).
std::vector<std::string> list(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) throw DataError(dir + ": cannot list the folder: " + std::strerror(errno));
  std::vector<std::string> names;
  while (const dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') names.emplace_back(e->d_name);
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

// Line breaks become spaces: every problem is one line of the log, the
// error and the cache's skip list.
std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

// Valid UTF-8 without control characters: a class name must be, since it
// is written into the run's TOML config and the checkpoint.
bool is_clean_text(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) return false;
    const size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return false;
    i += n;
  }
  return true;
}

bool is_dir(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool is_link(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
}

std::string join(const std::string& a, const std::string& b) { return a.empty() ? b : a + "/" + b; }

struct Scan {
  std::vector<Entry> entries;
  std::vector<std::string> class_names;
  bool has_test = false;
  std::vector<std::string> empty_classes;  // "path: why"
};

// Adds the image files under `dir` (following links, refusing loops);
// `rel_dir` is dir relative to the data folder.
void walk(const std::string& rel_dir, const std::string& dir, int32_t label, bool test,
          std::set<std::pair<dev_t, ino_t>>& seen, std::vector<Entry>& out) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return;
  if (!seen.insert({st.st_dev, st.st_ino}).second) {
    Entry e;
    e.rel = rel_dir;
    e.problem = "a symbolic link loop (this folder is already being read)";
    out.push_back(e);
    return;
  }
  for (const std::string& name : list(dir)) {
    const std::string rel = join(rel_dir, name), path = dir + "/" + name;
    struct stat fst {};
    if (::stat(path.c_str(), &fst) != 0) {
      const int err = errno;
      if (is_image_name(name) || is_link(path)) {
        Entry e;
        e.rel = rel;
        e.label = label;
        e.test = test;
        e.problem = std::string("cannot read it: ") + std::strerror(err) + (is_link(path) ? " (a broken link)" : "");
        out.push_back(e);
      }
      continue;
    }
    if (S_ISDIR(fst.st_mode)) {
      walk(rel, path, label, test, seen, out);
      continue;
    }
    if (!is_image_name(name)) continue;
    Entry e;
    e.rel = rel;
    e.label = label;
    e.test = test;
    e.size = static_cast<uint64_t>(fst.st_size);
    e.mtime_ns = static_cast<int64_t>(fst.st_mtim.tv_sec) * 1000000000 + fst.st_mtim.tv_nsec;
    if (!S_ISREG(fst.st_mode)) e.problem = "not a regular file";
    if (rel.find('\n') != std::string::npos) e.problem = "a line break in its name";
    out.push_back(e);
  }
  seen.erase({st.st_dev, st.st_ino});  // a loop is a folder inside itself, not one reached twice
}

Scan scan(const std::string& dir) {
  Scan s;
  if (!is_dir(dir)) throw DataError(dir + ": data folder does not exist");
  const bool split = is_dir(dir + "/train");
  const std::string train = split ? dir + "/train" : dir;
  s.has_test = split && is_dir(dir + "/test");
  for (const std::string& name : list(train))
    if (is_dir(train + "/" + name)) s.class_names.push_back(name);
  for (const std::string& n : s.class_names)
    if (!is_clean_text(n))
      throw DataError(one_line(train + "/" + n) + ": a class folder whose name is not UTF-8 text without control "
                      "characters (class names go into the run's config); rename it");
  auto add = [&](const std::string& top, const std::string& top_rel, bool test) {
    std::set<std::pair<dev_t, ino_t>> seen;
    if (s.class_names.empty()) {  // a flat folder: its images, no labels
      walk(top_rel, top, -1, test, seen, s.entries);
      return;
    }
    for (const std::string& name : list(top)) {
      const std::string path = top + "/" + name;
      if (!is_dir(path)) continue;
      const auto it = std::find(s.class_names.begin(), s.class_names.end(), name);
      if (it == s.class_names.end())
        throw DataError(path + ": class '" + name + "' is not among the train classes in " + train);
      const size_t before = s.entries.size();
      walk(join(top_rel, name), path, static_cast<int32_t>(it - s.class_names.begin()), test, seen, s.entries);
      if (!test && s.entries.size() == before) s.empty_classes.push_back(path + ": a class folder with no images");
    }
  };
  add(train, split ? "train" : "", false);
  if (s.has_test) add(dir + "/test", "test", true);
  return s;
}

uint32_t be32(const unsigned char* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }
uint32_t le32(const unsigned char* p) { return uint32_t(p[3]) << 24 | uint32_t(p[2]) << 16 | uint32_t(p[1]) << 8 | p[0]; }

// Width x height from the header of a PNG, JPEG or BMP (0 when unknown), so
// that a decompression bomb is refused before it is decoded.
uint64_t header_pixels(const std::string& b) {
  const auto* p = reinterpret_cast<const unsigned char*>(b.data());
  const size_t n = b.size();
  if (n >= 24 && std::memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0 && std::memcmp(p + 12, "IHDR", 4) == 0)
    return uint64_t(be32(p + 16)) * be32(p + 20);
  if (n >= 26 && p[0] == 'B' && p[1] == 'M') {
    const int32_t h = static_cast<int32_t>(le32(p + 22));
    return uint64_t(le32(p + 18)) * uint64_t(h < 0 ? -int64_t(h) : h);
  }
  if (n >= 4 && p[0] == 0xff && p[1] == 0xd8) {
    for (size_t i = 2; i + 9 < n;) {
      if (p[i] != 0xff) return 0;
      const unsigned m = p[i + 1];
      if (m == 0xff) { ++i; continue; }
      const bool sof = m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc;
      if (sof) return uint64_t(p[i + 5] << 8 | p[i + 6]) * uint64_t(p[i + 7] << 8 | p[i + 8]);
      i += 2 + (size_t(p[i + 2]) << 8 | p[i + 3]);
    }
  }
  return 0;
}

struct Shape {
  int64_t channels, height, width;
  bool resize;  // false: every image must already have height x width
};

// Decodes one file into `out` (C x H x W); returns "" or the problem.
std::string decode(const fs::path& path, uint64_t size, const Shape& shape, int64_t max_pixels, uint8_t* out,
                   bool& converted, cv::Mat* first = nullptr) {
  if (size == 0) return "an empty file (0 bytes)";
  // No image format needs more than 8 bytes a pixel (16-bit RGBA, raw).
  const uint64_t most = static_cast<uint64_t>(max_pixels) * 8 + (1u << 20);
  if (size > most)
    return std::to_string(size) + " bytes, more than an image within data.max_image_pixels (" +
           std::to_string(max_pixels) + ") can take: refused before reading";
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::string("cannot open it: ") + std::strerror(errno);
  std::string bytes(size, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(size));
  if (in.gcount() != static_cast<std::streamsize>(size)) return "cannot read it (it changed while being read?)";
  const uint64_t px = header_pixels(bytes);
  if (px > static_cast<uint64_t>(max_pixels))
    return "its header says " + std::to_string(px) + " pixels, more than data.max_image_pixels (" +
           std::to_string(max_pixels) + "): refused before decoding";
  cv::Mat m;
  try {
    m = cv::imdecode(cv::Mat(1, static_cast<int>(bytes.size()), CV_8U, bytes.data()), cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception& e) {
    return std::string("cannot be decoded: ") + e.err;
  }
  bytes = std::string();
  if (m.empty()) return "not a decodable image (corrupt, truncated, or not an image)";
  if (static_cast<uint64_t>(m.total()) > static_cast<uint64_t>(max_pixels))
    return std::to_string(m.total()) + " pixels, more than data.max_image_pixels (" + std::to_string(max_pixels) + ")";
  if (m.depth() == CV_16U) {
    m.convertTo(m, CV_8U, 1.0 / 257.0);
  } else if (m.depth() != CV_8U) {
    return "pixels of a type other than 8 or 16 bits";
  }
  if (m.channels() == 4) {  // composite over white
    cv::Mat rgb(m.rows, m.cols, CV_8UC3);
    for (int y = 0; y < m.rows; ++y) {
      const uint8_t* s = m.ptr<uint8_t>(y);
      uint8_t* d = rgb.ptr<uint8_t>(y);
      for (int x = 0; x < m.cols; ++x, s += 4, d += 3) {
        const unsigned a = s[3];
        for (int c = 0; c < 3; ++c) d[c] = static_cast<uint8_t>((s[c] * a + 255u * (255u - a) + 127u) / 255u);
      }
    }
    m = rgb;
  } else if (m.channels() == 2) {
    return "an image with 2 channels";
  }
  if (first) *first = m;
  const int64_t C = shape.channels;
  if (m.channels() == 3 && C == 1) {
    cv::cvtColor(m, m, cv::COLOR_BGR2GRAY);
    converted = true;
  } else if (m.channels() == 1 && C == 3) {
    cv::cvtColor(m, m, cv::COLOR_GRAY2RGB);
    converted = true;
  } else if (m.channels() == 3) {
    cv::cvtColor(m, m, cv::COLOR_BGR2RGB);
  }
  const int64_t H = shape.height, W = shape.width;
  if (m.rows != H || m.cols != W) {
    if (!shape.resize)
      return "is " + std::to_string(m.cols) + "x" + std::to_string(m.rows) + " (width x height) but the first image is " +
             std::to_string(W) + "x" + std::to_string(H) + "; data.image_size = [H, W] resizes them all";
    // The centre of the source with the target's aspect, then area
    // averaging down (or up) to it: memory stays within the source's.
    const int64_t cw = std::min<int64_t>(m.cols, std::llround(double(m.rows) * W / H));
    const int64_t ch = std::min<int64_t>(m.rows, std::llround(double(m.cols) * H / W));
    const cv::Mat centre = m(cv::Rect(static_cast<int>((m.cols - cw) / 2), static_cast<int>((m.rows - ch) / 2),
                                      static_cast<int>(std::max<int64_t>(1, cw)), static_cast<int>(std::max<int64_t>(1, ch))));
    cv::Mat r;
    cv::resize(centre, r, cv::Size(static_cast<int>(W), static_cast<int>(H)), 0, 0, cv::INTER_AREA);
    m = r;
  }
  for (int64_t y = 0; y < H; ++y) {
    const uint8_t* row = m.ptr<uint8_t>(static_cast<int>(y));
    for (int64_t x = 0; x < W; ++x)
      for (int64_t c = 0; c < C; ++c) out[(c * H + y) * W + x] = row[x * C + c];
  }
  return "";
}

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
  auto storage = std::make_shared<std::string>();
  {  // one read into a buffer of the file's size: no second copy
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    const std::streamoff size = in ? static_cast<std::streamoff>(in.tellg()) : -1;
    if (size < 0) return why = std::string("cannot read it: ") + std::strerror(errno), false;
    storage->resize(static_cast<size_t>(size));
    in.seekg(0);
    in.read(storage->data(), size);
    if (in.gcount() != size) return why = "cannot read it whole", false;
  }
  return parse_image_cache(storage, key, d, why);
}

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

namespace {

std::string hex_prefix(const std::string& text, size_t n) { return sha256_hex(text).substr(0, n); }

}  // namespace

ImageFolderOptions image_folder_options(const DataConfig& data) {
  ImageFolderOptions o;
  o.dir = data.dir;
  if (data.image_size.size() == 2) {
    o.height = data.image_size[0];
    o.width = data.image_size[1];
  }
  o.channels = data.channels;
  o.skip_bad = data.on_bad_image == OnBadImage::kSkip;
  o.max_pixels = data.max_image_pixels;
  return o;
}

std::string image_cache_dir() {
  if (const char* v = std::getenv("VAE_CACHE_DIR"); v && *v) return v;
  if (const char* v = std::getenv("XDG_CACHE_HOME"); v && *v) return std::string(v) + "/vae";
  if (const char* v = std::getenv("HOME"); v && *v) return std::string(v) + "/.cache/vae";
  return (fs::temp_directory_path() / "vae-cache").string();
}

bool looks_like_image_folder(const std::string& dir) {
  const std::string root = is_dir(dir + "/train") ? dir + "/train" : dir;
  try {
    for (const std::string& name : list(root)) {
      if (is_image_name(name)) return true;
      if (is_dir(root + "/" + name))
        for (const std::string& inner : list(root + "/" + name))
          if (is_image_name(inner) || is_dir(root + "/" + name + "/" + inner)) return true;
    }
  } catch (const DataError&) {
  }
  return false;
}

DecodedImages load_image_folder(const ImageFolderOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  Scan s = scan(o.dir);
  if (!s.empty_classes.empty() && !o.skip_bad)
    throw DataError(s.empty_classes.front() + " (data.on_bad_image = \"skip\" leaves it out)");
  if (s.entries.empty())
    throw DataError(o.dir + ": no image files found (expected DIR/train/<class>/*.png|jpg|..., DIR/<class>/..., or "
                            "images directly in DIR)");

  // The cache key: the files as listed and the options.
  std::ostringstream opts;
  opts << "vae-images 1 opencv " << CV_VERSION << "\nsize " << o.height << 'x' << o.width << "\nchannels " << o.channels << "\nmax_pixels "
       << o.max_pixels << "\nskip " << o.skip_bad << '\n';
  std::string listing = opts.str();
  for (const std::string& c : s.class_names) listing += "class " + c + '\n';
  for (const Entry& e : s.entries)
    listing += e.rel + '\t' + std::to_string(e.size) + '\t' + std::to_string(e.mtime_ns) + '\t' +
               std::to_string(e.label) + '\t' + (e.test ? "1" : "0") + '\n';
  const std::string key = sha256_hex(listing);
  std::error_code ec;
  const std::string where = fs::absolute(o.dir, ec).lexically_normal().string();
  DecodedImages d;
  d.cache_path = image_cache_dir() + "/images-" + hex_prefix(where + '\n' + opts.str(), 24) + ".bin";

  auto finish = [&](DecodedImages& r) {
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return std::move(r);
  };
  if (o.use_cache && fs::exists(d.cache_path, ec)) {
    DecodedImages c;
    std::string why;
    c.cache_path = d.cache_path;
    if (read_cache(d.cache_path, key, c, why)) {
      c.from_cache = true;
      return finish(c);
    }
    d.cache_note = why == "made for other files or options"
                       ? "the folder or the options changed since it was cached"
                       : "the cache " + d.cache_path + " is not usable (" + why + ")";
  }

  // The shape: given, or the first usable image's.
  const fs::path root(o.dir);
  Shape shape{o.channels, o.height, o.width, o.height > 0};
  size_t first = 0;
  std::vector<std::string> problems(s.entries.size());
  for (; first < s.entries.size(); ++first) {
    const Entry& e = s.entries[first];
    std::string why = e.problem;
    cv::Mat m;
    bool conv = false;
    uint8_t dummy = 0;
    if (why.empty()) {
      Shape probe{1, 1, 1, true};  // decode only, to see the image
      try {
        why = decode(root / e.rel, e.size, probe, o.max_pixels, &dummy, conv, &m);
      } catch (const std::exception& ex) {
        why = std::string("cannot be decoded: ") + ex.what();
      }
      why = one_line(why);
    }
    if (why.empty()) {
      if (shape.channels == 0) shape.channels = m.channels() == 1 ? 1 : 3;
      if (!shape.resize) {
        shape.height = m.rows;
        shape.width = m.cols;
      }
      break;
    }
    if (!o.skip_bad)
      throw DataError(one_line((root / e.rel).string()) + ": " + why + " (data.on_bad_image = \"skip\" leaves it out)");
    problems[first] = why;
  }
  if (first == s.entries.size()) throw DataError(o.dir + ": none of its " + std::to_string(s.entries.size()) +
                                                 " image files could be used; the first: " + s.entries.front().rel +
                                                 ": " + problems.front());

  const size_t n = s.entries.size();
  const size_t per = static_cast<size_t>(shape.channels * shape.height * shape.width);
  if (per > 0 && n > (size_t{1} << 40) / per) throw DataError(o.dir + ": too many pixels to hold");
  size_t names = 0;
  for (const Entry& e : s.entries) names += e.rel.size() + 16;
  auto storage = std::make_shared<std::string>();
  storage->reserve(kHead + n * per + names + 4096 + 72);
  storage->resize(kHead + n * per);
  uint8_t* pixels = reinterpret_cast<uint8_t*>(storage->data()) + kHead;

  std::vector<uint8_t> conv(n, 0);
  std::atomic<size_t> next{first};
  std::atomic<bool> stop{false};
  const int threads = o.threads > 0 ? o.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  cv::setNumThreads(0);  // the files are the parallel work
  auto work = [&] {
    for (size_t i; !stop && (i = next++) < n;) {
      const Entry& e = s.entries[i];
      bool c = false;
      std::string why = e.problem;
      if (why.empty()) {
        try {  // an exception must not leave a thread: OpenCV's own, or running out of memory
          why = decode(root / e.rel, e.size, shape, o.max_pixels, pixels + i * per, c);
        } catch (const std::exception& ex) {
          why = std::string("cannot be decoded: ") + ex.what();
        }
      }
      conv[i] = c;
      if (!why.empty()) {
        problems[i] = one_line(why);
        if (!o.skip_bad) stop = true;
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();

  // The first bad file in listing order, or compact the good ones.
  size_t kept = 0;
  for (size_t i = 0; i < n; ++i) {
    const Entry& e = s.entries[i];
    if (i < first || !problems[i].empty()) {
      if (!o.skip_bad && !problems[i].empty())
        throw DataError(one_line((root / e.rel).string()) + ": " + problems[i] +
                        " (data.on_bad_image = \"skip\" leaves it out)");
      if (!problems[i].empty()) d.skipped.push_back(one_line(e.rel + ": " + problems[i]));
      continue;
    }
    if (kept != i) std::memmove(pixels + kept * per, pixels + i * per, per);
    d.paths.push_back(e.rel);
    d.labels.push_back(e.label);
    d.in_test.push_back(e.test ? 1 : 0);
    d.converted += conv[i];
    ++kept;
  }
  for (const std::string& c : s.empty_classes) d.skipped.push_back(one_line(c));
  if (kept == 0) throw DataError(o.dir + ": none of its image files could be used");
  d.count = static_cast<int64_t>(kept);
  d.channels = shape.channels;
  d.height = shape.height;
  d.width = shape.width;
  d.class_names = s.class_names;
  d.has_test_folder = s.has_test;
  storage->resize(kHead + kept * per);
  std::memcpy(storage->data(), kMagic, 8);
  const std::string size = put_u64(kept * per);
  std::memcpy(storage->data() + 8, size.data(), 8);
  const std::string header = header_text(key, d);
  storage->append(header);
  storage->append(put_u64(header.size()));
  storage->append(sha256_hex(*storage));
  d.storage_ = storage;
  d.offset_ = kHead;
  if (o.use_cache) {
    try {
      make_dirs(image_cache_dir());
      write_file_atomic(d.cache_path, *storage);
    } catch (const std::exception& e) {
      d.cache_note = std::string("cannot write the cache (") + e.what() + "): the next run decodes again";
      d.cache_path.clear();
    }
  }
  return finish(d);
}

}  // namespace vae
