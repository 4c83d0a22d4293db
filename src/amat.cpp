#include "vae/amat.hpp"

#include <filesystem>

#include "byte_source.hpp"

namespace vae {
namespace {

constexpr size_t kPixels = kAmatSide * kAmatSide;

// A streaming parser: each chunk's characters advance one line's state, so
// memory grows with the images actually read, never with a line's length.
class AmatParser {
 public:
  explicit AmatParser(const std::string& path) : path_(path) {}

  void feed(const char* p, size_t n) {
    for (size_t i = 0; i < n; ++i) step(p[i]);
  }

  IdxArray finish() {
    if (in_line_) end_line();  // the last line's newline may be missing
    if (images_ == 0) detail::fail(path_, "no images (an empty .amat file)");
    return IdxArray{{images_, kAmatSide, kAmatSide}, std::move(bytes_)};
  }

 private:
  void step(char c) {
    if (cr_ && c != '\n') bad("a carriage return inside the line");
    if (c == '0' || c == '1') {
      if (after_value_) bad("two characters in one value ('" + std::string(1, last_) + std::string(1, c) + "')");
      if (values_ == kPixels) bad("more than 784 values");
      bytes_.push_back(c == '1' ? 255 : 0);
      ++values_;
      after_value_ = true;
      in_line_ = true;
      last_ = c;
    } else if (c == ' ' || c == '\t') {
      after_value_ = false;
      in_line_ = true;
    } else if (c == '\r') {
      cr_ = true;
    } else if (c == '\n') {
      end_line();
    } else {
      const bool printable = c >= 0x20 && c < 0x7f;
      bad(printable ? "value '" + std::string(1, c) + "' (only 0 and 1 are allowed)"
                    : "byte " + std::to_string(static_cast<unsigned char>(c)) + " (not text: only 0 and 1 are allowed)");
    }
  }

  void end_line() {
    if (values_ != kPixels)
      bad(std::to_string(values_) + " values, expected 784 (28 x 28)");
    ++images_;
    ++line_;
    values_ = 0;
    after_value_ = false;
    in_line_ = false;
    cr_ = false;
  }

  [[noreturn]] void bad(const std::string& what) const {
    detail::fail(path_, "line " + std::to_string(line_) + ": " + what);
  }

  std::string path_;
  std::vector<uint8_t> bytes_;
  int64_t images_ = 0;
  int64_t line_ = 1;
  size_t values_ = 0;
  bool after_value_ = false;  // the last character was a digit
  bool in_line_ = false;      // something was read since the last newline
  bool cr_ = false;           // a \r, which only a \n may follow
  char last_ = 0;
};

}  // namespace

IdxArray read_amat_file(const std::string& path) {
  detail::ByteSource src(path);
  AmatParser parser(path);
  std::vector<char> chunk(size_t{1} << 20);
  for (;;) {
    const size_t got = src.read(chunk.data(), chunk.size());
    parser.feed(chunk.data(), got);
    if (got < chunk.size()) break;
  }
  src.finish();
  return parser.finish();
}

std::string locate_amat_file(const std::string& dir, const std::string& split) {
  return locate_idx_file(dir, "binarized_mnist_" + split + ".amat");
}

}  // namespace vae
