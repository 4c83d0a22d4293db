#include "vae/export.hpp"

#include <cstdio>
#include <stdexcept>
#include <string>

#include "vae/io.hpp"

namespace vae {

namespace {

// A CSV field: quoted (quotes doubled) when it holds a comma, quote or line break.
std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace

void write_latent_csv(const std::string& path, const torch::Tensor& mu, const torch::Tensor& labels,
                      const std::vector<std::string>& paths) {
  TORCH_CHECK(mu.dim() == 2 && labels.dim() == 1 && mu.size(0) == labels.size(0),
              "write_latent_csv: mu ", mu.sizes(), " and labels ", labels.sizes(), " disagree");
  const torch::Tensor m = mu.to(torch::kCPU, torch::kFloat32).contiguous();
  const torch::Tensor l = labels.to(torch::kCPU, torch::kInt64).contiguous();
  const float* mp = m.data_ptr<float>();
  const int64_t* lp = l.data_ptr<int64_t>();
  const int64_t n = m.size(0), z = m.size(1);
  TORCH_CHECK(paths.empty() || static_cast<int64_t>(paths.size()) == mu.size(0), "write_latent_csv: ", paths.size(),
              " paths for ", mu.size(0), " rows");
  std::string text = paths.empty() ? "index,label" : "index,path,label";
  for (int64_t j = 0; j < z; ++j) text += ",mu_" + std::to_string(j);
  text += '\n';
  char buf[32];
  for (int64_t i = 0; i < n; ++i) {
    text += std::to_string(i);
    text += ',';
    if (!paths.empty()) text += csv_field(paths[static_cast<size_t>(i)]) + ',';
    text += std::to_string(lp[i]);
    for (int64_t j = 0; j < z; ++j) {
      // %.9g round-trips a float exactly.
      std::snprintf(buf, sizeof buf, ",%.9g", static_cast<double>(mp[i * z + j]));
      text += buf;
    }
    text += '\n';
  }
  write_file_atomic(path, text);
}

void write_npy(const std::string& path, const torch::Tensor& t) {
  if (t.dim() < 1) throw std::invalid_argument("write_npy: needs at least one dimension");
  const torch::Tensor c = t.to(torch::kCPU).contiguous();
  std::string descr;
  if (c.scalar_type() == torch::kFloat32)
    descr = "<f4";
  else if (c.scalar_type() == torch::kInt64)
    descr = "<i8";
  else
    throw std::invalid_argument("write_npy: only float32 and int64 tensors");
  std::string shape = "(";
  for (int64_t d : c.sizes()) shape += std::to_string(d) + ", ";
  if (c.dim() > 1) shape.resize(shape.size() - 2);  // "(3, 4)"; a 1-D shape keeps "(3,)"
  else shape.resize(shape.size() - 1);
  shape += ")";
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  // Magic (6) + version (2) + header length (2) + header, padded with spaces
  // and ended by '\n' to a multiple of 64 bytes.
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header.push_back('\n');
  std::string out("\x93NUMPY\x01\x00", 8);
  out.push_back(static_cast<char>(header.size() & 0xff));
  out.push_back(static_cast<char>(header.size() >> 8));
  out += header;
  out.append(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size());
  write_file_atomic(path, out);
}

}  // namespace vae
