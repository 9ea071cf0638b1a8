// Showing one image of an ImageSet: as shaded Unicode blocks for a terminal, or as an 8-bit greyscale
// PNG (libpng). Reading images is in idx.hpp; choosing which image to show is the CLI's `show` command.
#pragma once

#include <cstddef>
#include <string>

#include "logreg/dataset.hpp"

namespace logreg {

// One text line per image row, each pixel two characters of " ░▒▓█" (UTF-8) by intensity, so the
// picture looks square; every line ends with '\n'. Throws std::out_of_range when index >= count.
std::string render_terminal(const ImageSet& images, std::size_t index);

// Writes image `index` as an 8-bit greyscale PNG, each pixel a scale x scale block (nearest
// neighbour). Written to a temporary file in the same directory, then renamed over `path`.
// Throws std::out_of_range (index), std::invalid_argument (scale < 1 or the PNG would be over
// 1,000,000 pixels wide or high), ResourceError (file cannot be written; names `path`).
void write_png_gray(const std::string& path, const ImageSet& images, std::size_t index, int scale);

}  // namespace logreg
