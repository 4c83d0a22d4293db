#include "vae/npy.hpp"

#include <cctype>
#include <limits>
#include <map>

#include "vae/errors.hpp"
#include "vae/io.hpp"

namespace vae {
namespace {

[[noreturn]] void fail(const std::string& name, const std::string& what) { throw DataError(name + ": " + what); }

// A cursor over the header dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }".
struct Header {
  std::string_view s;
  size_t at = 0;
  const std::string& name;

  void skip_space() {
    while (at < s.size() && (s[at] == ' ' || s[at] == '\t')) ++at;
  }
  bool eat(char c) {
    skip_space();
    if (at < s.size() && s[at] == c) {
      ++at;
      return true;
    }
    return false;
  }
  void expect(char c, const char* what) {
    if (!eat(c)) fail(name, std::string("malformed .npy header: expected ") + what);
  }
  std::string quoted() {
    skip_space();
    if (at >= s.size() || (s[at] != '\'' && s[at] != '"')) fail(name, "malformed .npy header: expected a quoted string");
    const char q = s[at++];
    const size_t end = s.find(q, at);
    if (end == std::string_view::npos) fail(name, "malformed .npy header: unterminated string");
    std::string out(s.substr(at, end - at));
    at = end + 1;
    return out;
  }
  bool boolean() {
    skip_space();
    for (const auto& [word, value] : {std::pair<std::string_view, bool>{"True", true}, {"False", false}})
      if (s.substr(at, word.size()) == word) {
        at += word.size();
        return value;
      }
    fail(name, "malformed .npy header: fortran_order must be True or False");
  }
  std::vector<int64_t> shape() {
    expect('(', "'(' to open the shape");
    std::vector<int64_t> dims;
    while (!eat(')')) {
      skip_space();
      if (at >= s.size() || !std::isdigit(static_cast<unsigned char>(s[at])))
        fail(name, "malformed .npy header: the shape must be a tuple of non-negative integers");
      int64_t v = 0;
      while (at < s.size() && std::isdigit(static_cast<unsigned char>(s[at]))) {
        if (v > (std::numeric_limits<int64_t>::max() - 9) / 10) fail(name, "a dimension of the shape is too large");
        v = v * 10 + (s[at++] - '0');
      }
      dims.push_back(v);
      if (!eat(',')) {
        expect(')', "',' or ')' in the shape");
        break;
      }
    }
    return dims;
  }
};

NpyDtype parse_descr(const std::string& d, const std::string& name) {
  if (d == "|u1" || d == "<u1" || d == ">u1") return NpyDtype::kUInt8;
  if (d == "<f4") return NpyDtype::kFloat32;
  if (d == "<i4") return NpyDtype::kInt32;
  if (d == "<i8") return NpyDtype::kInt64;
  if (!d.empty() && d[0] == '>')
    fail(name, "dtype '" + d + "' is big-endian: save it little-endian, e.g. a.astype(a.dtype.newbyteorder('<'))");
  fail(name, "dtype '" + d + "' is not supported: images must be uint8 or float32, labels uint8, int32 or int64");
}

}  // namespace

int64_t npy_item_size(NpyDtype dtype) {
  switch (dtype) {
    case NpyDtype::kUInt8: return 1;
    case NpyDtype::kInt32: return 4;
    case NpyDtype::kInt64: return 8;
    case NpyDtype::kFloat32: return 4;
  }
  return 1;
}

const char* npy_dtype_name(NpyDtype dtype) {
  switch (dtype) {
    case NpyDtype::kUInt8: return "uint8";
    case NpyDtype::kInt32: return "int32";
    case NpyDtype::kInt64: return "int64";
    case NpyDtype::kFloat32: return "float32";
  }
  return "?";
}

NpyArray parse_npy(std::string_view bytes, const std::string& name) {
  static constexpr std::string_view kMagic("\x93NUMPY", 6);
  if (bytes.size() < 10 || bytes.substr(0, 6) != kMagic) fail(name, "not a .npy file (no \\x93NUMPY magic)");
  const int major = static_cast<unsigned char>(bytes[6]);
  size_t header_len = 0, start = 0;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) | static_cast<size_t>(static_cast<unsigned char>(bytes[9])) << 8;
    start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) fail(name, "truncated .npy header");
    for (int i = 3; i >= 0; --i) header_len = header_len << 8 | static_cast<unsigned char>(bytes[8 + i]);
    start = 12;
  } else {
    fail(name, ".npy format version " + std::to_string(major) + " is not supported (1, 2 and 3 are)");
  }
  if (header_len > bytes.size() - start) fail(name, "truncated .npy header");
  std::string_view text = bytes.substr(start, header_len);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ' || text.back() == '\0')) text.remove_suffix(1);
  Header h{text, 0, name};
  h.expect('{', "'{' to open the header dict");
  std::map<std::string, int> seen;
  NpyArray out;
  bool fortran = false;
  while (!h.eat('}')) {
    const std::string key = h.quoted();
    if (++seen[key] > 1) fail(name, "malformed .npy header: key '" + key + "' appears twice");
    h.expect(':', "':' after a key");
    if (key == "descr") {
      out.dtype = parse_descr(h.quoted(), name);
    } else if (key == "fortran_order") {
      fortran = h.boolean();
    } else if (key == "shape") {
      out.shape = h.shape();
    } else {
      fail(name, "malformed .npy header: unexpected key '" + key + "'");
    }
    if (!h.eat(',')) {
      h.expect('}', "',' or '}' in the header dict");
      break;
    }
  }
  h.skip_space();
  if (h.at != text.size()) fail(name, "malformed .npy header: text after the dict");
  for (const char* k : {"descr", "fortran_order", "shape"})
    if (!seen.count(k)) fail(name, std::string("malformed .npy header: no '") + k + "'");
  if (fortran) fail(name, "the array is in Fortran order: save it with np.ascontiguousarray(a)");
  int64_t count = 1;
  for (int64_t d : out.shape) {
    if (d != 0 && count > std::numeric_limits<int64_t>::max() / 8 / d) fail(name, "the shape is too large");
    count *= d;
  }
  const size_t need = static_cast<size_t>(count * npy_item_size(out.dtype));
  const size_t have = bytes.size() - start - header_len;
  if (have != need)
    fail(name, "the data has " + std::to_string(have) + " bytes but shape and dtype need " + std::to_string(need) +
                   (have < need ? " (truncated)" : " (trailing bytes)"));
  out.data.assign(bytes.substr(start + header_len));
  return out;
}

NpyArray read_npy_file(const std::string& path) {
  std::string bytes;
  try {
    bytes = read_regular_file(path);
  } catch (const std::exception& e) {
    throw DataError(e.what());
  }
  return parse_npy(bytes, path);
}

}  // namespace vae
