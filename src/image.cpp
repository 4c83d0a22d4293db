#include "vae/image.hpp"

#include <png.h>

#include <cmath>

#include "vae/io.hpp"

namespace vae {

torch::Tensor make_grid(const torch::Tensor& images, int64_t columns, int64_t pad) {
  TORCH_CHECK(images.dim() == 3 || images.dim() == 4, "make_grid: expected [N, H, W] or [N, C, H, W], got ",
              images.sizes());
  TORCH_CHECK(columns >= 1 && pad >= 0, "make_grid: columns must be >= 1 and pad >= 0");
  const int64_t n = images.size(0), h = images.size(-2), w = images.size(-1);
  const int64_t cols = std::max<int64_t>(1, std::min(n, columns));
  const int64_t rows = (n + cols - 1) / cols;
  torch::Tensor px = images.detach().to(torch::kCPU, torch::kFloat32).clamp(0, 1).mul(255).round().to(torch::kUInt8);
  std::vector<int64_t> size = {rows * (h + pad) + pad, cols * (w + pad) + pad};
  if (images.dim() == 4) {  // [N, H, W, C]: a grid of colour pixels
    px = px.permute({0, 2, 3, 1});
    size.push_back(images.size(1));
  }
  torch::Tensor grid = torch::zeros(size, torch::kUInt8);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t y = pad + (i / cols) * (h + pad), x = pad + (i % cols) * (w + pad);
    grid.narrow(0, y, h).narrow(1, x, w).copy_(px[i]);
  }
  return grid;
}

void write_png(const std::string& path, const torch::Tensor& picture) {
  TORCH_CHECK((picture.dim() == 2 || (picture.dim() == 3 && picture.size(2) == 3)) &&
                  picture.scalar_type() == torch::kUInt8,
              "write_png: expected uint8 [H, W] or [H, W, 3], got ", picture.sizes());
  const torch::Tensor px = picture.contiguous().to(torch::kCPU);
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  image.width = static_cast<png_uint_32>(px.size(1));
  image.height = static_cast<png_uint_32>(px.size(0));
  image.format = px.dim() == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
  png_alloc_size_t size = 0;
  // First call sizes the buffer, second fills it.
  if (!png_image_write_to_memory(&image, nullptr, &size, 0, px.data_ptr<uint8_t>(), 0, nullptr))
    throw IoError(path + ": cannot encode PNG: " + image.message);
  std::string bytes(size, '\0');
  if (!png_image_write_to_memory(&image, bytes.data(), &size, 0, px.data_ptr<uint8_t>(), 0,
                                 nullptr))
    throw IoError(path + ": cannot encode PNG: " + image.message);
  bytes.resize(size);
  write_file_atomic(path, bytes);
}

torch::Tensor read_png_gray(const std::string& path) {
  const std::string bytes = read_file(path);
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&image, bytes.data(), bytes.size()))
    throw IoError(path + ": not a readable PNG: " + image.message);
  image.format = PNG_FORMAT_GRAY;
  torch::Tensor out = torch::empty({image.height, image.width}, torch::kUInt8);
  if (!png_image_finish_read(&image, nullptr, out.data_ptr<uint8_t>(), 0, nullptr)) {
    png_image_free(&image);
    throw IoError(path + ": damaged PNG: " + image.message);
  }
  return out;
}

}  // namespace vae
