// Item images for the content tower: decoded with stb_image (Debian's libstb), any format it
// reads (PNG, JPEG, BMP, GIF, ...), converted to RGB and resized to a square.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace streamrec::data {

// Files larger than this are not read as images.
inline constexpr uint64_t kMaxImageBytes = 32ull << 20;
inline constexpr uint64_t kMaxImagePixels = 40'000'000;  // decoded, before resizing

// Decodes `path` into `size` x `size` RGB pixels, channel-major ([3][size][size], 0..255),
// resized with stb_image_resize (a Mitchell/box filter). Only a regular file of at most
// kMaxImageBytes is read (opened without blocking, so a FIFO or device fails at once). On
// failure returns false and sets `error` to the reason (missing file, not a regular file,
// too large, not an image, ...); `pixels` is then unchanged.
bool load_image_rgb(const std::string& path, int size, std::vector<uint8_t>& pixels,
                    std::string& error);

// Writes `pixels` ([3][size][size]) as a PNG (tests and demos make images with it).
bool save_png_rgb(const std::string& path, int size, const std::vector<uint8_t>& pixels);

}  // namespace streamrec::data
