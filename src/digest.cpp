#include "vae/digest.hpp"

#include <openssl/evp.h>

#include <cstdio>
#include <memory>
#include <stdexcept>
#include <vector>

#include "vae/io.hpp"

namespace vae {
namespace {

using Context = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

std::string finish_hex(EVP_MD_CTX* ctx) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx, digest, &len) != 1) throw std::runtime_error("OpenSSL digest failed");
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 15]);
  }
  return out;
}

Context start(const EVP_MD* md) {
  Context ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), md, nullptr) != 1)
    throw std::runtime_error("OpenSSL digest failed");
  return ctx;
}

}  // namespace

std::string sha256_hex(std::string_view bytes) {
  Context ctx = start(EVP_sha256());
  EVP_DigestUpdate(ctx.get(), bytes.data(), bytes.size());
  return finish_hex(ctx.get());
}

namespace {

std::string file_hex(const std::string& path, const EVP_MD* md) {
  std::unique_ptr<std::FILE, decltype(&std::fclose)> f(std::fopen(path.c_str(), "rb"), std::fclose);
  if (!f) throw IoError(path + ": cannot open");
  Context ctx = start(md);
  std::vector<char> buf(1 << 20);
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f.get())) > 0) EVP_DigestUpdate(ctx.get(), buf.data(), n);
  if (std::ferror(f.get())) throw IoError(path + ": read error");
  return finish_hex(ctx.get());
}

}  // namespace

std::string md5_file(const std::string& path) { return file_hex(path, EVP_md5()); }

std::string sha256_file(const std::string& path) { return file_hex(path, EVP_sha256()); }

}  // namespace vae
