#include "streamrec/data/image.h"

#include <stb_image.h>
#include <stb_image_resize.h>
#include <stb_image_write.h>

#include <algorithm>
#include <memory>

namespace streamrec::data {

bool load_image_rgb(const std::string& path, int size, std::vector<uint8_t>& pixels,
                    std::string& error) {
  int w = 0, h = 0, channels = 0;
  std::unique_ptr<stbi_uc, void (*)(void*)> img(stbi_load(path.c_str(), &w, &h, &channels, 3),
                                                stbi_image_free);
  if (!img) {
    error = stbi_failure_reason() ? stbi_failure_reason() : "cannot decode";
    return false;
  }
  if (size <= 0 || w <= 0 || h <= 0) {
    error = "empty image";
    return false;
  }
  std::vector<uint8_t> resized(3 * static_cast<size_t>(size) * size);
  if (!stbir_resize_uint8(img.get(), w, h, 0, resized.data(), size, size, 0, 3)) {
    error = "cannot resize";
    return false;
  }
  std::vector<uint8_t> out(resized.size());  // interleaved RGB to channel-major
  const size_t plane = static_cast<size_t>(size) * size;
  for (size_t p = 0; p < plane; ++p)
    for (size_t c = 0; c < 3; ++c) out[c * plane + p] = resized[p * 3 + c];
  pixels = std::move(out);
  return true;
}

bool save_png_rgb(const std::string& path, int size, const std::vector<uint8_t>& pixels) {
  if (pixels.size() != 3 * static_cast<size_t>(size) * size) return false;
  std::vector<uint8_t> interleaved(pixels.size());
  const size_t plane = static_cast<size_t>(size) * size;
  for (size_t p = 0; p < plane; ++p)
    for (size_t c = 0; c < 3; ++c) interleaved[p * 3 + c] = pixels[c * plane + p];
  return stbi_write_png(path.c_str(), size, size, 3, interleaved.data(), size * 3) != 0;
}

}  // namespace streamrec::data
