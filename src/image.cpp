#include "vae/image.hpp"

#include <png.h>

#include <cmath>

#include "vae/io.hpp"

namespace vae {

torch::Tensor make_grid(const torch::Tensor& images, int64_t columns, int64_t pad) {
  TORCH_CHECK(images.dim() == 3, "make_grid: expected [N, H, W], got ", images.sizes());
  TORCH_CHECK(columns >= 1 && pad >= 0, "make_grid: columns must be >= 1 and pad >= 0");
  const int64_t n = images.size(0), h = images.size(1), w = images.size(2);
  const int64_t cols = std::max<int64_t>(1, std::min(n, columns));
  const int64_t rows = (n + cols - 1) / cols;
  const torch::Tensor px =
      images.detach().to(torch::kCPU, torch::kFloat32).clamp(0, 1).mul(255).round().to(torch::kUInt8);
  torch::Tensor grid = torch::zeros({rows * (h + pad) + pad, cols * (w + pad) + pad}, torch::kUInt8);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t y = pad + (i / cols) * (h + pad), x = pad + (i % cols) * (w + pad);
    grid.narrow(0, y, h).narrow(1, x, w).copy_(px[i]);
  }
  return grid;
}

void write_png_gray(const std::string& path, const torch::Tensor& gray) {
  TORCH_CHECK(gray.dim() == 2 && gray.scalar_type() == torch::kUInt8,
              "write_png_gray: expected uint8 [H, W], got ", gray.sizes());
  const torch::Tensor px = gray.contiguous().to(torch::kCPU);
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  image.width = static_cast<png_uint_32>(px.size(1));
  image.height = static_cast<png_uint_32>(px.size(0));
  image.format = PNG_FORMAT_GRAY;
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
