// Private to the image folder sources: what the scan (image_scan.cpp), the
// decoding (image_decode.cpp), the cache file (image_cache.cpp) and the
// orchestration (image_folder.cpp) share. Not installed; OpenCV stays out of
// it, so the cache's fuzz target builds without it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "vae/image_folder.hpp"

namespace cv {
class Mat;
}

namespace vae::detail {

// ---- The scan (image_scan.cpp).

// One image file as listed.
struct Entry {
  std::string rel;  // relative to the data folder
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;  // the inode's change time: touch -r restores mtime, not this
  int32_t label = -1;
  bool test = false;
  std::string problem;  // found while listing (a loop, a broken link, ...)
};

struct Scan {
  std::vector<Entry> entries;
  std::vector<std::string> class_names;
  bool has_test = false;
  std::vector<std::string> empty_classes;  // "path: why"
};

// Every image file under `dir` in listing order, by the layouts of
// image_folder.hpp; throws DataError for a missing folder, a class name that
// is not clean text, or a test class that is not a train class.
Scan scan(const std::string& dir);

// Line breaks become spaces: every problem is one line of the log, the
// error and the cache's skip list.
std::string one_line(std::string s);

// ---- The decoding (image_decode.cpp).

struct Shape {
  int64_t channels, height, width;
  bool resize;  // false: every image must already have height x width
};

// Decodes one file of `size` bytes into `out` (C x H x W, shape's); returns ""
// or the problem. `converted`: its channels were converted. `first`, when
// given, receives the image as decoded (8 bits, alpha composited), before
// conversion and resizing. An exception (OpenCV's, out of memory) becomes the
// problem: this runs on the decoding threads.
std::string decode_file(const std::filesystem::path& path, uint64_t size, const Shape& shape, int64_t max_pixels,
                        uint8_t* out, bool& converted, cv::Mat* first = nullptr);

// ---- The cache file (image_cache.cpp): magic, payload size, the pixels,
// the header text, its size, and a SHA-256 of everything before it.

inline constexpr size_t kCacheHead = 16;  // magic + payload size; the pixels follow

// The cache file of folder `dir` decoded with `options` (the options' text).
std::string cache_file_path(const std::string& dir, const std::string& options);

// The images of the cache file d.cache_path when it is one for `key`;
// otherwise nothing, and d.cache_note says why when the file exists.
std::optional<DecodedImages> read_cached(const std::string& key, DecodedImages& d);

// Appends the cache's framing to `storage` (kCacheHead bytes, then the
// pixels of d.count images): the magic and payload size in front, the header
// of `key` and `d`, its size and the SHA-256 behind.
void seal_cache(std::string& storage, const std::string& key, const DecodedImages& d);

// Writes d's bytes to d.cache_path atomically; on failure clears the path and
// says why in d.cache_note (the next run decodes again).
void store_cache(DecodedImages& d);

}  // namespace vae::detail
