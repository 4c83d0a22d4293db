// Image folders (vae/image_folder.hpp): layouts, decoding, conversion,
// resizing, the cache, and every kind of bad input. Torch-free, so it
// builds in seconds; the images are written with OpenCV.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <string>
#include <thread>
#include <vector>

#include "vae/errors.hpp"
#include "vae/image_folder.hpp"

namespace fs = std::filesystem;

namespace {

class ImageFolder : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("vae-imgf-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_ / "cache");
    ::setenv("VAE_CACHE_DIR", (root_ / "cache").c_str(), 1);
  }
  void TearDown() override { fs::remove_all(root_); }

  std::string path(const std::string& rel) const { return (root_ / rel).string(); }
  void put(const std::string& rel, const cv::Mat& m) {
    fs::create_directories((root_ / rel).parent_path());
    ASSERT_TRUE(cv::imwrite(path(rel), m)) << rel;
  }
  void put_bytes(const std::string& rel, const std::string& bytes) {
    fs::create_directories((root_ / rel).parent_path());
    std::ofstream(path(rel), std::ios::binary) << bytes;
  }
  static cv::Mat grey(int h, int w, int v) { return cv::Mat(h, w, CV_8UC1, cv::Scalar(v)); }
  // A small valid data set: two classes of 4x4 grey images in data/train.
  void two_classes() {
    for (int i = 0; i < 3; ++i) {
      put("data/train/cat/" + std::to_string(i) + ".png", grey(4, 4, 10 + i));
      put("data/train/bat/" + std::to_string(i) + ".png", grey(4, 4, 100 + i));
    }
  }
  vae::ImageFolderOptions opts(const std::string& rel = "data") const {
    vae::ImageFolderOptions o;
    o.dir = path(rel);
    return o;
  }
  // The DataError message of loading, or "" when it loads.
  std::string error_of(const vae::ImageFolderOptions& o) {
    try {
      vae::load_image_folder(o);
    } catch (const vae::DataError& e) {
      return e.what();
    }
    return "";
  }

  fs::path root_;
};

TEST_F(ImageFolder, ClassFoldersAreSortedNamesAndTheirImagesTheirLabels) {
  two_classes();
  const vae::DecodedImages d = vae::load_image_folder(opts());
  ASSERT_EQ(d.class_names, (std::vector<std::string>{"bat", "cat"}));
  ASSERT_EQ(d.count, 6);
  EXPECT_EQ(d.channels, 1);
  EXPECT_EQ(d.height, 4);
  EXPECT_EQ(d.width, 4);
  EXPECT_FALSE(d.has_test_folder);
  for (int64_t i = 0; i < d.count; ++i) {
    const bool bat = d.paths[i].find("/bat/") != std::string::npos;
    EXPECT_EQ(d.labels[i], bat ? 0 : 1) << d.paths[i];
    // Every pixel of image k of a class is that image's value, exactly.
    const int value = (bat ? 100 : 10) + (d.paths[i][d.paths[i].size() - 5] - '0');  // ".../k.png"
    for (int p = 0; p < 16; ++p) EXPECT_EQ(d.pixels()[i * 16 + p], value) << d.paths[i];
  }
  EXPECT_EQ(d.paths[0], "train/bat/0.png");
}

TEST_F(ImageFolder, ATestFolderIsTheTestSplitAndMayNotInventClasses) {
  two_classes();
  put("data/test/cat/9.png", grey(4, 4, 50));
  vae::DecodedImages d = vae::load_image_folder(opts());
  ASSERT_TRUE(d.has_test_folder);
  ASSERT_EQ(d.count, 7);
  EXPECT_EQ(d.in_test[6], 1);
  EXPECT_EQ(d.labels[6], 1);
  EXPECT_EQ(d.paths[6], "test/cat/9.png");
  put("data/test/dog/1.png", grey(4, 4, 50));
  EXPECT_NE(error_of(opts()).find("class 'dog' is not among the train classes"), std::string::npos);
}

TEST_F(ImageFolder, AFlatFolderHasNoClasses) {
  put("flat/a.png", grey(4, 4, 1));
  put("flat/b.jpg", grey(4, 4, 200));
  put_bytes("flat/notes.txt", "not an image, not read");
  const vae::DecodedImages d = vae::load_image_folder(opts("flat"));
  EXPECT_TRUE(d.class_names.empty());
  ASSERT_EQ(d.count, 2);
  EXPECT_EQ(d.labels, (std::vector<int32_t>{-1, -1}));
}

TEST_F(ImageFolder, ColourIsRgbAndTransparencyIsCompositedOverWhite) {
  cv::Mat bgra(2, 2, CV_8UC4, cv::Scalar(0, 0, 255, 255));  // opaque red (OpenCV is BGR)
  bgra.at<cv::Vec4b>(0, 1) = cv::Vec4b(0, 0, 0, 0);         // transparent black
  bgra.at<cv::Vec4b>(1, 0) = cv::Vec4b(255, 0, 0, 128);     // half-transparent blue
  put("rgba/x.png", bgra);
  const vae::DecodedImages d = vae::load_image_folder(opts("rgba"));
  ASSERT_EQ(d.channels, 3);
  const uint8_t* p = d.pixels();  // [C, H, W]
  auto at = [&](int c, int y, int x) { return int(p[(c * 2 + y) * 2 + x]); };
  EXPECT_EQ(at(0, 0, 0), 255);  // red
  EXPECT_EQ(at(1, 0, 0), 0);
  EXPECT_EQ(at(2, 0, 0), 0);
  for (int c = 0; c < 3; ++c) EXPECT_EQ(at(c, 0, 1), 255);  // white
  EXPECT_EQ(at(2, 1, 0), 255);                               // blue stays
  EXPECT_EQ(at(0, 1, 0), 127);                               // 255 * (1 - 128/255), rounded
}

TEST_F(ImageFolder, MixedGreyAndColourAreConvertedAndCounted) {
  put("mix/a.png", grey(4, 4, 7));
  put("mix/b.png", cv::Mat(4, 4, CV_8UC3, cv::Scalar(0, 0, 255)));
  vae::DecodedImages d = vae::load_image_folder(opts("mix"));  // channels 0: as the first (grey)
  ASSERT_EQ(d.channels, 1);
  EXPECT_EQ(d.converted, 1);
  EXPECT_EQ(d.pixels()[16], 76);  // red as grey: 0.299 * 255
  vae::ImageFolderOptions o = opts("mix");
  o.channels = 3;
  d = vae::load_image_folder(o);
  ASSERT_EQ(d.channels, 3);
  EXPECT_EQ(d.converted, 1);
  for (int c = 0; c < 3; ++c) EXPECT_EQ(d.pixels()[c * 16], 7);  // grey as RGB
}

TEST_F(ImageFolder, ResizingAveragesAreasThenCropsTheCentre) {
  cv::Mat check(4, 8, CV_8UC1);  // 8 wide, 4 high: columns alternate 0 and 200
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 8; ++x) check.at<uint8_t>(y, x) = x % 2 ? 200 : 0;
  put("r/a.png", check);
  vae::ImageFolderOptions o = opts("r");
  o.height = 2;
  o.width = 2;  // covers 2x2 at 2x4 (a factor 1/2), then the centre 2x2
  const vae::DecodedImages d = vae::load_image_folder(o);
  ASSERT_EQ(d.height, 2);
  ASSERT_EQ(d.width, 2);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(d.pixels()[i], 100) << i;  // each 2x2 block averages to 100
  // Without image_size, another size is an error naming the file and the fix.
  put("r/b.png", grey(4, 4, 0));
  const std::string e = error_of(opts("r"));
  EXPECT_NE(e.find("b.png"), std::string::npos) << e;
  EXPECT_NE(e.find("data.image_size"), std::string::npos) << e;
}

TEST_F(ImageFolder, TheSecondLoadComesFromTheCacheAndAChangeInvalidatesIt) {
  two_classes();
  const vae::DecodedImages a = vae::load_image_folder(opts());
  EXPECT_FALSE(a.from_cache);
  ASSERT_TRUE(fs::exists(a.cache_path)) << a.cache_path;
  const vae::DecodedImages b = vae::load_image_folder(opts());
  EXPECT_TRUE(b.from_cache);
  EXPECT_EQ(b.paths, a.paths);
  EXPECT_EQ(b.labels, a.labels);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(b.pixels()), 6 * 16),
            std::string(reinterpret_cast<const char*>(a.pixels()), 6 * 16));
  // Other options are another cache.
  vae::ImageFolderOptions o = opts();
  o.channels = 3;
  EXPECT_FALSE(vae::load_image_folder(o).from_cache);
  // A rewritten file (new size and time) is decoded again.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  put("data/train/cat/0.png", grey(4, 4, 99));
  const vae::DecodedImages c = vae::load_image_folder(opts());
  EXPECT_FALSE(c.from_cache);
  EXPECT_EQ(c.pixels()[3 * 16], 99);
  EXPECT_TRUE(vae::load_image_folder(opts()).from_cache);
  // Edited in place with its size and modification time restored (touch -r):
  // the inode's change time still tells.
  const std::string file = path("data/train/cat/0.png");
  struct stat before {};
  ASSERT_EQ(::stat(file.c_str(), &before), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  put("data/train/cat/0.png", grey(4, 4, 42));
  ASSERT_EQ(fs::file_size(file), static_cast<uintmax_t>(before.st_size)) << "the edit must keep the size";
  const struct timespec times[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, file.c_str(), times, 0), 0);
  const vae::DecodedImages d = vae::load_image_folder(opts());
  EXPECT_FALSE(d.from_cache) << "an in-place edit with its time restored was served from the cache";
  EXPECT_EQ(d.pixels()[3 * 16], 42);
}

TEST_F(ImageFolder, ADamagedCacheIsReportedAndRebuiltNeverUsed) {
  two_classes();
  const std::string cache = vae::load_image_folder(opts()).cache_path;
  std::string bytes;
  {
    std::ifstream in(cache, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  bytes[20] ^= 0x55;  // one pixel
  std::ofstream(cache, std::ios::binary | std::ios::trunc) << bytes;
  const vae::DecodedImages d = vae::load_image_folder(opts());
  EXPECT_FALSE(d.from_cache);
  EXPECT_NE(d.cache_note.find("checksum"), std::string::npos) << d.cache_note;
  EXPECT_EQ(d.pixels()[4], 100);  // the real pixel, not the flipped one
  EXPECT_TRUE(vae::load_image_folder(opts()).from_cache);
  std::ofstream(cache, std::ios::binary | std::ios::trunc) << "short";
  EXPECT_FALSE(vae::load_image_folder(opts()).from_cache);
  // The cache file replaced by a folder: noted and decoded afresh (or a
  // clean vae error), never a std::length_error from reading a folder.
  fs::remove(cache);
  fs::create_directories(cache);
  try {
    const vae::DecodedImages f = vae::load_image_folder(opts());
    EXPECT_FALSE(f.from_cache);
    EXPECT_NE(f.cache_note.find(cache), std::string::npos) << f.cache_note;  // "cannot write the cache (...)"
    EXPECT_EQ(f.pixels()[4], 100);
  } catch (const vae::IoError& e) {
    EXPECT_NE(std::string(e.what()).find(cache), std::string::npos) << e.what();
  }
}

// Each bad file: an error naming it and the problem, or skipped and listed.
struct Bad {
  const char* name;
  const char* problem;
};

TEST_F(ImageFolder, EveryBadFileIsNamedOrSkipped) {
  std::vector<uchar> png;
  cv::imencode(".png", grey(16, 16, 3), png);
  const std::string good(png.begin(), png.end());
  std::vector<uchar> jpg;
  cv::Mat ramp = grey(4, 4, 0);
  for (int i = 0; i < 16; ++i) ramp.at<uint8_t>(i / 4, i % 4) = static_cast<uint8_t>(i * 15);
  cv::imencode(".jpg", ramp, jpg);
  const std::string good_jpg(jpg.begin(), jpg.end());
  const std::vector<std::pair<Bad, std::function<void(const std::string&)>>> cases = {
      {{"corrupt.png", "not a decodable image"}, [&](const std::string& p) { put_bytes(p, "\x89PNG\r\n\x1a\ngarbage"); }},
      {{"truncated.png", "not a decodable image"}, [&](const std::string& p) { put_bytes(p, good.substr(0, good.size() / 2)); }},
      {{"empty.png", "an empty file"}, [&](const std::string& p) { put_bytes(p, ""); }},
      {{"text.jpg", "not a decodable image"}, [&](const std::string& p) { put_bytes(p, "hello, I am text\n"); }},
      // Cut just before its end: libjpeg fills the rest in silently.
      {{"cut.jpg", "a truncated JPEG"}, [&](const std::string& p) { put_bytes(p, good_jpg.substr(0, good_jpg.size() - 3)); }},
      {{"bomb.png", "refused before decoding"}, [&](const std::string& p) { put(p, grey(3000, 3000, 0)); }},
      {{"broken-link.png", "a broken link"}, [&](const std::string& p) { fs::create_symlink("nowhere.png", path(p)); }},
      {{"fifo.png", "not a regular file"}, [&](const std::string& p) { ASSERT_EQ(::mkfifo(path(p).c_str(), 0600), 0); }},
      {{"loop", "a symbolic link loop"}, [&](const std::string& p) { fs::create_directory_symlink(".", path(p)); }},
  };
  for (const auto& [bad, make] : cases) {
    SCOPED_TRACE(bad.name);
    fs::remove_all(root_ / "data");
    two_classes();
    make("data/train/cat/" + std::string(bad.name));
    vae::ImageFolderOptions o = opts();
    o.max_pixels = 1000000;
    const std::string e = error_of(o);
    EXPECT_NE(e.find(std::string("cat/") + bad.name), std::string::npos) << e;
    EXPECT_NE(e.find(bad.problem), std::string::npos) << e;
    EXPECT_NE(e.find("on_bad_image"), std::string::npos) << e;
    o.skip_bad = true;
    const vae::DecodedImages d = vae::load_image_folder(o);
    EXPECT_EQ(d.count, 6);
    ASSERT_EQ(d.skipped.size(), 1u);
    EXPECT_NE(d.skipped[0].find(bad.name), std::string::npos) << d.skipped[0];
  }
}

TEST_F(ImageFolder, AWholeJpegLoads) {
  two_classes();
  std::vector<uchar> jpg;
  cv::imencode(".jpg", grey(4, 4, 77), jpg);
  put_bytes("data/train/cat/whole.jpg", std::string(jpg.begin(), jpg.end()));
  EXPECT_EQ(vae::load_image_folder(opts()).count, 7);
}

TEST_F(ImageFolder, AnEmptyClassFolderIsNamed) {
  two_classes();
  fs::create_directories(root_ / "data/train/dog");
  std::string e = error_of(opts());
  EXPECT_NE(e.find("dog: a class folder with no images"), std::string::npos) << e;
  vae::ImageFolderOptions o = opts();
  o.skip_bad = true;
  EXPECT_EQ(vae::load_image_folder(o).skipped.size(), 1u);
}

TEST_F(ImageFolder, AnUnreadableFileIsNamed) {
  two_classes();
  if (::geteuid() == 0) GTEST_SKIP() << "root reads any file: no unreadable file to make";
  put("data/train/cat/locked.png", grey(4, 4, 0));
  fs::permissions(path("data/train/cat/locked.png"), fs::perms::none);
  const std::string e = error_of(opts());
  EXPECT_NE(e.find("locked.png: cannot open it"), std::string::npos) << e;
}

TEST_F(ImageFolder, AThinImageIsCroppedBeforeItIsResized) {
  // 1 x 20000: covering 4 x 4 by resizing first would make 80000 x 4; the
  // centre 1 x 1 is cropped first, and it is the white middle pixel.
  cv::Mat thin(1, 20000, CV_8UC1, cv::Scalar(0));
  thin.at<uint8_t>(0, 9999) = thin.at<uint8_t>(0, 10000) = 255;  // the middle two
  put("thin/a.png", thin);
  vae::ImageFolderOptions o = opts("thin");
  o.height = o.width = 4;
  const vae::DecodedImages d = vae::load_image_folder(o);
  for (int i = 0; i < 16; ++i) EXPECT_EQ(d.pixels()[i], 255) << i;
}

TEST_F(ImageFolder, AClassNameThatIsNotUtf8TextIsRefused) {
  two_classes();
  put("data/train/caf\xe9/0.png", grey(4, 4, 0));  // Latin-1: not UTF-8
  const std::string e = error_of(opts());
  EXPECT_NE(e.find("not UTF-8 text"), std::string::npos) << e;
}

TEST_F(ImageFolder, NoImagesAtAllIsOneClearError) {
  fs::create_directories(root_ / "nothing");
  put_bytes("nothing/readme.txt", "x");
  EXPECT_NE(error_of(opts("nothing")).find("no image files found"), std::string::npos);
  EXPECT_FALSE(vae::looks_like_image_folder(path("nothing")));
  two_classes();
  EXPECT_TRUE(vae::looks_like_image_folder(path("data")));
}

}  // namespace
