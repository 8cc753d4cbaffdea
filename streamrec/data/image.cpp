#include "streamrec/data/image.h"

#include <stb_image.h>
#include <stb_image_resize.h>
#include <stb_image_write.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include <fmt/format.h>

namespace streamrec::data {
namespace {

// The bytes of `path` if it is a regular file of at most kMaxImageBytes (else false, with
// `error`). O_NONBLOCK: opening a FIFO without a writer returns at once instead of waiting.
bool read_regular_file(const std::string& path, std::vector<uint8_t>& bytes, std::string& error) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    error = std::strerror(errno);
    return false;
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    error = std::strerror(errno);
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    error = "not a regular file";
    return false;
  }
  if (static_cast<uint64_t>(st.st_size) > kMaxImageBytes) {
    error = fmt::format("{} bytes, more than the {} an image may have", st.st_size, kMaxImageBytes);
    return false;
  }
  bytes.resize(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error = n < 0 ? std::strerror(errno) : "the file shrank while it was read";
      return false;
    }
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

bool load_image_rgb(const std::string& path, int size, std::vector<uint8_t>& pixels,
                    std::string& error) {
  std::vector<uint8_t> bytes;
  if (!read_regular_file(path, bytes, error)) return false;
  int w = 0, h = 0, channels = 0;
  // A small file may declare a huge picture: check its size before decoding it.
  if (stbi_info_from_memory(bytes.data(), static_cast<int>(bytes.size()), &w, &h, &channels) &&
      uint64_t(w) * uint64_t(h) > kMaxImagePixels) {
    error =
        fmt::format("{} x {} pixels, more than the {} an image may have", w, h, kMaxImagePixels);
    return false;
  }
  std::unique_ptr<stbi_uc, void (*)(void*)> img(
      stbi_load_from_memory(bytes.data(), static_cast<int>(bytes.size()), &w, &h, &channels, 3),
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
