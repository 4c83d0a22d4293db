#include "vae/idx.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <vector>

#include "vae/io.hpp"

namespace vae {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw DataError(path + ": " + what);
}

// deflate cannot compress better than about 1032:1, so a .gz file of C bytes
// holds at most this many bytes; a header claiming more is a lie we catch
// before allocating.
constexpr uint64_t kMaxDeflateRatio = 1040;

// A byte source over a raw or gzip file. read() returns fewer bytes than asked
// only at the end of the data; every stream error is thrown as DataError.
// gzip is inflated here with zlib's inflate (not gzread), so the end of the
// stream is seen exactly: a stream cut off, a bad CRC, and bytes after the
// last gzip member (which gzread skips without a word) are each an error.
class ByteSource {
 public:
  explicit ByteSource(const std::string& path) : path_(path), gz_(ends_with(path, ".gz")) {
    std::error_code ec;
    if (!fs::exists(path, ec)) fail(path, "no such file");
    if (fs::is_directory(path, ec)) fail(path, "is a folder, expected an IDX file");
    // A device (/dev/zero) would be read without end, a FIFO would block open().
    if (!fs::is_regular_file(path, ec)) fail(path, "not a regular file (a device, FIFO or socket): refusing to read it");
    file_bytes_ = fs::file_size(path, ec);
    if (ec) fail(path, "cannot read size: " + ec.message());
    if (gz_) check_gzip_signature();
    raw_ = std::fopen(path.c_str(), "rb");
    if (raw_ == nullptr) fail(path, "cannot open");
    if (gz_) {
      if (inflateInit2(&zs_, 15 + 16) != Z_OK) fail(path, "cannot initialise zlib");  // gzip framing only
      inflating_ = true;
      in_.resize(size_t{1} << 17);
    }
  }
  ByteSource(const ByteSource&) = delete;
  ByteSource& operator=(const ByteSource&) = delete;
  ~ByteSource() {
    if (inflating_) inflateEnd(&zs_);
    if (raw_ != nullptr) std::fclose(raw_);
  }

  bool compressed() const { return gz_; }
  uint64_t file_bytes() const { return file_bytes_; }

  // Largest payload this file can hold: exact for raw files, a bound for .gz.
  uint64_t max_bytes() const { return gz_ ? file_bytes_ * kMaxDeflateRatio : file_bytes_; }

  size_t read(void* dst, size_t n) {
    auto* out = static_cast<char*>(dst);
    size_t done = 0;
    while (done < n) {
      const size_t want = std::min<size_t>(n - done, size_t{1} << 30);
      const size_t got = gz_ ? inflate_into(out + done, want) : std::fread(out + done, 1, want, raw_);
      if (!gz_ && got < want && std::ferror(raw_)) fail(path_, "read error");
      if (got == 0) break;
      done += got;
    }
    return done;
  }

  // At the end of the data: a .gz must have ended its last member exactly.
  void finish() {
    if (gz_ && !ended_) fail(path_, "truncated gzip stream (the file was cut off)");
  }

 private:
  // Inflates up to n bytes; 0 at the end of the stream or of the file.
  size_t inflate_into(char* out, size_t n) {
    zs_.next_out = reinterpret_cast<Bytef*>(out);
    zs_.avail_out = static_cast<uInt>(n);
    while (zs_.avail_out > 0 && !ended_) {
      if (zs_.avail_in == 0 && !refill()) break;  // the file ends inside the stream
      const int rc = inflate(&zs_, Z_NO_FLUSH);
      if (rc == Z_STREAM_END) {
        next_member_or_end();
      } else if (rc != Z_OK && !(rc == Z_BUF_ERROR && zs_.avail_in == 0)) {
        fail(path_, std::string("corrupt gzip stream: ") + (zs_.msg != nullptr ? zs_.msg : zError(rc)));
      }
    }
    return n - zs_.avail_out;
  }

  // Moves the unread input to the front of the buffer and reads more after it.
  bool refill() {
    const size_t keep = zs_.avail_in;
    if (keep > 0) std::memmove(in_.data(), zs_.next_in, keep);
    const size_t got = std::fread(in_.data() + keep, 1, in_.size() - keep, raw_);
    if (got == 0 && std::ferror(raw_)) fail(path_, "read error");
    zs_.next_in = in_.data();
    zs_.avail_in = static_cast<uInt>(keep + got);
    return got > 0;
  }

  // After a member's trailer: the file ends, or another gzip member starts
  // (concatenated members are valid gzip); anything else is an error.
  void next_member_or_end() {
    if (zs_.avail_in < 2) refill();
    if (zs_.avail_in == 0) {
      ended_ = true;
      return;
    }
    if (zs_.avail_in < 2 || zs_.next_in[0] != 0x1f || zs_.next_in[1] != 0x8b) trailing_garbage(zs_.avail_in);
    if (inflateReset(&zs_) != Z_OK) fail(path_, "cannot reset zlib");
  }

  [[noreturn]] void trailing_garbage(uint64_t buffered) {
    const long pos = std::ftell(raw_);
    const uint64_t rest = pos >= 0 && static_cast<uint64_t>(pos) <= file_bytes_ ? file_bytes_ - pos : 0;
    fail(path_, std::to_string(buffered + rest) + " bytes after the end of the gzip stream");
  }

  void check_gzip_signature() {
    unsigned char sig[2] = {0, 0};
    std::FILE* f = std::fopen(path_.c_str(), "rb");
    if (f == nullptr) fail(path_, "cannot open");
    const size_t n = std::fread(sig, 1, 2, f);
    std::fclose(f);
    if (n < 2 || sig[0] != 0x1f || sig[1] != 0x8b) {
      std::string hint;
      if (n >= 1 && sig[0] == '<') hint = " (it looks like an HTML page)";
      fail(path_, "named .gz but is not a gzip file" + hint);
    }
  }

  std::string path_;
  bool gz_;
  uint64_t file_bytes_ = 0;
  std::FILE* raw_ = nullptr;
  z_stream zs_{};
  bool inflating_ = false;
  bool ended_ = false;  // the last gzip member ended at the end of the file
  std::vector<Bytef> in_;
};

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
