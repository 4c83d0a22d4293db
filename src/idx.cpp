#include "vae/idx.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <vector>

#include "byte_source.hpp"
#include "vae/io.hpp"

namespace vae {
namespace {

namespace fs = std::filesystem;

using detail::ByteSource;
using detail::fail;
using detail::kMaxDeflateRatio;

uint32_t read_be32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

}  // namespace

IdxArray read_idx_file(const std::string& path, uint32_t magic, size_t ndims) {
  ByteSource src(path);
  const size_t header_bytes = 4 + 4 * ndims;
  std::array<unsigned char, 16> header{};
  const size_t got = src.read(header.data(), header_bytes);
  if (got < 4) fail(path, "truncated header: " + std::to_string(got) + " bytes, not an IDX file");
  const uint32_t found = read_be32(header.data());
  if (found != magic) {
    std::string hint;
    if (found == kIdxImagesMagic) hint = " (this is an image file)";
    if (found == kIdxLabelsMagic) hint = " (this is a label file)";
    if (header[0] == 0x1f && header[1] == 0x8b) hint = " (the file is gzip-compressed; name it .gz)";
    fail(path, "bad magic " + hex32(found) + ", expected " + hex32(magic) + " (" +
                   std::to_string(magic) + (ndims == 3 ? ", IDX images" : ", IDX labels") + ")" +
                   hint);
  }
  if (got < header_bytes)
    fail(path, "truncated header: " + std::to_string(got) + " of " +
                   std::to_string(header_bytes) + " bytes");

  std::vector<int64_t> shape;
  uint64_t payload = 1;
  for (size_t i = 0; i < ndims; ++i) {
    const uint32_t d = read_be32(header.data() + 4 + 4 * i);
    if (i > 0 && d == 0) fail(path, "dimension " + std::to_string(i) + " is 0");
    shape.push_back(static_cast<int64_t>(d));
    if (d != 0 && payload > (uint64_t{1} << 40) / d)
      fail(path, "header claims an impossibly large payload (over 2^40 bytes)");
    payload *= d;
  }
  const uint64_t available = src.max_bytes() - std::min<uint64_t>(src.max_bytes(), header_bytes);
  if (payload > available) {
    if (src.compressed())
      fail(path, "header claims " + std::to_string(shape[0]) + " items (" +
                     std::to_string(payload) + " bytes) but a " +
                     std::to_string(src.file_bytes()) + "-byte gzip file cannot hold that");
    fail(path, "truncated payload: header claims " + std::to_string(shape[0]) + " items (" +
                   std::to_string(payload) + " bytes) but only " + std::to_string(available) +
                   " bytes follow the header");
  }
  if (!src.compressed() && payload < available)
    fail(path, std::to_string(available - payload) + " trailing bytes after the " +
                   std::to_string(shape[0]) + " items the header claims");

  // Raw files were checked against their size above. A .gz can only be
  // bounded loosely, so its buffer grows as data actually arrives: a lying
  // header costs no more memory than the stream really holds.
  IdxArray out{shape, {}};
  size_t n = 0;
  if (!src.compressed()) {
    out.bytes.resize(static_cast<size_t>(payload));
    n = src.read(out.bytes.data(), static_cast<size_t>(payload));
  } else {
    constexpr size_t kChunk = size_t{16} << 20;
    while (n < payload) {
      const size_t want = std::min<size_t>(kChunk, static_cast<size_t>(payload) - n);
      out.bytes.resize(n + want);
      const size_t got = src.read(out.bytes.data() + n, want);
      n += got;
      if (got < want) break;
    }
    out.bytes.resize(n);
  }
  if (n < payload)
    fail(path, "truncated payload: header claims " + std::to_string(shape[0]) + " items (" +
                   std::to_string(payload) + " bytes) but the data ends after " +
                   std::to_string(n) + " bytes");
  unsigned char extra[64];
  const size_t trailing = src.read(extra, sizeof extra);
  if (trailing > 0)
    fail(path, "trailing bytes after the " + std::to_string(shape[0]) +
                   " items the header claims");
  src.finish();
  return out;
}

std::string official_idx_stem(bool test, bool labels) {
  return std::string(test ? "t10k" : "train") + (labels ? "-labels-idx1-ubyte" : "-images-idx3-ubyte");
}

std::string locate_idx_file(const std::string& dir, const std::string& stem) {
  std::error_code ec;
  const fs::path raw = fs::path(dir) / stem;
  if (fs::exists(raw, ec)) return raw.string();
  const fs::path gz = fs::path(dir) / (stem + ".gz");
  return fs::exists(gz, ec) ? gz.string() : std::string();
}

}  // namespace vae
