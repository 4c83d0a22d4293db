// Folders of image files as a data set: found, decoded once with OpenCV,
// and cached as one contiguous uint8 file. Torch-free.
//
//   vae::ImageFolderOptions o;
//   o.dir = "photos"; o.height = o.width = 64; o.channels = 3;
//   vae::DecodedImages d = vae::load_image_folder(o);
//   // d.pixels(): uint8 [d.count, C, H, W], RGB order; d.labels[i] in [0, classes)
//
// Layouts (torchvision's ImageFolder convention):
//   DIR/train/<class>/**/*.png   and optionally DIR/test/<class>/**/*.png
//   DIR/<class>/**/*.png         (no train/: every image is in the train folder)
//   DIR/*.png or DIR/train/*.png (a flat folder: no classes, no labels)
// Class names are the sorted sub-folder names; test/ may hold fewer classes.
// Extensions (any case): png jpg jpeg bmp webp tif tiff pgm ppm pbm pnm.
// Hidden files and folders (".name") and other files are not read.
//
// Every image is read, checked (size on disk, pixel count from its header
// before decoding, decodability), converted to `channels` (alpha composited
// over white), resized with area averaging so it covers height x width and
// centre-cropped, in parallel, straight into the cache's buffer: memory
// peaks at the decoded pixels plus one file per thread.
//
// The cache file lives in VAE_CACHE_DIR, else $XDG_CACHE_HOME/vae, else
// ~/.cache/vae. Its key is a SHA-256 of every file's path, size and
// modification time and the options, so a changed folder is decoded again.
// It is written atomically and ends in a SHA-256 of its bytes, checked on
// every read: a damaged or forged cache is reported and rebuilt, never used.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "vae/config.hpp"

namespace vae {

struct ImageFolderOptions {
  std::string dir;
  int64_t height = 0, width = 0;  // 0, 0: images as they are (one size)
  int64_t channels = 0;           // 1, 3, or 0: as the first image
  bool skip_bad = false;          // false: the first bad file is an error
  int64_t max_pixels = 100000000;
  int threads = 0;                // 0: one per core
  bool use_cache = true;
};

struct DecodedImages {
  int64_t count = 0, channels = 0, height = 0, width = 0;
  std::vector<std::string> paths;   // relative to dir, as found ("train/cat/1.png")
  std::vector<int32_t> labels;      // index into class_names; -1 without classes
  std::vector<uint8_t> in_test;     // 1: under DIR/test/
  std::vector<std::string> class_names;
  bool has_test_folder = false;
  std::vector<std::string> skipped;  // "path: why", for on_bad_image = skip
  int64_t converted = 0;             // images whose channels were converted
  std::string cache_path;
  bool from_cache = false;
  std::string cache_note;  // why the cache was not used or written, for a warning
  double seconds = 0;  // finding + decoding (or loading the cache)

  // uint8 [count, channels, height, width]; lives as long as any copy.
  const uint8_t* pixels() const { return reinterpret_cast<const uint8_t*>(storage_->data()) + offset_; }
  std::shared_ptr<const std::string> storage() const { return storage_; }

  std::shared_ptr<std::string> storage_;
  size_t offset_ = 0;
};

// The options of a config's [data] table (dir, image_size, channels,
// on_bad_image, max_image_pixels): what vae-train and vae-data cache use,
// so both find the same cache file.
ImageFolderOptions image_folder_options(const DataConfig& data);

// Throws DataError naming the folder or file and the problem.
DecodedImages load_image_folder(const ImageFolderOptions& options);

// Parses the bytes of a cache file made for `key` (the whole file, its
// SHA-256 included) into `out`; false with `why` when they are not one: a
// wrong digest, a header of another key, or any field inconsistent with the
// pixels. Never trusts a count before checking it against the file's size.
// For load_image_folder and the fuzz target (tests/fuzz/image_cache_fuzz.cpp).
bool parse_image_cache(std::shared_ptr<std::string> bytes, const std::string& key, DecodedImages& out,
                       std::string& why);

// Whether `dir` looks like an image folder: it (or its train/) holds an image
// file or a sub-folder with one, at the first level.
bool looks_like_image_folder(const std::string& dir);

// The folder the cache files go to (see above).
std::string image_cache_dir();

}  // namespace vae
