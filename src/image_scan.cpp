// The scan of an image folder: its layout, its class folders and every image
// file's name, size and time, without opening a file.
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <set>
#include <utility>

#include "image_folder_internal.hpp"
#include "vae/errors.hpp"

namespace vae {
namespace detail {
namespace {

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

std::string join_path(const std::string& a, const std::string& b) { return a.empty() ? b : a + "/" + b; }

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
    const std::string rel = join_path(rel_dir, name), path = dir + "/" + name;
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
    e.ctime_ns = static_cast<int64_t>(fst.st_ctim.tv_sec) * 1000000000 + fst.st_ctim.tv_nsec;
    if (!S_ISREG(fst.st_mode)) e.problem = "not a regular file";
    if (rel.find('\n') != std::string::npos) e.problem = "a line break in its name";
    out.push_back(e);
  }
  seen.erase({st.st_dev, st.st_ino});  // a loop is a folder inside itself, not one reached twice
}

}  // namespace

// Line breaks become spaces: every problem is one line of the log, the
// error and the cache's skip list.
std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
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
      walk(join_path(top_rel, name), path, static_cast<int32_t>(it - s.class_names.begin()), test, seen, s.entries);
      if (!test && s.entries.size() == before) s.empty_classes.push_back(path + ": a class folder with no images");
    }
  };
  add(train, split ? "train" : "", false);
  if (s.has_test) add(dir + "/test", "test", true);
  return s;
}

}  // namespace detail

bool looks_like_image_folder(const std::string& dir) {
  using detail::is_dir, detail::is_image_name, detail::list;
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

}  // namespace vae
