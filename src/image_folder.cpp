// Loading an image folder: the scan, the cache lookup, the first image's
// shape, the decoding threads, and the cache written from the result. The
// jobs themselves live in image_scan.cpp, image_decode.cpp and image_cache.cpp.
#include "vae/image_folder.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <opencv2/core.hpp>
#include <sstream>
#include <thread>
#include <utility>

#include "image_folder_internal.hpp"
#include "vae/digest.hpp"
#include "vae/errors.hpp"

namespace vae {
namespace {

namespace fs = std::filesystem;
using detail::Entry;
using detail::one_line;
using detail::Shape;

// One load's state, from the scan to the decoded pixels.
struct Load {
  Load(const ImageFolderOptions& options, detail::Scan scan) : o(options), s(std::move(scan)) {}

  const ImageFolderOptions& o;
  detail::Scan s;
  Shape shape{0, 0, 0, false};
  size_t first = 0;                   // the first usable image
  std::vector<std::string> problems;  // per entry: "" or why it cannot be used
  std::vector<uint8_t> converted;     // per entry: its channels were converted
  std::shared_ptr<std::string> storage;  // the cache's bytes: kCacheHead, then the pixels
  size_t per = 0;                     // bytes per image

  uint8_t* pixels() { return reinterpret_cast<uint8_t*>(storage->data()) + detail::kCacheHead; }
  std::string path_of(const Entry& e) const { return (fs::path(o.dir) / e.rel).string(); }
};

// The folder's image files; throws when there are none, or (unless skipped)
// for a class folder without images.
detail::Scan scan_usable(const ImageFolderOptions& o) {
  detail::Scan s = detail::scan(o.dir);
  if (!s.empty_classes.empty() && !o.skip_bad)
    throw DataError(s.empty_classes.front() + " (data.on_bad_image = \"skip\" leaves it out)");
  if (s.entries.empty())
    throw DataError(o.dir + ": no image files found (expected DIR/train/<class>/*.png|jpg|..., DIR/<class>/..., or "
                            "images directly in DIR)");
  return s;
}

// The options as the cache key and the cache file's name hold them.
std::string options_text(const ImageFolderOptions& o) {
  std::ostringstream opts;
  opts << "vae-images 1 opencv " << CV_VERSION << "\nsize " << o.height << 'x' << o.width << "\nchannels " << o.channels << "\nmax_pixels "
       << o.max_pixels << "\nskip " << o.skip_bad << '\n';
  return opts.str();
}

// The cache key: the files as listed (name, size, modification and change
// times, label, split) and the options.
std::string cache_key(const std::string& options, const detail::Scan& s) {
  std::string listing = options;
  for (const std::string& c : s.class_names) listing += "class " + c + '\n';
  for (const Entry& e : s.entries)
    listing += e.rel + '\t' + std::to_string(e.size) + '\t' + std::to_string(e.mtime_ns) + '\t' +
               std::to_string(e.ctime_ns) + '\t' +
               std::to_string(e.label) + '\t' + (e.test ? "1" : "0") + '\n';
  return sha256_hex(listing);
}

[[noreturn]] void refuse(const Load& l, const Entry& e, const std::string& why) {
  throw DataError(one_line(l.path_of(e)) + ": " + why + " (data.on_bad_image = \"skip\" leaves it out)");
}

// The shape: given, or the first usable image's; sets l.first, and the
// problems of the files before it (or throws for the first, unless skipped).
void probe_first_image(Load& l) {
  const ImageFolderOptions& o = l.o;
  l.shape = Shape{o.channels, o.height, o.width, o.height > 0};
  l.problems.assign(l.s.entries.size(), "");
  for (l.first = 0; l.first < l.s.entries.size(); ++l.first) {
    const Entry& e = l.s.entries[l.first];
    std::string why = e.problem;
    cv::Mat m;
    bool conv = false;
    uint8_t dummy = 0;
    if (why.empty()) {
      const Shape probe{1, 1, 1, true};  // decode only, to see the image
      why = one_line(detail::decode_file(fs::path(o.dir) / e.rel, e.size, probe, o.max_pixels, &dummy, conv, &m));
    }
    if (why.empty()) {
      if (l.shape.channels == 0) l.shape.channels = m.channels() == 1 ? 1 : 3;
      if (!l.shape.resize) {
        l.shape.height = m.rows;
        l.shape.width = m.cols;
      }
      return;
    }
    if (!o.skip_bad) refuse(l, e, why);
    l.problems[l.first] = why;
  }
  throw DataError(o.dir + ": none of its " + std::to_string(l.s.entries.size()) +
                  " image files could be used; the first: " + l.s.entries.front().rel + ": " + l.problems.front());
}

// The buffer every image is decoded into, with room for the cache's header.
void allocate_pixels(Load& l) {
  const size_t n = l.s.entries.size();
  l.per = static_cast<size_t>(l.shape.channels * l.shape.height * l.shape.width);
  if (l.per > 0 && n > (size_t{1} << 40) / l.per) throw DataError(l.o.dir + ": too many pixels to hold");
  size_t names = 0;
  for (const Entry& e : l.s.entries) names += e.rel.size() + 16;
  l.storage = std::make_shared<std::string>();
  l.storage->reserve(detail::kCacheHead + n * l.per + names + 4096 + 72);
  l.storage->resize(detail::kCacheHead + n * l.per);
}

// Decodes every file from l.first on, on o.threads threads (0: one per
// core), each into its place; without skip_bad, the first problem stops them.
void decode_all(Load& l) {
  const size_t n = l.s.entries.size();
  l.converted.assign(n, 0);
  std::atomic<size_t> next{l.first};
  std::atomic<bool> stop{false};
  const int threads =
      l.o.threads > 0 ? l.o.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  cv::setNumThreads(0);  // the files are the parallel work
  uint8_t* pixels = l.pixels();
  auto work = [&] {
    for (size_t i; !stop && (i = next++) < n;) {
      const Entry& e = l.s.entries[i];
      bool c = false;
      std::string why = e.problem;
      if (why.empty())
        why = detail::decode_file(fs::path(l.o.dir) / e.rel, e.size, l.shape, l.o.max_pixels, pixels + i * l.per, c);
      l.converted[i] = c;
      if (!why.empty()) {
        l.problems[i] = one_line(why);
        if (!l.o.skip_bad) stop = true;
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
}

// The first bad file in listing order is an error (unless skipped); the
// good ones are moved together, and d lists them and the skipped ones.
void compact(Load& l, DecodedImages& d) {
  uint8_t* pixels = l.pixels();
  size_t kept = 0;
  for (size_t i = 0; i < l.s.entries.size(); ++i) {
    const Entry& e = l.s.entries[i];
    if (i < l.first || !l.problems[i].empty()) {
      if (!l.o.skip_bad && !l.problems[i].empty()) refuse(l, e, l.problems[i]);
      if (!l.problems[i].empty()) d.skipped.push_back(one_line(e.rel + ": " + l.problems[i]));
      continue;
    }
    if (kept != i) std::memmove(pixels + kept * l.per, pixels + i * l.per, l.per);
    d.paths.push_back(e.rel);
    d.labels.push_back(e.label);
    d.in_test.push_back(e.test ? 1 : 0);
    d.converted += l.converted[i];
    ++kept;
  }
  for (const std::string& c : l.s.empty_classes) d.skipped.push_back(one_line(c));
  if (kept == 0) throw DataError(l.o.dir + ": none of its image files could be used");
  d.count = static_cast<int64_t>(kept);
  d.channels = l.shape.channels;
  d.height = l.shape.height;
  d.width = l.shape.width;
  d.class_names = l.s.class_names;
  d.has_test_folder = l.s.has_test;
  l.storage->resize(detail::kCacheHead + kept * l.per);
}

DecodedImages timed(DecodedImages& d, std::chrono::steady_clock::time_point start) {
  d.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return std::move(d);
}

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

DecodedImages load_image_folder(const ImageFolderOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  Load l{o, scan_usable(o)};
  const std::string options = options_text(o);
  const std::string key = cache_key(options, l.s);
  DecodedImages d;
  d.cache_path = detail::cache_file_path(o.dir, options);
  if (o.use_cache)
    if (std::optional<DecodedImages> cached = detail::read_cached(key, d)) return timed(*cached, start);

  probe_first_image(l);
  allocate_pixels(l);
  decode_all(l);
  compact(l, d);
  detail::seal_cache(*l.storage, key, d);
  d.storage_ = l.storage;
  d.offset_ = detail::kCacheHead;
  if (o.use_cache) detail::store_cache(d);
  return timed(d, start);
}

}  // namespace vae
