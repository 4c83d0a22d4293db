// The decoding of one image file (OpenCV): checked before it is read and
// before it is decoded, brought to 8 bits and the wanted channels, resized
// and centre-cropped, and written as C x H x W bytes.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <exception>
#include <fstream>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "image_folder_internal.hpp"
#include "vae/text.hpp"

namespace vae::detail {
namespace {

namespace fs = std::filesystem;

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

// A JPEG whose last scan (SOS, FF DA) is not followed by the end-of-image
// marker (FF D9): cut short. libjpeg decodes such a file with the missing
// rows filled in and only a warning, which OpenCV does not pass on. Inside
// a scan FF is always stuffed (FF 00) or a restart marker, so an FF D9 after
// the last SOS can only be the end of the image.
bool jpeg_cut_short(const std::string& b) {
  if (b.size() < 2 || static_cast<unsigned char>(b[0]) != 0xff || static_cast<unsigned char>(b[1]) != 0xd8) return false;
  const size_t sos = b.rfind("\xff\xda");
  return sos == std::string::npos || b.find("\xff\xd9", sos + 2) == std::string::npos;
}

// Reads the file into `bytes` unless its size on disk or the pixel count in
// its header is beyond max_pixels; returns "" or the problem.
std::string read_checked(const fs::path& path, uint64_t size, int64_t max_pixels, std::string& bytes) {
  if (size == 0) return "an empty file (0 bytes)";
  // No image format needs more than 8 bytes a pixel (16-bit RGBA, raw).
  const uint64_t most = static_cast<uint64_t>(max_pixels) * 8 + (1u << 20);
  if (size > most)
    return std::to_string(size) + " bytes, more than an image within data.max_image_pixels (" +
           std::to_string(max_pixels) + ") can take: refused before reading";
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::string("cannot open it: ") + std::strerror(errno);
  bytes.assign(size, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(size));
  if (in.gcount() != static_cast<std::streamsize>(size)) return "cannot read it (it changed while being read?)";
  const uint64_t px = header_pixels(bytes);
  if (px > static_cast<uint64_t>(max_pixels))
    return "its header says " + std::to_string(px) + " pixels, more than data.max_image_pixels (" +
           std::to_string(max_pixels) + "): refused before decoding";
  return jpeg_cut_short(bytes) ? "a truncated JPEG (no end-of-image marker after its last scan)" : "";
}

// 8-bit RGBA composited over white, as 8-bit BGR.
cv::Mat over_white(const cv::Mat& m) {
  cv::Mat rgb(m.rows, m.cols, CV_8UC3);
  for (int y = 0; y < m.rows; ++y) {
    const uint8_t* s = m.ptr<uint8_t>(y);
    uint8_t* d = rgb.ptr<uint8_t>(y);
    for (int x = 0; x < m.cols; ++x, s += 4, d += 3) {
      const unsigned a = s[3];
      for (int c = 0; c < 3; ++c) d[c] = static_cast<uint8_t>((s[c] * a + 255u * (255u - a) + 127u) / 255u);
    }
  }
  return rgb;
}

// Decodes `bytes` (freed once decoded) into `m`: 8 bits, 1 or 3 channels
// (alpha composited over white); returns "" or the problem.
std::string decode_bytes(std::string& bytes, int64_t max_pixels, cv::Mat& m) {
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
  if (m.channels() == 4) {
    m = over_white(m);
  } else if (m.channels() == 2) {
    return "an image with 2 channels";
  }
  return "";
}

// OpenCV's BGR or grey to `channels` in RGB order; `converted` when the
// number of channels changed.
void to_channels(cv::Mat& m, int64_t channels, bool& converted) {
  if (m.channels() == 3 && channels == 1) {
    cv::cvtColor(m, m, cv::COLOR_BGR2GRAY);
    converted = true;
  } else if (m.channels() == 1 && channels == 3) {
    cv::cvtColor(m, m, cv::COLOR_GRAY2RGB);
    converted = true;
  } else if (m.channels() == 3) {
    cv::cvtColor(m, m, cv::COLOR_BGR2RGB);
  }
}

// Brings `m` to shape's height x width: resized, or refused when the shape
// does not resize; returns "" or the problem.
std::string to_size(cv::Mat& m, const Shape& shape) {
  const int64_t H = shape.height, W = shape.width;
  if (m.rows == H && m.cols == W) return "";
  if (!shape.resize)
    return "is " + shape_text(m.cols, m.rows) + " (width x height) but the first image is " + shape_text(W, H) +
           "; data.image_size = [H, W] resizes them all";
  // The centre of the source with the target's aspect, then area
  // averaging down (or up) to it: memory stays within the source's.
  const int64_t cw = std::min<int64_t>(m.cols, std::llround(double(m.rows) * W / H));
  const int64_t ch = std::min<int64_t>(m.rows, std::llround(double(m.cols) * H / W));
  const cv::Mat centre = m(cv::Rect(static_cast<int>((m.cols - cw) / 2), static_cast<int>((m.rows - ch) / 2),
                                    static_cast<int>(std::max<int64_t>(1, cw)), static_cast<int>(std::max<int64_t>(1, ch))));
  cv::Mat r;
  cv::resize(centre, r, cv::Size(static_cast<int>(W), static_cast<int>(H)), 0, 0, cv::INTER_AREA);
  m = r;
  return "";
}

// Interleaved H x W x C rows to planar C x H x W bytes.
void to_planes(const cv::Mat& m, const Shape& shape, uint8_t* out) {
  const int64_t C = shape.channels, H = shape.height, W = shape.width;
  for (int64_t y = 0; y < H; ++y) {
    const uint8_t* row = m.ptr<uint8_t>(static_cast<int>(y));
    for (int64_t x = 0; x < W; ++x)
      for (int64_t c = 0; c < C; ++c) out[(c * H + y) * W + x] = row[x * C + c];
  }
}

// decode_file without the guard: may throw.
std::string decode(const fs::path& path, uint64_t size, const Shape& shape, int64_t max_pixels, uint8_t* out,
                   bool& converted, cv::Mat* first) {
  std::string bytes;
  if (std::string why = read_checked(path, size, max_pixels, bytes); !why.empty()) return why;
  cv::Mat m;
  if (std::string why = decode_bytes(bytes, max_pixels, m); !why.empty()) return why;
  if (first) *first = m;
  to_channels(m, shape.channels, converted);
  if (std::string why = to_size(m, shape); !why.empty()) return why;
  to_planes(m, shape, out);
  return "";
}

}  // namespace

std::string decode_file(const fs::path& path, uint64_t size, const Shape& shape, int64_t max_pixels, uint8_t* out,
                        bool& converted, cv::Mat* first) {
  try {  // an exception must not leave a thread: OpenCV's own, or running out of memory
    return decode(path, size, shape, max_pixels, out, converted, first);
  } catch (const std::exception& ex) {
    return std::string("cannot be decoded: ") + ex.what();
  }
}

}  // namespace vae::detail
