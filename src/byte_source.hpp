// A byte source over a raw or gzip file, shared by the IDX and amat readers
// (private to vae_formats).
#pragma once

#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "vae/errors.hpp"
#include "vae/io.hpp"
#include "vae/text.hpp"

namespace vae::detail {

namespace fs = std::filesystem;

[[noreturn]] inline void fail(const std::string& path, const std::string& what) {
  throw DataError(path + ": " + what);
}

// deflate cannot compress better than about 1032:1, so a .gz file of C bytes
// holds at most this many bytes; a header claiming more is a lie we catch
// before allocating.
inline constexpr uint64_t kMaxDeflateRatio = 1040;

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
    if (fs::is_directory(path, ec)) fail(path, "is a folder, expected a data file");
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

}  // namespace vae::detail
