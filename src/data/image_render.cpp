// Terminal drawing and PNG export of one image (include/logreg/image_render.hpp). The libpng calls sit
// in encode_png_rows, a frame with no C++ objects, because libpng reports errors with longjmp.
#include "logreg/image_render.hpp"

#include <png.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <new>
#include <stdexcept>
#include <vector>

#include "logreg/errors.hpp"
#include "logreg/whole_file.hpp"

namespace logreg {
namespace {

constexpr std::size_t kMaxPngSide = 1000000;  // libpng's default user limit on width and height

void check_index(const ImageSet& images, std::size_t index) {
  if (index >= images.count) {
    throw std::out_of_range("image index " + std::to_string(index) + " out of range: " +
                            (images.path.empty() ? std::string("the set") : images.path) + " has " +
                            std::to_string(images.count) + " images");
  }
}

// libpng error / warning callbacks: keep the first message, then return so libpng longjmps.
struct PngErrorText {
  char message[256];
};

void on_png_error(png_structp png, png_const_charp msg) {
  auto* text = static_cast<PngErrorText*>(png_get_error_ptr(png));
  if (text != nullptr && text->message[0] == '\0') std::snprintf(text->message, sizeof text->message, "%s", msg);
}

void on_png_warning(png_structp, png_const_charp) {}

// Encodes (height, width) 8-bit grey `rows` to `fp`. Returns false with error->message set on failure.
// Only trivially destructible locals live here, none changed after setjmp, so longjmp is safe.
bool encode_png_rows(std::FILE* fp, png_uint_32 width, png_uint_32 height, png_bytepp rows, PngErrorText* error) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, error, on_png_error, on_png_warning);
  if (png == nullptr) {
    std::snprintf(error->message, sizeof error->message, "png_create_write_struct failed");
    return false;
  }
  png_infop info = png_create_info_struct(png);
  if (info == nullptr) {
    png_destroy_write_struct(&png, nullptr);
    std::snprintf(error->message, sizeof error->message, "png_create_info_struct failed");
    return false;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return false;
  }
  png_init_io(png, fp);
  png_set_IHDR(png, info, width, height, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return true;
}

[[noreturn]] void fail_png(const std::string& tmp, const std::string& path, const std::string& why) {
  if (!tmp.empty()) std::remove(tmp.c_str());
  throw ResourceError("cannot write PNG " + path + ": " + why);
}

}  // namespace

std::string render_terminal(const ImageSet& images, std::size_t index) {
  check_index(images, index);
  static const char* const kShades[] = {"  ", "░░", "▒▒", "▓▓", "██"};
  const std::uint8_t* img = images.image(index);
  std::string out;
  out.reserve(images.dim() * 6 + images.rows);
  for (std::uint32_t r = 0; r < images.rows; ++r) {
    for (std::uint32_t c = 0; c < images.cols; ++c) {
      const unsigned level = img[static_cast<std::size_t>(r) * images.cols + c] * 5u / 256u;  // 0..4
      out += kShades[level];
    }
    out += '\n';
  }
  return out;
}

void write_png_gray(const std::string& path, const ImageSet& images, std::size_t index, int scale) {
  check_index(images, index);
  if (scale < 1) throw std::invalid_argument("PNG scale must be >= 1, got " + std::to_string(scale));
  const std::size_t width = static_cast<std::size_t>(images.cols) * static_cast<std::size_t>(scale);
  const std::size_t height = static_cast<std::size_t>(images.rows) * static_cast<std::size_t>(scale);
  if (width > kMaxPngSide || height > kMaxPngSide) {
    throw std::invalid_argument("PNG of " + std::to_string(width) + "x" + std::to_string(height) +
                                " pixels is too large (scale " + std::to_string(scale) + ")");
  }

  // Upscale by pixel replication.
  const std::uint8_t* img = images.image(index);
  std::vector<std::uint8_t> pixels(width * height);
  for (std::size_t y = 0; y < height; ++y) {
    const std::uint8_t* src = img + (y / static_cast<std::size_t>(scale)) * images.cols;
    for (std::size_t x = 0; x < width; ++x) pixels[y * width + x] = src[x / static_cast<std::size_t>(scale)];
  }
  std::vector<png_bytep> rows(height);
  for (std::size_t y = 0; y < height; ++y) rows[y] = pixels.data() + y * width;

  // Encoded in memory, then written by the atomic writer (a temporary file beside the target, renamed into
  // place; a symlink is written through, a special file refused).
  char* buffer = nullptr;
  std::size_t size = 0;
  std::FILE* fp = open_memstream(&buffer, &size);
  if (fp == nullptr) throw std::bad_alloc();
  PngErrorText error{};
  const bool encoded = encode_png_rows(fp, static_cast<png_uint_32>(width), static_cast<png_uint_32>(height),
                                       rows.data(), &error);
  const bool closed = std::fclose(fp) == 0;
  std::string bytes = buffer != nullptr ? std::string(buffer, size) : std::string();
  std::free(buffer);
  if (!encoded) fail_png("", path, std::string("libpng: ") + error.message);
  if (!closed) throw std::bad_alloc();
  write_whole_file_atomically(path, bytes);
}

}  // namespace logreg
